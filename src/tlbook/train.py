"""Training and evaluation: plain functions, in the style of torchvision's references.

* :func:`fit` trains a model on an in-memory :class:`~tlbook.data.ImageSet`
  with softmax cross-entropy (optionally label-smoothed), AdamW or SGD, and a
  learning rate that warms up linearly and then decays along a cosine (or stays
  constant). Each batch is
  augmented, resized and normalised on the model's device in one step
  (:func:`tlbook.augment.preprocess`). With a validation set, the weights of
  the best validation epoch are the ones kept.
* :func:`evaluate` returns accuracy, per-class accuracy, the confusion matrix
  and the predicted probabilities. By default it is deterministic (no
  augmentation, ``model.eval()``); the source document's two evaluation
  flaws can be switched on to measure them.
* :func:`save_checkpoint` / :func:`load_checkpoint` write atomically and
  read with ``weights_only=True``, refusing a checkpoint made for another
  backbone or number of classes.

>>> r = Recipe(epochs=2, lr=0.01)
>>> r.optimizer, r.schedule
('adamw', 'warmup_cosine')
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .augment import (
    DEFAULT_AUGMENT,
    AugmentConfig,
    preprocess,
    sample_matrices,
    to_device,
)
from .backbones import (
    ARCHITECTURE_BEFORE_IT_WAS_RECORDED,
    Preprocessing,
    create_model,
    get_spec,
)
from .config import DOMAINS, Config
from .data import ImageSet
from .distributed import gather_rows, shard, world, wrap
from .errors import CheckpointMismatch, CheckpointMissing, ConfigError, TrainingDiverged
from .files import atomic_path, show, validate
from .schemas import CHECKPOINT

__all__ = [
    "Recipe",
    "EpochStats",
    "History",
    "train_one_epoch",
    "Evaluation",
    "fit",
    "evaluate",
    "predict_logits",
    "steps_per_epoch",
    "lr_factor",
    "LRFinder",
    "find_lr",
    "autocast_dtype",
    "mixed_precision",
    "save_checkpoint",
    "load_checkpoint",
    "CheckpointMismatch",
    "CheckpointMissing",
]


OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("warmup_cosine", "cosine", "constant")


@dataclass(frozen=True)
class Recipe:
    """How to train: optimiser, schedule, loss, augmentation, batch size.

    The defaults shared with the run configuration (epochs, batch size, rate,
    weight decay, label smoothing) are the ``cpu`` preset's, written once, in
    :class:`tlbook.config.Config`.
    """

    epochs: int = Config.epochs
    batch_size: int = Config.batch_size
    optimizer: str = "adamw"  # adamw | sgd
    lr: float = Config.lr  # peak learning rate of the head
    momentum: float = 0.9  # SGD only
    weight_decay: float = (
        Config.weight_decay
    )  # not applied to biases and normalisation weights
    # warmup_cosine: linear warm-up from peak/25, then cosine decay to peak/10,000 (the shape of
    # PyTorch's OneCycleLR, without its momentum cycling); cosine: warm-up from 0, decay to 0; constant.
    schedule: str = "warmup_cosine"
    warmup: float = (
        0.1  # fraction of all steps spent warming up (warmup_cosine and cosine)
    )
    label_smoothing: float = Config.label_smoothing
    augment: AugmentConfig = DEFAULT_AUGMENT
    backbone_lr_scale: float = (
        1.0  # backbone learning rate = lr * this (0.1: discriminative)
    )
    layer_decay: float = 1.0  # layer-wise rates: each stage below the head learns at this times the one above

    def __post_init__(self) -> None:
        # A misspelt name or an impossible number fails here, not after the data has loaded.
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(
                f"unknown optimizer {self.optimizer!r}; use one of {OPTIMIZERS}"
            )
        if self.schedule not in SCHEDULES:
            raise ConfigError(
                f"unknown schedule {self.schedule!r}; use one of {SCHEDULES}"
            )
        for name in (
            "epochs",
            "batch_size",
            "lr",
            "momentum",
            "weight_decay",
            "label_smoothing",
            "warmup",
            "backbone_lr_scale",
            "layer_decay",
        ):
            DOMAINS[name].check(name, getattr(self, name))


@dataclass
class EpochStats:
    """What one epoch measured."""

    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    lr: float  # head learning rate at the end of the epoch
    seconds: float


@dataclass
class History:
    """Per-epoch statistics of a :func:`fit` call."""

    epochs: list[EpochStats] = field(default_factory=list)
    best_epoch: int | None = (
        None  # epoch whose weights were kept (validation accuracy), 1-based
    )
    seconds: float = 0.0
    images_per_second: float = (
        0.0  # training images per second, validation passes not counted
    )

    @property
    def best_val_accuracy(self) -> float | None:
        """Validation accuracy of the epoch whose weights were kept (None without validation)."""
        return (
            None
            if self.best_epoch is None
            else self.epochs[self.best_epoch - 1].val_accuracy
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        """Inverse of :meth:`to_dict` (for histories saved in JSON).

        >>> h = History(epochs=[EpochStats(1, 2.0, 0.1, None, None, 1e-3, 1.0)])
        >>> History.from_dict(h.to_dict()) == h
        True
        """
        return cls(**{**d, "epochs": [EpochStats(**e) for e in d["epochs"]]})


@dataclass
class Evaluation:
    """Predictions on a labelled set and the usual summaries."""

    accuracy: float  # fraction correct, 0..1
    loss: float  # mean cross-entropy (no label smoothing)
    per_class_accuracy: list[float]
    confusion: torch.Tensor  # (K, K) int64: rows are true classes, columns predictions
    probs: torch.Tensor  # (N, K) softmax probabilities
    labels: torch.Tensor  # (N,) true labels
    classes: list[str]

    @property
    def predictions(self) -> torch.Tensor:
        """Predicted class per image ``(N,)``."""
        return self.probs.argmax(dim=1)

    def summary(self) -> dict[str, Any]:
        """JSON-ready numbers (no per-image arrays)."""
        return {
            "accuracy": self.accuracy,
            "loss": self.loss,
            "n": len(self.labels),
            "per_class_accuracy": dict(zip(self.classes, self.per_class_accuracy)),
            "confusion": self.confusion.tolist(),
        }


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Optimiser steps in one epoch over ``n`` images: the number of batches :func:`_batches` yields.

    >>> steps_per_epoch(1000, 50), steps_per_epoch(1001, 50), steps_per_epoch(1002, 50)
    (20, 20, 21)
    """
    full, rest = divmod(n, batch_size)
    return full + (rest > 1 or n == 1)


