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

from .backbones import (
    Preprocessing,
    count_parameters,
    create_model,
    freeze,
    get_head,
    get_spec,
    param_groups,
    preprocessing_for,
    unfreeze,
)
from .config import Config, get_config, seed_everything
from .data import ImageSet, load_splits
from .devices import default_device
from .probe import ProbeResult, train_probe
from .train import Evaluation, History, Recipe, evaluate, fit

__all__ = [
    "Strategy",
    "LAYER_DECAY",
    "HEAD_FRACTION",
    "STRATEGIES",
    "train_strategy",
    "RunResult",
    "load_data",
    "recipe_for",
    "prepare_model",
    "run",
]


@dataclass(frozen=True)
class Strategy:
    """Which weights start, which train, and how fast."""

    name: str
    pretrained: bool  # ImageNet weights (True) or random initialisation
    train_stages: int | None  # stages trained besides the head; None = all
    backbone_lr_scale: float = 1.0  # backbone learning rate relative to the head's
    lr_scale: float = 1.0  # peak learning rate relative to the configured one
    layer_decay: float = 1.0  # layer-wise rates (tlbook.backbones.param_groups); 1 = one rate for the backbone
    head_fraction: float = 0.0  # share of the epochs spent first on the head alone (backbone frozen, probe's rate)
    bn_eval: bool = False  # every BatchNorm layer normalises with its running statistics (Recipe.bn_eval)
    # True: no epochs at all; the frozen backbone's features are computed once and the head is fitted to
    # them by L-BFGS, its L2 strength chosen on validation (tlbook.probe). The recipe's numbers do not apply.
    cached: bool = False
    description: str = ""


# Layer-wise rates: 0.75 per stage puts EfficientNet-Lite0's stem (8 stages below the head) at 0.75**8 = 0.1
# of the head's rate, the ratio of "discriminative", so the two differ only in graded versus two-level rates.
# A design choice, not tuned; the peak rate is (see the sweep).
LAYER_DECAY = 0.75
# Head first, then unfreeze, as the Keras transfer-learning guide does it: the head alone on the frozen
# backbone, then every layer, with every BatchNorm layer kept in inference mode (the guide calls the base
# model with training=False). The share of the epochs spent on the head alone, at the linear probe's rate
# (2 of the cpu preset's 8): a design choice, not tuned. The guide's second phase uses a constant, very low
# rate (Adam, 1e-5); here the rate is chosen on validation, with warm-up and cosine decay. The variant
# whose BatchNorm layers train again on unfreezing ("head_first_bn_train") is measured beside it.
HEAD_FRACTION = 0.25

# Each strategy's peak learning rate is a multiple of the preset's (cfg.lr), chosen on validation accuracy
# by `python -m tlbook study sweep` (src/tlbook/results/sweep-cpu.json; tests/test_claims.py checks the match).
STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy(
            "linear",
            True,
            0,
            lr_scale=10.0,
            description="linear probe: frozen backbone (BatchNorm in eval), new head",
        ),
        Strategy(
            "probe",
            True,
            0,
            cached=True,
            description="the fast path: linear probe on cached features (the backbone runs once per "
            "image, no augmentation; the head by L-BFGS, its L2 strength chosen on validation)",
        ),
        Strategy(
            "partial", True, 2, description="unfreeze the last two stages and the head"
        ),
        Strategy(
            "finetune",
            True,
            None,
            description="fine-tune every layer at one learning rate",
        ),
        Strategy(
            "finetune_bn_eval",
            True,
            None,
            lr_scale=0.5,
            bn_eval=True,
            description="fine-tune every layer at one learning rate with BatchNorm in inference mode "
            "from the start (head first without its head phase)",
        ),
        Strategy(
            "discriminative",
            True,
            None,
            backbone_lr_scale=0.1,
            lr_scale=12.0,
            description="fine-tune every layer; the head learns 10x faster than the backbone",
        ),
        Strategy(
            "layerwise",
            True,
            None,
            layer_decay=LAYER_DECAY,
            lr_scale=4.0,
            description=f"fine-tune every layer; each stage learns {LAYER_DECAY}x as fast as the one above it",
        ),
        Strategy(
            "head_first",
            True,
            None,
            head_fraction=HEAD_FRACTION,
            lr_scale=0.5,
            bn_eval=True,
            description=f"train the head alone for {HEAD_FRACTION:.0%} of the epochs, then fine-tune every "
            "layer with BatchNorm in inference mode (the Keras guide)",
        ),
        Strategy(
            "head_first_bn_train",
            True,
            None,
            head_fraction=HEAD_FRACTION,
            lr_scale=2.0,
            description="head first, but BatchNorm layers normalise with batch statistics again once "
            "unfrozen (as in fastai's fine_tune after unfreezing)",
        ),
        Strategy(
            "scratch",
            False,
            None,
            lr_scale=1.5,
            description="same network, random weights",
        ),
    )
}


