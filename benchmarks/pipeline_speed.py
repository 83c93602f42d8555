"""Speed of tlbook's batched in-memory pipeline against the source document's loop.

Same backbone (the book's default, EfficientNet-Lite0, or ``--backbone
resnet18``, the source's; weights do not change speed), same images, same
batch size, same model in the same memory format, measured in one run and
printed as ratios:

* data only   -- images/s delivered to the model, ready to use;
* whole step  -- images/s of forward + backward + SGD step, data included;
* network only -- the same step on one batch prepared in advance: the ceiling
  that no data pipeline can pass (its ratio is against the source's whole step);
* vs source as written -- tlbook's whole step against the source's loop as its
  code stands: the model in PyTorch's default memory format (NCHW) and in
  float32, where tlbook's ``fit`` uses ``channels_last`` (and bfloat16 on
  CUDA). This one ratio counts the memory format, not just the data;

at 32 px (the source's input size) and at the ``cpu`` preset's size. The
source's pipeline is torchvision's per-image PIL transforms
(RandomHorizontalFlip, RandomRotation(10), [Resize], ToTensor, Normalize)
behind a DataLoader with ``num_workers=2``, over images held in memory the
way ``torchvision.datasets.CIFAR10`` holds them. tlbook's is
:func:`tlbook.augment.sample_matrices` + :func:`tlbook.augment.preprocess`
on a uint8 tensor: one interpolation per image, whole batches at once.

    python benchmarks/pipeline_speed.py            # uses TLBOOK_DATA or synthetic images
    python benchmarks/pipeline_speed.py --quick    # fewer batches
    python benchmarks/pipeline_speed.py --backbone resnet18
    python benchmarks/pipeline_speed.py --out bench.json   # also save the table as JSON

Timings vary with load on the machine; compare the ratios. Each ratio is the
median of ``--rounds`` rounds of back-to-back measurements (source, tlbook,
network; then starting with the next loop, ...), so that a slow spell of the
machine hits every loop alike; the range of the rounds' ratios is printed
beside it.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import itertools
import statistics
import time

import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from tlbook.augment import SOURCE_AUGMENT, preprocess, sample_matrices
from tlbook.backbones import BACKBONES, create_model
from tlbook.config import PRESETS, Config, get_config
from tlbook.data import ImageSet, load_split
from tlbook.devices import default_device, machine_description, mixed_precision
from tlbook.files import write_json_atomic

DEFAULT_BACKBONE = Config.backbone  # the book's default network

SOURCE_MEAN = SOURCE_STD = (0.5, 0.5, 0.5)


class SourceStyleDataset(Dataset):
    """What torchvision.datasets.CIFAR10 does per item: array -> PIL image -> transforms."""

    def __init__(self, data: ImageSet, size: int):
        self.images = data.images.permute(0, 2, 3, 1).numpy()  # (N, H, W, 3)
        self.labels = data.labels.tolist()
        steps = [transforms.RandomHorizontalFlip(), transforms.RandomRotation(10)]
        if size != self.images.shape[1]:
            steps.append(transforms.Resize(size))  # a second interpolation
        steps += [transforms.ToTensor(), transforms.Normalize(SOURCE_MEAN, SOURCE_STD)]
        self.transform = transforms.Compose(steps)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.transform(Image.fromarray(self.images[i])), self.labels[i]


def source_batches(data: ImageSet, size: int, batch_size: int, workers: int):
    loader = DataLoader(
        SourceStyleDataset(data, size),
        batch_size=batch_size,
        shuffle=True,
        num_workers=workers,
        persistent_workers=False,
    )
    while True:
        yield from loader


def tlbook_batches(data: ImageSet, size: int, batch_size: int, device: torch.device):
    g = torch.Generator().manual_seed(0)
    h, w = data.images.shape[-2:]
    while True:
        order = torch.randperm(len(data), generator=g)
        for start in range(0, len(data) - batch_size + 1, batch_size):
            idx = order[start : start + batch_size]
            m = sample_matrices(
                len(idx), SOURCE_AUGMENT, height=h, width=w, generator=g
            )
            x = preprocess(
                data.images[idx],
                size=size,
                mean=SOURCE_MEAN,
                std=SOURCE_STD,
                matrices=m,
                padding_mode="zeros",
                device=device,
            )
            yield (
                x.contiguous(memory_format=torch.channels_last),
                data.labels[idx].to(device),
            )


def images_per_second(batches, n_batches: int, step=None, warmup: int = 2) -> float:
    it = iter(batches)
    for _ in range(warmup):
        x, y = next(it)
        if step:
            step(x, y)
    start = time.perf_counter()
    seen = 0
    for _ in range(n_batches):
        x, y = next(it)
        if step:
            step(x, y)
        seen += len(y)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return seen / (time.perf_counter() - start)


def make_step(backbone: str, device: torch.device, *, as_written: bool = False):
    """One SGD step of a fresh ``backbone``: as tlbook's ``fit`` runs it, or as the source's code does.

    tlbook's step: ``channels_last`` memory format and :func:`tlbook.train.mixed_precision`
    (bfloat16 on CUDA, nothing on the CPU). ``as_written=True``: the source's step, the
    model in the default format (NCHW) and float32.
    """
    model = create_model(backbone, num_classes=10, pretrained=False)
    if as_written:
        model.to(device)
        precision = contextlib.nullcontext
    else:
        model.to(device, memory_format=torch.channels_last)
        precision = functools.partial(mixed_precision, device)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def step(x, y):
        x, y = x.to(device, non_blocking=True), torch.as_tensor(y).to(device)
        with precision():
            loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="fewer batches (a rough check)"
    )
    parser.add_argument(
        "--backbone",
        default=DEFAULT_BACKBONE,
        choices=sorted(BACKBONES),
        help=f"network trained by both loops (default: {DEFAULT_BACKBONE})",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="rounds of measurements per ratio; the median is printed (default 5; 1 with --quick)",
    )
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=None,
        help="input sizes in px (default: 32 and the cpu preset's on a CPU, 32 and 224 on a GPU)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="DataLoader workers of the source pipeline (its value: 2)",
    )
    parser.add_argument(
        "--out",
        default=None,
        help="also write the printed rows to this JSON file (book/benchmarks.md copies them)",
    )
    args = parser.parse_args(argv)
    rounds = (1 if args.quick else 5) if args.rounds is None else args.rounds
    if rounds < 1:
        parser.error(f"--rounds must be at least 1, got {rounds}")
    device = default_device()
    data_root = get_config("cpu").data  # TLBOOK_DATA, read where every setting is read
    if data_root:
        data = load_split("train", data=data_root, per_class=200)
    else:  # synthetic images of CIFAR-10's shape: speed does not depend on content
        g = torch.Generator().manual_seed(0)
        data = ImageSet(
            torch.randint(0, 256, (2000, 3, 32, 32), dtype=torch.uint8, generator=g),
            torch.arange(2000) % 10,
            [str(i) for i in range(10)],
        )
    sizes = args.sizes or (
        [32, PRESETS["cpu"].image_size] if device.type == "cpu" else [32, 224]
    )
    machine = machine_description(device)
    print(f"machine: {machine}, backbone {args.backbone}")
    table = []  # the printed rows, for --out
    print(
        f"{'size':>5} {'measure':<20} {'source img/s':>13} {'tlbook img/s':>13} {'ratio':>7}  range of {rounds} rounds"
    )
    for size in sizes:
        batch = 100 if size == 32 else 50
        n_data = 5 if args.quick else 15
        n_step = (
            (3 if args.quick else 8)
            if device.type == "cpu" and size > 32
            else (5 if args.quick else 15)
        )
        step = make_step(args.backbone, device)
        step_as_written = make_step(args.backbone, device, as_written=True)
        fixed = next(
            tlbook_batches(data, size, batch, device)
        )  # one batch prepared in advance
        loops = {
            "source": lambda n, fn: images_per_second(
                source_batches(data, size, batch, args.workers), n, fn
            ),
            "tlbook": lambda n, fn: images_per_second(
                tlbook_batches(data, size, batch, device), n, fn
            ),
            "network": lambda n, fn: images_per_second(
                itertools.repeat(fixed), n, fn
            ),  # no data cost at all
            # The source's pipeline and its model as its code stands (NCHW, float32).
            "as written": lambda n, fn: images_per_second(
                source_batches(data, size, batch, args.workers), n, step_as_written
            ),
        }
        for measure, n, fn in (
            ("data only", n_data, None),
            ("whole step", n_step, step),
        ):
            names = ["source", "tlbook"] + (["network", "as written"] if fn else [])
            rates = {name: [] for name in names}  # img/s per round
            for r in range(
                rounds
            ):  # rotate which loop goes first, so drift in machine speed cancels
                for name in names[r % len(names) :] + names[: r % len(names)]:
                    rates[name].append(loops[name](n, fn))
            for name in names[1:]:
                # (label, baseline rates, tlbook's rates, whether the baseline is printed, note)
                label, base, ours, show_base, note = {
                    "tlbook": (measure, rates["source"], rates["tlbook"], True, ""),
                    # the ceiling, as a ratio against the source's whole step
                    "network": (
                        "network only",
                        rates["source"],
                        rates.get("network"),
                        False,
                        "  (the most any data pipeline can reach)",
                    ),
                    # tlbook's whole step against the source's loop with its own model: format (and precision) counted
                    "as written": (
                        "vs source as written",
                        rates.get("as written"),
                        rates["tlbook"],
                        True,
                        "  (the source's code as is: NCHW, float32)",
                    ),
                }[name]
                ratios = sorted(x / s for s, x in zip(base, ours))
                source_column = f"{statistics.median(base):.0f}" if show_base else ""
                row = {
                    "size": size,
                    "measure": label,
                    "source_images_per_second": statistics.median(base)
                    if show_base
                    else None,
                    "images_per_second": statistics.median(ours),
                    "ratio": statistics.median(ratios),
                    "ratio_low": ratios[0],
                    "ratio_high": ratios[-1],
                }
                table.append(row)
                print(
                    f"{size:>5} {label:<20} {source_column:>13} {row['images_per_second']:>13.0f}"
                    f" {row['ratio']:>6.2f}x  {row['ratio_low']:.2f}-{row['ratio_high']:.2f}{note}",
                    flush=True,
                )
    if args.out:
        write_json_atomic(
            args.out,
            {
                "machine": machine,
                "date": time.strftime("%Y-%m-%d"),
                "architecture": BACKBONES[args.backbone].architecture,
                "backbone": args.backbone,
                "rounds": rounds,
                "data": "CIFAR-10 (TLBOOK_DATA)" if data_root else "synthetic",
                "rows": table,
            },
        )
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
