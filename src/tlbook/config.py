"""Run configuration: the three presets, the one reduced-mode switch, seeds.

Everything that depends on *how big* a run is lives here, and tlbook's
environment variables are read here only: the run's in :func:`get_config`,
the grader's log in :func:`check_log_path`:

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
``TLBOOK_CHECK_LOG`` set by the grader: a file where each ``check(...)`` of an
                     exercise appends its result (:func:`check_log_path`).
===================  ==========================================================

Two documented exceptions read variables that others own: ``torchrun``'s
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

import contextlib
import dataclasses
import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "CONFIG_FLAGS", "TlbookError", "ConfigError", "OutputError", "Config", "PRESETS", "get_config", "seed_everything",
    "default_device", "check_writable", "CHECK_LOG_ENV", "check_log_path",
]

# The largest input side a run may ask for: EfficientNet-Lite0 at 1024 px already needs about 20 times
# the memory of 224 px; beyond it a typo (--image-size 22400) would only fail deep inside torch.
MAX_IMAGE_SIZE = 1024


# Config field -> command-line flag of ``python -m tlbook`` (tlbook.cli defines the flags with these names;
# tlbook.studies prints them to say how a saved study was made).
CONFIG_FLAGS: dict[str, str] = {
    "train_per_class": "--per-class", "test_per_class": "--test-per-class", "epochs": "--epochs",
    "image_size": "--image-size", "batch_size": "--batch-size", "lr": "--lr", "seed": "--seed",
}


class TlbookError(Exception):
    """A user's mistake (data, checkpoint, configuration, output location), not a bug.

    The command line prints its message on one line and exits with status 2;
    anything else that goes wrong is a bug and keeps its traceback.
    """


class ConfigError(TlbookError, ValueError):
    """An unknown name or an impossible value in a configuration; the message names the field."""


class OutputError(TlbookError, OSError):
    """An output location that cannot be written, found out before any expensive work."""


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

    def __post_init__(self) -> None:
        # Every impossible value fails here, when the object is built, naming the field and its range.
        def whole(name: str, low: int, *, none_ok: bool = False, high: int | None = None) -> None:
            value = getattr(self, name)
            if value is None and none_ok:
                return
            if isinstance(value, bool) or not isinstance(value, int) or value < low or (high and value > high):
                span = f"from {low} to {high}" if high else f"at least {low}"
                raise ConfigError(f"{name} must be a whole number {span}{' (or None: all)' if none_ok else ''}, "
                                  f"got {value!r}")

        whole("train_per_class", 1, none_ok=True)
        whole("val_per_class", 0)
        whole("test_per_class", 1, none_ok=True)
        whole("image_size", 8, high=MAX_IMAGE_SIZE)
        whole("epochs", 1)
        whole("batch_size", 1)
        whole("seed", 0)
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise ConfigError(f"lr must be a positive number, got {self.lr!r}")
        if not self.weight_decay >= 0:
            raise ConfigError(f"weight_decay must not be negative, got {self.weight_decay!r}")
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}")
        from .backbones import BACKBONES  # here, not at the top: backbones is the heavier module

        if self.backbone not in BACKBONES:
            raise ConfigError(f"unknown backbone {self.backbone!r}; known backbones: {', '.join(sorted(BACKBONES))}")

    def describe(self) -> str:
        """One line for the top of a notebook: what this run uses.

        >>> print(get_config("smoke").describe().split(" | ")[0])
        preset smoke
        """
        per_class = lambda n: "all" if n is None else str(n)  # noqa: E731
        data = f"folder {Path(self.data).name} (TLBOOK_DATA)" if self.data else "CIFAR-10 via torchvision"
        return " | ".join([
            f"preset {self.preset}",
            f"backbone {self.backbone}",
            f"images per class: {per_class(self.train_per_class)} train, {self.val_per_class} val, "
            f"{per_class(self.test_per_class)} test",
            f"{self.image_size} px, {self.epochs} epochs",
            f"data: {data}",
            f"device: {default_device().type}",
        ])

    def replace(self, **changes: object) -> "Config":
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
    ),
}


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
        raise ConfigError(f"unknown preset {name!r} (from TLBOOK_PRESET or the argument); choose one of {sorted(PRESETS)}")
    from_env = {
        "data": os.environ.get("TLBOOK_DATA") or None,
        "cache": os.environ.get("TLBOOK_CACHE") or None,
        "backbone": os.environ.get("TLBOOK_BACKBONE") or None,
    }
    changes = {k: v for k, v in from_env.items() if v is not None}
    changes.update(overrides)
    unknown = set(changes) - {f.name for f in dataclasses.fields(Config)}
    if unknown:
        raise ConfigError(f"unknown configuration field(s) {sorted(unknown)}")
    cfg = dataclasses.replace(PRESETS[name], **changes)
    if cfg.data is not None:
        cfg = dataclasses.replace(cfg, data=str(Path(cfg.data).expanduser()))
    return cfg


def check_writable(path: str | os.PathLike, *, folder: bool) -> Path:
    """Check, before any expensive work, that ``path`` can be written; return it as a ``Path``.

    ``folder=True``: ``path`` is a folder (created if missing, with its
    parents); ``folder=False``: a file, whose folder must exist or be
    creatable. Either way a file is created and removed in that folder, so a
    read-only location fails now, not after an hour of training.

    >>> import tempfile
    >>> out = check_writable(Path(tempfile.mkdtemp()) / "runs" / "a", folder=True)
    >>> out.name, out.exists()  # writable, and nothing left behind
    ('a', False)
    """
    path = Path(path).expanduser()
    where = path if folder else path.parent
    if folder and path.exists() and not path.is_dir():
        raise OutputError(f"{path} is a file, not a folder; choose another output folder")
    if not folder and path.is_dir():
        raise OutputError(f"{path} is a folder; give a file name")
    blocking = next((p for p in [where, *where.parents] if p.exists()), None)
    if blocking is not None and not blocking.is_dir():
        raise OutputError(f"cannot create {where}: {blocking} is a file, not a folder")
    created = [p for p in [where, *where.parents] if not p.exists()]
    try:
        where.mkdir(parents=True, exist_ok=True)
        probe = where / f".tlbook-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise OutputError(f"cannot write into {where} ({e.strerror or e}); choose another location") from None
    finally:
        for p in created:  # leave nothing behind: the run creates them again when it writes
            with contextlib.suppress(OSError):
                p.rmdir()
    return path


CHECK_LOG_ENV = "TLBOOK_CHECK_LOG"


def check_log_path() -> Path | None:
    """The file where exercise checks log their results (``TLBOOK_CHECK_LOG``, set by the grader), or None.

    >>> import os; os.environ.pop("TLBOOK_CHECK_LOG", None) and None; check_log_path() is None
    True
    """
    log = os.environ.get(CHECK_LOG_ENV)
    return Path(log) if log else None


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a CPU generator for augmentation.

    Runs with the same seed and preset repeat exactly on the CPU.

    >>> a = torch.rand(3, generator=seed_everything(0))
    >>> b = torch.rand(3, generator=seed_everything(0))
    >>> torch.equal(a, b)
    True
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator(device="cpu").manual_seed(seed)


def default_device() -> torch.device:
    """CUDA when available, else the CPU.

    >>> default_device().type in {"cpu", "cuda"}
    True
    """
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
