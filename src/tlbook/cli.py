"""Command line: ``python -m tlbook train | evaluate | compare``.

``train`` writes ``metrics.json`` and ``model.pt`` into ``--out``, only when
the run has finished (nothing half-written after a failure); ``evaluate``
reads them back and measures the checkpoint on the test set; ``compare``
trains several strategies on the same data and prints a table (the
accuracy goals in the README come from it).

    python -m tlbook train --strategy finetune --out runs/finetune
    python -m tlbook evaluate --run runs/finetune
    python -m tlbook compare --strategies finetune scratch --out runs/goals.json
    python -m tlbook study ladder --out book/results/ladder-cpu.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import statistics
import sys
from pathlib import Path
from typing import Sequence

from .backbones import BACKBONES, get_spec, preprocessing_for
from .config import CONFIG_FLAGS, MAX_IMAGE_SIZE, PRESETS, Config, ConfigError, OutputError, TlbookError, check_writable, get_config
from .experiment import STRATEGIES, run
from .studies import STUDIES
from .data import load_test_split
from .train import CheckpointMismatch, evaluate, load_checkpoint, save_checkpoint, write_json_atomic


def _whole(low: int, high: int | None = None):
    """An argparse type: a whole number in [low, high], refused with the range before anything runs."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low or (high is not None and value > high):
            span = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"must be {span}, got {value}")
        return value
    return parse