@dataclass
class RunResult:
    """Everything one :func:`run` produced."""

    config: Config
    strategy: str
    recipe: (
        Recipe | None
    )  # None: a cached strategy, which has no epochs (its fit is in `probe`)
    preprocessing: Preprocessing
    history: History
    test: Evaluation
    model: nn.Module
    trainable_parameters: int
    parameters: int
    seconds: float
    probe: ProbeResult | None = (
        None  # a cached strategy's fit: the L2 strength and each step's time
    )

    def metrics(self) -> dict[str, Any]:
        """JSON-ready summary: configuration, recipe, history and test results."""
        if self.probe is not None:
            return {**self.probe.metrics(), "strategy": self.strategy}
        assert (
            self.recipe is not None
        )  # every strategy but a cached one trains with a recipe
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
    data: str | None,
    cache: str,
    train_per_class: int | None,
    val_per_class: int,
    test_per_class: int | None,
    seed: int,
) -> tuple[ImageSet, ImageSet, ImageSet]:
    return load_splits(
        data=data,
        cache=cache,
        train_per_class=train_per_class,
        val_per_class=val_per_class,
        test_per_class=test_per_class,
        seed=seed,
    )


def load_data(cfg: Config) -> tuple[ImageSet, ImageSet, ImageSet]:
    """Train, validation and test sets for ``cfg`` (decoded once per process).

    The validation images are taken from CIFAR-10's training split; the
    test images from its test split, touched only for the final numbers.
    """
    return _cached_splits(
        cfg.data,
        cfg.cache,
        cfg.train_per_class,
        cfg.val_per_class,
        cfg.test_per_class,
        cfg.seed,
    )


def recipe_for(cfg: Config, strategy: str = "finetune", **changes: Any) -> Recipe:
    """The book's recipe at ``cfg``'s size, adjusted for ``strategy``.

    >>> recipe_for(get_config("smoke", lr=1e-3), "linear").lr  # the probe: 10x the preset's rate
    0.01
    >>> recipe_for(get_config("smoke", lr=1e-3), "scratch").lr  # random weights: 1.5x
    0.0015
    """
    s = _strategy(strategy)
    base = Recipe(
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        lr=cfg.lr * s.lr_scale,
        weight_decay=cfg.weight_decay,
        label_smoothing=cfg.label_smoothing,
        backbone_lr_scale=s.backbone_lr_scale,
        layer_decay=s.layer_decay,
        bn_eval=s.bn_eval,
    )
    return replace(base, **changes)


def _strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ValueError(
            f"unknown strategy {name!r}; known strategies: {', '.join(STRATEGIES)}"
        ) from None


def prepare_model(
    backbone: str,
    strategy: str,
    *,
    num_classes: int,
    recipe: Recipe,
) -> tuple[nn.Module, list[dict]]:
    """Build the model for ``strategy`` and its optimiser parameter groups."""
    s = _strategy(strategy)
    model = create_model(backbone, num_classes=num_classes, pretrained=s.pretrained)
    if s.train_stages is not None:
        freeze(model, backbone, train_stages=s.train_stages)
    groups = param_groups(
        model,
        backbone,
        lr=recipe.lr,
        backbone_lr_scale=recipe.backbone_lr_scale,
        layer_decay=recipe.layer_decay,
        weight_decay=recipe.weight_decay,
    )
    return model, groups


def training_phases(strategy: str, epochs: int) -> list[tuple[str, int]]:
    """The phases a trained strategy runs within ``epochs``: (what trains, named as the strategy that trains it; epochs).

    A strategy with a ``head_fraction`` first trains the head alone, as ``linear`` does; each phase
    gets at least one epoch.

    >>> training_phases("finetune", 8), training_phases("head_first", 8)
    ([('finetune', 8)], [('linear', 2), ('head_first', 6)])
    >>> training_phases("head_first", 1)
    [('linear', 1), ('head_first', 1)]
    """
    s = _strategy(strategy)
    if not s.head_fraction:
        return [(strategy, epochs)]
    head = max(1, round(s.head_fraction * epochs))
    return [("linear", head), (strategy, max(1, epochs - head))]


