"""Looking inside a backbone: layers as matrices, stage shapes, features, a linear probe.

Chapter 3 uses these to show what a convolution is and what ImageNet weights
already know; chapter 4's linear probe is the same idea trained with
:func:`tlbook.train.fit`.

* :func:`conv_as_matrix` -- a convolution written as the ``W`` of ``max(0, Wx + b)``;
* :func:`extract_features` -- the vector the head sees, ``(N, D)``;
* :func:`stage_table` -- output shape and parameter count of every stage;
* :func:`count_macs` -- multiply-accumulate operations of one forward pass;
* :func:`feature_maps` -- activations of chosen stages for one image;
* :func:`pca` and :func:`linear_probe` -- a 2-D picture and a quick accuracy;
* :func:`first_batchnorm_gap` -- do these inputs look like the ones the weights
  were trained on? (the test of a preprocessing claim).

>>> from tlbook.backbones import create_model
>>> m = create_model("resnet18", num_classes=10, pretrained=False)
>>> [row["stage"] for row in stage_table(m, "resnet18", size=32)][:3]
['conv1+bn1', 'layer1', 'layer2']
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .augment import preprocess
from .backbones import Preprocessing, get_head, get_spec
from .train import eval_batch_size, predict_logits

__all__ = [
    "conv_as_matrix",
    "extract_features",
    "stage_table",
    "count_macs",
    "feature_maps",
    "pca",
    "linear_probe",
    "first_batchnorm_gap",
]


@torch.no_grad()
def conv_as_matrix(
    conv: nn.Conv2d, input_shape: tuple[int, int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """The dense ``W`` and ``b`` with ``conv(x).flatten() == W @ x.flatten() + b``.

    A convolution is a fully connected layer whose matrix is mostly zeros
    (each output sees a small neighbourhood) and whose non-zero entries repeat
    (the same kernel everywhere). ``input_shape`` is ``(C, H, W)``; ``W`` has
    one row per output value and one column per input value.

    >>> conv = nn.Conv2d(1, 1, 3, padding=1)
    >>> W, b = conv_as_matrix(conv, (1, 4, 4))
    >>> W.shape, bool((W != 0).sum(1).max() <= 9)
    (torch.Size([16, 16]), True)
    """
    n_in = math.prod(input_shape)
    basis = torch.eye(n_in).reshape(
        n_in, *input_shape
    )  # (n_in, C, H, W): one unit input per column
    bias = conv(
        torch.zeros(1, *input_shape)
    ).flatten()  # (n_out,): the response to zero is the bias
    W = (conv(basis).reshape(n_in, -1) - bias).T  # (n_out, n_in)
    return W, bias


@torch.no_grad()
def extract_features(
    model: nn.Module,
    backbone: str,
    images: torch.Tensor,
    *,
    preprocessing: Preprocessing,
    batch_size: int | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The pooled features ``(N, D)`` that the head receives, in eval mode.

    ``images`` is uint8 ``(N, 3, H, W)``; ``D`` is 512 for ResNet-18 and 1280
    for EfficientNet-Lite0.
    """
    captured: list[torch.Tensor] = []
    keep_input = lambda module, inputs, output: captured.append(
        inputs[0].detach().float().cpu()
    )  # (B, D)  # noqa: E731
    with _probe(model, [(get_head(model, backbone), keep_input)]):
        predict_logits(
            model,
            images,
            preprocessing=preprocessing,
            batch_size=batch_size,
            device=device,
        )
    return torch.cat(captured)


class _StopForward(Exception):
    """Raised by a hook to end a forward pass once it has what it needs."""


@contextlib.contextmanager
def _probe(
    model: nn.Module, hooks: Sequence[tuple[nn.Module, Callable]]
) -> Iterator[None]:
    """Eval mode with forward hooks attached; both undone afterwards, even on an error."""
    handles = [module.register_forward_hook(fn) for module, fn in hooks]
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)


def _stage_modules(model: nn.Module, backbone: str) -> list[tuple[str, nn.Module]]:
    """(label, last module) for each stage: a stage's output is its last module's output."""
    out = []
    for stage in get_spec(backbone).stages:
        out.append(("+".join(stage), model.get_submodule(stage[-1])))
    return out


