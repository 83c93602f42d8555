"""The declared shape of every file tlbook writes and reads back: run metrics, study files, checkpoints.

Each reader validates what it loads against these schemas (the language is
:mod:`tlbook.files`'), so a file that was edited by hand, truncated or
written by something else is named, with the field, before any expensive
work, and is left as it was. The numbers of a run's configuration are
checked against the same :data:`tlbook.config.DOMAINS` that the command line
and :class:`~tlbook.config.Config` use.

>>> from tlbook.files import validate
>>> validate({"study": "ladder"}, STUDY_HEADER, what="ladder-cpu.json")
Traceback (most recent call last):
...
tlbook.errors.SchemaError: ladder-cpu.json: field 'config' is missing
"""

from __future__ import annotations

from typing import Any

from .config import DOMAINS, PLAN_FIELDS, PRESETS, Config
from .files import (
    AnyValue,
    Fields,
    Flag,
    ListOf,
    MapOf,
    Maybe,
    Number,
    Text,
    Whole,
    validate,
)

__all__ = [
    "CONFIG",
    "PREPROCESSING",
    "METRICS",
    "STUDY_HEADER",
    "STUDY_ROWS",
    "CHECKPOINT",
    "validate_study",
]

ACCURACY = Number(0, 1)
SECONDS = Number(0)

# A run's configuration: every Config field, each number in its declared domain.
CONFIG = Fields(
    required={
        "preset": Text(tuple(PRESETS)),
        "backbone": Text(),
        "data": Maybe(Text()),
        "cache": Text(),
        **{
            name: DOMAINS[name]
            for name in Config.__dataclass_fields__
            if name in DOMAINS
        },
    },
    # Files written before the studies' plan was part of the configuration lack these.
    optional={name: ListOf(DOMAINS[each], 1) for name, each in PLAN_FIELDS.items()},
)

PREPROCESSING = Fields(
    {"size": Whole(1), "mean": ListOf(Number(), 3), "std": ListOf(Number(1e-12), 3)}
)

# metrics.json of `python -m tlbook train` (tlbook.experiment.RunResult.metrics).
METRICS = Fields(
    required={
        "config": CONFIG,
        "strategy": Text(),
        "test": Fields(
            {"accuracy": ACCURACY, "n": Whole(1), "loss": Number()},
            optional={
                "per_class_accuracy": MapOf(ACCURACY),
                "confusion": ListOf(ListOf(Whole())),
            },
        ),
        "trainable_parameters": Whole(),
        "seconds": SECONDS,
    },
    optional={
        "preprocessing": PREPROCESSING,
        "recipe": MapOf(AnyValue()),
        "history": MapOf(AnyValue()),
        "parameters": Whole(),
        "processes": Whole(1),
    },
)

# What every study file holds around its rows (tlbook.cli.cmd_study writes it).
STUDY_HEADER = Fields(
    required={"study": Text(), "config": CONFIG, "rows": ListOf(MapOf(AnyValue()))},
    optional={
        "architecture": Maybe(Text()),
        "preprocessing": PREPROCESSING,
        "choices": MapOf(AnyValue()),
        "complete": Flag(),
    },
)

# The fields of one row that the chapters, plots and tools/claims.py read, per study.
STUDY_ROWS: dict[str, Any] = {
    "strategies": Fields(
        required={
            "strategy": Text(),
            "seed": Whole(),
            "test_accuracy": ACCURACY,
            "epochs": Whole(1),
            "trainable_parameters": Whole(),
            "lr": Number(0),
            "seconds": SECONDS,
            "correct": Text(alphabet="01"),
        },
        optional={
            "best_val_accuracy": Maybe(ACCURACY),
            "best_epoch": Maybe(Whole(1)),
            "history": MapOf(AnyValue()),
        },
    ),
    "sweep": Fields(
        required={
            "strategy": Text(),
            "lr": Number(0),
            "seed": Whole(),
            "val_accuracy": ACCURACY,
            "val_accuracy_by_epoch": ListOf(ACCURACY, 1),
            "seconds": SECONDS,
        },
        optional={"best_epoch": Maybe(Whole(1))},
    ),
    "curve": Fields(
        required={
            "strategy": Text(),
            "per_class": Whole(1),
            "seed": Whole(),
            "test_accuracy": ACCURACY,
            "epochs": Whole(1),
            "seconds": SECONDS,
        },
        optional={
            "batch_size": Whole(1),
            "best_epoch": Maybe(Whole(1)),
            "recovered_from_log": Flag(),
        },
    ),
    "frontier": Fields(
        required={
            "recipe": Text(),
            "method": Text(),
            "backbone": Text(),
            "image_size": Whole(1),
            "seed": Whole(),
            "test_accuracy": ACCURACY,
            "val_accuracy": Maybe(ACCURACY),
            "seconds": SECONDS,
            "machine": Text(),
            "load_before": Number(0),
        },
        optional={"epochs": Maybe(Whole(1))},
    ),
    "ladder": Fields(
        required={
            "step": Text(),
            "seed": Whole(),
            "test_accuracy": ACCURACY,
            "correct": Text(alphabet="01"),
            "size": Whole(1),
            "optimizer": Text(),
            "lr": Number(0),
            "batch_size": Whole(1),
            "steps": Whole(1),
            "seconds": SECONDS,
        },
        optional={
            "retrained": Flag(),
            "eval_mode": Flag(),
            "test_augment": Flag(),
            "lr_candidates": MapOf(Maybe(ACCURACY)),
        },
    ),
}
# The scratch study's rows are strategies rows (the same runs, other schedules): they pair with them.
STUDY_ROWS["scratch"] = STUDY_ROWS["strategies"]

# A checkpoint's payload besides its tensors (tlbook.checkpoints.save_checkpoint); the state dict is checked
# by torch when it is loaded into the network.
CHECKPOINT = Fields(
    required={
        "format": Text(),
        "backbone": Text(),
        "classes": ListOf(Text(), 2),
        "state_dict": AnyValue(),
    },
    optional={"architecture": Maybe(Text()), "meta": MapOf(AnyValue())},
)


def validate_study(
    value: Any, *, what: str, study: str | None = None
) -> dict[str, Any]:
    """A study file's content, checked: its header, then each row against its study's row schema.

    ``study`` (when given) is the study the caller expects; another is named as such.

    >>> validate_study({"study": "sweep", "config": {}, "rows": []}, what="s.json")
    Traceback (most recent call last):
    ...
    tlbook.errors.SchemaError: s.json: field 'config.preset' is missing
    """
    from .errors import SchemaError

    validate(value, STUDY_HEADER, what=what)
    name = value["study"]
    if study is not None and name != study:
        raise SchemaError(f"{what} holds the {name!r} study, not {study!r}")
    if name not in STUDY_ROWS:
        raise SchemaError(
            f"{what}: field 'study' must be one of {sorted(STUDY_ROWS)}, got {name!r}"
        )
    validate(value["rows"], ListOf(STUDY_ROWS[name]), what=what, path="rows")
    return value
