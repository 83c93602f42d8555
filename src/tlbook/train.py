"""The training loop and evaluation: plain functions, in the style of torchvision's references.

* :func:`fit` trains a model on an in-memory :class:`~tlbook.data.ImageSet`
  with softmax cross-entropy (optionally label-smoothed), AdamW or SGD, and a
  learning rate that warms up linearly and then decays along a cosine (or
  stays constant), through ``torch.optim.lr_scheduler.LambdaLR``. Each batch
  is augmented, resized and normalised on the model's device in one step
  (:func:`tlbook.augment.preprocess`). With a validation set, the weights of
  the best validation epoch are the ones kept.
* :func:`train_one_epoch` is one pass over the shuffled training images.
* :func:`evaluate` returns accuracy, per-class accuracy, the confusion matrix
  and the predicted probabilities. By default it is deterministic (no
  augmentation, ``model.eval()``); the source document's two evaluation
  flaws can be switched on to measure them.

Checkpoints are :mod:`tlbook.checkpoints`' job, the learning-rate finder
:mod:`tlbook.lr_finder`'s, devices and precision :mod:`tlbook.devices`'.

>>> r = Recipe(epochs=2, lr=0.01)
>>> r.optimizer, r.schedule
('adamw', 'warmup_cosine')
"""

from __future__ import annotations

import copy
import dataclasses
import math
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .augment import DEFAULT_AUGMENT, AugmentConfig, preprocess, sample_matrices
from .backbones import Preprocessing, set_bn_eval, weight_decay_groups
from .config import DOMAINS, Config
from .data import ImageSet
from .devices import autocast_dtype, mixed_precision, to_device
from .distributed import gather_rows, reduce_sums, shard, world, wrap
from .errors import ConfigError, TrainingDiverged

__all__ = [
    "Recipe",
    "EpochStats",
    "History",
    "Evaluation",
    "EVAL_BATCH_SIZE",
    "eval_batch_size",
    "steps_per_epoch",
    "lr_factor",
    "make_optimizer",
    "make_scheduler",
    "train_step",
    "train_one_epoch",
    "fit",
    "predict_logits",
    "evaluate",
]

OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("warmup_cosine", "cosine", "constant")
# Images per forward pass when nothing is learnt (evaluation, validation, features), by device type. In
# eval mode each image is scored on its own, so the batch changes only the speed, never a result: on a
# CPU small batches stay in cache (this project's 2-core AMD EPYC, 2026-12-02: Lite0 scores 1,000 images
# 2x faster in batches of 16 than of 200, at 96 to 224 px, bit-identical logits); a GPU wants large ones.
EVAL_BATCH_SIZE = {"cpu": 16, "cuda": 256}


def eval_batch_size(device: torch.device | str) -> int:
    """Images per forward pass for evaluation on ``device`` (:data:`EVAL_BATCH_SIZE`; others: the CPU's).

    >>> eval_batch_size("cpu"), eval_batch_size("cuda:1")
    (16, 256)
    """
    return EVAL_BATCH_SIZE.get(torch.device(device).type, EVAL_BATCH_SIZE["cpu"])


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
    # Not applied to biases and normalisation weights (tlbook.backbones.weight_decay_groups).
    weight_decay: float = Config.weight_decay
    # warmup_cosine: linear warm-up from peak * warmup_start, then cosine decay to peak * final_lr
    # (the shape of PyTorch's OneCycleLR, without its momentum cycling); cosine: warm-up from 0,
    # decay to 0; constant: the peak throughout.
    schedule: str = "warmup_cosine"
    warmup: float = (
        0.1  # fraction of all steps spent warming up (warmup_cosine and cosine)
    )
    warmup_start: float = 0.04  # warmup_cosine starts at peak / 25
    final_lr: float = 1e-4  # warmup_cosine ends at peak / 10,000
    label_smoothing: float = Config.label_smoothing
    augment: AugmentConfig = DEFAULT_AUGMENT
    backbone_lr_scale: float = (
        1.0  # backbone learning rate = lr * this (0.1: discriminative)
    )
    # Layer-wise rates: each stage below the head learns at this times the one above.
    layer_decay: float = 1.0
    # BatchNorm layers whose parameters are all frozen normalise with their running statistics while
    # the rest trains (set_bn_eval after every model.train()); False: chapter 4's trap.
    frozen_bn_eval: bool = True
    # Every BatchNorm layer normalises with its running statistics while training, trained or not (its scale
    # and shift still learn): the Keras guide's fine-tuning phase (set_bn_eval(every=True)).
    bn_eval: bool = False

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
        for name in RECIPE_NUMBERS:
            DOMAINS[name].check(name, getattr(self, name))
        if self.bn_eval and not self.frozen_bn_eval:
            raise ConfigError(
                "bn_eval=True puts every BatchNorm layer in eval mode, frozen ones too;"
                " it contradicts frozen_bn_eval=False"
            )


# The Recipe fields whose ranges tlbook.config.DOMAINS declares.
RECIPE_NUMBERS = (
    "epochs",
    "batch_size",
    "lr",
    "momentum",
    "weight_decay",
    "label_smoothing",
    "warmup",
    "warmup_start",
    "final_lr",
    "backbone_lr_scale",
    "layer_decay",
)


