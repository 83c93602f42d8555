"""Shared fixtures: small image folders made on the spot, so no test needs the network."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings
from PIL import Image

# Generated tests are reproducible: the same examples on every run and machine (a CI failure can be re-run
# here), no example database written into the checkout, and no time limit per example (CI shares its cores).
settings.register_profile(
    "tlbook", derandomize=True, database=None, deadline=None, print_blob=True
)
settings.load_profile("tlbook")

ROOT = (
    Path(__file__).resolve().parents[1]
)  # the repository, for the tests that read its files

# The repository's scripts (tools/build_notebooks.py) are imported by the notebook and exercise tests.
sys.path.insert(0, str(ROOT / "tools"))

CLASSES = ["circle", "square", "stripes"]
# Read once, before the autouse fixture below hides it from each test.
CIFAR = Path(os.environ["TLBOOK_DATA"]) if os.environ.get("TLBOOK_DATA") else None


def _draw(kind: str, rng: np.random.Generator, size: int = 32) -> np.ndarray:
    """A 32x32 RGB picture of one of three easy classes, with noise."""
    yy, xx = np.mgrid[:size, :size]
    img = rng.integers(0, 60, (size, size, 3)).astype(np.uint8)
    colour = rng.integers(150, 256, 3).astype(np.uint8)
    cx, cy = rng.integers(10, size - 10, 2)
    if kind == "circle":
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 < 64
    elif kind == "square":
        mask = (abs(xx - cx) < 7) & (abs(yy - cy) < 7)
    else:
        mask = (xx // 4) % 2 == 0
    img[mask] = colour
    return img


def make_image_folder(
    root: Path, *, per_class: int, seed: int = 0, fmt: str = "png"
) -> Path:
    """Write ``root/<class>/NNNN.<fmt>`` for the three synthetic classes."""
    rng = np.random.default_rng(seed)
    for c in CLASSES:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(_draw(c, rng)).save(root / c / f"{i:04d}.{fmt}")
    return root


def tiny_model(
    num_classes: int = 3,
    *,
    backbone: str = "efficientnet_lite0",
    pretrained: bool = False,
):
    """A fresh network for tests: random weights unless ``pretrained`` (the Lite0 weights ship offline)."""
    from tlbook.backbones import create_model

    return create_model(backbone, num_classes=num_classes, pretrained=pretrained)


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """One split: 3 classes x 6 PNG images of 32x32."""
    return make_image_folder(tmp_path / "images", per_class=6)


@pytest.fixture
def dataset_root(tmp_path: Path) -> Path:
    """A dataset in the layout TLBOOK_DATA expects: train/ and test/."""
    make_image_folder(tmp_path / "data" / "train", per_class=12, seed=1)
    make_image_folder(tmp_path / "data" / "test", per_class=4, seed=2)
    return tmp_path / "data"


@pytest.fixture(autouse=True)
def _offline_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never read the caller's data or backbone choice by accident."""
    for name in ("TLBOOK_DATA", "TLBOOK_BACKBONE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TLBOOK_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def cifar() -> Path:
    """The offline CIFAR-10 folder that TLBOOK_DATA named when the tests started (CI sets it)."""
    if CIFAR is None or not (CIFAR / "train").is_dir():
        pytest.skip(
            "needs the CIFAR-10 folder: set TLBOOK_DATA (e.g. ../shared/datasets/cifar10-jpeg)"
        )
    return CIFAR


def pytest_collection_modifyitems(config, items):
    """Notebook cells under nbval are slow (a kernel each); ``network`` tests run only with
    TLBOOK_NETWORK_TESTS=1 (never in CI here)."""
    for item in items:
        if str(item.fspath).endswith(".ipynb"):
            item.add_marker(pytest.mark.slow)
    if os.environ.get("TLBOOK_NETWORK_TESTS") == "1":
        return
    skip = pytest.mark.skip(
        reason="needs internet access; set TLBOOK_NETWORK_TESTS=1 to run"
    )
    for item in items:
        if "network" in item.keywords:
            item.add_marker(skip)
