"""The learning-rate range test (the finder fastai popularised, after Smith): a starting point for a sweep.

>>> import torch
>>> from tlbook.backbones import create_model, preprocessing_for
>>> from tlbook.data import ImageSet
>>> data = ImageSet(torch.randint(0, 255, (20, 3, 16, 16), dtype=torch.uint8), torch.arange(20) % 2, ["a", "b"])
>>> r = find_lr(create_model("resnet18", num_classes=2, pretrained=False), data,
...             preprocessing=preprocessing_for("resnet18", 16), recipe=Recipe(batch_size=10), steps=5)
>>> len(r.lrs) == len(r.losses) <= 5 and r.lrs[0] == 1e-6 and r.suggestion in r.lrs
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .augment import sample_matrices
from .backbones import Preprocessing, set_bn_eval, weight_decay_groups
from .data import ImageSet
from .devices import autocast_dtype, to_device
from .train import Recipe, batches, make_optimizer, network_inputs, train_step

__all__ = ["LRFinderResult", "find_lr"]


@dataclass
class LRFinderResult:
    """What the range test measured: the loss against an exponentially growing learning rate."""

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
) -> LRFinderResult:
    """Train ``model`` for ``steps`` batches while the rate grows from ``start`` to ``end``; stop when it diverges.

    The loss falls once the rate is large enough to learn, then explodes. The
    suggestion is the rate where the smoothed loss falls fastest, a *starting
    point* for a sweep on validation data, not a replacement for one. The model
    is trained by this: use a fresh copy afterwards. ``param_groups`` keep their
    relative rates (the head's, last, is the one reported); by default every
    trainable parameter is in them, with :func:`tlbook.train.fit`'s weight decay
    rule, and frozen BatchNorm layers stay in eval mode as in :func:`~tlbook.train.fit`.
    """
    device = (
        torch.device(device) if device is not None else next(model.parameters()).device
    )
    model.to(device).to(memory_format=torch.channels_last).train()
    if recipe.frozen_bn_eval:
        set_bn_eval(model, every=recipe.bn_eval)
    if param_groups is None:
        trainable = [p for p in model.parameters() if p.requires_grad]
        param_groups = weight_decay_groups(
            trainable, lr=1.0, weight_decay=recipe.weight_decay
        )
    param_groups = [g for g in param_groups if g["params"]]
    optimizer = make_optimizer(param_groups, recipe)
    relative = [
        g["lr"] / param_groups[-1]["lr"] for g in optimizer.param_groups
    ]  # the head's group is last
    scaler = torch.amp.GradScaler(
        device.type, enabled=autocast_dtype(device) == torch.float16
    )
    generator = torch.Generator().manual_seed(seed)
    h, w = train.images.shape[-2:]
    lrs: list[float] = []
    losses: list[float] = []
    smooth, best = 0.0, math.inf
    stream = (
        idx
        for _ in range(steps)
        for idx in batches(len(train), recipe.batch_size, generator=generator)
    )
    for step, idx in zip(range(steps), stream):
        lr = start * (end / start) ** (step / max(1, steps - 1))
        for g, r in zip(optimizer.param_groups, relative):
            g["lr"] = lr * r
        matrices = sample_matrices(
            len(idx), recipe.augment, height=h, width=w, generator=generator
        )
        x = network_inputs(
            train.images,
            idx,
            matrices,
            preprocessing=preprocessing,
            recipe=recipe,
            device=device,
        )
        y = to_device(train.labels[idx], device)
        loss, _ = train_step(
            model,
            optimizer,
            scaler,
            x,
            y,
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
    )  # the descent before the minimum only
    slopes = [
        (losses[i + 1] - losses[i - 1]) / math.log(lrs[i + 1] / lrs[i - 1])
        for i in range(1, max(1, lowest))
    ]
    steepest = 1 + min(range(len(slopes)), key=slopes.__getitem__) if slopes else 0
    return LRFinderResult(lrs=lrs, losses=losses, suggestion=lrs[steepest])
