"""How much the cached probe saves: the same head fitted on features computed once, or on every step.

``tlbook.probe.fit_head`` gets either the table of features (the cached
probe: one backbone pass per image) or a function that runs the backbone over
every training image each time L-BFGS evaluates the loss (the uncached probe).
Same arithmetic, same head; this prints the wall time of each, their ratio,
and whether the two heads agree on every test image. The images are the
stand-in photos of chapter 6 (needs scikit-image).

    python benchmarks/probe_speed.py
    python benchmarks/probe_speed.py --per-class 14 --image-size 112 --out probe-speed.json

Run it on a quiet machine: the times are the machine's.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

from tlbook.anatomy import extract_features
from tlbook.backbones import create_model, preprocessing_for
from tlbook.data import load_splits, stand_in_photos
from tlbook.devices import machine_description
from tlbook.files import write_json_atomic
from tlbook.probe import features, fit_head


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument(
        "--per-class", type=int, default=14, help="training images per class"
    )
    parser.add_argument("--image-size", type=int, default=112)
    parser.add_argument("--weight-decay", type=float, default=1e-2)
    parser.add_argument("--max-iter", type=int, default=100, help="L-BFGS iterations")
    parser.add_argument("--out", help="also write the measurement to this JSON file")
    args = parser.parse_args(argv)
    torch.set_num_threads(os.cpu_count() or 1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = stand_in_photos(Path(tmp) / "photos", per_class=args.per_class + 6)
        train, _, test = load_splits(
            data=folder,
            train_per_class=args.per_class,
            val_per_class=0,
            test_per_class=6,
        )
    model = create_model(args.backbone, num_classes=len(train.classes)).eval()
    pre = preprocessing_for(args.backbone, args.image_size)
    k = len(train.classes)
    passes = 0

    def uncached() -> torch.Tensor:  # (N, D): the backbone over every image, again
        nonlocal passes
        passes += 1
        return extract_features(model, args.backbone, train.images, preprocessing=pre)

    start = time.perf_counter()
    table = features(model, args.backbone, train, preprocessing=pre)
    cached_head = fit_head(
        table,
        train.labels,
        num_classes=k,
        weight_decay=args.weight_decay,
        max_iter=args.max_iter,
    )
    cached_s = time.perf_counter() - start
    start = time.perf_counter()
    uncached_head = fit_head(
        uncached,
        train.labels,
        num_classes=k,
        weight_decay=args.weight_decay,
        max_iter=args.max_iter,
    )
    uncached_s = time.perf_counter() - start
    f_test = features(model, args.backbone, test, preprocessing=pre)
    agree = bool(
        torch.equal(cached_head(f_test).argmax(1), uncached_head(f_test).argmax(1))
    )
    result = {
        "backbone": args.backbone,
        "train_images": len(train),
        "image_size": args.image_size,
        "max_iter": args.max_iter,
        "cached_seconds": round(cached_s, 2),
        "uncached_seconds": round(uncached_s, 2),
        "backbone_passes_uncached": passes,
        "ratio_uncached_to_cached": round(uncached_s / cached_s, 1),
        "same_test_predictions": agree,
        "machine": machine_description("cpu"),
    }
    print(
        f"{len(train)} training images at {args.image_size} px ({args.backbone}): cached probe "
        f"{cached_s:.1f} s, uncached {uncached_s:.1f} s ({passes} backbone passes): "
        f"{uncached_s / cached_s:.0f}x; same predictions on the {len(test)} test images: {agree}"
    )
    if args.out:
        write_json_atomic(args.out, result)
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
