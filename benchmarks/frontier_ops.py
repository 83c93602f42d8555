"""How close each frontier recipe runs to the CPU's limit: operations per image, and the fraction of peak.

A forward pass through a network costs a fixed number of floating-point
operations per image at a given size; a training step costs the forward pass,
the backward pass through what is trained, and the optimiser. This counts the
arithmetic that dominates, convolutions and linear layers (2 operations per
multiply-add), from each layer's shapes as an image passes through: a training
step costs each layer's forward operations once more for its input's gradient
(when anything below it trains) and once more for its weights' gradient (when
they train). (``torch.utils.flop_counter`` is not used: in torch 2.14 it counts
a grouped, e.g. depthwise, convolution's backward pass as if it were
ungrouped, which overstates EfficientNet's training step about 40 times.) For
each recipe of ``tlbook.studies.FRONTIER``:

* a probe: one forward pass per training and validation image (the head's
  fits on the cached features are negligible);
* a strategy: per epoch, one training step per training image (forward and
  backward, as the strategy freezes the network) and one forward pass per
  validation image; a strategy that trains the head alone first (head first)
  counts that phase's epochs with the linear probe's step
  (``tlbook.experiment.training_phases``).

Dividing by the seconds the frontier study measured gives the operations per
second each recipe achieved; dividing that by the machine's measured peak (the
best of a few large float32 matrix products, in this same run) gives the
fraction of the physical limit it reaches. One run prints every ratio:

    python benchmarks/frontier_ops.py
    python benchmarks/frontier_ops.py --out src/tlbook/results/frontier-ops-cpu.json

The seconds come from the study file (``--study``); measure both on the same
quiet machine.
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from pathlib import Path

import torch
from torch import nn

from tlbook.backbones import preprocessing_for
from tlbook.config import get_config
from tlbook.devices import machine_description
from tlbook.experiment import prepare_model, recipe_for, training_phases
from tlbook.files import write_json_atomic
from tlbook.studies import FRONTIER, RESULTS, frontier_config, frontier_summary


def peak_flops(*, n: int = 2048, rounds: int = 20) -> float:
    """The machine's float32 operations per second: the best of ``rounds`` (n x n) @ (n x n) products."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up: threads and caches
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def _layer_operations(module: nn.Module, output: torch.Tensor) -> int:
    """Forward operations of one convolution or linear layer for the batch that gave ``output``."""
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return 2 * output.numel() * (module.in_channels // module.groups) * kh * kw
    return 2 * output.numel() * module.in_features  # nn.Linear


@functools.cache  # builds and runs the network: count each (method, backbone, size) once
def operations_per_image(method: str, backbone: str, size: int) -> tuple[int, int]:
    """(forward, training step) operations for one image at ``size`` px; a probe trains no step."""
    strategy = "linear" if method == "probe" else method
    recipe = recipe_for(get_config("cpu", backbone=backbone), strategy)
    model, _ = prepare_model(backbone, strategy, num_classes=10, recipe=recipe)
    pre = preprocessing_for(backbone, size)
    # (2, 3, size, size): two images, as BatchNorm in training mode needs more than one value per channel
    x = torch.randn(2, 3, pre.size, pre.size)
    layers: list[
        tuple[int, bool, bool]
    ] = []  # (forward ops, input needs a gradient, weights train)

    def record(
        module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor
    ) -> None:
        needs = inputs[0].requires_grad
        layers.append(
            (_layer_operations(module, output), needs, module.weight.requires_grad)
        )

    hooks = [
        m.register_forward_hook(record)
        for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
    try:
        model.train()  # autograd on: an input requires a gradient when something below it trains
        model(x)
    finally:
        for h in hooks:
            h.remove()
    forward = sum(ops for ops, _, _ in layers) // len(x)  # per image
    if method == "probe":
        return forward, 0
    backward = sum(
        ops * (int(needs) + int(trains)) for ops, needs, trains in layers
    ) // len(x)
    return forward, forward + backward


def training_operations(
    method: str,
    backbone: str,
    size: int,
    *,
    epochs: int,
    train_images: int,
    val_images: int,
) -> int:
    """Every operation a recipe computes before the test set is read (what the frontier study times)."""
    forward, _ = operations_per_image(method, backbone, size)
    if method == "probe":
        return forward * (train_images + val_images)
    return sum(
        n
        * (
            operations_per_image(phase, backbone, size)[1] * train_images
            + forward * val_images
        )
        for phase, n in training_phases(method, epochs)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--study",
        help="the frontier study file whose seconds to use (default: the one installed with tlbook)",
    )
    parser.add_argument("--out", help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    path = Path(args.study) if args.study else RESULTS / "frontier-cpu.json"
    saved = json.loads(path.read_text())
    cfg = get_config(saved["config"]["preset"])
    train_images = cfg.train_per_class * 10
    val_images = cfg.val_per_class * 10
    summary = frontier_summary(saved["rows"])
    peak = peak_flops()
    machine = machine_description("cpu")
    print(f"{machine}: measured peak {peak / 1e9:.1f} GFLOP/s (float32 matrix product)")
    rows = []
    for recipe in FRONTIER:
        if recipe.name not in summary:
            continue
        rcfg = frontier_config(cfg, recipe)
        forward, step = operations_per_image(
            recipe.method, rcfg.backbone, rcfg.image_size
        )
        total = training_operations(
            recipe.method,
            rcfg.backbone,
            rcfg.image_size,
            epochs=rcfg.epochs,
            train_images=train_images,
            val_images=val_images,
        )
        seconds = summary[recipe.name]["seconds"]
        achieved = total / seconds
        rows.append(
            {
                "recipe": recipe.name,
                "forward_gflop_per_image": forward / 1e9,
                "training_step_gflop_per_image": step / 1e9,
                "training_gflop": total / 1e9,
                "seconds": seconds,
                "achieved_gflop_per_second": achieved / 1e9,
                "fraction_of_peak": achieved / peak,
            }
        )
        print(
            f"{recipe.name:<44} {forward / 1e9:6.2f} GFLOP forward, {step / 1e9:6.2f} per step; "
            f"{total / 1e12:6.2f} TFLOP in {seconds:6.1f} s = {achieved / 1e9:5.1f} GFLOP/s, "
            f"{achieved / peak:.2f} of peak"
        )
    if args.out:
        write_json_atomic(
            args.out,
            {
                "machine": machine,
                "date": time.strftime("%Y-%m-%d"),
                "peak_gflop_per_second": peak / 1e9,
                "study_machine": sorted({r["machine"] for r in saved["rows"]}),
                "rows": rows,
            },
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