@dataclass
class EpochStats:
    """What one epoch measured."""

    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    lr: float  # head learning rate of the epoch's last step
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
        if self.best_epoch is None:
            return None
        return self.epochs[self.best_epoch - 1].val_accuracy

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
    """Optimiser steps in one epoch over ``n`` images: the number of batches :func:`batches` yields.

    >>> steps_per_epoch(1000, 50), steps_per_epoch(1001, 50), steps_per_epoch(1002, 50)
    (20, 20, 21)
    """
    full, rest = divmod(n, batch_size)
    return full + (rest > 1 or n == 1)


def batches(
    n: int, batch_size: int, *, generator: torch.Generator | None
) -> Iterator[torch.Tensor]:
    """Index batches over ``n`` items; shuffled with ``generator``, else in order.

    When shuffling (training), there are :func:`steps_per_epoch` batches: a
    last batch of a single image is dropped, since BatchNorm cannot train on one
    image whose feature map is 1x1 (ResNet-18 at 32 px). In order (evaluation),
    every item is in a batch.

    >>> [b.tolist() for b in batches(5, 2, generator=None)]
    [[0, 1], [2, 3], [4]]
    >>> len(list(batches(5, 2, generator=torch.Generator().manual_seed(0))))
    2
    """
    if generator is None:
        yield from torch.arange(n).split(batch_size)
        return
    order = torch.randperm(n, generator=generator)
    for k in range(steps_per_epoch(n, batch_size)):
        yield order[k * batch_size : (k + 1) * batch_size]


def make_optimizer(groups: list[dict], recipe: Recipe) -> torch.optim.Optimizer:
    """AdamW or SGD (with ``recipe.momentum``) over the parameter ``groups``, each with its own rate."""
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
    one_cycle = (
        recipe.schedule == "warmup_cosine"
    )  # else cosine: Recipe checked the name
    if step < warm:
        start = recipe.warmup_start if one_cycle else 0.0
        return start + (1.0 - start) * (step + 1) / warm
    progress = (step - warm) / max(1, total - warm)
    end = recipe.final_lr if one_cycle else 0.0
    return end + (1.0 - end) * 0.5 * (1.0 + math.cos(math.pi * progress))


def make_scheduler(
    optimizer: torch.optim.Optimizer, *, total: int, recipe: Recipe
) -> torch.optim.lr_scheduler.LRScheduler:
    """The recipe's schedule over ``total`` optimiser steps: each group's rate is its peak times :func:`lr_factor`.

    >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    >>> s = make_scheduler(opt, total=10, recipe=Recipe(schedule="constant"))
    >>> s.get_last_lr()
    [0.1]
    """
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, total, recipe)
    )


