"""tlbook: the library behind the book *Transfer learning for image classification*.

Modules, in the order the book uses them:

- :mod:`tlbook.config` -- presets (``TLBOOK_PRESET``), each number's valid range, seeds.
- :mod:`tlbook.data` -- CIFAR-10 or your own folder, decoded once into memory.
- :mod:`tlbook.images` -- the one image decoder (upright RGB, bounded memory).
- :mod:`tlbook.augment` -- augmentation as matrices, applied to whole batches.
- :mod:`tlbook.backbones` -- the pretrained networks as a table; heads, freezing.
- :mod:`tlbook.efficientnet_lite` -- EfficientNet-Lite in plain torch (timm's network, without timm).
- :mod:`tlbook.devices` -- the device, copies to it, mixed precision.
- :mod:`tlbook.train` -- the training loop (``fit``) and ``evaluate``.
- :mod:`tlbook.lr_finder` -- the learning-rate range test.
- :mod:`tlbook.checkpoints` -- trained models saved and loaded safely.
- :mod:`tlbook.experiment` -- strategies and one-call runs (CLI and notebooks).
- :mod:`tlbook.probe`, :mod:`tlbook.prediction`, :mod:`tlbook.export`, :mod:`tlbook.uploads` -- your own
  photos: a probe on cached features, predictions on new photos, ONNX export, adding photos in a notebook.
- :mod:`tlbook.studies` -- the multi-run studies behind the book's claims.
- :mod:`tlbook.evaluation`, :mod:`tlbook.losses`, :mod:`tlbook.anatomy` -- metrics and measurements.
- :mod:`tlbook.plots`, :mod:`tlbook.widgets`, :mod:`tlbook.exercises` -- the chapters' figures and exercises.
- :mod:`tlbook.files`, :mod:`tlbook.schemas`, :mod:`tlbook.errors` -- files read and written safely, their
  declared shapes, and every error a user's mistake can raise.
- :mod:`tlbook.grading`, :mod:`tlbook.sandbox`, :mod:`tlbook.gradebook` -- the grader, where a submission runs,
  and what the teacher files.
- :mod:`tlbook.cli`, :mod:`tlbook.distributed` -- the command line, torchrun.

>>> import tlbook
>>> tlbook.get_config("smoke").preset
'smoke'
"""

from typing import Any

from .config import PRESETS, Config, get_config, seed_everything


def __getattr__(name: str) -> Any:
    """``tlbook.default_device`` and ``tlbook.predict`` on first use: importing tlbook does not import torch."""
    if name == "default_device":
        from .devices import default_device

        return default_device
    if name == "predict":
        from .prediction import predict

        return predict
    raise AttributeError(f"module 'tlbook' has no attribute {name!r}")


__version__ = "0.1.0"
__all__ = [
    "Config",
    "PRESETS",
    "get_config",
    "seed_everything",
    "default_device",
    "predict",
    "__version__",
]
