"""Presets, the TLBOOK_PRESET switch and repeatable seeds."""

import re

import pytest
import torch

from tlbook.config import ConfigError, PRESETS, get_config, seed_everything


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


@pytest.mark.parametrize(("field", "value", "message"), [
    ("epochs", 0, "epochs must be a whole number at least 1, got 0"),
    ("train_per_class", 0, "train_per_class must be a whole number at least 1 (or None: all), got 0"),
    ("batch_size", -4, "batch_size must be"),
    ("image_size", 0, "image_size must be a whole number from 8 to 1024, got 0"),
    ("image_size", 22400, "from 8 to 1024, got 22400"),
    ("test_per_class", 0, "test_per_class must be"),
    ("lr", -1.0, "lr must be a positive number, got -1.0"),
    ("backbone", "vgg16", "unknown backbone 'vgg16'; known backbones: efficientnet_lite0, resnet18"),
])
def test_an_impossible_config_fails_when_it_is_built(field, value, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        get_config("smoke", **{field: value})


def test_configs_are_frozen():
    with pytest.raises(Exception):
        PRESETS["cpu"].epochs = 1  # type: ignore[misc]


def test_seeds_repeat():
    a = torch.randn(4, generator=seed_everything(3)), torch.randn(4)
    b = torch.randn(4, generator=seed_everything(3)), torch.randn(4)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
