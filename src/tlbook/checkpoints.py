"""Checkpoints: a trained model with what it takes to rebuild and trust it, written atomically, read safely.

A checkpoint holds the weights, the backbone's name and architecture, the
class names in label order and the run's metadata. :func:`load_checkpoint`
reads it with ``weights_only=True`` (no code from the file runs), checks it
against :data:`tlbook.schemas.CHECKPOINT`, and refuses one made for another
network, architecture or set of classes, naming both sides.

>>> import tempfile
>>> from tlbook.backbones import create_model
>>> path = Path(tempfile.mkdtemp()) / "model.pt"
>>> save_checkpoint(path, create_model("resnet18", num_classes=2, pretrained=False), backbone="resnet18",
...                 classes=["cat", "dog"])
>>> model, payload = load_checkpoint(path, classes=["cat", "dog"])
>>> payload["classes"], model.training
(['cat', 'dog'], False)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import nn

from .backbones import ARCHITECTURE_BEFORE_IT_WAS_RECORDED, create_model, get_spec
from .errors import CheckpointMismatch, CheckpointMissing
from .files import atomic_folder, atomic_path, show, validate, write_json_atomic
from .schemas import CHECKPOINT

__all__ = ["CHECKPOINT_FORMAT", "save_checkpoint", "load_checkpoint", "save_run"]

CHECKPOINT_FORMAT = "tlbook-checkpoint-1"


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    *,
    backbone: str,
    classes: list[str],
    meta: dict | None = None,
) -> None:
    """Save weights plus what is needed to rebuild the model; atomic."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {
        "format": CHECKPOINT_FORMAT,
        "backbone": backbone,
        "architecture": get_spec(backbone).architecture,
        "classes": list(classes),
        "state_dict": state,
        "meta": json.loads(
            json.dumps(meta or {})
        ),  # plain types only, so weights_only loading works
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def save_run(
    folder: str | os.PathLike,
    model: nn.Module,
    *,
    backbone: str,
    classes: list[str],
    metrics: dict,
) -> Path:
    """A run folder as ``tlbook train`` writes it: ``model.pt`` and ``metrics.json``, swapped in whole.

    An existing folder is replaced only once both files are written, so it
    never holds a file of an earlier run, and a failure leaves it as it was.
    The metrics are also the checkpoint's metadata (its preprocessing, for
    :func:`tlbook.prediction.load_run`).
    """
    with atomic_folder(folder) as staging:
        # Checkpoint first, metrics last: a metrics.json always has its checkpoint beside it.
        save_checkpoint(
            staging / "model.pt",
            model,
            backbone=backbone,
            classes=classes,
            meta=metrics,
        )
        write_json_atomic(staging / "metrics.json", metrics)
    return Path(folder)


def load_checkpoint(
    path: str | os.PathLike,
    *,
    backbone: str | None = None,
    num_classes: int | None = None,
    classes: list[str] | None = None,
    device: torch.device | str = "cpu",
) -> tuple[nn.Module, dict]:
    """Rebuild a model from :func:`save_checkpoint`'s file; return ``(model, payload)``.

    ``backbone``, ``num_classes`` and ``classes`` (the names, in label order),
    when given, must match the checkpoint: a mismatch raises
    :class:`CheckpointMismatch` naming both sides. Same number, other names
    (or another order) would give silently wrong predictions.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointMissing(
            f"checkpoint {show(path)} does not exist; train first (python -m tlbook train --out ...)"
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        # Not torch's message: it suggests weights_only=False, which would run code from the file.
        raise CheckpointMismatch(
            f"{show(path)} is not a readable tlbook checkpoint: the file is corrupt or was not written by tlbook "
            f"({type(e).__name__}); train a new one with python -m tlbook train"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointMismatch(
            f"{show(path)} is not a tlbook checkpoint (format {payload.get('format') if isinstance(payload, dict) else None!r})"
        )
    validate(
        payload, CHECKPOINT, what=show(path)
    )  # classes, backbone, meta: the declared shape, or named
    found_k = len(payload["classes"])
    if backbone is not None and backbone != payload["backbone"]:
        raise CheckpointMismatch(
            f"{path} holds a {payload['backbone']!r} model with {found_k} classes, not {backbone!r}; "
            f"use backbone {payload['backbone']!r} or train a new checkpoint"
        )
    saved_arch = payload.get("architecture") or ARCHITECTURE_BEFORE_IT_WAS_RECORDED.get(
        payload["backbone"]
    )
    current_arch = get_spec(payload["backbone"]).architecture
    if saved_arch != current_arch:
        # Same tensor shapes, another network: loading would succeed and silently predict worse.
        raise CheckpointMismatch(
            f"{path} was trained with {saved_arch}, but this version of tlbook builds {payload['backbone']!r} "
            f"as {current_arch}; train a new checkpoint"
        )
    if num_classes is not None and num_classes != found_k:
        raise CheckpointMismatch(
            f"{path} was trained for {found_k} classes {payload['classes']}, but {num_classes} were asked for; "
            "train a new checkpoint for this dataset"
        )
    if classes is not None and list(classes) != list(payload["classes"]):
        raise CheckpointMismatch(
            f"{path} was trained for the classes {payload['classes']}, but the data has {list(classes)}; "
            "evaluate it on data with the same class folders, or train a new checkpoint"
        )
    model = create_model(payload["backbone"], num_classes=found_k, pretrained=False)
    model.load_state_dict(payload["state_dict"])
    return model.to(device).eval(), payload
