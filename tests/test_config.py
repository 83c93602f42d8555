"""Presets, the TLBOOK_PRESET switch and repeatable seeds."""

import dataclasses
import re

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from tlbook.config import PRESETS, Config, get_config, seed_everything
from tlbook.errors import ConfigError


def test_three_presets_exist_and_grow():
    assert set(PRESETS) == {"smoke", "cpu", "full"}
    smoke, cpu = PRESETS["smoke"], PRESETS["cpu"]
    assert smoke.train_per_class < cpu.train_per_class
    assert smoke.image_size < cpu.image_size <= PRESETS["full"].image_size
    assert PRESETS["full"].train_per_class is None  # all of CIFAR-10
    assert 96 <= cpu.image_size <= 128  # where ImageNet features work


def test_environment_switch(monkeypatch):
    monkeypatch.setenv("TLBOOK_PRESET", "smoke")
    monkeypatch.setenv("TLBOOK_DATA", "/some/where")
    monkeypatch.setenv("TLBOOK_BACKBONE", "resnet18")
    cfg = get_config()
    assert (cfg.preset, cfg.data, cfg.backbone) == ("smoke", "/some/where", "resnet18")
    assert get_config(data="/else").data == "/else"  # an explicit argument wins


def test_a_gpu_does_not_switch_to_the_full_preset(monkeypatch):
    """Colab with a GPU runtime gets the page's own preset (minutes), not hours of full CIFAR-10."""
    monkeypatch.delenv("TLBOOK_PRESET", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_config().preset == "cpu"


def test_bad_values_are_named(monkeypatch):
    monkeypatch.setenv("TLBOOK_PRESET", "huge")
    with pytest.raises(ValueError, match="huge.*smoke"):
        get_config()
    with pytest.raises(ConfigError, match="epoch"):
        get_config("smoke", epoch=3)


def test_an_unknown_backbone_is_refused_with_the_choices():
    with pytest.raises(
        ConfigError,
        match=re.escape(
            "unknown backbone 'vgg16'; known backbones: efficientnet_lite0, efficientnet_lite1, efficientnet_lite2, resnet18"
        ),
    ):
        get_config("smoke", backbone="vgg16")


def test_configs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        PRESETS["cpu"].epochs = 1  # type: ignore[misc]


def test_seeds_repeat():
    a = torch.randn(4, generator=seed_everything(3)), torch.randn(4)
    b = torch.randn(4, generator=seed_everything(3)), torch.randn(4)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


@given(st.sampled_from(["data", "cache"]), st.text("abc/._-", min_size=1, max_size=12))
def test_a_folder_under_home_is_expanded_when_the_configuration_is_built(field, rest):
    """Every user of cfg.data and cfg.cache gets a real path: nothing writes to a folder named "~"."""
    from pathlib import Path

    cfg = Config(preset="cpu", **{field: "~/" + rest})
    assert not getattr(cfg, field).startswith("~")
    assert getattr(cfg, field) == str(Path("~/" + rest).expanduser())
    assert getattr(dataclasses.replace(cfg, seed=1), field) == getattr(cfg, field)