def network_inputs(
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


def train_step(
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
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    train: ImageSet,
    *,
    recipe: Recipe,
    preprocessing: Preprocessing,
    generator: torch.Generator,
    scaler: torch.amp.GradScaler | None = None,
    bar: Any = None,
) -> tuple[float, float, float]:
    """One pass over the shuffled training images, one optimiser (and schedule) step per batch.

    ``train.images`` may already sit on the device (one process) or not
    (several: each copies its share). Returns the epoch's training loss and
    accuracy over every image seen (by every process, under torchrun) and
    the head's learning rate of the last step. The sums stay on the device
    during the epoch: no host-device synchronisation per batch.
    """
    device = next(net.parameters()).device
    scaler = scaler or torch.amp.GradScaler(device.type, enabled=False)
    processes, _ = world()
    h, w = train.images.shape[-2:]
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    seen, lr = 0, optimizer.param_groups[-1]["lr"]
    for idx in batches(len(train), recipe.batch_size, generator=generator):
        # Every process draws the whole batch's matrices (same generator, same stream), then keeps its share.
        matrices = sample_matrices(
            len(idx), recipe.augment, height=h, width=w, generator=generator
        )
        if processes > 1:
            idx, matrices = shard(idx), shard(matrices)
        x = network_inputs(
            train.images,
            idx,
            matrices,
            preprocessing=preprocessing,
            recipe=recipe,
            device=device,
        )
        y = to_device(
            train.labels[idx], device
        )  # (B,); B is this process's share of the batch
        lr = optimizer.param_groups[-1]["lr"]
        loss, logits = train_step(
            net,
            optimizer,
            scaler,
            x,
            y,
            label_smoothing=recipe.label_smoothing,
            device=device,
        )
        scheduler.step()
        loss_sum += loss.detach().double() * len(idx)
        correct += (logits.argmax(1) == y).sum()
        seen += len(idx)
        if bar is not None:
            bar.update(1)
    # Under torchrun: the statistics of the global batch, not of this process's share.
    loss_total, correct_total, seen_total = reduce_sums(
        loss_sum, correct.double(), float(seen)
    )
    return loss_total / max(1, seen_total), correct_total / max(1, seen_total), lr


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
    restored at the end. A loss that becomes NaN or infinite stops the run
    with :class:`~tlbook.errors.TrainingDiverged`.

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
    model.to(device).to(memory_format=torch.channels_last)
    if param_groups is None:
        trainable = [p for p in model.parameters() if p.requires_grad]
        param_groups = weight_decay_groups(
            trainable, lr=recipe.lr, weight_decay=recipe.weight_decay
        )
    param_groups = [g for g in param_groups if g["params"]]
    if not param_groups:
        raise ValueError("the model has no trainable parameters")
    optimizer = make_optimizer(param_groups, recipe)
    total = recipe.epochs * steps_per_epoch(
        len(train), recipe.batch_size
    )  # optimiser steps
    scheduler = make_scheduler(optimizer, total=total, recipe=recipe)
    # float16 needs its gradients scaled up so small ones do not underflow; a disabled scaler is a no-op.
    scaler = torch.amp.GradScaler(
        device.type, enabled=autocast_dtype(device) == torch.float16
    )
    generator = torch.Generator().manual_seed(seed)
    # (N, 3, H, W) uint8, once: on a GPU, batches never cross the bus (several processes: each copies its own)
    on_device = (
        ImageSet(train.images.to(device), train.labels, train.classes)
        if processes == 1
        else train
    )
    net = wrap(
        model, device
    )  # DistributedDataParallel under torchrun, else the model itself
    history, best_acc, best_state = History(), -1.0, None
    start, train_seconds = (
        time.perf_counter(),
        0.0,
    )  # training steps only, for images_per_second
    bar = _progress_bar(total, enabled=progress)
    for epoch in range(1, recipe.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        if recipe.frozen_bn_eval:
            set_bn_eval(model, every=recipe.bn_eval)
        loss, accuracy, lr = train_one_epoch(
            net,
            optimizer,
            scheduler,
            on_device,
            recipe=recipe,
            preprocessing=preprocessing,
            generator=generator,
            scaler=scaler,
            bar=bar,
        )
        train_seconds += time.perf_counter() - t0
        if not math.isfinite(
            loss
        ):  # the weights are garbage from here on: no result of this run is reported
            if bar is not None:
                bar.close()
            raise TrainingDiverged(
                f"training diverged: the loss became {loss} in epoch {epoch} at a peak learning rate of "
                f"{max(g['initial_lr'] for g in optimizer.param_groups):g}; lower the learning rate (--lr)"
            )
        stats = EpochStats(epoch, loss, accuracy, None, None, lr, 0.0)
        if val is not None and len(val):
            ev = evaluate(
                model,
                val,
                preprocessing=preprocessing,
                device=device,
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


def _progress_bar(total_steps: int, *, enabled: bool) -> Any:
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


def _report(bar: Any, s: EpochStats, *, verbose: bool, epochs: int) -> None:
    val = (
        ""
        if s.val_accuracy is None
        else f"  val loss {s.val_loss:.3f}  val acc {s.val_accuracy:.1%}"
    )
    if bar is not None:
        bar.set_postfix_str(f"epoch {s.epoch}/{epochs}  loss {s.train_loss:.3f}{val}")
    if verbose:
        print(
            f"epoch {s.epoch}/{epochs}  train loss {s.train_loss:.3f}  train acc {s.train_accuracy:.1%}"
            f"{val}  ({s.seconds:.0f} s)",
            flush=True,
        )


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    images: torch.Tensor,
    *,
    preprocessing: Preprocessing,
    batch_size: int | None = None,
    device: torch.device | str | None = None,
    augment: AugmentConfig | None = None,
    generator: torch.Generator | None = None,
    hflip_tta: bool = False,
) -> torch.Tensor:
    """Logits ``(N, K)`` for uint8 images ``(N, 3, H, W)``, in the model's current mode.

    ``augment`` applies random augmentation (the source's flaw; off by
    default). ``hflip_tta`` averages the logits of each image and its mirror.
    ``batch_size`` defaults to the device's :func:`eval_batch_size` in eval
    mode; in train mode BatchNorm normalises each batch with its own
    statistics, so the batch is part of the result and must be given.
    """
    device = (
        torch.device(device) if device is not None else next(model.parameters()).device
    )
    if batch_size is None:
        if model.training:
            raise ValueError(
                "the model is in train mode, where BatchNorm normalises each batch with its own "
                "statistics and the batch size changes the result: pass batch_size"
            )
        batch_size = eval_batch_size(device)
    h, w = images.shape[-2:]
    out = []
    for idx in batches(len(images), batch_size, generator=None):
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
    batch_size: int | None = None,
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
    the source's loop did; frozen BatchNorm layers stay in eval mode): then
    the batch size is part of the result and must be given (:func:`predict_logits`).
    """
    was_training = model.training
    model.train(train_mode)
    if train_mode:
        set_bn_eval(model)
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
    empty = not len(labels)
    return Evaluation(
        accuracy=float("nan") if empty else float((preds == labels).float().mean()),
        loss=float("nan") if empty else float(F.cross_entropy(logits, labels)),
        per_class_accuracy=per_class,
        confusion=confusion,
        probs=logits.softmax(1),
        labels=labels.clone(),
        classes=list(data.classes),
    )
