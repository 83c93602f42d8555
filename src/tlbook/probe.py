"""A linear probe on cached features: the backbone runs once per image, the head trains in seconds.

With the backbone frozen and its BatchNorm in eval mode, the head's input for
an image never changes, so it is computed once (:func:`features`, optionally
kept on disk) and the head, a softmax regression, trains on that table
(:func:`fit_head`: full batch, L-BFGS, L2 strength chosen on validation
accuracy). Without caching, every evaluation of the loss would run the
backbone over every training image again: the same arithmetic, one backbone
pass per evaluation (``benchmarks/probe_speed.py`` prints the ratio; its
saved run is ``tlbook/results/probe-speed-cpu.json``). Training images are not
augmented: an augmented view would be a new input, and the cache would be
useless.

The head is then put into the network, so the result is an ordinary model:
evaluated, saved, used by :func:`tlbook.predict` and exported
(:mod:`tlbook.export`) like any other run.

>>> x = torch.cat([torch.randn(20, 4) + 2, torch.randn(20, 4) - 2])
>>> y = torch.tensor([0] * 20 + [1] * 20)
>>> head = fit_head(x, y, num_classes=2, weight_decay=1e-2)
>>> float((head(x).argmax(1) == y).float().mean())
1.0
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .anatomy import extract_features
from .backbones import (
    Preprocessing,
    create_model,
    get_head,
    get_spec,
    preprocessing_for,
)
from .config import Config, get_config, seed_everything
from .data import ImageSet
from .devices import default_device
from .errors import ConfigError
from .files import atomic_path
from .train import Evaluation, evaluate

__all__ = ["WEIGHT_DECAYS", "ProbeResult", "features", "fit_head", "train_probe"]

# L2 strengths tried for the head (on standardised features); validation accuracy picks one.
WEIGHT_DECAYS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
MAX_ITER = (
    200  # L-BFGS iterations: the problem is convex and small, it converges well before
)


@torch.no_grad()
def features(
    model: nn.Module,
    backbone: str,
    images: ImageSet,
    *,
    preprocessing: Preprocessing,
    device: torch.device | str | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> torch.Tensor:
    """The head's input ``(N, D)`` for every image, computed once; kept in ``cache_dir`` if given.

    The file's name is a hash of everything the features depend on (the
    backbone's weights, the preprocessing, the images' pixels), so a changed
    photo, size or network never reads a stale table.
    """
    path = None
    if cache_dir is not None:
        key = _cache_key(model, backbone, images, preprocessing)
        path = Path(cache_dir) / f"features-{key}.pt"
        if path.is_file():
            try:
                cached = torch.load(path, map_location="cpu", weights_only=True)
            except Exception:  # noqa: BLE001 - an unreadable cache entry is recomputed
                cached = None
            if isinstance(cached, torch.Tensor) and cached.shape[0] == len(images):
                return cached
    out = extract_features(
        model,
        backbone,
        images.images,
        preprocessing=preprocessing,
        device=device,
    )  # (N, D), in batches of tlbook.train.EVAL_BATCH_SIZE
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            torch.save(out, tmp)
    return out


def _cache_key(
    model: nn.Module, backbone: str, images: ImageSet, pre: Preprocessing
) -> str:
    h = hashlib.sha256()
    h.update(f"{get_spec(backbone).architecture}|{asdict(pre)}".encode())
    head = get_spec(backbone).head
    for name, tensor in model.state_dict().items():
        if not name.startswith(head + "."):  # the head does not change the features
            h.update(name.encode())
            h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    h.update(images.images.contiguous().numpy().tobytes())
    return h.hexdigest()[:32]


def fit_head(
    features: torch.Tensor | Callable[[], torch.Tensor],
    labels: torch.Tensor,
    *,
    num_classes: int,
    weight_decay: float,
    max_iter: int = MAX_ITER,
) -> nn.Linear:
    """Softmax regression on ``features`` ``(N, D)``, as an ``nn.Linear(D, num_classes)``.

    Minimises mean cross-entropy plus ``weight_decay / 2 * ||W||^2`` on
    standardised features, full batch, with L-BFGS from zero weights (the
    problem is convex, so no seed matters); the standardisation is folded into
    the returned layer, which takes raw features. ``features`` may also be a
    function returning them, called at every evaluation of the loss: the
    uncached probe, for comparison.
    """
    get = features if callable(features) else (lambda: features)

    def standardised() -> torch.Tensor:
        x = get()  # (N, D)
        return (x - x.mean(0)) / (x.std(0) + 1e-6)

    x0 = get()
    mean, std = x0.mean(0), x0.std(0) + 1e-6  # (D,)
    w = torch.zeros(num_classes, x0.shape[1], requires_grad=True)  # (K, D)
    b = torch.zeros(num_classes, requires_grad=True)  # (K,)
    opt = torch.optim.LBFGS(
        [w, b],
        lr=1.0,
        max_iter=max_iter,
        history_size=20,
        line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        z = standardised() if callable(features) else (x0 - mean) / std
        loss = (
            F.cross_entropy(z @ w.T + b, labels) + weight_decay / 2 * w.square().sum()
        )
        loss.backward()
        return loss

    opt.step(closure)
    head = nn.Linear(x0.shape[1], num_classes)
    with torch.no_grad():
        # w (z) + b with z = (x - mean) / std  ==  (w / std) x + (b - (w / std) mean)
        head.weight.copy_(w / std)
        head.bias.copy_(b - (w / std) @ mean)
    return head


@dataclass
class ProbeResult:
    """A network with its probe-trained head, and how it was chosen and measured."""

    config: Config
    model: nn.Module
    preprocessing: Preprocessing
    weight_decay: float  # the L2 strength validation chose
    val_accuracy: dict[float, float]  # each candidate's validation accuracy
    test: Evaluation
    seconds: dict[str, float]  # "features", "head", "test": wall time of each step

    def metrics(self) -> dict[str, Any]:
        """JSON-ready, in the shape of ``tlbook train``'s metrics.json (:data:`tlbook.schemas.METRICS`)."""
        head = get_head(self.model, self.config.backbone)
        return {
            "config": asdict(self.config),
            "strategy": "probe",
            "recipe": {
                "optimizer": "L-BFGS, full batch, standardised features",
                "max_iter": MAX_ITER,
                "weight_decay": self.weight_decay,
                "weight_decays": list(self.val_accuracy),
            },
            "preprocessing": asdict(self.preprocessing),
            "history": {
                "val_accuracy": {str(k): v for k, v in self.val_accuracy.items()},
                "step_seconds": self.seconds,
            },
            "test": self.test.summary(),
            "trainable_parameters": sum(p.numel() for p in head.parameters()),
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "seconds": sum(self.seconds.values()),
        }