@torch.no_grad()
def stage_table(model: nn.Module, backbone: str, *, size: int) -> list[dict]:
    """One row per stage: output shape for a ``size`` px input, and parameters.

    Each row: ``{"stage", "output" (C, H, W), "parameters"}``; the head is the
    last row.
    """
    shapes: dict[str, tuple[int, ...]] = {}
    hooks = [
        (
            module,
            lambda m, i, o, label=label: shapes.__setitem__(label, tuple(o.shape[1:])),
        )
        for label, module in _stage_modules(model, backbone)
    ]
    with _probe(model, hooks):
        head_out = model(torch.zeros(1, 3, size, size))  # (1, K)
    rows = []
    for stage in get_spec(backbone).stages:
        label = "+".join(stage)
        params = sum(
            p.numel() for name in stage for p in model.get_submodule(name).parameters()
        )
        rows.append({"stage": label, "output": shapes[label], "parameters": params})
    head = get_spec(backbone).head
    rows.append(
        {
            "stage": head,
            "output": tuple(head_out.shape[1:]),
            "parameters": sum(
                p.numel() for p in model.get_submodule(head).parameters()
            ),
        }
    )
    return rows


@torch.no_grad()
def count_macs(model: nn.Module, *, size: int) -> int:
    """Multiply-accumulates of one forward pass on a ``size`` x ``size`` image.

    Counts convolutions and linear layers, which dominate; normalisation and
    activations are left out.

    >>> count_macs(nn.Conv2d(3, 8, 3, padding=1), size=4)  # 8*4*4 outputs x 3*3*3 each
    3456
    """
    total = 0

    def conv_hook(m: nn.Conv2d, inputs, output) -> None:
        nonlocal total
        kh, kw = m.kernel_size
        total += output.numel() * (m.in_channels // m.groups) * kh * kw

    def linear_hook(m: nn.Linear, inputs, output) -> None:
        nonlocal total
        total += output.numel() * m.in_features

    hooks = [
        (m, conv_hook if isinstance(m, nn.Conv2d) else linear_hook)
        for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
    with _probe(model, hooks):
        model(torch.zeros(1, 3, size, size))
    return total


@torch.no_grad()
def feature_maps(
    model: nn.Module, backbone: str, x: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Activations ``(C, H, W)`` of every stage for one preprocessed image ``(1, 3, S, S)``."""
    maps: dict[str, torch.Tensor] = {}
    hooks = [
        (
            module,
            lambda m, i, o, label=label: maps.__setitem__(label, o[0].detach().cpu()),
        )
        for label, module in _stage_modules(model, backbone)
    ]
    with _probe(model, hooks):
        model(x)
    return maps


def pca(x: torch.Tensor, k: int = 2) -> torch.Tensor:
    """Project rows of ``x`` ``(N, D)`` onto their ``k`` main directions -> ``(N, k)``.

    >>> pts = torch.tensor([[0.0, 0.0], [2.0, 0.0], [4.0, 0.1]])
    >>> pca(pts, 1).abs().flatten().round().tolist()
    [2.0, 0.0, 2.0]
    """
    centred = x - x.mean(0, keepdim=True)  # (N, D)
    _, _, v = torch.linalg.svd(centred, full_matrices=False)  # v: (min(N, D), D)
    return centred @ v[:k].T  # (N, k)


def linear_probe(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    *,
    steps: int = 300,
    lr: float = 0.05,
    weight_decay: float = 1e-3,
    seed: int = 0,
) -> float:
    """Test accuracy of softmax regression trained on fixed features (full batch).

    Features are standardised with the training set's mean and std. This is
    the cheap "what do the features already separate?" measurement; the
    linear-probe *strategy* of chapter 4 trains the same head with
    augmentation through :func:`tlbook.train.fit`.

    >>> x = torch.cat([torch.randn(20, 5) + 3, torch.randn(20, 5) - 3]); y = torch.tensor([0] * 20 + [1] * 20)
    >>> linear_probe(x, y, x, y)
    1.0
    """
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    a, b = (train_x - mean) / std, (test_x - mean) / std
    g = torch.Generator().manual_seed(seed)
    k = int(train_y.max()) + 1
    head = nn.Linear(a.shape[1], k)
    with torch.no_grad():
        head.weight.copy_(torch.randn(head.weight.shape, generator=g) * 0.01)
        head.bias.zero_()
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(steps):
        loss = F.cross_entropy(head(a), train_y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return float((head(b).argmax(1) == test_y).float().mean())


@torch.no_grad()
def first_batchnorm_gap(
    model: nn.Module,
    images: torch.Tensor,
    *,
    preprocessing: Preprocessing,
    batch_size: int | None = None,
) -> float:
    """How far real inputs, preprocessed as declared, sit from what the first BatchNorm layer saw in training.

    The first BatchNorm's running mean and variance are the statistics of the
    stem's output over the weights' training images, *as they were
    preprocessed then*. Feed real photographs ``images`` ``(N, 3, H, W)``
    (uint8) through ``preprocessing`` and compare the batch's per-channel mean
    with the running mean, in units of the running standard deviation; the
    result is the average over channels. Near 0 (about 0.05 for the right
    preprocessing) means "the same kind of inputs"; a wrong mean/std shifts
    every channel (0.3 and more). Channels whose running variance is 0 (constant
    in training) are left out.

    A layer whose running statistics were measured on these very images has
    no gap; the same images preprocessed otherwise have one:

    >>> from tlbook.augment import preprocess
    >>> from tlbook.backbones import Preprocessing, create_model, preprocessing_for
    >>> m = create_model("resnet18", num_classes=None, pretrained=False).train()
    >>> m.bn1.momentum = None  # a cumulative average: the running mean becomes these images' mean
    >>> images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    >>> pre = preprocessing_for("resnet18", 32)
    >>> _ = m(preprocess(images, size=32, mean=pre.mean, std=pre.std))
    >>> round(first_batchnorm_gap(m, images, preprocessing=pre), 3)
    0.0
    >>> first_batchnorm_gap(m, images, preprocessing=Preprocessing(32, (0.5,) * 3, (0.5,) * 3)) > 0.1
    True
    """
    bn = next(
        (m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)),
        None,
    )
    if bn is None:
        raise ValueError("the model has no BatchNorm layer")
    sums: list[torch.Tensor] = []  # per batch: (C,) sum over images and positions
    counts: list[int] = []

    def record(
        module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor
    ) -> None:
        x = inputs[
            0
        ].float()  # (B, C, h, w): the stem's output, the first BatchNorm's input
        sums.append(x.sum(dim=(0, 2, 3)).cpu())
        counts.append(x.numel() // x.shape[1])
        # Nothing after the first BatchNorm's input matters here: stop the forward pass (the rest of
        # the network is almost all of its cost).
        raise _StopForward

    device = next(model.parameters()).device
    batch_size = batch_size or eval_batch_size(device)
    with _probe(model, [(bn, record)]), torch.no_grad():
        for start in range(0, len(images), batch_size):
            x = preprocess(
                images[start : start + batch_size],
                size=preprocessing.size,
                mean=preprocessing.mean,
                std=preprocessing.std,
                device=device,
            )  # (B, 3, S, S)
            try:
                model(x)
            except _StopForward:
                pass
    if len(counts) != -(-len(images) // batch_size):
        raise ValueError(
            "the first BatchNorm layer did not run for every batch"
        )  # a model whose forward skips it
    mean = torch.stack(sums).sum(0) / sum(counts)  # (C,)
    assert (
        bn.running_mean is not None and bn.running_var is not None
    )  # tracked: a pretrained BatchNorm
    var = bn.running_var.cpu()  # (C,)
    # A channel whose running variance is 0 was constant on the training images (Lite1 and Lite2 have
    # a few): a standard deviation of zero gives no scale to measure a gap in, so it is left out.
    alive = var > 0
    gap = (mean - bn.running_mean.cpu())[alive] / (var[alive] + bn.eps).sqrt()
    return float(gap.abs().mean())
