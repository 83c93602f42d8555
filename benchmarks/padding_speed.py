"""Training speed of EfficientNet-Lite0 with TensorFlow "same" padding against symmetric padding.

The book's Lite0 weights were trained in TensorFlow, so ``tlbook`` builds them
as timm's ``tf_efficientnet_lite0``, whose strided convolutions pad
asymmetrically at run time (``Conv2dSame``); timm's ``efficientnet_lite0`` pads
symmetrically inside the convolution. Same tensors, slightly different network.
This prints how much the correct network costs: images per second of one
training step (forward, backward, AdamW step; ``channels_last``, as ``fit``
runs it) for both, and their ratio, the median of ``--rounds`` rounds that
alternate which network goes first, at the ``cpu`` preset's size and at 224 px.

    python benchmarks/padding_speed.py             # about 3 minutes on 2 CPU cores
    python benchmarks/padding_speed.py --quick
    python benchmarks/padding_speed.py --out src/tlbook/results/padding-cpu.json  # what book/benchmarks.md quotes

Compare the ratio, not the absolute numbers: the machine's speed varies with
its load. A ratio below 1 means the TensorFlow-padding network is slower.
"""

from __future__ import annotations

import argparse
import statistics
import time

import timm
import torch
import torch.nn.functional as F

from tlbook.config import PRESETS
from tlbook.devices import default_device, machine_description
from tlbook.files import write_json_atomic


def make_step(name: str, device: torch.device, batch_size: int, size: int):
    """One training step of timm's ``name`` (10 classes) on a fixed random batch, as ``fit`` runs it."""
    torch.manual_seed(0)
    model = (
        timm.create_model(name, num_classes=10)
        .to(device=device, memory_format=torch.channels_last)
        .train()
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(batch_size, 3, size, size, device=device).contiguous(
        memory_format=torch.channels_last
    )
    y = torch.randint(0, 10, (batch_size,), device=device)

    def step() -> None:
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def images_per_second(step, n: int, batch_size: int, device: torch.device) -> float:
    step()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(n):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n * batch_size / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="fewer steps and rounds (a rough check)"
    )
    parser.add_argument(
        "--rounds", type=int, default=None, help="rounds per size (default 5, quick 2)"
    )
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=None,
        help="input sizes (default: cpu preset's and 224)",
    )
    parser.add_argument(
        "--out",
        default=None,
        help="also write the printed rows to this JSON file (book/benchmarks.md quotes them)",
    )
    args = parser.parse_args(argv)
    device = default_device()
    batch_size = PRESETS["cpu"].batch_size
    rounds = (2 if args.quick else 5) if args.rounds is None else args.rounds
    steps = 2 if args.quick else 5
    sizes = args.sizes or [PRESETS["cpu"].image_size, 224]
    if rounds < 1:
        parser.error(f"--rounds must be at least 1, got {rounds}")
    machine = machine_description(device)
    print(
        f"{machine}, batch {batch_size}, {rounds} rounds of {steps} steps per network and size"
    )
    table = []  # the printed rows, for --out
    print(
        f"{'size':>6}{'tf_ (same padding) img/s':>26}{'symmetric img/s':>17}{'ratio tf_/symmetric':>21}{'range':>13}"
    )
    for size in sizes:
        tf_step = make_step("tf_efficientnet_lite0", device, batch_size, size)
        sym_step = make_step("efficientnet_lite0", device, batch_size, size)
        ratios, tf_speeds, sym_speeds = [], [], []
        for r in range(rounds):
            order = [("tf", tf_step), ("sym", sym_step)]
            if r % 2:
                order.reverse()
            speed = {
                name: images_per_second(step, steps, batch_size, device)
                for name, step in order
            }
            tf_speeds.append(speed["tf"])
            sym_speeds.append(speed["sym"])
            ratios.append(speed["tf"] / speed["sym"])
        row = {
            "size": size,
            "tf_images_per_second": statistics.median(tf_speeds),
            "symmetric_images_per_second": statistics.median(sym_speeds),
            "ratio": statistics.median(ratios),
            "ratio_low": min(ratios),
            "ratio_high": max(ratios),
        }
        table.append(row)
        print(
            f"{size:>4}px{row['tf_images_per_second']:>26.1f}{row['symmetric_images_per_second']:>17.1f}"
            f"{row['ratio']:>21.2f}{row['ratio_low']:>7.2f}-{row['ratio_high']:.2f}",
            flush=True,
        )
    if args.out:
        write_json_atomic(
            args.out,
            {
                "machine": machine,
                "date": time.strftime("%Y-%m-%d"),
                "batch_size": batch_size,
                "rounds": rounds,
                "steps": steps,
                "rows": table,
            },
        )
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
