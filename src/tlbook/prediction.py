"""A trained run applied to new photos: the top classes with their probabilities.

:func:`load_run` reads a run folder (``model.pt``, and ``metrics.json`` when
present) as ``tlbook train`` and ``tlbook probe`` write it, and refuses one it
cannot use, naming what is missing or what disagrees. :func:`predict` decodes
each photo with the one decoder (:func:`tlbook.images.decode_image`: upright
as the camera's EXIF tag says, RGB), applies the preprocessing the run was
trained with and returns a :class:`Prediction` per photo. The decoding and
the network's pass are those of :func:`tlbook.train.evaluate`, so a photo
from a test folder gets the prediction evaluation gave it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .backbones import Preprocessing
from .checkpoints import load_checkpoint
from .data import storage_size_for
from .errors import CheckpointMismatch, CheckpointMissing, ConfigError, SchemaError
from .files import input_path, read_json, show, validate
from .images import decode_image, image_size
from .schemas import METRICS, PREPROCESSING
from .train import predict_logits

__all__ = ["DEFAULT_TOP", "TrainedRun", "Prediction", "load_run", "predict"]

Photo = (
    str | os.PathLike | bytes | bytearray | memoryview
)  # a file's path, or its bytes
DEFAULT_TOP = 3  # classes shown per photo
RUN_HELP = "--run must be a folder written by 'tlbook train' or 'tlbook probe'"


@dataclass(frozen=True)
class TrainedRun:
    """A run folder's model, ready to predict: in eval mode, on the CPU."""

    folder: Path
    model: nn.Module
    backbone: str
    classes: tuple[str, ...]
    preprocessing: Preprocessing


@dataclass(frozen=True)
class Prediction:
    """The most probable classes for one photo, best first."""

    source: str  # the photo, as errors and output name it
    classes: tuple[str, ...]
    probabilities: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"photo", "top": [{"class", "probability"}, ...]}``."""
        return {
            "photo": self.source,
            "top": [
                {"class": c, "probability": p}
                for c, p in zip(self.classes, self.probabilities)
            ],
        }


def load_run(run: str | os.PathLike | TrainedRun) -> TrainedRun:
    """The model of a run folder, with its classes and preprocessing, checked before use."""
    if isinstance(run, TrainedRun):
        return run
    folder = input_path(run, kind="folder", what="--run")
    model_file = folder / "model.pt"
    if not model_file.is_file():
        raise CheckpointMissing(f"{show(model_file)} does not exist; {RUN_HELP}")
    model, payload = load_checkpoint(model_file)
    saved = payload["meta"].get("preprocessing")
    if saved is None:
        raise CheckpointMismatch(
            f"{show(model_file)} does not record the preprocessing it was trained with; "
            "train it again with this version of tlbook"
        )
    validate(saved, PREPROCESSING, what=f"{show(model_file)} preprocessing")
    classes = tuple(payload["classes"])
    metrics_file = folder / "metrics.json"
    if metrics_file.is_file():  # the two files must describe the same run
        try:
            metrics = read_json(metrics_file, METRICS)
        except SchemaError as e:
            raise SchemaError(f"{e}: not a metrics file of a tlbook run") from None
        listed = tuple(metrics["test"].get("per_class_accuracy", {}) or classes)
        if listed != classes or metrics["config"]["backbone"] != payload["backbone"]:
            raise CheckpointMismatch(
                f"{show(model_file)} ({payload['backbone']}, classes {list(classes)}) and "
                f"{show(metrics_file)} ({metrics['config']['backbone']}, classes {list(listed)}) "
                "come from different runs; copy the two files of one run together"
            )
    return TrainedRun(
        folder=folder,
        model=model,
        backbone=payload["backbone"],
        classes=classes,
        preprocessing=Preprocessing(
            size=saved["size"], mean=tuple(saved["mean"]), std=tuple(saved["std"])
        ),
    )


def predict(
    photos: Photo | Sequence[Photo],
    run: str | os.PathLike | TrainedRun,
    *,
    top: int = DEFAULT_TOP,
) -> list[Prediction]:
    """The ``top`` most probable classes of each photo (a path or the file's bytes), by the run's model.

    Every photo is decoded before the network runs, so a bad file is named
    before any work; probabilities are the softmax over all the run's classes.

    >>> import tempfile
    >>> from tlbook.backbones import create_model
    >>> from tlbook.checkpoints import save_checkpoint
    >>> folder = Path(tempfile.mkdtemp())
    >>> save_checkpoint(folder / "model.pt", create_model("resnet18", num_classes=2, pretrained=False),
    ...     backbone="resnet18", classes=["cat", "dog"],
    ...     meta={"preprocessing": {"size": 32, "mean": [0.5] * 3, "std": [0.5] * 3}})
    >>> import io; from PIL import Image
    >>> photo = io.BytesIO(); Image.new("RGB", (40, 30), "orange").save(photo, "JPEG")
    >>> [p] = predict(photo.getvalue(), folder)
    >>> sorted(p.classes), round(sum(p.probabilities), 4)
    (['cat', 'dog'], 1.0)
    """
    if isinstance(photos, (str, os.PathLike, bytes, bytearray, memoryview)):
        photos = [photos]
    photos = list(photos)
    if not photos:
        raise ConfigError("no photo given; name at least one image file")
    if not 1 <= top:
        raise ConfigError(f"top must be at least 1, got {top}")
    trained = load_run(run)
    decoded = []
    for i, photo in enumerate(photos, 1):
        source: Path | bytes
        if isinstance(photo, (bytes, bytearray, memoryview)):
            name, source = f"photo {i}", bytes(photo)
        else:
            name, source = show(photo), input_path(photo, kind="file", what="photo")
        # A file that is no image is named here, before the size rule reads its header.
        image_size(source, name=name)
        array = decode_image(source, name=name, storage_size=storage_size_for([source]))
        decoded.append((name, torch.from_numpy(array).permute(2, 0, 1)))  # (3, H, W)
    k = min(top, len(trained.classes))
    out = []
    with torch.no_grad():
        for name, image in decoded:
            logits = predict_logits(
                trained.model, image[None], preprocessing=trained.preprocessing
            )  # (1, K)
            p, idx = logits.softmax(1)[0].topk(k)
            out.append(
                Prediction(
                    source=name,
                    classes=tuple(trained.classes[i] for i in idx.tolist()),
                    probabilities=tuple(p.tolist()),
                )
            )
    return out
