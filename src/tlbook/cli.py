"""Command line: ``python -m tlbook train | evaluate | compare``.

``train`` writes ``metrics.json`` and ``model.pt`` into ``--out``, only when
the run has finished (nothing half-written after a failure); ``evaluate``
reads them back and measures the checkpoint on the test set; ``compare``
trains several strategies on the same data and prints a table (the
accuracy goals in the README come from it).

    python -m tlbook train --strategy finetune --out runs/finetune
    python -m tlbook evaluate --run runs/finetune
    python -m tlbook compare --strategies finetune scratch --out runs/goals.json
    python -m tlbook study ladder --out src/tlbook/results/ladder-cpu.json
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import grading, schemas
from .backbones import BACKBONES, get_spec, preprocessing_for
from .checkpoints import load_checkpoint, save_run
from .config import DOMAINS, PLAN_FIELDS, PRESETS, Config, Domain, get_config
from .data import DATA_HELP, load_test_split
from .errors import (
    CheckpointMismatch,
    CheckpointMissing,
    ConfigError,
    DataError,
    InputPathError,
    OutputError,
    SchemaError,
    TlbookError,
)
from .experiment import STRATEGIES, run
from .files import (
    AnyValue,
    check_writable,
    input_path,
    read_json,
    show,
    write_json_atomic,
)
from .prediction import DEFAULT_TOP
from .studies import STUDIES
from .train import evaluate

# Config field -> command-line flag (tlbook.studies prints them to say how a saved study was made).
CONFIG_FLAGS: dict[str, str] = {
    "train_per_class": "--per-class",
    "val_per_class": "--val-per-class",
    "test_per_class": "--test-per-class",
    "epochs": "--epochs",
    "image_size": "--image-size",
    "batch_size": "--batch-size",
    "lr": "--lr",
    "seed": "--seed",
}


class _PlainHelp(argparse.HelpFormatter):
    """Help text printed as written: argparse's %-formatting of help strings would turn any '%' in them
    (a strategy's "10 % of the epochs") into a TypeError; no help here uses %(default)s."""

    def _expand_help(self, action: argparse.Action) -> str:
        return self._get_help_string(action) or ""


def _typed(domain: Domain):
    """An argparse type for the numbers of ``domain``: parsed and range-checked before anything runs."""

    def parse(text: str) -> int | float:
        try:
            return domain.parse(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    parse.__name__ = "a whole number" if domain.whole else "a number"
    return parse


# The command line's own numbers (the run's are tlbook.config.DOMAINS), with their ranges.
CLI_DOMAINS: dict[str, Domain] = {
    "seeds": Domain(True, 1, 1000),
    "sizes": Domain(True, 1, 1_000_000),
    "chapter": Domain(True, 1, 99),
    "timeout": Domain(False, 0, 7 * 24 * 3600, low_open=True),
    "memory": Domain(False, 0.5, 1024),
    "jobs": Domain(True, 1, 64),
    "top": Domain(True, 1, 1000),
}


def _add_common(p: argparse.ArgumentParser, *, leave_out: tuple[str, ...] = ()) -> None:
    g = p.add_argument_group(
        "configuration (defaults: the preset's; see tlbook.config)"
    )
    g.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="run size (default: $TLBOOK_PRESET, else cpu; full: all of "
        "CIFAR-10 at 224 px, for a GPU)",
    )
    g.add_argument(
        "--data",
        help="ImageFolder root with train/ and test/, or one folder of class folders "
        "(default: $TLBOOK_DATA, else download CIFAR-10)",
    )
    g.add_argument(
        "--backbone",
        choices=sorted(BACKBONES),
        help="pretrained network (default: efficientnet_lite0)",
    )
    texts = {  # Config field -> help; the flag's name comes from CONFIG_FLAGS, its range from DOMAINS
        "train_per_class": "training images per class",
        "val_per_class": "validation images per class, where choices are made",
        "test_per_class": "test images per class",
        "epochs": "passes over the training images",
        "image_size": "side of the square the network sees, in pixels",
        "batch_size": "the global batch, split between processes under torchrun",
        "lr": "peak learning rate of the head",
        "seed": "which images are drawn and how the head starts",
    }
    for field, text in texts.items():
        if field in leave_out:  # a setting this command has no use for gets no flag
            continue
        domain = DOMAINS[field]
        g.add_argument(
            CONFIG_FLAGS[field],
            dest=field,
            type=_typed(domain),
            help=f"{text} ({domain.describe().replace(' (or None: all)', '')})",
        )
    g.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_run_output(p: argparse.ArgumentParser) -> None:
    """--out and --overwrite of a command that writes a run folder (model.pt, metrics.json)."""
    p.add_argument(
        "--out",
        required=True,
        help="output folder (created; must be empty unless --overwrite)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the files in a non-empty --out",
    )


def _check_run_output(out: Path, *, overwrite: bool) -> None:
    """Refuse a non-empty --out without --overwrite, and an unwritable one, before any work."""
    if out.exists() and out.is_dir() and any(out.iterdir()) and not overwrite:
        raise OutputError(
            f"output folder {show(out)} is not empty; choose another --out or pass --overwrite"
        )
    check_writable(out, folder=True)


def _config(args: argparse.Namespace) -> Config:
    fields = ("data", "backbone", *CONFIG_FLAGS)
    if (
        args.data is not None
    ):  # a path is a value: empty, missing, a file or a broken link is named now
        try:
            args.data = str(input_path(args.data, kind="folder", what="--data"))
        except InputPathError as e:
            raise DataError(f"{e}. {DATA_HELP}") from None
    return get_config(
        args.preset,
        **{f: getattr(args, f) for f in fields if getattr(args, f, None) is not None},
    )


def _print_result(name: str, metrics: dict) -> None:
    t = metrics["test"]
    print(
        f"{name}: test accuracy {t['accuracy']:.1%} on {t['n']} images "
        f"({metrics['trainable_parameters']:,} trainable parameters, {metrics['seconds']:.0f} s)"
    )


def cmd_train(args: argparse.Namespace) -> int:
    from . import distributed

    cfg = _config(args)
    out = Path(args.out)
    device = (
        distributed.setup()
    )  # under torchrun: join the process group; alone: the default device
    processes, rank = distributed.world()
    main_process = rank == 0
    try:
        if (
            cfg.batch_size % processes or cfg.batch_size // processes < 2
        ):  # before any data is loaded
            raise ConfigError(
                f"--batch-size {cfg.batch_size} must divide evenly between {processes} processes, "
                "at least 2 images each (BatchNorm cannot train on one)"
            )
        if main_process:
            _check_run_output(out, overwrite=args.overwrite)  # now, not after training
            where = (
                f", {processes} processes ({device.type}), global batch {cfg.batch_size}"
                if processes > 1
                else ""
            )
            print(
                f"{cfg.describe()}{where}\nloading data and the {cfg.backbone} weights ...",
                flush=True,
            )
        result = run(
            cfg,
            strategy=args.strategy,
            device=device,
            progress=main_process and not args.quiet,
        )
        metrics = {**result.metrics(), "processes": processes}
        if main_process:
            _write_run(out, result, metrics, backbone=cfg.backbone)
            _print_result(args.strategy, metrics)
            if cfg.preset == "smoke":
                print(
                    "(smoke preset: a plumbing check on a handful of images; the accuracy means nothing)"
                )
            print(f"wrote {out / 'model.pt'} and {out / 'metrics.json'}")
        distributed.barrier()  # the others wait until rank 0 has written the files
    finally:
        distributed.teardown()
    return 0


def _write_run(out: Path, result, metrics: dict, *, backbone: str) -> None:
    """model.pt and metrics.json into ``out``, swapped in whole: --overwrite leaves no file of an earlier run,
    and a failure leaves the earlier run as it was."""
    save_run(
        out,
        result.model,
        backbone=backbone,
        classes=result.test.classes,
        metrics=metrics,
    )


def cmd_evaluate(args: argparse.Namespace) -> int:
    folder = input_path(args.run, kind="folder", what="--run")
    metrics_file = folder / "metrics.json"
    if not metrics_file.is_file():
        raise OutputError(
            f"{show(metrics_file)} does not exist; --run must be a folder written by "
            "'python -m tlbook train'"
        )
    try:
        saved = read_json(
            metrics_file, schemas.METRICS
        )  # names the file and the field, before loading anything
    except SchemaError as e:
        raise SchemaError(
            f"{e}: not a metrics file as 'python -m tlbook train' writes it; train again"
        ) from None
    if not (folder / "model.pt").is_file():
        raise CheckpointMissing(
            f"{show(folder / 'model.pt')} does not exist; --run must be a folder written by "
            "'python -m tlbook train'"
        )
    if args.json:
        check_writable(args.json, folder=False)
    cfg = get_config(
        saved["config"]["preset"],
        **{k: v for k, v in saved["config"].items() if k != "preset"},
    )
    switches = {
        "data": args.data,
        "test_per_class": args.test_per_class,
        "seed": args.seed,
    }
    cfg = cfg.replace(**{k: v for k, v in switches.items() if v is not None})
    # The test images only: the training images are never decoded here.
    test = load_test_split(
        data=cfg.data, cache=cfg.cache, test_per_class=cfg.test_per_class, seed=cfg.seed
    )
    model, payload = load_checkpoint(
        folder / "model.pt", backbone=cfg.backbone, classes=test.classes
    )
    pre = preprocessing_for(cfg.backbone, cfg.image_size)
    trained_with = payload.get("meta", {}).get("preprocessing")
    if trained_with is not None and trained_with != json.loads(
        json.dumps(dataclasses.asdict(pre))
    ):
        raise CheckpointMismatch(
            f"{folder / 'model.pt'} was trained with preprocessing {trained_with}, but this "
            f"version of tlbook preprocesses {cfg.backbone} as {dataclasses.asdict(pre)}; "
            "train a new checkpoint"
        )
    result = evaluate(model, test, preprocessing=pre, hflip_tta=args.tta)
    print(
        f"{show(folder)}: test accuracy {result.accuracy:.1%} on {len(test)} images"
        f"{' with flip TTA' if args.tta else ''} (saved at training: {saved['test']['accuracy']:.1%})"
    )
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
    DOMAINS["seed"].check(
        "--seed + --seeds - 1", seeds[-1]
    )  # every seed is valid before the first run
    rows = []
    for (
        seed
    ) in seeds:  # each seed draws other training images and other initial weights
        for strategy in args.strategies:
            result = run(
                cfg.replace(seed=seed), strategy=strategy, progress=not args.quiet
            )
            rows.append(result.metrics())
            _print_result(f"{strategy} (seed {seed})", rows[-1])
    print(
        f"\n{'strategy':<16}{'seed':>5}{'test acc':>9}{'trainable':>14}{'seconds':>9}"
    )
    for r in rows:
        print(
            f"{r['strategy']:<16}{r['config']['seed']:>5}{r['test']['accuracy']:>9.1%}"
            f"{r['trainable_parameters']:>14,}{r['seconds']:>9.0f}"
        )
    mean = {
        s: statistics.fmean(r["test"]["accuracy"] for r in rows if r["strategy"] == s)
        for s in args.strategies
    }
    if len(seeds) > 1:
        print(
            f"\nmean of {len(seeds)} seeds: "
            + ", ".join(f"{s} {a:.1%}" for s, a in mean.items())
        )
    first, *others = args.strategies
    for other in others:
        print(
            f"{first} - {other}: {100 * (mean[first] - mean[other]):+.1f} points"
            + (f" (mean of {len(seeds)} seeds)" if len(seeds) > 1 else "")
        )
    if args.out:
        write_json_atomic(args.out, rows)
        print(f"wrote {args.out}")
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    from .experiment import load_data
    from .probe import train_probe

    cfg = _config(args)
    out = Path(args.out)
    _check_run_output(out, overwrite=args.overwrite)  # now, not after the features
    print(
        f"{cfg.describe()}\nloading data and the {cfg.backbone} weights ...", flush=True
    )
    result = train_probe(
        cfg, data=load_data(cfg), cache_dir=Path(cfg.cache) / "features"
    )
    metrics = result.metrics()
    _write_run(out, result, metrics, backbone=cfg.backbone)
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items())
    _print_result("probe", metrics)
    print(f"L2 strength {result.weight_decay:g}, chosen on validation; {steps}")
    print(f"wrote {out / 'model.pt'} and {out / 'metrics.json'}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from .prediction import predict

    if args.json:
        check_writable(args.json, folder=False)
    predictions = predict(args.photos, args.run, top=args.top)
    if args.json:
        write_json_atomic(args.json, [p.to_dict() for p in predictions])
    for p in predictions:
        ranked = ", ".join(f"{c} {q:.1%}" for c, q in zip(p.classes, p.probabilities))
        print(f"{p.source}: {ranked}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export_onnx

    check = None
    if args.check_with:
        from .data import load_image_folder

        folder = input_path(args.check_with, kind="folder", what="--check-with")
        check = load_image_folder(folder, max_per_class=8).images  # (N, 3, H, W) uint8
    info = export_onnx(args.run, args.out, check_images=check, overwrite=args.overwrite)
    c = info["check"]
    print(
        f"wrote {show(Path(args.out) / 'model.onnx')} and model.json: {len(info['classes'])} classes, "
        f"input uint8 (batch, 3, {info['preprocessing']['size']}, {info['preprocessing']['size']}); "
        f"checked with ONNX Runtime on {c['images']} {c['kind']}: same top-1, largest logit "
        f"difference {c['largest_logit_difference']:.1e} (tolerance {c['tolerance']:.0e})"
    )
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    from . import studies

    cfg = _config(args)
    check_writable(args.out, folder=False)
    seeds = tuple(range(args.seeds)) if args.seeds else None
    header = {
        "study": args.name,
        # Folders without the machine's layout: a results file travels with the package, and the
        # builder's absolute paths say nothing to its readers (and would name the machine).
        "config": {
            **dataclasses.asdict(cfg),
            "data": _portable_folder(cfg.data),
            "cache": _portable_folder(cfg.cache),
        },
        "architecture": get_spec(cfg.backbone).architecture,
        "preprocessing": dataclasses.asdict(
            preprocessing_for(cfg.backbone, cfg.image_size)
        ),
        "choices": studies.HYPERPARAMETER_CHOICES,
    }
    previous = _resumable_rows(args.out, header) if args.resume else None

    def save(rows: list[dict], *, complete: bool = False) -> None:
        # After every run: an interrupted study keeps what it measured (--resume goes on from there).
        write_json_atomic(args.out, {**header, "complete": complete, "rows": rows})

    common: dict[str, Any] = dict(previous=previous, on_row=save, verbose=True)
    if args.name == "ladder":
        rows = studies.ladder(cfg, seeds=seeds, **common)
    elif args.name == "strategies":
        rows = studies.strategies(cfg, seeds=seeds, **common)
    elif args.name == "scratch":
        rows = studies.scratch_schedules(cfg, seeds=seeds, **common)
        budget = studies.scratch_budget(rows)
        print(
            f"chosen on validation: {budget['strategy']} ({budget['val_accuracy']:.1%}, mean of seeds "
            f"{budget['seeds']}); "
            + (
                "a longer schedule did not help"
                if budget["converged"]
                else "the longest schedule won: not shown to be converged"
            )
        )
    elif args.name == "sweep":
        rows = studies.sweep(cfg, seeds=seeds, **common)
        for name in dict.fromkeys(r["strategy"] for r in rows):
            pick = studies.chosen_by_validation(rows, name)
            print(
                f"{name}: chosen on validation: lr {pick['lr']:g} "
                f"(best validation accuracy {pick['val_accuracy']:.1%})"
            )
    elif args.name == "frontier":
        rows = studies.frontier(cfg, seeds=seeds, **common)
        for name, m in studies.frontier_summary(rows).items():
            print(f"{name}: {m['mean']:.1%} +- {m['std']:.1%} in {m['seconds']:.0f} s")
    else:
        rows = studies.data_curve(
            cfg,
            per_class=tuple(args.sizes) if args.sizes else None,
            seeds=seeds,
            **common,
        )
    save(rows, complete=True)
    print(f"wrote {args.out}")
    return 0


def _portable_folder(folder: str | None) -> str | None:
    """A folder as a results file records it: ``~/...`` under the home folder, else its name alone.

    >>> _portable_folder("~/.cache/tlbook"), _portable_folder("/srv/data/cifar10-jpeg")
    ('~/.cache/tlbook', 'cifar10-jpeg')
    """
    if not folder:
        return None
    path = Path(folder).expanduser()
    try:
        return str(Path("~") / path.relative_to(Path.home()))
    except ValueError:
        return path.name


def _resumable_rows(out: str, header: dict) -> list[dict] | None:
    """The rows of ``out`` if it holds the same study with the same settings (else an error); None if absent."""
    path = Path(out)
    if not path.exists():
        return None
    try:
        saved = schemas.validate_study(
            read_json(path, AnyValue()), what=show(path), study=header["study"]
        )
    except TlbookError as e:
        raise ConfigError(f"--resume: {e}; delete it or drop --resume") from None
    saved_header: dict[str, Any] = {
        k: saved.get(k) for k in ("study", "config", "architecture", "preprocessing")
    }
    # As JSON has it (tuples are lists).
    wanted = json.loads(json.dumps({k: header[k] for k in saved_header}))
    for config in (saved_header["config"], wanted["config"]):
        for name in PLAN_FIELDS:  # more seeds or curve points is what --resume is for
            config.pop(name, None)
    differs = [k for k in wanted if saved_header[k] != wanted[k]]
    if differs:
        raise ConfigError(
            f"--resume: {show(path)} was written with another {', '.join(differs)}; "
            f"run without --resume to start afresh, or choose another --out"
        )
    print(
        f"resuming from {show(path)}: {len(saved['rows'])} runs already measured are kept"
    )
    return saved["rows"]


def cmd_grade(args: argparse.Namespace) -> int:
    from . import gradebook
    from .grading import (
        References,
        check_sandbox,
        find_submissions,
        grade_many,
        missing_packages,
    )

    missing = missing_packages()
    if missing:
        raise TlbookError(
            f'grading needs {", ".join(missing)}: pip install "tlbook[grade]" (or the book\'s '
            "environment: make setup)"
        )
    # Every input is checked before any notebook runs.
    out = check_writable(args.out, folder=False)
    if args.secret is not None and args.secret_file is not None:
        raise TlbookError("give --secret or --secret-file, not both")
    secret = args.secret
    if args.secret_file is not None:
        path = input_path(args.secret_file, kind="file", what="--secret-file")
        secret = path.read_text(encoding="utf-8").strip()
    if secret is not None and not secret:
        raise TlbookError("the secret is empty; give a phrase only you know")
    roster = (
        gradebook.read_roster(input_path(args.roster, kind="file", what="--roster"))
        if args.roster
        else []
    )
    book = None
    if args.merge or (args.manual and not args.submissions):
        book = gradebook.load(out.with_suffix(".json"))
    if args.submissions:
        target = Path(args.submissions)
        if target.is_file() or target.suffix.lower() == ".ipynb":
            notebook = input_path(args.submissions, kind="file", what="the notebook")
            paths, root = [notebook], None
            skipped: list[tuple[Path, str]] = []
        else:
            root = input_path(
                args.submissions, kind="folder", what="the submissions folder"
            )
            paths, skipped = find_submissions(root)
            if not paths:
                raise TlbookError(
                    f"{show(root)} holds no .ipynb files to grade (searched its subfolders too)"
                )
        check_sandbox(not args.no_sandbox)
        for path, why in skipped:
            print(
                f"skipped {show(path.relative_to(root) if root else path)}: {why}",
                file=sys.stderr,
            )
        subs = grade_many(
            paths,
            root=root,
            jobs=args.jobs,
            chapter=args.chapter,
            secret=secret,
            timeout=args.timeout,
            preset=args.preset,
            memory_gb=args.memory,
            sandbox=not args.no_sandbox,
            references=References(args.preset),
            # Not even readable from a submission: the secret and earlier results.
            hide=tuple(
                Path(p)
                for p in (args.secret_file, out.with_suffix(".json"))
                if p is not None
            ),
        )
        chapters = {s.chapter for s in subs if s.chapter is not None}
        chapter = (
            args.chapter
            or (book.chapter if book else None)
            or (min(chapters) if chapters else None)
        )
        if book is None:
            book = gradebook.Gradebook.new(
                chapter, roster, secret_used=secret is not None
            )
        elif roster:
            book.roster = [dataclasses.asdict(s) for s in roster]
        for sub in subs:
            book.add(sub)
    elif not args.manual:
        raise TlbookError(
            "give the submissions to grade (a folder or one notebook), or --manual to merge scores"
        )
    assert book is not None
    if args.manual:
        manual = gradebook.read_manual(
            input_path(args.manual, kind="file", what="--manual"), book
        )
        for sid, scores in manual.items():
            book.manual.setdefault(sid, {}).update(scores)
    assignment = args.assignment or f"tlbook chapter {book.chapter}"
    gradescope = Path(args.gradescope) if args.gradescope else None
    gradebook.write_all(book, out, assignment=assignment, gradescope=gradescope)
    print(gradebook.summary(book), end="")
    print(
        f"wrote {show(out)} (and .feedback.csv, .gradebook.csv, .json, .written/ beside it"
        + (f"; Gradescope results in {show(gradescope)}" if gradescope else "")
        + ")"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tlbook",
        formatter_class=_PlainHelp,
        description="Fine-tune an ImageNet backbone on CIFAR-10 (or your own ImageFolder) and evaluate it.",
        epilog="Environment: TLBOOK_PRESET (smoke | cpu | full), TLBOOK_DATA (offline data folder), "
        "TLBOOK_BACKBONE, TORCH_HOME (where resnet18's weights are looked for).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser = sub.add_parser
    sub.add_parser = lambda *a, **k: add_parser(*a, formatter_class=_PlainHelp, **k)  # type: ignore[method-assign]

    p = sub.add_parser("train", help="train one model; write metrics.json and model.pt")
    _add_common(p)
    p.add_argument(
        "--strategy",
        choices=list(STRATEGIES),
        default="finetune",
        help="; ".join(f"{s.name}: {s.description}" for s in STRATEGIES.values()),
    )
    _add_run_output(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="evaluate a trained run on the test set")
    p.add_argument("--run", required=True, help="folder written by 'train'")
    p.add_argument(
        "--data", help="data folder (default: the one the run was trained on)"
    )
    p.add_argument(
        "--test-per-class",
        type=_typed(DOMAINS["test_per_class"]),
        help=f"test images per class ({DOMAINS['test_per_class'].describe()}; default: the run's)",
    )
    p.add_argument(
        "--seed",
        type=_typed(DOMAINS["seed"]),
        help=f"which test images are drawn ({DOMAINS['seed'].describe()}; default: the run's)",
    )
    p.add_argument(
        "--tta", action="store_true", help="average each image with its mirror image"
    )
    p.add_argument("--json", help="also write the evaluation to this JSON file")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "probe",
        help="train a linear probe on cached features (seconds on a CPU); write metrics.json and model.pt",
        description="Compute the frozen backbone's features of the training and validation images once "
        "(kept in the cache folder), train a softmax-regression head on them with L-BFGS for each L2 "
        "strength of tlbook.probe.WEIGHT_DECAYS, keep the best on validation, test once.",
    )
    _add_common(p, leave_out=("epochs", "batch_size", "lr"))
    _add_run_output(p)
    p.set_defaults(func=cmd_probe)

    p = sub.add_parser(
        "predict", help="print the most probable classes of new photos by a trained run"
    )
    p.add_argument(
        "photos",
        nargs="+",
        help="image files (JPEG, PNG, ...; phone photos come upright)",
    )
    p.add_argument("--run", required=True, help="folder written by 'train' or 'probe'")
    p.add_argument(
        "--top",
        type=_typed(CLI_DOMAINS["top"]),
        default=DEFAULT_TOP,
        help=f"classes shown per photo ({CLI_DOMAINS['top'].describe()}; default {DEFAULT_TOP})",
    )
    p.add_argument("--json", help="also write the predictions to this JSON file")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser(
        "export",
        help="write a trained run as ONNX (runs without tlbook), checked against PyTorch",
        description="Write OUT/model.onnx (uint8 RGB images in, logits out; normalisation inside) and "
        "OUT/model.json (classes, input size, resize rule). ONNX Runtime must agree with PyTorch on the "
        "check images before anything is kept. Needs the optional packages: pip install 'tlbook[export]'.",
    )
    p.add_argument("--run", required=True, help="folder written by 'train' or 'probe'")
    p.add_argument(
        "--out",
        required=True,
        help="folder to write (must not exist unless --overwrite)",
    )
    p.add_argument(
        "--check-with",
        help="a folder of class folders whose images (8 per class) check the export; "
        "default: seeded noise",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "compare", help="train several strategies on the same data; print a table"
    )
    _add_common(p)
    p.add_argument(
        "--strategies",
        nargs="+",
        choices=list(STRATEGIES),
        default=["finetune", "scratch"],
    )
    p.add_argument(
        "--seeds",
        type=_typed(CLI_DOMAINS["seeds"]),
        default=1,
        help="repeat with this many seeds, from --seed on (other images, other initial weights); "
        f"prints the mean ({CLI_DOMAINS['seeds'].describe()}; default 1)",
    )
    p.add_argument("--out", help="write all metrics to this JSON file")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser(
        "study", help="run a multi-run study of chapters 4-5 and save its rows as JSON"
    )
    _add_common(p)
    p.add_argument(
        "name",
        choices=list(STUDIES),
        help="ladder: the source's recipe, one fix at a time; strategies: all strategies and the "
        "BatchNorm trap; curve: accuracy against images per class, pretrained vs scratch; "
        "sweep: each strategy's learning rate, chosen on validation accuracy (test never read); "
        "frontier: test accuracy against seconds of training, probes on cached features vs fine-tuning",
    )
    p.add_argument("--out", required=True, help="JSON file to write")
    p.add_argument(
        "--sizes",
        type=_typed(CLI_DOMAINS["sizes"]),
        nargs="+",
        help=f"curve: images per class ({CLI_DOMAINS['sizes'].describe()}; default: the preset's, "
        "tlbook.config.PRESETS)",
    )
    p.add_argument(
        "--seeds",
        type=_typed(CLI_DOMAINS["seeds"]),
        help=f"seeds 0..N-1 ({CLI_DOMAINS['seeds'].describe()}; default: the preset's, "
        "tlbook.config.PRESETS)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="keep the runs --out already holds (same study and settings; the file is saved after "
        "every run) and do only the missing ones",
    )
    p.set_defaults(func=cmd_study)

    p = sub.add_parser(
        "grade",
        help="grade submitted exercise notebooks (sandboxed) into a gradebook",
        description="Run each submitted notebook in a bubblewrap sandbox (smoke preset, time and memory "
        "limits), then judge every answer in the grader, on hidden variants generated from --secret. "
        "Writes OUT (a row per student), OUT's .feedback.csv, .gradebook.csv (Canvas, Moodle), .json "
        "and .written/ (written answers to mark by hand).",
    )
    p.add_argument(
        "submissions",
        nargs="?",
        help="a folder of submissions (notebooks, or one folder per student) or one notebook",
    )
    p.add_argument(
        "--out",
        required=True,
        help="the grade sheet (CSV) to write; the other files go beside it",
    )
    p.add_argument(
        "--secret",
        help="a phrase only you know: the hidden variants are generated from it",
    )
    p.add_argument(
        "--secret-file",
        help="a file holding the secret (keeps it out of the shell's history)",
    )
    p.add_argument(
        "--roster",
        help="CSV with columns id, name and optionally pattern (which files are the student's, default "
        "'<id>*'), section, sis_login_id",
    )
    p.add_argument(
        "--jobs",
        type=_typed(CLI_DOMAINS["jobs"]),
        default=grading.DEFAULT_JOBS,
        help=f"submissions graded at once ({CLI_DOMAINS['jobs'].describe()}; default {grading.DEFAULT_JOBS})",
    )
    p.add_argument(
        "--merge",
        action="store_true",
        help="add these submissions (late work, one notebook) to the grades already in OUT instead of "
        "starting afresh",
    )
    p.add_argument(
        "--manual",
        help="merge hand-marked written answers (OUT's .written/manual.csv, filled in)",
    )
    p.add_argument(
        "--gradescope",
        help="also write Gradescope results: a folder, or a .json file for one notebook",
    )
    p.add_argument(
        "--assignment", help="the gradebook column's title (default 'tlbook chapter N')"
    )
    p.add_argument(
        "--no-sandbox",
        action="store_true",
        help="grade without bubblewrap (student code then runs with your rights; see the instructors' page)",
    )
    p.add_argument(
        "--chapter",
        type=_typed(CLI_DOMAINS["chapter"]),
        help=f"chapter of the exercises ({CLI_DOMAINS['chapter'].describe()}; default: read from each "
        "notebook)",
    )
    p.add_argument(
        "--timeout",
        type=_typed(CLI_DOMAINS["timeout"]),
        default=grading.DEFAULT_TIMEOUT,
        help=f"seconds allowed per notebook ({CLI_DOMAINS['timeout'].describe()}; "
        f"default {grading.DEFAULT_TIMEOUT:g})",
    )
    p.add_argument(
        "--memory",
        type=_typed(CLI_DOMAINS["memory"]),
        default=grading.DEFAULT_MEMORY_GB,
        help=f"GiB of memory per submission, for each of its processes "
        f"({CLI_DOMAINS['memory'].describe()}; default {grading.DEFAULT_MEMORY_GB:g})",
    )
    p.add_argument(
        "--preset",
        default=grading.DEFAULT_PRESET,
        choices=sorted(PRESETS),
        help=f"preset the notebooks run in (default {grading.DEFAULT_PRESET})",
    )
    p.set_defaults(func=cmd_grade)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. A user's mistake (:class:`~tlbook.errors.TlbookError`) is one line on stderr and
    exit status 2; Ctrl-C is "interrupted" and 130 (files are written atomically, so nothing is left
    half-written); anything else is a bug and keeps its traceback."""
    import faulthandler
    import signal

    # `kill -USR1 PID` prints where a hung command is, without stopping it (not where stderr is no file).
    if hasattr(signal, "SIGUSR1"):
        with contextlib.suppress(ValueError, OSError, AttributeError):
            faulthandler.register(signal.SIGUSR1, all_threads=True)
    # A file name that is not valid UTF-8 never breaks a print.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except TlbookError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