def train_probe(
    cfg: Config | None = None,
    *,
    data: tuple[ImageSet, ImageSet | None, ImageSet],
    device: torch.device | str | None = None,
    cache_dir: str | os.PathLike | None = None,
    weight_decays: tuple[float, ...] = WEIGHT_DECAYS,
) -> ProbeResult:
    """Features of the training and validation images once, a head per L2 strength, the best on validation.

    ``data`` is ``(train, val, test)`` (:func:`tlbook.experiment.load_data` or
    :func:`tlbook.data.load_splits`); without validation images the choice
    cannot be made and a :class:`~tlbook.errors.ConfigError` says so. The test
    images go through the whole network once, as in any evaluation.
    """
    cfg = cfg or get_config()
    train, val, test = data
    if val is None or len(val) == 0:
        raise ConfigError(
            "the probe chooses its L2 strength on validation images, and there are none; "
            "give the data a validation split (val_per_class of at least 1)"
        )
    device = torch.device(device) if device is not None else default_device()
    pre = preprocessing_for(cfg.backbone, cfg.image_size)
    seed_everything(cfg.seed)
    # channels_last, as fit trains: oneDNN's convolutions run faster in it on the CPU, and so on CUDA.
    model = create_model(cfg.backbone, num_classes=len(train.classes)).to(device)
    model = model.to(memory_format=torch.channels_last)
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    f_train, f_val = (
        features(
            model,
            cfg.backbone,
            s,
            preprocessing=pre,
            device=device,
            cache_dir=cache_dir,
        )
        for s in (train, val)
    )
    seconds["features"] = time.perf_counter() - start
    start = time.perf_counter()
    heads, val_accuracy = {}, {}
    for wd in weight_decays:
        heads[wd] = fit_head(
            f_train, train.labels, num_classes=len(train.classes), weight_decay=wd
        )
        with torch.no_grad():
            predicted = heads[wd](f_val).argmax(1)  # (N_val,)
        val_accuracy[wd] = float((predicted == val.labels).float().mean())
    # The best validation accuracy; among equals the strongest L2 (the simplest head).
    best = max(weight_decays, key=lambda wd: (val_accuracy[wd], wd))
    get_head(model, cfg.backbone).load_state_dict(heads[best].state_dict())
    seconds["head"] = time.perf_counter() - start
    start = time.perf_counter()
    result = evaluate(model, test, preprocessing=pre, device=device)
    seconds["test"] = time.perf_counter() - start
    return ProbeResult(
        config=cfg,
        model=model.eval(),
        preprocessing=pre,
        weight_decay=best,
        val_accuracy=val_accuracy,
        test=result,
        seconds=seconds,
    )
