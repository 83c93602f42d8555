"""tlbook: the library behind the book *Transfer learning for image classification*.

Modules, in the order the book uses them:

- :mod:`tlbook.config` -- presets (``TLBOOK_PRESET``), data location, seeds.
- :mod:`tlbook.data` -- CIFAR-10 or your own folder, decoded once into memory.
- :mod:`tlbook.augment` -- augmentation as matrices, applied to whole batches.
- :mod:`tlbook.backbones` -- the pretrained networks as a table; heads, freezing.
- :mod:`tlbook.train` -- ``fit``, ``evaluate``, checkpoints.
- :mod:`tlbook.experiment` -- strategies and one-call runs (CLI and notebooks).

>>> import tlbook
>>> tlbook.get_config("smoke").preset
'smoke'
"""

from .config import PRESETS, Config, default_device, get_config, seed_everything

__version__ = "0.1.0"
__all__ = [
    "Config",
    "PRESETS",
    "get_config",
    "seed_everything",
    "default_device",
    "__version__",
]