def _positive(text: str) -> float:
    """An argparse type: a number greater than 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _add_common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("configuration (defaults: the preset's; see tlbook.config)")
    g.add_argument("--preset", choices=sorted(PRESETS), help="run size (default: $TLBOOK_PRESET, else cpu; full: all of "
                   "CIFAR-10 at 224 px, for a GPU)")
    g.add_argument("--data", help="ImageFolder root with train/ and test/ (default: $TLBOOK_DATA, else download CIFAR-10)")
    g.add_argument("--backbone", choices=sorted(BACKBONES), help="pretrained network (default: efficientnet_lite0)")
    flags = {  # Config field -> (type, help); the flag's name comes from CONFIG_FLAGS
        "train_per_class": (_whole(1), "training images per class (>= 1)"),
        "test_per_class": (_whole(1), "test images per class (>= 1)"),
        "epochs": (_whole(1), ">= 1"),
        "image_size": (_whole(8, MAX_IMAGE_SIZE), f"side of the square the network sees, in pixels (8 to {MAX_IMAGE_SIZE})"),
        "batch_size": (_whole(1), "the global batch, split between processes under torchrun (>= 1)"),
        "lr": (_positive, "peak learning rate of the head (> 0)"),
        "seed": (_whole(0), ">= 0"),
    }
    for field, (kind, text) in flags.items():
        g.add_argument(CONFIG_FLAGS[field], dest=field, type=kind, help=text)
    g.add_argument("--quiet", action="store_true", help="no progress bar")


def _config(args: argparse.Namespace) -> Config:
    fields = ("data", "backbone", *CONFIG_FLAGS)
    return get_config(args.preset, **{f: getattr(args, f) for f in fields if getattr(args, f) is not None})


def _print_result(name: str, metrics: dict) -> None:
    t = metrics["test"]
    print(f"{name}: test accuracy {t['accuracy']:.1%} on {t['n']} images "
          f"({metrics['trainable_parameters']:,} trainable parameters, {metrics['seconds']:.0f} s)")


def cmd_train(args: argparse.Namespace) -> int:
    from . import distributed

    cfg = _config(args)
    out = Path(args.out)
    device = distributed.setup()  # under torchrun: join the process group; alone: the default device
    processes, rank = distributed.world()
    main_process = rank == 0
    try:
        if cfg.batch_size % processes:  # before any data is loaded
            raise ConfigError(f"the batch size {cfg.batch_size} must divide evenly between {processes} processes")
        if main_process:
            if out.exists() and out.is_dir() and any(out.iterdir()) and not args.overwrite:
                raise OutputError(f"output folder {out} is not empty; choose another --out or pass --overwrite")
            check_writable(out, folder=True)  # now, not after training
            where = f", {processes} processes ({device.type}), global batch {cfg.batch_size}" if processes > 1 else ""
            print(f"{cfg.describe()}{where}\nloading data and the {cfg.backbone} weights ...", flush=True)
        result = run(cfg, strategy=args.strategy, device=device, progress=main_process and not args.quiet)
        metrics = {**result.metrics(), "processes": processes}
        if main_process:
            _write_run(out, result, metrics, backbone=cfg.backbone)
            _print_result(args.strategy, metrics)
            if cfg.preset == "smoke":
                print("(smoke preset: a plumbing check on a handful of images; the accuracy means nothing)")
            print(f"wrote {out / 'model.pt'} and {out / 'metrics.json'}")
        distributed.barrier()  # the others wait until rank 0 has written the files
    finally:
        distributed.teardown()
    return 0


def _write_run(out: Path, result, metrics: dict, *, backbone: str) -> None:
    """model.pt and metrics.json into ``out``, swapped in whole: --overwrite leaves no file of an earlier run,
    and a failure leaves the earlier run as it was."""
    staging = out.with_name(f".{out.name}.tlbook-new")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        # Checkpoint first, metrics last: a metrics.json always has its checkpoint beside it.
        save_checkpoint(staging / "model.pt", result.model, backbone=backbone, classes=result.test.classes,
                        meta=metrics)
        write_json_atomic(staging / "metrics.json", metrics)
        old = out.with_name(f".{out.name}.tlbook-old")
        shutil.rmtree(old, ignore_errors=True)
        if out.exists():
            out.rename(old)
        staging.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def cmd_evaluate(args: argparse.Namespace) -> int:
    folder = Path(args.run)
    metrics_file = folder / "metrics.json"
    if not metrics_file.is_file():
        raise OutputError(f"{metrics_file} does not exist; --run must be a folder written by 'python -m tlbook train'")
    try:
        saved = json.loads(metrics_file.read_text())
        saved["config"]["preset"], saved["test"]["accuracy"]
    except (ValueError, KeyError, TypeError) as e:
        raise OutputError(f"{metrics_file} is not a metrics file written by 'python -m tlbook train' "
                          f"({type(e).__name__}: {e}); train again") from None
    if args.json:
        check_writable(args.json, folder=False)
    cfg = get_config(saved["config"]["preset"], **{k: v for k, v in saved["config"].items() if k != "preset"})
    switches = {"data": args.data, "test_per_class": args.test_per_class, "seed": args.seed}
    cfg = cfg.replace(**{k: v for k, v in switches.items() if v is not None})
    # The test images only: the training images are never decoded here.
    test = load_test_split(data=cfg.data, cache=cfg.cache, test_per_class=cfg.test_per_class, seed=cfg.seed)
    model, payload = load_checkpoint(folder / "model.pt", backbone=cfg.backbone, classes=test.classes)
    pre = preprocessing_for(cfg.backbone, cfg.image_size)
    trained_with = payload.get("meta", {}).get("preprocessing")
    if trained_with is not None and trained_with != json.loads(json.dumps(dataclasses.asdict(pre))):
        raise CheckpointMismatch(f"{folder / 'model.pt'} was trained with preprocessing {trained_with}, but this "
                                 f"version of tlbook preprocesses {cfg.backbone} as {dataclasses.asdict(pre)}; "
                                 "train a new checkpoint")
    result = evaluate(model, test, preprocessing=pre, hflip_tta=args.tta)
    print(f"{folder}: test accuracy {result.accuracy:.1%} on {len(test)} images"
          f"{' with flip TTA' if args.tta else ''} (saved at training: {saved['test']['accuracy']:.1%})")
    for name, acc in zip(result.classes, result.per_class_accuracy):
        print(f"  {name:>12s} {acc:6.1%}")
    if args.json:
        write_json_atomic(args.json, result.summary())
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    cfg = _config(args)
    if args.out:
        check_writable(args.out, folder=False)
    seeds = range(cfg.seed, cfg.seed + args.seeds)
    rows = []
    for seed in seeds:  # each seed draws other training images and other initial weights
        for strategy in args.strategies:
            result = run(cfg.replace(seed=seed), strategy=strategy, progress=not args.quiet)
            rows.append(result.metrics())
            _print_result(f"{strategy} (seed {seed})", rows[-1])
    print(f"\n{'strategy':<16}{'seed':>5}{'test acc':>9}{'trainable':>14}{'seconds':>9}")
    for r in rows:
        print(f"{r['strategy']:<16}{r['config']['seed']:>5}{r['test']['accuracy']:>9.1%}"
              f"{r['trainable_parameters']:>14,}{r['seconds']:>9.0f}")
    mean = {s: statistics.fmean(r["test"]["accuracy"] for r in rows if r["strategy"] == s) for s in args.strategies}
    if len(seeds) > 1:
        print(f"\nmean of {len(seeds)} seeds: " + ", ".join(f"{s} {a:.1%}" for s, a in mean.items()))
    first, *others = args.strategies
    for other in others:
        print(f"{first} - {other}: {100 * (mean[first] - mean[other]):+.1f} points"
              + (f" (mean of {len(seeds)} seeds)" if len(seeds) > 1 else ""))
    if args.out:
        write_json_atomic(args.out, rows)
        print(f"wrote {args.out}")
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    from . import studies

    cfg = _config(args)
    check_writable(args.out, folder=False)
    seeds = tuple(range(args.seeds)) if args.seeds else None
    header = {
        "study": args.name, "config": dataclasses.asdict(cfg),
        "architecture": get_spec(cfg.backbone).architecture,
        "preprocessing": dataclasses.asdict(preprocessing_for(cfg.backbone, cfg.image_size)),
        "choices": studies.HYPERPARAMETER_CHOICES,
    }
    previous = _resumable_rows(args.out, header) if args.resume else None

    def save(rows: list[dict], *, complete: bool = False) -> None:
        # After every run: an interrupted study keeps what it measured (--resume goes on from there).
        write_json_atomic(args.out, {**header, "complete": complete, "rows": rows})

    common = dict(previous=previous, on_row=save, verbose=True)
    if args.name == "ladder":
        rows = studies.ladder(cfg, verbose=True)
    elif args.name == "strategies":
        rows = studies.strategies(cfg, seeds=seeds, **common)
    elif args.name == "sweep":
        rows = studies.sweep(cfg, seeds=seeds, **common)
        for name in dict.fromkeys(r["strategy"] for r in rows):
            pick = studies.chosen_by_validation(rows, name)
            print(f"{name}: chosen on validation: lr {pick['lr']:g} "
                  f"(best validation accuracy {pick['val_accuracy']:.1%})")
    else:
        rows = studies.data_curve(cfg, per_class=tuple(args.sizes) if args.sizes else None, seeds=seeds, **common)
    save(rows, complete=True)
    print(f"wrote {args.out}")
    return 0


def _resumable_rows(out: str, header: dict) -> list[dict] | None:
    """The rows of ``out`` if it holds the same study with the same settings (else a ConfigError); None if absent."""
    path = Path(out)
    if not path.exists():
        return None
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"--resume: cannot read {path} ({e}); delete it or drop --resume") from None
    saved_header = {k: saved.get(k) for k in ("study", "config", "architecture", "preprocessing")}
    wanted = json.loads(json.dumps({k: header[k] for k in saved_header}))  # as JSON has it (tuples are lists)
    differs = [k for k in wanted if saved_header[k] != wanted[k]]
    if differs:
        raise ConfigError(f"--resume: {path} was written with another {', '.join(differs)}; "
                          f"run without --resume to start afresh, or choose another --out")
    print(f"resuming from {path}: {len(saved['rows'])} runs already measured are kept")
    return saved["rows"]


def cmd_grade(args: argparse.Namespace) -> int:
    from .grading import grade_folder

    grade_folder(args.submissions, out=args.out, chapter=args.chapter, timeout=args.timeout, preset=args.preset)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tlbook",
        description="Fine-tune an ImageNet backbone on CIFAR-10 (or your own ImageFolder) and evaluate it.",
        epilog="Environment: TLBOOK_PRESET (smoke | cpu | gpu), TLBOOK_DATA (offline data folder), "
        "TLBOOK_BACKBONE, TORCH_HOME (where resnet18's weights are looked for).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train one model; write metrics.json and model.pt")
    _add_common(p)
    p.add_argument("--strategy", choices=list(STRATEGIES), default="finetune",
                   help="; ".join(f"{s.name}: {s.description}" for s in STRATEGIES.values()))
    p.add_argument("--out", required=True, help="output folder (created; must be empty unless --overwrite)")
    p.add_argument("--overwrite", action="store_true", help="replace the files in a non-empty --out")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="evaluate a trained run on the test set")
    p.add_argument("--run", required=True, help="folder written by 'train'")
    p.add_argument("--data", help="data folder (default: the one the run was trained on)")
    p.add_argument("--test-per-class", type=_whole(1), help="test images per class (default: the run's)")
    p.add_argument("--seed", type=_whole(0), help="which test images are drawn (default: the run's)")
    p.add_argument("--tta", action="store_true", help="average each image with its mirror image")
    p.add_argument("--json", help="also write the evaluation to this JSON file")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("compare", help="train several strategies on the same data; print a table")
    _add_common(p)
    p.add_argument("--strategies", nargs="+", choices=list(STRATEGIES), default=["finetune", "scratch"])
    p.add_argument("--seeds", type=_whole(1), default=1,
                   help="repeat with this many seeds, from --seed on (other images, other initial weights); "
                        "prints the mean (default 1)")
    p.add_argument("--out", help="write all metrics to this JSON file")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("study", help="run a multi-run study of chapters 4-5 and save its rows as JSON")
    _add_common(p)
    p.add_argument("name", choices=list(STUDIES),
                   help="ladder: the source's recipe, one fix at a time; strategies: all strategies and the "
                   "BatchNorm trap; curve: accuracy against images per class, pretrained vs scratch; "
                   "sweep: each strategy's learning rate, chosen on validation accuracy (test never read)")
    p.add_argument("--out", required=True, help="JSON file to write")
    p.add_argument("--sizes", type=_whole(1), nargs="+",
                   help="curve: images per class (default: the preset's, see tlbook.studies.CURVE_POINTS)")
    p.add_argument("--seeds", type=_whole(1), help="seeds 0..N-1 (default: the preset's, see tlbook.studies.STUDY_SEEDS)")
    p.add_argument("--resume", action="store_true",
                   help="keep the runs --out already holds (same study and settings; the file is saved after "
                        "every run) and do only the missing ones")
    p.set_defaults(func=cmd_study)

    p = sub.add_parser("grade", help="grade a folder of submitted exercise notebooks into a CSV",
                       description="Run each submitted notebook in its own kernel (smoke preset, time limit) and "
                       "write one CSV row per student file and exercise. NOT a sandbox: student code runs with "
                       "your rights; grade inside a container (see the instructors' page).")
    p.add_argument("submissions", help="folder of .ipynb files, one per student")
    p.add_argument("--out", required=True, help="CSV file to write (a .summary.txt is written beside it)")
    p.add_argument("--chapter", type=_whole(1), help="chapter of the exercises (default: read from each notebook)")
    p.add_argument("--timeout", type=_positive, default=300, help="seconds allowed per notebook (> 0; default 300)")
    p.add_argument("--preset", default="smoke", choices=sorted(PRESETS), help="preset the notebooks run in")
    p.set_defaults(func=cmd_grade)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. A user's mistake (:class:`~tlbook.config.TlbookError`) is one line on stderr and
    exit status 2; Ctrl-C is "interrupted" and 130 (files are written atomically, so nothing is left
    half-written); anything else is a bug and keeps its traceback."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except TlbookError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