def _batches(
    n: int, batch_size: int, *, generator: torch.Generator | None
) -> Iterator[torch.Tensor]:
    """Index batches over ``n`` items; shuffled with ``generator``, else in order.

    When shuffling (training), there are :func:`steps_per_epoch` batches: a
    last batch of a single image is dropped, since BatchNorm cannot train on one
    image whose feature map is 1x1 (ResNet-18 at 32 px). In order (evaluation),
    every item is in a batch.
    """
    order = (
        torch.randperm(n, generator=generator)
        if generator is not None
        else torch.arange(n)
    )
    count = (
        steps_per_epoch(n, batch_size)
        if generator is not None
        else math.ceil(n / batch_size)
    )
    for k in range(count):
        yield order[k * batch_size : (k + 1) * batch_size]


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The reduced precision :func:`fit` computes in on ``device``, or None for float32 throughout.

    On a GPU with bfloat16 support (Ampere and later, ``torch.cuda.is_bf16_supported()``),
    bfloat16: float32's range, so no gradient scaling. On an older GPU (a T4, Colab's usual
    one), float16, whose small range needs a gradient scaler (:func:`fit` adds one). On the
    CPU, none: these cores have no fast half precision.

    >>> autocast_dtype(torch.device("cpu")) is None
    True
    """
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def mixed_precision(device: torch.device) -> contextlib.AbstractContextManager:
    """The autocast :func:`fit` and :func:`evaluate` run the network under (see :func:`autocast_dtype`).

    Mixed precision runs matrix products and convolutions in 16 bits, where the
    tensor cores are, and keeps weights, the optimiser and reductions such as the
    loss in float32; it changes speed and memory, not the recipe.

    >>> import torch
    >>> with mixed_precision(torch.device("cpu")):
    ...     (torch.ones(2, 2) @ torch.ones(2, 2)).dtype
    torch.float32
    """
    dtype = autocast_dtype(device)
    return (
        contextlib.nullcontext()
        if dtype is None
        else torch.autocast(device.type, dtype=dtype)
    )


def _make_optimizer(groups: list[dict], recipe: Recipe) -> torch.optim.Optimizer:
    # recipe.optimizer is one of OPTIMIZERS: Recipe checks it when it is built.
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(groups, momentum=recipe.momentum)
    return torch.optim.AdamW(groups)


def lr_factor(step: int, total: int, recipe: Recipe) -> float:
    """Multiplier of each group's peak learning rate at ``step`` (0-based) of ``total`` (chapter 4 draws it).

    >>> r = Recipe(schedule="warmup_cosine", warmup=0.1)
    >>> [round(lr_factor(s, 100, r), 3) for s in (0, 9, 55, 99)]
    [0.136, 1.0, 0.5, 0.0]
    """
    if recipe.schedule == "constant":
        return 1.0
    warm = max(1, round(recipe.warmup * total))
    if step < warm:
        start = 0.04 if recipe.schedule == "warmup_cosine" else 0.0  # starts at peak/25
        return start + (1.0 - start) * (step + 1) / warm
    progress = (step - warm) / max(1, total - warm)
    end = (
        1e-4 if recipe.schedule == "warmup_cosine" else 0.0
    )  # warmup_cosine or cosine (Recipe checked it)
    return end + (1.0 - end) * 0.5 * (1.0 + math.cos(math.pi * progress))


def _inputs(
    images: torch.Tensor,
    idx: torch.Tensor,
    matrices: torch.Tensor,
    *,
    preprocessing: Preprocessing,
    recipe: Recipe,
    device: torch.device,
) -> torch.Tensor:
    """The network's input for the images ``idx`` of ``images`` (N, 3, H, W) uint8, augmented by ``matrices``."""
    return preprocess(
        images[to_device(idx, images.device)],
        size=preprocessing.size,
        mean=preprocessing.mean,
        std=preprocessing.std,
        matrices=matrices,
        padding_mode=recipe.augment.padding_mode,
        device=device,
    ).contiguous(memory_format=torch.channels_last)  # (B, 3, S, S)


