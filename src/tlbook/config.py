"""Run configuration: the three presets, the one reduced-mode switch, seeds.

Everything that depends on *how big* a run is lives here, and tlbook's
environment variables are read here only (the run's, in :func:`get_config`;
the reader's language, in :func:`reader_language`):

===================  ==========================================================
``TLBOOK_PRESET``    ``smoke`` (tests), ``cpu`` (the default on every machine, GPU
                     or not: what the committed notebooks show) or ``full`` (all
                     of CIFAR-10 at 224 px: opt-in, hours on a T4).
``TLBOOK_DATA``      a folder in ImageFolder layout (``train/<class>/*.jpg``,
                     ``test/<class>/*.jpg``); unset means torchvision downloads
                     CIFAR-10 into ``TLBOOK_CACHE``.
``TLBOOK_CACHE``     where downloads go (default ``~/.cache/tlbook``).
``TLBOOK_BACKBONE``  the backbone every chapter uses (default
                     ``efficientnet_lite0``, which works offline).
``TLBOOK_LANG``      the language of exercise feedback (:func:`reader_language`):
                     ``en`` (the default) or ``zh_CN``.
===================  ==========================================================

Documented exceptions read variables that others own or that are a protocol,
not a setting: the grader sets ``TLBOOK_ANSWERS`` for the notebooks it runs
(:func:`tlbook.grading.hand_in`); ``torchrun``'s
``WORLD_SIZE`` and ``LOCAL_RANK`` (:mod:`tlbook.distributed`, PyTorch's
launcher contract) and ``TORCH_HOME`` (torch's own cache, for ResNet-18's
weights).

>>> cfg = get_config("smoke")
>>> cfg.preset, cfg.train_per_class, cfg.image_size
('smoke', 4, 32)
>>> get_config("smoke", epochs=3).epochs
3
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError

if TYPE_CHECKING:
    import torch

__all__ = [
    "BACKBONE_NAMES",
    "Domain",
    "DOMAINS",
    "PLAN_FIELDS",
    "Config",
    "PRESETS",
    "get_config",
    "seed_everything",
]

# The largest input side a run may ask for: EfficientNet-Lite0 at 1024 px already needs about 20 times
# the memory of 224 px; beyond it a typo (--image-size 22400) would only fail deep inside torch.
MAX_IMAGE_SIZE = 1024


# The backbones tlbook.backbones builds, by name (its table must name the same ones; it checks that on
# import): here so that a configuration is checked without importing torch.
BACKBONE_NAMES = (
    "efficientnet_lite0",
    "efficientnet_lite1",
    "efficientnet_lite2",
    "resnet18",
)


def _number(x: float) -> str:
    """``x`` as a reader types it: 4294967295, not 4.29497e+09; 0.5 as 0.5."""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


@dataclass(frozen=True)
class Domain:
    """The values one number may take, declared once: the configuration, the recipe and the command line
    (its checks and its help text) all read it.

    >>> DOMAINS["epochs"].describe()
    'a whole number from 1 to 10000'
    >>> DOMAINS["lr"].check("lr", 0)
    Traceback (most recent call last):
    ...
    tlbook.errors.ConfigError: lr must be a number above 0 and up to 10, got 0
    >>> DOMAINS["seed"].parse("18446744073709551616")
    Traceback (most recent call last):
    ...
    ValueError: must be a whole number from 0 to 4294967295, got 18446744073709551616
    """

    whole: bool  # True: an int (never a bool); False: a finite int or float
    low: float
    high: float
    low_open: bool = False  # True: the low end itself is excluded (a learning rate of 0 learns nothing)
    high_open: bool = False
    none_ok: bool = False  # None means "all of it" (every test image)

    def describe(self) -> str:
        kind = "a whole number" if self.whole else "a number"
        lo, hi = _number(self.low), _number(self.high)
        low = f"above {lo}" if self.low_open else f"from {lo}"
        high = f"below {hi}" if self.high_open else f"to {hi}"
        if self.low_open or self.high_open:
            high = high if self.high_open else f"up to {hi}"
            text = f"{kind} {low} and {high}"
        else:
            text = f"{kind} {low} {high}"
        return text + (" (or None: all)" if self.none_ok else "")

    def contains(self, value: object) -> bool:
        if value is None:
            return self.none_ok
        if isinstance(value, bool) or not isinstance(
            value, int if self.whole else (int, float)
        ):
            return False
        if not self.whole and not math.isfinite(value):
            return False
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def fits(self, value: object) -> bool:
        """The same as :meth:`contains`: a Domain is a leaf of a file schema too (:mod:`tlbook.schemas`)."""
        return self.contains(value)

    def check(self, name: str, value: object) -> object:
        """``value`` if it lies in the domain, else a :class:`ConfigError` naming ``name`` and the range."""
        if not self.contains(value):
            raise ConfigError(f"{name} must be {self.describe()}, got {value!r}")
        return value

    def parse(self, text: str) -> int | float:
        """A command-line value: parsed, then checked (``ValueError`` says why, for argparse to print)."""
        try:
            value: int | float = int(text) if self.whole else float(text)
        except ValueError:
            raise ValueError(
                f"expected {'a whole number' if self.whole else 'a number'}, got {text!r}"
            ) from None
        if not self.contains(value):
            raise ValueError(
                f"must be {self.describe().replace(' (or None: all)', '')}, got {text}"
            )
        return value


# The fields of Config that plan a study rather than set up a run, and the domain of each of their items.
PLAN_FIELDS = {
    "study_seeds": "seed",
    "strategy_seeds": "seed",
    "curve_per_class": "train_per_class",
    "curve_seeds": "seed",
}

# Every number a run takes, with its valid range: written once, read by Config, Recipe and the command
# line. The ends are where the libraries underneath stop working or a typo shows: a batch of one image
# cannot train BatchNorm; torch and NumPy seeds must fit 32 bits for NumPy's legacy seeding.
DOMAINS: dict[str, Domain] = {
    "train_per_class": Domain(True, 1, 1_000_000, none_ok=True),
    "val_per_class": Domain(True, 0, 1_000_000),
    "test_per_class": Domain(True, 1, 1_000_000, none_ok=True),
    "image_size": Domain(True, 8, MAX_IMAGE_SIZE),
    "epochs": Domain(True, 1, 10_000),
    "batch_size": Domain(True, 2, 100_000),
    "lr": Domain(False, 0, 10, low_open=True),
    "weight_decay": Domain(False, 0, 10),
    "label_smoothing": Domain(False, 0, 1, high_open=True),
    "seed": Domain(True, 0, 2**32 - 1),
    # Recipe only
    "momentum": Domain(False, 0, 1, high_open=True),
    "warmup": Domain(False, 0, 1, high_open=True),
    "warmup_start": Domain(False, 0, 1),
    "final_lr": Domain(False, 0, 1),
    "backbone_lr_scale": Domain(False, 0, 100),
    "layer_decay": Domain(False, 0, 1, low_open=True),
}


@dataclass(frozen=True)
class Config:
    """How big a run is and where its inputs come from.

    Fields that are ``None`` mean "all of it" (every test image, say).
    """

    preset: str
    backbone: str = "efficientnet_lite0"
    data: str | None = None  # ImageFolder root; None = torchvision download
    cache: str = "~/.cache/tlbook"  # downloads (CIFAR-10 via torchvision)
    train_per_class: int | None = 100  # labelled training images per class
    val_per_class: int = 20  # validation images per class, disjoint from train
    test_per_class: int | None = 100  # test images per class (None = all 1,000)
    image_size: int = 112  # side of the square the backbone sees, in pixels
    epochs: int = 8  # cpu preset: about 2.5-3 minutes per run at 112 px on 2 cores
    batch_size: int = 50
    lr: float = 1e-3  # peak learning rate of the head (AdamW, warm-up + cosine); chosen on validation
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    seed: int = 0
    # The plan of the multi-run studies (tlbook.studies): which seeds, and the data-efficiency curve's
    # images per class. Not settings of a run: `study --resume` may extend them.
    study_seeds: tuple[int, ...] = (0, 1, 2)
    # The strategies study, whose verdicts the book quotes: five runs per strategy resolve gaps of a
    # point or two (each verdict names the smallest gap its seeds can resolve).
    strategy_seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    curve_per_class: tuple[int, ...] = (5, 10, 25, 50, 100)
    curve_seeds: tuple[int, ...] = (0, 1, 2)

    def __post_init__(self) -> None:
        # Folders: "~" is the home folder wherever the path is used (a cache under "./~" is a bug).
        for name in ("data", "cache"):
            if getattr(self, name) is not None:
                object.__setattr__(
                    self, name, str(Path(getattr(self, name)).expanduser())
                )
        # Every impossible value fails here, when the object is built, naming the field and its range.
        for name, domain in DOMAINS.items():
            if hasattr(self, name):
                domain.check(name, getattr(self, name))
        for name, each in PLAN_FIELDS.items():
            value = getattr(self, name)
            if isinstance(
                value, list
            ):  # as JSON gives them back; a tuple keeps the config hashable
                object.__setattr__(self, name, value := tuple(value))
            if (
                not isinstance(value, tuple)
                or not value
                or not all(DOMAINS[each].contains(v) for v in value)
            ):
                raise ConfigError(
                    f"{name} must be a non-empty tuple, each {DOMAINS[each].describe()}, "
                    f"got {value!r}"
                )
        if self.backbone not in BACKBONE_NAMES:
            raise ConfigError(
                f"unknown backbone {self.backbone!r}; known backbones: {', '.join(BACKBONE_NAMES)}"
            )

    def describe(self) -> str:
        """One line for the top of a notebook: what this run uses.

        >>> print(get_config("smoke").describe().split(" | ")[0])
        preset smoke
        """
        per_class = lambda n: "all" if n is None else str(n)  # noqa: E731
        data = (
            f"folder {Path(self.data).name} (TLBOOK_DATA)"
            if self.data
            else "CIFAR-10 via torchvision"
        )
        return " | ".join(
            [
                f"preset {self.preset}",
                f"backbone {self.backbone}",
                f"images per class: {per_class(self.train_per_class)} train, {self.val_per_class} val, "
                f"{per_class(self.test_per_class)} test",
                f"{self.image_size} px, {self.epochs} epochs",
                f"data: {data}",
                f"device: {_device_name()}",
            ]
        )

    def replace(self, **changes: Any) -> Config:
        """A copy with some fields changed (the dataclass is frozen)."""
        return dataclasses.replace(self, **changes)


PRESETS: dict[str, Config] = {
    # Tests and nbval: every code path runs, in seconds.
    "smoke": Config(
        preset="smoke",
        train_per_class=4,
        val_per_class=2,
        test_per_class=4,
        image_size=32,
        epochs=1,
        batch_size=20,
        study_seeds=(0,),
        strategy_seeds=(0,),
        curve_per_class=(2, 4),
        curve_seeds=(0, 1),
    ),
    # 2 CPU cores: what the committed notebook outputs show. One training run
    # of 1,000 images for 8 epochs at 112 px takes 2.5-3 minutes (128 px: about
    # 4 minutes for the same accuracy; the sweep is in book/reproduce.md).
    "cpu": Config(preset="cpu"),
    # Opt-in, for a GPU: all of CIFAR-10 at the backbone's native resolution (python -m tlbook train --preset full).
    "full": Config(
        preset="full",
        train_per_class=None,
        val_per_class=500,
        test_per_class=None,
        image_size=224,
        epochs=10,
        batch_size=128,
        lr=2e-3,
        curve_per_class=(5, 10, 25, 50, 100, 250, 1000),
    ),
}


# The languages of the book's editions; the library writes its verdict sentences in each
# (tlbook.plots.glue_sentence glues every one).
LANGUAGES = ("en", "zh_CN")


def reader_language() -> str:
    """The language tlbook speaks to the reader: ``$TLBOOK_LANG``, else English.

    Written as a locale is (``zh_CN``, ``zh-CN``, ``zh_CN.UTF-8``, any case), or as a language alone
    (``zh``, ``en_GB``: the book's edition in that language). Anything else is an error naming it.

    >>> import os; os.environ["TLBOOK_LANG"] = "zh-cn.UTF-8"; reader_language()
    'zh_CN'
    >>> os.environ["TLBOOK_LANG"] = "fr"; reader_language()
    Traceback (most recent call last):
    tlbook.errors.ConfigError: TLBOOK_LANG is 'fr': tlbook speaks en, zh_CN
    >>> del os.environ["TLBOOK_LANG"]; reader_language()
    'en'
    """
    raw = os.environ.get("TLBOOK_LANG", "")
    wanted = raw.split(".")[0].strip().replace("-", "_").lower()
    if not wanted:
        return "en"
    for language in LANGUAGES:
        if wanted == language.lower():
            return language
    same = [lang for lang in LANGUAGES if lang.split("_")[0] == wanted.split("_")[0]]
    if len(same) == 1:
        return same[0]
    raise ConfigError(f"TLBOOK_LANG is {raw!r}: tlbook speaks {', '.join(LANGUAGES)}")


def get_config(preset: str | None = None, /, **overrides: object) -> Config:
    """The configuration for ``preset``, read from the environment if omitted.

    ``preset`` defaults to ``$TLBOOK_PRESET``, else ``cpu``, also on a GPU: a
    reader who opens a chapter in Colab gets the page's own runs (in seconds on
    a GPU), and the ``full`` preset's hours of training only on request.
    ``$TLBOOK_DATA``, ``$TLBOOK_CACHE`` and ``$TLBOOK_BACKBONE`` fill the
    matching fields; keyword ``overrides`` win over everything.

    >>> get_config("cpu", image_size=96).image_size
    96
    """
    name = preset or os.environ.get("TLBOOK_PRESET") or "cpu"
    if name not in PRESETS:
        raise ConfigError(
            f"unknown preset {name!r} (from TLBOOK_PRESET or the argument); choose one of {sorted(PRESETS)}"
        )
    from_env = {
        "data": os.environ.get("TLBOOK_DATA") or None,
        "cache": os.environ.get("TLBOOK_CACHE") or None,
        "backbone": os.environ.get("TLBOOK_BACKBONE") or None,
    }
    changes: dict[str, Any] = {k: v for k, v in from_env.items() if v is not None}
    changes.update(overrides)
    unknown = set(changes) - {f.name for f in dataclasses.fields(Config)}
    if unknown:
        raise ConfigError(f"unknown configuration field(s) {sorted(unknown)}")
    return dataclasses.replace(PRESETS[name], **changes)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a CPU generator for augmentation.

    Runs with the same seed and preset repeat exactly on the CPU.

    >>> import torch
    >>> a = torch.rand(3, generator=seed_everything(0))
    >>> b = torch.rand(3, generator=seed_everything(0))
    >>> torch.equal(a, b)
    True
    """
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator(device="cpu").manual_seed(seed)


def _device_name() -> str:
    from .devices import default_device  # torch, only when a description is asked for

    return default_device().type
