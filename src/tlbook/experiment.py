"""One experiment in one call: data from the configuration, a strategy, fit, test.

The fine-tuning strategies of chapter 4 are a table (:data:`STRATEGIES`);
:func:`run` is what the command line and the notebooks call, so every number
in the book comes from the same code path:

>>> cfg = get_config("smoke")
>>> STRATEGIES["linear"].pretrained, STRATEGIES["scratch"].pretrained
(True, False)
"""

from __future__ import annotations

import functools
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
from torch import nn

from .backbones import Preprocessing, count_parameters, create_model, freeze, get_spec, param_groups, preprocessing_for
from .config import Config, default_device, get_config, seed_everything
from .data import ImageSet, load_splits
from .train import Evaluation, History, Recipe, evaluate, fit

__all__ = ["Strategy", "STRATEGIES", "RunResult", "load_data", "recipe_for", "prepare_model", "run"]


@dataclass(frozen=True)
class Strategy:
    """Which weights start, which train, and how fast."""

    name: str
    pretrained: bool  # ImageNet weights (True) or random initialisation
    train_stages: int | None  # stages trained besides the head; None = all
    backbone_lr_scale: float = 1.0  # backbone learning rate relative to the head's
    lr_scale: float = 1.0  # peak learning rate relative to the configured one
    description: str = ""


# Each strategy's peak learning rate is a multiple of the preset's (cfg.lr), chosen on validation accuracy
# by `python -m tlbook study sweep` (book/results/sweep-cpu.json; tests/test_claims.py checks the match).
STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy("linear", True, 0, lr_scale=10.0, description="linear probe: frozen backbone (BatchNorm in eval), new head"),
        Strategy("partial", True, 2, description="unfreeze the last two stages and the head"),
        Strategy("finetune", True, None, description="fine-tune every layer at one learning rate"),
        Strategy("discriminative", True, None, backbone_lr_scale=0.1, lr_scale=12.0,
                 description="fine-tune every layer; the head learns 10x faster than the backbone"),
        Strategy("scratch", False, None, lr_scale=1.5, description="same network, random weights"),
    )
}


@dataclass
class RunResult:
    """Everything one :func:`run` produced."""

    config: Config
    strategy: str
    recipe: Recipe
    preprocessing: Preprocessing
    history: History
    test: Evaluation
    model: nn.Module
    trainable_parameters: int
    parameters: int
    seconds: float

    def metrics(self) -> dict[str, Any]:
        """JSON-ready summary: configuration, recipe, history and test results."""
        return {
            "config": asdict(self.config),
            "strategy": self.strategy,
            "recipe": asdict(self.recipe),
            "preprocessing": asdict(self.preprocessing),
            "history": self.history.to_dict(),
            "test": self.test.summary(),
            "trainable_parameters": self.trainable_parameters,
            "parameters": self.parameters,
            "seconds": self.seconds,
        }


@functools.lru_cache(maxsize=4)
def _cached_splits(
    data: str | None, cache: str, train_per_class: int | None, val_per_class: int, test_per_class: int | None, seed: int
) -> tuple[ImageSet, ImageSet, ImageSet]:
    return load_splits(
        data=data, cache=cache, train_per_class=train_per_class, val_per_class=val_per_class,
        test_per_class=test_per_class, seed=seed,
    )


def load_data(cfg: Config) -> tuple[ImageSet, ImageSet, ImageSet]:
    """Train, validation and test sets for ``cfg`` (decoded once per process).

    The validation images are taken from CIFAR-10's training split; the
    test images from its test split, touched only for the final numbers.
    """
    return _cached_splits(cfg.data, cfg.cache, cfg.train_per_class, cfg.val_per_class, cfg.test_per_class, cfg.seed)


def recipe_for(cfg: Config, strategy: str = "finetune", **changes: Any) -> Recipe:
    """The book's recipe at ``cfg``'s size, adjusted for ``strategy``.

    >>> recipe_for(get_config("smoke", lr=1e-3), "linear").lr  # the probe: 10x the preset's rate
    0.01
    >>> recipe_for(get_config("smoke", lr=1e-3), "scratch").lr  # random weights: 1.5x
    0.0015
    """
    s = _strategy(strategy)
    base = Recipe(
        epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr * s.lr_scale, weight_decay=cfg.weight_decay,
        label_smoothing=cfg.label_smoothing, backbone_lr_scale=s.backbone_lr_scale,
    )
    return replace(base, **changes)


def _strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ValueError(f"unknown strategy {name!r}; known strategies: {', '.join(STRATEGIES)}") from None


def prepare_model(
    backbone: str, strategy: str, *, num_classes: int, recipe: Recipe, bn_eval: bool = True
) -> tuple[nn.Module, list[dict]]:
    """Build the model for ``strategy`` and its optimiser parameter groups."""
    s = _strategy(strategy)
    model = create_model(backbone, num_classes=num_classes, pretrained=s.pretrained)
    if s.train_stages is not None:
        freeze(model, backbone, train_stages=s.train_stages, bn_eval=bn_eval)
    groups = param_groups(
        model, backbone, lr=recipe.lr, backbone_lr_scale=recipe.backbone_lr_scale, weight_decay=recipe.weight_decay
    )
    return model, groups


def run(
    cfg: Config | None = None,
    *,
    strategy: str = "finetune",
    recipe: Recipe | None = None,
    preprocessing: Preprocessing | None = None,
    data: tuple[ImageSet, ImageSet, ImageSet] | None = None,
    device: torch.device | str | None = None,
    progress: bool = False,
    verbose: bool = False,
    bn_eval: bool = True,
) -> RunResult:
    """Train ``cfg.backbone`` with ``strategy`` and evaluate it once on the test set.

    Defaults come from ``cfg`` (itself from :func:`get_config`): the data,
    the recipe (:func:`recipe_for`) and the preprocessing of the backbone at
    ``cfg.image_size``. ``data`` overrides the ``(train, val, test)`` sets.
    ``bn_eval=False`` freezes only the parameters of frozen stages, not their
    BatchNorm statistics (chapter 4's trap).
    """
    cfg = cfg or get_config()
    get_spec(cfg.backbone)  # fail early on a typo, before loading data
    recipe = recipe or recipe_for(cfg, strategy)
    preprocessing = preprocessing or preprocessing_for(cfg.backbone, cfg.image_size)
    train, val, test = data or load_data(cfg)
    device = torch.device(device) if device is not None else default_device()
    start = time.perf_counter()
    seed_everything(cfg.seed)
    model, groups = prepare_model(cfg.backbone, strategy, num_classes=len(train.classes), recipe=recipe,
                                  bn_eval=bn_eval)
    history = fit(
        model, train, val, preprocessing=preprocessing, recipe=recipe, param_groups=groups, device=device,
        seed=cfg.seed, progress=progress, verbose=verbose,
    )
    result = evaluate(model, test, preprocessing=preprocessing, device=device)
    return RunResult(
        config=cfg, strategy=strategy, recipe=recipe, preprocessing=preprocessing, history=history, test=result,
        model=model, trainable_parameters=count_parameters(model, trainable_only=True),
        parameters=count_parameters(model), seconds=time.perf_counter() - start,
    )