def _train_step(
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    label_smoothing: float,
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimiser step on the batch ``x`` (B, 3, S, S), ``y`` (B,); returns the loss and the logits (B, K)."""
    with mixed_precision(device):
        logits = net(x)  # (B, K)
        loss = F.cross_entropy(logits.float(), y, label_smoothing=label_smoothing)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(
        loss
    ).backward()  # under DDP: gradients averaged over the processes here
    scaler.step(
        optimizer
    )  # a disabled scaler (CPU, bfloat16) is a plain optimizer.step()
    scaler.update()
    return loss, logits


def train_one_epoch(
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    recipe: Recipe,
    preprocessing: Preprocessing,
    peaks: list[float],
    step: int,
    total: int,
    generator: torch.Generator,
    device: torch.device,
    bar: Any = None,
) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """One pass over the shuffled training images (N, 3, H, W) uint8, one optimiser step per batch.

    The learning rate of each group is its peak times :func:`lr_factor` at
    the running ``step`` of ``total``. Returns this process's summed loss and
    correct count (device tensors, read once per epoch: no host-device sync per
    batch), the images seen, and the step count after the epoch.
    """
    processes, _ = world()
    h, w = images.shape[-2:]
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    seen = 0
    for idx in _batches(len(images), recipe.batch_size, generator=generator):
        for g, peak in zip(optimizer.param_groups, peaks):
            g["lr"] = peak * lr_factor(step, total, recipe)
        # Every process draws the whole batch's matrices (same generator, same stream), then keeps its share.
        matrices = sample_matrices(
            len(idx), recipe.augment, height=h, width=w, generator=generator
        )
        if processes > 1:
            idx, matrices = shard(idx), shard(matrices)
        x = _inputs(
            images,
            idx,
            matrices,
            preprocessing=preprocessing,
            recipe=recipe,
            device=device,
        )
        y = to_device(
            labels[idx], device
        )  # (B,); B is this process's share of the batch
        loss, logits = _train_step(
            net,
            optimizer,
            scaler,
            x,
            y,
            label_smoothing=recipe.label_smoothing,
            device=device,
        )
        step += 1
        loss_sum += loss.detach().double() * len(idx)
        correct += (logits.argmax(1) == y).sum()
        seen += len(idx)
        if bar is not None:
            bar.update(1)
    return loss_sum, correct, seen, step


def fit(
    model: nn.Module,
    train: ImageSet,
    val: ImageSet | None = None,
    *,
    preprocessing: Preprocessing,
    recipe: Recipe = Recipe(),
    param_groups: list[dict] | None = None,
    device: torch.device | str | None = None,
    seed: int = 0,
    progress: bool = False,
    verbose: bool = False,
) -> History:
    """Train ``model`` in place; return its :class:`History`.

    ``param_groups`` (from :func:`tlbook.backbones.param_groups`) sets the
    learning rate of each part; the default trains every parameter with
    ``requires_grad`` at ``recipe.lr``. ``progress`` shows a tqdm bar
    (notebook or terminal); ``verbose`` prints one line per epoch. With
    ``val``, the weights of the epoch with the best validation accuracy are
    restored at the end.

    Under ``torchrun`` (:mod:`tlbook.distributed`) every process runs this with
    the same arguments: ``recipe.batch_size`` is the global batch, split between
    the processes, and gradients are averaged, so the optimiser steps are those
    of one process with that batch size.
    """
    device = (
        torch.device(device) if device is not None else next(model.parameters()).device
    )
    processes, _ = world()
    if recipe.batch_size % processes:
        raise ConfigError(
            f"the batch size {recipe.batch_size} must divide evenly between {processes} processes"
        )
    # channels_last is faster on CUDA and, with oneDNN, about 1.5x faster on the CPU too.
    model.to(device=device, memory_format=torch.channels_last)
    if param_groups is None:
        decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
        no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
        param_groups = [
            {"params": decay, "lr": recipe.lr, "weight_decay": recipe.weight_decay},
            {"params": no_decay, "lr": recipe.lr, "weight_decay": 0.0},
        ]
    param_groups = [g for g in param_groups if g["params"]]
    if not param_groups:
        raise ValueError("the model has no trainable parameters")
    optimizer = _make_optimizer(param_groups, recipe)
    # float16 needs its gradients scaled up so small ones do not underflow; a disabled scaler is a no-op.
    scaler = torch.amp.GradScaler(
        device.type, enabled=autocast_dtype(device) == torch.float16
    )
    peaks = [g["lr"] for g in optimizer.param_groups]
    generator = torch.Generator().manual_seed(seed)
    total = recipe.epochs * steps_per_epoch(
        len(train), recipe.batch_size
    )  # optimizer steps
    # (N, 3, H, W) uint8, once: on a GPU, batches never cross the bus (several processes: each copies its batches)
    images = train.images.to(device) if processes == 1 else train.images
    net = wrap(
        model, device
    )  # DistributedDataParallel under torchrun, else the model itself
    history = History()
    best_acc, best_state = -1.0, None
    start = time.perf_counter()
    train_seconds = 0.0  # training steps only, for images_per_second
    step = 0
    bar = _progress_bar(total, enabled=progress)
    for epoch in range(1, recipe.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        loss_sum, correct, seen, step = train_one_epoch(
            net,
            optimizer,
            scaler,
            images,
            train.labels,
            recipe=recipe,
            preprocessing=preprocessing,
            peaks=peaks,
            step=step,
            total=total,
            generator=generator,
            device=device,
            bar=bar,
        )
        train_seconds += time.perf_counter() - t0
        if (
            processes > 1
        ):  # the training statistics of the global batch, not of this process's share
            totals = torch.stack(
                [
                    loss_sum,
                    correct.double(),
                    torch.tensor(float(seen), dtype=torch.float64, device=device),
                ]
            )
            torch.distributed.all_reduce(totals)
            loss_sum, correct, seen = totals[0], totals[1], int(totals[2].item())
        stats = EpochStats(
            epoch=epoch,
            train_loss=loss_sum.item() / max(1, seen),
            train_accuracy=correct.item() / max(1, seen),
            val_loss=None,
            val_accuracy=None,
            lr=optimizer.param_groups[-1]["lr"],
            seconds=0.0,
        )
        if not math.isfinite(stats.train_loss):
            # The weights are garbage from here on: stop, so that no accuracy of this run is reported.
            if bar is not None:
                bar.close()
            raise TrainingDiverged(
                f"training diverged: the loss became {stats.train_loss} in epoch {epoch} at a peak learning "
                f"rate of {max(peaks):g}; lower the learning rate (--lr)"
            )
        if val is not None and len(val):
            ev = evaluate(
                model,
                val,
                preprocessing=preprocessing,
                device=device,
                batch_size=max(recipe.batch_size, 100),
            )
            stats.val_loss, stats.val_accuracy = ev.loss, ev.accuracy
            if ev.accuracy > best_acc:
                best_acc, history.best_epoch = ev.accuracy, epoch
                best_state = copy.deepcopy(model.state_dict())
        stats.seconds = time.perf_counter() - t0
        history.epochs.append(stats)
        _report(bar, stats, verbose=verbose, epochs=recipe.epochs)
    if bar is not None:
        bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    history.seconds = time.perf_counter() - start
    history.images_per_second = recipe.epochs * len(train) / max(train_seconds, 1e-9)
    return history


@dataclass
class LRFinder:
    """The learning-rate range test: loss against an exponentially growing learning rate."""

    lrs: list[float]  # the rate of each step
    losses: list[float]  # the smoothed training loss after each step
    suggestion: (
        float  # the rate where the smoothed loss falls fastest (steepest descent)
    )


def find_lr(
    model: nn.Module,
    train: ImageSet,
    *,
    preprocessing: Preprocessing,
    recipe: Recipe = Recipe(),
    param_groups: list[dict] | None = None,
    start: float = 1e-6,
    end: float = 1.0,
    steps: int = 100,
    device: torch.device | str | None = None,
    seed: int = 0,
) -> LRFinder:
    """Train ``model`` for ``steps`` batches while the rate grows from ``start`` to ``end``; stop when it diverges.

    The learning-rate finder popularised by fastai (after Smith's range test):
    the loss falls once the rate is large enough to learn, then explodes. The
    suggestion is the rate where the smoothed loss falls fastest, a *starting
    point* for a sweep on validation data, not a replacement for one. The model
    is trained by this: use a fresh copy afterwards. ``param_groups`` keep their
    relative rates (the head's is the one reported).

    >>> from tlbook.backbones import create_model, preprocessing_for
    >>> data = ImageSet(torch.randint(0, 255, (20, 3, 16, 16), dtype=torch.uint8), torch.arange(20) % 2, ["a", "b"])
    >>> r = find_lr(create_model("resnet18", num_classes=2, pretrained=False), data,
    ...             preprocessing=preprocessing_for("resnet18", 16), recipe=Recipe(batch_size=10), steps=5)
    >>> len(r.lrs) == len(r.losses) <= 5
    True
    """
    device = (
        torch.device(device) if device is not None else next(model.parameters()).device
    )
    model.to(device=device, memory_format=torch.channels_last).train()
    if param_groups is None:
        param_groups = [
            {"params": [p for p in model.parameters() if p.requires_grad], "lr": 1.0}
        ]
    optimizer = _make_optimizer(
        [
            {**g, "weight_decay": g.get("weight_decay", recipe.weight_decay)}
            for g in param_groups
            if g["params"]
        ],
        recipe,
    )
    relative = [
        g["lr"] / param_groups[-1]["lr"] for g in optimizer.param_groups
    ]  # the head's group is last
    scaler = torch.amp.GradScaler(
        device.type, enabled=autocast_dtype(device) == torch.float16
    )
    generator = torch.Generator().manual_seed(seed)
    h, w = train.images.shape[-2:]
    lrs, losses, smooth, best = [], [], 0.0, math.inf
    batches = (
        idx
        for _ in range(steps)
        for idx in _batches(len(train), recipe.batch_size, generator=generator)
    )
    for step, idx in zip(range(steps), batches):
        lr = start * (end / start) ** (step / max(1, steps - 1))
        for g, r in zip(optimizer.param_groups, relative):
            g["lr"] = lr * r
        matrices = sample_matrices(
            len(idx), recipe.augment, height=h, width=w, generator=generator
        )
        x = _inputs(
            train.images,
            idx,
            matrices,
            preprocessing=preprocessing,
            recipe=recipe,
            device=device,
        )
        loss, _ = _train_step(
            model,
            optimizer,
            scaler,
            x,
            to_device(train.labels[idx], device),
            label_smoothing=recipe.label_smoothing,
            device=device,
        )
        smooth = 0.9 * smooth + 0.1 * loss.item()
        value = smooth / (
            1 - 0.9 ** (step + 1)
        )  # bias-corrected exponential moving average
        lrs.append(lr)
        losses.append(value)
        best = min(best, value)
        if not math.isfinite(value) or value > 4 * best:
            break
    lowest = min(
        range(len(losses)), key=losses.__getitem__
    )  # look for the descent before the minimum only
    slopes = [
        (losses[i + 1] - losses[i - 1]) / math.log(lrs[i + 1] / lrs[i - 1])
        for i in range(1, max(1, lowest))
    ]
    steepest = 1 + min(range(len(slopes)), key=slopes.__getitem__) if slopes else 0
    return LRFinder(lrs=lrs, losses=losses, suggestion=lrs[steepest])


def _progress_bar(total_steps: int, *, enabled: bool):
    """A bar that moves with every batch (redrawn at most once a second), so a long epoch never looks frozen."""
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(
        total=total_steps,
        desc="training",
        unit="batch",
        mininterval=1.0,
        file=sys.stderr,
    )


def _report(bar, s: EpochStats, *, verbose: bool, epochs: int) -> None:
    val = (
        ""
        if s.val_accuracy is None
        else f"  val loss {s.val_loss:.3f}  val acc {s.val_accuracy:.1%}"
    )
    if bar is not None:
        bar.set_postfix_str(f"epoch {s.epoch}/{epochs}  loss {s.train_loss:.3f}{val}")
    if verbose:
        print(
            f"epoch {s.epoch}/{epochs}  train loss {s.train_loss:.3f}  train acc {s.train_accuracy:.1%}{val}  ({s.seconds:.0f} s)",
            flush=True,
        )


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    images: torch.Tensor,
    *,
    preprocessing: Preprocessing,
    batch_size: int = 200,
    device: torch.device | str | None = None,
    augment: AugmentConfig | None = None,
    generator: torch.Generator | None = None,
    hflip_tta: bool = False,
) -> torch.Tensor:
    """Logits ``(N, K)`` for uint8 images ``(N, 3, H, W)``, in the model's current mode.

    ``augment`` applies random augmentation (the source's flaw; off by
    default). ``hflip_tta`` averages the logits of each image and its mirror.
    """
    device = (
        torch.device(device) if device is not None else next(model.parameters()).device
    )
    h, w = images.shape[-2:]
    out = []
    for idx in _batches(len(images), batch_size, generator=None):
        matrices = None
        if augment is not None:
            matrices = sample_matrices(
                len(idx), augment, height=h, width=w, generator=generator
            )
        x = preprocess(
            images[idx],
            size=preprocessing.size,
            mean=preprocessing.mean,
            std=preprocessing.std,
            matrices=matrices,
            device=device,
            padding_mode=augment.padding_mode if augment is not None else "reflection",
        ).contiguous(memory_format=torch.channels_last)  # (B, 3, S, S)
        with mixed_precision(device):
            logits = model(x).float()  # (B, K)
            if hflip_tta:
                logits = (logits + model(x.flip(-1)).float()) / 2
        out.append(logits.cpu())
    return torch.cat(out)


def evaluate(
    model: nn.Module,
    data: ImageSet,
    *,
    preprocessing: Preprocessing,
    batch_size: int = 200,
    device: torch.device | str | None = None,
    hflip_tta: bool = False,
    augment: AugmentConfig | None = None,
    train_mode: bool = False,
    seed: int = 0,
) -> Evaluation:
    """Accuracy, per-class accuracy, confusion matrix and probabilities on ``data``.

    Deterministic by default: ``model.eval()`` and no augmentation. The
    source document's evaluation is ``augment=SOURCE_AUGMENT,
    train_mode=True`` (random test transforms; BatchNorm normalising with
    each batch's own statistics, and updating its running statistics, as
    the source's loop did).
    """
    was_training = model.training
    model.train(train_mode)
    processes, _ = world()
    mine = shard(
        torch.arange(len(data))
    )  # under torchrun each process scores its share, once
    try:
        logits = predict_logits(
            model,
            data.images if processes == 1 else data.images[mine],
            preprocessing=preprocessing,
            batch_size=batch_size,
            device=device,
            augment=augment,
            generator=torch.Generator().manual_seed(seed),
            hflip_tta=hflip_tta,
        )  # (N_mine, K)
    finally:
        model.train(was_training)
    logits = gather_rows(logits, mine, len(data))  # (N, K), every image exactly once
    labels = data.labels
    k = len(data.classes)
    preds = logits.argmax(1)
    confusion = torch.bincount(labels * k + preds, minlength=k * k).reshape(
        k, k
    )  # (K, K)
    per_class = (
        confusion.diag().float() / confusion.sum(1).clamp(min=1).float()
    ).tolist()
    return Evaluation(
        accuracy=float((preds == labels).float().mean())
        if len(labels)
        else float("nan"),
        loss=float(F.cross_entropy(logits, labels)) if len(labels) else float("nan"),
        per_class_accuracy=per_class,
        confusion=confusion,
        probs=logits.softmax(1),
        labels=labels.clone(),
        classes=list(data.classes),
    )


# --- checkpoints: written atomically, read safely -----------------------------------------


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
