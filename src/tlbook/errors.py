"""Every error a user's mistake can raise, in one place.

:class:`TlbookError` is the one class the command line catches: its message
is printed on one line after ``error:`` and the exit status is 2. Anything
else that escapes is a bug in tlbook and keeps its traceback. Each subclass
also derives from the built-in exception a Python caller would expect
(``ValueError`` for a bad value, ``OSError`` for a file), so ``except
ValueError`` keeps working around tlbook's calls.

>>> issubclass(DataError, ValueError) and issubclass(DataError, TlbookError)
True
>>> try:
...     raise ConfigError("epochs must be a whole number of at least 1, got 0")
... except ValueError as e:
...     print(e)
epochs must be a whole number of at least 1, got 0
"""

from __future__ import annotations

__all__ = [
    "TlbookError",
    "ConfigError",
    "OutputError",
    "InputPathError",
    "DataError",
    "ImageError",
    "SchemaError",
    "CheckpointMismatch",
    "CheckpointMissing",
    "BackboneUnavailable",
    "TrainingDiverged",
    "GradingError",
    "ExportError",
]


class TlbookError(Exception):
    """A user's mistake (data, checkpoint, configuration, output location), not a bug.

    The command line prints its message on one line and exits with status 2;
    anything else that goes wrong is a bug and keeps its traceback.
    """


class ConfigError(TlbookError, ValueError):
    """An unknown name or an impossible value in a configuration; the message names the field."""


class OutputError(TlbookError, OSError):
    """An output location that cannot be written, found out before any expensive work."""


class InputPathError(TlbookError, OSError):
    """An input path that cannot be used: empty, missing, a dangling link, a loop, a file for a folder."""


class DataError(TlbookError, ValueError):
    """A dataset that cannot be used as it is; the message says what to do."""


class ImageError(DataError):
    """One image file that cannot be decoded within tlbook's bounds; the message names the file."""


class SchemaError(TlbookError, ValueError):
    """A result file (metrics, study, checkpoint) whose content does not have the declared shape."""


class CheckpointMismatch(TlbookError, ValueError):
    """A checkpoint that cannot be used here: corrupt, not tlbook's, or made for another network or classes."""


class CheckpointMissing(TlbookError, FileNotFoundError):
    """No checkpoint where one was expected."""


class BackboneUnavailable(TlbookError, RuntimeError):
    """Pretrained weights that cannot be had here (offline, not installed); the message says how to get them."""


class TrainingDiverged(TlbookError, ArithmeticError):
    """The training loss became NaN or infinite: no result is reported (the message names the learning rate)."""


class GradingError(TlbookError, FileNotFoundError):
    """A submissions folder that cannot be graded; the message says why."""


class ExportError(TlbookError, RuntimeError):
    """An export that cannot be made (a missing optional package) or disagrees with the PyTorch model."""