def train_strategy(
    cfg: Config,
    strategy: str,
    train: ImageSet,
    val: ImageSet | None,
    *,
    recipe: Recipe,
    preprocessing: Preprocessing,
    device: torch.device,
    progress: bool = False,
    verbose: bool = False,
) -> tuple[nn.Module, History]:
    """Build ``strategy``'s model and train it with ``recipe``; the seed is ``cfg.seed``.

    A strategy with a ``head_fraction`` trains in two phases within the same
    ``recipe.epochs``: the head alone on the frozen backbone (at the linear
    probe's rate, ``cfg.lr`` times its ``lr_scale``) for that share of the
    epochs, then every layer at ``recipe.lr`` for the rest, each phase with
    its own warm-up and decay (each phase at least one epoch, so a one-epoch
    budget trains two). The history holds both phases' epochs, numbered on.
    """
    s = _strategy(strategy)
    if s.cached:
        raise ValueError(
            f"strategy {strategy!r} has no epochs to train: run it with tlbook.experiment.run"
        )
    phases_of = training_phases(strategy, recipe.epochs)
    head_epochs = phases_of[0][1] if len(phases_of) > 1 else 0
    seed_everything(cfg.seed)
    model, groups = prepare_model(
        cfg.backbone,
        strategy,
        num_classes=len(train.classes),
        recipe=recipe,
    )
    phases = []
    if head_epochs:
        head = replace(
            recipe,
            epochs=head_epochs,
            lr=cfg.lr * STRATEGIES["linear"].lr_scale,
            backbone_lr_scale=1.0,
            layer_decay=1.0,
        )
        freeze(model, cfg.backbone, train_stages=0)
        phases.append(
            (
                head,
                param_groups(
                    model, cfg.backbone, lr=head.lr, weight_decay=head.weight_decay
                ),
            )
        )
        recipe = replace(recipe, epochs=phases_of[-1][1])
    phases.append((recipe, groups))
    history = History()
    for i, (phase, phase_groups) in enumerate(phases):
        if (
            i
        ):  # the second phase: every layer trains, frozen BatchNorm layers learn again
            unfreeze(model)
        h = fit(
            model,
            train,
            val,
            preprocessing=preprocessing,
            recipe=phase,
            param_groups=phase_groups,
            device=device,
            seed=cfg.seed + i,
            progress=progress,
            verbose=verbose,
        )
        history = _concatenate(history, h)
    return model, history


def _concatenate(first: History, second: History) -> History:
    """One history from two phases' (the second's epochs numbered on; the weights kept are the second's best)."""
    if not first.epochs:
        return second
    done = len(first.epochs)
    epochs = first.epochs + [replace(e, epoch=e.epoch + done) for e in second.epochs]
    # Both phases train on the same images: the rate over both is epochs over the time each epoch took.
    train_time = sum(
        len(h.epochs) / h.images_per_second
        for h in (first, second)
        if h.images_per_second
    )
    return History(
        epochs=epochs,
        best_epoch=None if second.best_epoch is None else second.best_epoch + done,
        seconds=first.seconds + second.seconds,
        images_per_second=len(epochs) / train_time if train_time else 0.0,
    )


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
    BatchNorm statistics (chapter 4's trap: ``Recipe.frozen_bn_eval``).
    A cached strategy (``"probe"``) runs :func:`tlbook.probe.train_probe`
    instead of epochs; its result has no recipe and a history without
    epochs, and ``seconds`` is its time to fit and test, as for the others.
    """
    cfg = cfg or get_config()
    get_spec(cfg.backbone)  # fail early on a typo, before loading data
    if _strategy(strategy).cached:
        if recipe is not None or preprocessing is not None or not bn_eval:
            raise ValueError(
                f"strategy {strategy!r} fits its head on cached features of the backbone's declared "
                "preprocessing, with no epochs: recipe, preprocessing and bn_eval do not apply"
            )
        return _run_cached(cfg, strategy, data=data or load_data(cfg), device=device)
    recipe = recipe or recipe_for(cfg, strategy)
    if not bn_eval:
        recipe = replace(recipe, frozen_bn_eval=False, bn_eval=False)
    preprocessing = preprocessing or preprocessing_for(cfg.backbone, cfg.image_size)
    train, val, test = data or load_data(cfg)
    device = torch.device(device) if device is not None else default_device()
    start = time.perf_counter()
    model, history = train_strategy(
        cfg,
        strategy,
        train,
        val,
        recipe=recipe,
        preprocessing=preprocessing,
        device=device,
        progress=progress,
        verbose=verbose,
    )
    result = evaluate(model, test, preprocessing=preprocessing, device=device)
    return RunResult(
        config=cfg,
        strategy=strategy,
        recipe=recipe,
        preprocessing=preprocessing,
        history=history,
        test=result,
        model=model,
        trainable_parameters=count_parameters(model, trainable_only=True),
        parameters=count_parameters(model),
        seconds=time.perf_counter() - start,
    )


def _run_cached(
    cfg: Config,
    strategy: str,
    *,
    data: tuple[ImageSet, ImageSet, ImageSet],
    device: torch.device | str | None,
) -> RunResult:
    """A cached strategy's run: features once, a head per L2 strength, the best on validation, test once."""
    start = time.perf_counter()
    probe = train_probe(cfg, data=data, device=device)
    fit_seconds = probe.seconds["features"] + probe.seconds["head"]
    n_images = len(data[0]) + len(
        data[1]
    )  # the features of training and validation images
    return RunResult(
        config=cfg,
        strategy=strategy,
        recipe=None,
        preprocessing=probe.preprocessing,
        history=History(
            seconds=fit_seconds,
            images_per_second=n_images / probe.seconds["features"]
            if probe.seconds["features"]
            else 0.0,
        ),
        test=probe.test,
        model=probe.model,
        # What the run trained: the head (the backbone's weights are not changed, frozen or not).
        trainable_parameters=count_parameters(get_head(probe.model, cfg.backbone)),
        parameters=count_parameters(probe.model),
        seconds=time.perf_counter() - start,
        probe=probe,
    )
