"""Write the numbers that README.md and the book's pages quote from src/tlbook/results/*.json.

A quoted result sits between two markers, ``<!-- claim:NAME -->`` and
``<!-- /claim:NAME -->`` (inline or around a whole table); this script
regenerates the text between them from the saved results, so a re-run study
updates the prose with one command and nobody retypes a number:

    python tools/claims.py          # rewrite every marked region
    python tools/claims.py --check  # change nothing; exit 1 listing the regions that are out of date

``tests/test_claims.py`` runs the check, so a result re-measured without
regenerating its quotes (or a quote edited by hand) fails the tests.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "src" / "tlbook" / "results"
FILES = ("README.md", "book/reproduce.md", "book/benchmarks.md", "book/instructors.md")
BOOK = ROOT / "book"
STUDIES = ("sweep", "ladder", "strategies", "scratch", "curve", "frontier")
REGION = re.compile(
    r"(<!-- claim:(?P<name>[a-z0-9-]+) -->)(?P<body>.*?)(<!-- /claim:(?P=name) -->)",
    re.S,
)

sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tools"))
from build_notebooks import busy, duration  # noqa: E402 - tools/ is not a package

from tlbook.studies import (  # noqa: E402 - from this checkout's src/, put on the path above
    LONG_SCRATCH,
    LONG_SCRATCH_EPOCHS_SCALE,
    STRATEGY_COMPARISONS,
    chosen_by_validation,
    compare_strategies,
    curve_means,
    frontier_goals,
    frontier_summary,
    images_needed,
    labels_needed,
    ladder_verdicts,
    scale_list,
    scratch_budget,
    scratch_sentence,
    scratch_state,
    strategy_summary,
    verdict,
)  # noqa: E402


def _saved(name: str) -> dict:
    """src/tlbook/results/NAME-cpu.json, as the study or benchmark wrote it."""
    return json.loads((RESULTS / f"{name}-cpu.json").read_text())


def _rows(name: str) -> list[dict]:
    return _saved(name)["rows"]


def _stale_note(name: str) -> str:
    """ " (NOTE: ...)" when the saved study was made with another network or preprocessing than today's code."""
    from tlbook.config import get_config
    from tlbook.studies import _stale_because

    why = _stale_because(_saved(name), get_config("cpu"))
    return f" (NOTE: {why}; to be re-run)" if why else ""


def _incomplete_note(name: str) -> str:
    """ " (NOTE: ...)" when the saved study was interrupted (its file says complete: false)."""
    saved = _saved(name)
    if saved.get("complete", True):
        return ""
    return (
        f" (NOTE: an unfinished study, {len(saved['rows'])} runs so far; the same command with "
        f"`--resume` completes it)"
    )


def _seeds(n: int) -> str:
    """'mean of 3 seeds', or 'seed 0' for one."""
    return f"mean of {n} seeds" if n > 1 else "seed 0"


def pct(fraction: float) -> str:
    """0.7070000171 -> '70.7 %', as the pages write it."""
    return f"{100 * fraction:.1f} %"


def _long_scratch(rows: list[dict]) -> str | None:
    return LONG_SCRATCH if any(r["strategy"] == LONG_SCRATCH for r in rows) else None


# --- the claims: NAME -> text -----------------------------------------------------------


def ladder_line() -> str:
    rows = _rows("ladder")
    m = strategy_summary(rows, key="step")
    names = list(m)
    steps = {r["step"]: r["steps"] for r in rows}
    return (
        f"{pct(m[names[0]]['mean'])} (source recipe, {steps[names[0]]} optimiser steps) to "
        f"{pct(m[names[-1]]['mean'])} (book recipe, {steps[names[-1]]} steps), "
        f"{_seeds(m[names[0]]['seeds'])}; one change per rung, each tested over seeds"
    )


def strategies_line() -> str:
    rows = _rows("strategies")
    s = strategy_summary(rows)
    trap = next(k for k in s if "trap" in k)
    seeds = s["finetune"]["seeds"]
    named = {
        "finetune": "full",
        "finetune_bn_eval": "full with BatchNorm in inference mode",
        "partial": "partial",
        "discriminative": "discriminative",
        "layerwise": "layer-wise",
        "head_first": "head first, then unfreeze (BatchNorm in inference mode)",
        "head_first_bn_train": "the same with BatchNorm training on unfreezing",
    }
    text = (
        f"{_seeds(seeds)}: "
        + ", ".join(
            f"{label} {pct(s[k]['mean'])}" for k, label in named.items() if k in s
        )
        + f", linear probe {pct(s['linear']['mean'])} ({pct(s[trap]['mean'])} with BatchNorm not frozen), "
        f"scratch {pct(s['scratch']['mean'])}"
    )
    conv = _long_scratch(rows)
    if conv:
        text += (
            f"; scratch with {LONG_SCRATCH_EPOCHS_SCALE}x the epochs (seed 0; not shown to be converged) "
            f"{pct(s[conv]['mean'])}"
        )
    return text + _incomplete_note("strategies")


def goals_line() -> str:
    rows = _rows("strategies")
    s = strategy_summary(rows)
    ft, sc = s["finetune"]["mean"], s["scratch"]["mean"]
    c = compare_strategies(rows, "finetune", "scratch")
    lo, hi = (100 * x for x in c.interval)
    return (
        f"{pct(ft)} fine-tuned vs {pct(sc)} from scratch at the same budget, {100 * (ft - sc):.1f} points apart "
        f"({_seeds(s['finetune']['seeds'])}; 95 % CI {lo:.1f} to {hi:.1f} points, paired t-test over "
        f"{c.seeds} seeds p = {c.p_value:.2g})"
    )


def goals_table() -> str:
    rows = _rows("strategies")
    by = {(r["strategy"], r["seed"]): r for r in rows}
    seeds = sorted(r["seed"] for r in rows if r["strategy"] == "finetune")
    lines = [
        "| seed | fine-tuned from ImageNet weights | same network from scratch | difference | "
        "time per run (fine-tuned, scratch) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for seed in seeds:
        a, b = by["finetune", seed], by["scratch", seed]
        label = f"{seed} (the chapters' seed)" if seed == 0 else str(seed)
        lines.append(
            f"| {label} | {pct(a['test_accuracy'])} | {pct(b['test_accuracy'])} | "
            f"{100 * (a['test_accuracy'] - b['test_accuracy']):.1f} points | "
            f"{a['seconds']:.0f} s, {b['seconds']:.0f} s |"
        )
    ft = statistics.fmean(by["finetune", s]["test_accuracy"] for s in seeds)
    sc = statistics.fmean(by["scratch", s]["test_accuracy"] for s in seeds)
    secs = statistics.fmean(
        by[k, s]["seconds"] for k in ("finetune", "scratch") for s in seeds
    )
    lines.append(
        f"| **mean** | **{pct(ft)}** | {pct(sc)} | **{100 * (ft - sc):.1f} points** | {secs:.0f} s |"
    )
    return "\n".join(lines)


def strategies_table() -> str:
    rows = _rows("strategies")
    s = strategy_summary(rows)
    lines = [
        "| strategy | learning rate | test accuracy, mean | standard deviation | seeds | best validation accuracy, mean |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, v in s.items():
        runs = [r for r in rows if r["strategy"] == name]
        val = statistics.fmean(r["best_val_accuracy"] for r in runs)
        lines.append(
            f"| {name} | {runs[0]['lr']:g} | {pct(v['mean'])} | {100 * v['std']:.1f} points | "
            f"{v['seeds']} | {pct(val)} |"
        )
    note = _incomplete_note("strategies")
    return "\n".join(lines) + (f"\n\n{note.strip(' ()')}." if note else "")


def paired_table() -> str:
    rows = _rows("strategies")
    names = {r["strategy"] for r in rows}
    pairs = [(a, b) for a, b in STRATEGY_COMPARISONS if a in names and b in names]
    conv = _long_scratch(rows)
    if conv:
        pairs.append(("finetune", conv))
    lines = [
        "| A | B | A minus B, per seed (McNemar p within the seed) | mean over seeds (95 % CI) | "
        "paired t-test over seeds | verdict (5 % level, over runs) |",
        "| --- | --- | --- | --- | ---: | --- |",
    ]
    for a, b in pairs:
        shared = sorted(
            {r["seed"] for r in rows if r["strategy"] == a}
            & {r["seed"] for r in rows if r["strategy"] == b}
        )
        if len(shared) < 2:
            lines.append(
                f"| {a} | {b} | {verdict(rows, a, b)} | one run | - | no claim about runs |"
            )
            continue
        c = compare_strategies(rows, a, b)
        per_seed = ", ".join(
            f"{100 * d:+.1f} (p = {s.p_value:.2g})"
            for d, s in zip(c.differences, c.per_seed)
        )
        lo, hi = (100 * x for x in c.interval)
        word = (
            "within the noise"
            if c.p_value >= 0.05
            else (f"{a} better" if c.mean > 0 else f"{b} better")
        )
        lines.append(
            f"| {a} | {b} | {per_seed} | {100 * c.mean:+.1f} ({lo:+.1f} to {hi:+.1f}) | {c.p_value:.2g} | {word} |"
        )
    return "\n".join(lines)


def sweep_table() -> str:
    rows = _rows("sweep")
    lines = [
        "| strategy | learning rates tried: best validation accuracy | chosen on validation |",
        "| --- | --- | --- |",
    ]
    for name in dict.fromkeys(r["strategy"] for r in rows):
        tried = ", ".join(
            f"{r['lr']:g}: {pct(r['val_accuracy'])}"
            for r in rows
            if r["strategy"] == name
        )
        pick = chosen_by_validation(rows, name)
        lines.append(f"| {name} | {tried} | **{pick['lr']:g}** |")
    return "\n".join(lines)


def sweep_line() -> str:
    rows = _rows("sweep")
    picks = [
        chosen_by_validation(rows, name)
        for name in dict.fromkeys(r["strategy"] for r in rows)
    ]
    return (
        "; ".join(
            f"{p['strategy']} {p['lr']:g} ({pct(p['val_accuracy'])})" for p in picks
        )
        + " (learning rate, best validation accuracy; the test set never read)"
    )


def scratch_line() -> str:
    """The from-scratch baseline given the compute it needs: the schedule chosen on validation, and its test."""
    budget = scratch_budget(_rows("scratch"))
    both = [r for r in _rows("strategies") if r["strategy"] == "finetune"] + [
        r for r in _rows("scratch") if r["strategy"] == budget["strategy"]
    ]
    return (
        f"{scratch_sentence(budget)}; its test accuracy {pct(budget['test_accuracy'])} (mean of "
        f"{len(budget['seeds'])} seeds); {verdict(both, 'finetune', budget['strategy'])}"
        + _incomplete_note("scratch")
    )


def scratch_scales() -> str:
    """The scratch study's schedules every seed has run, and any begun for some seeds only."""
    rows = _rows("scratch")
    budget = scratch_budget(rows)
    said = f"{scale_list(budget['scales'])} times the epochs"
    for name in budget["unfinished"]:
        begun = sum(r["strategy"] == name for r in rows)
        said += f" ({name}: {begun} of {len(budget['seeds'])} seeds so far)"
    return said


def scratch_table() -> str:
    """Each from-scratch schedule: mean best validation and test accuracy, and each seed's best epoch."""
    rows = _rows("scratch")
    budget = scratch_budget(rows)
    lines = [
        "| schedule | epochs | seeds | best validation accuracy, mean | test accuracy, mean | best epoch per seed |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for name in dict.fromkeys(r["strategy"] for r in rows):
        runs = [r for r in rows if r["strategy"] == name]
        chosen = "**" if name == budget["strategy"] else ""
        lines.append(
            f"| {chosen}{name}{chosen} | {runs[0]['epochs']} | {len(runs)} | "
            f"{pct(statistics.fmean(r['best_val_accuracy'] for r in runs))} | "
            f"{pct(statistics.fmean(r['test_accuracy'] for r in runs))} | "
            + ", ".join(str(r["best_epoch"]) for r in runs)
            + " |"
        )
    return "\n".join(lines)


def curve_line() -> str:
    rows = _rows("curve")
    ft, sc = curve_means(rows, "finetune"), curve_means(rows, "scratch")
    lo, hi = min(ft), max(ft)
    match = images_needed(rows, "finetune", sc[hi])
    seeds = len({r["seed"] for r in rows})
    val = _saved("curve")["config"]["val_per_class"]
    long = curve_means(rows, LONG_SCRATCH)
    longer = (
        f"; from scratch with 4x the epochs {pct(long[lo])} to {pct(long[hi])} (seed 0)"
        if lo in long and hi in long
        else ""
    )
    budget = scratch_budget(_rows("scratch"))
    match_budget = images_needed(rows, "finetune", budget["test_accuracy"])
    return (
        f"fine-tuned {pct(ft[lo])} ({lo} per class) to {pct(ft[hi])} ({hi} per class); "
        f"from scratch {pct(sc[lo])} to {pct(sc[hi])}{longer}; fine-tuning matches scratch-at-{hi} with "
        f"{match} per class, and scratch-at-{hi} given the schedule chosen on validation "
        f"({budget['scale']}x the epochs, {scratch_state(budget)}, {pct(budget['test_accuracy'])}, at the chapters' image "
        f"size) with {labels_needed(match_budget, largest=hi)} per class (training images; every run also uses "
        f"{val} validation images per class to choose its epoch; mean of {seeds} seeds)"
        f"{_stale_note('curve')}"
    )


def curve_table() -> str:
    rows = _rows("curve")
    ft, sc = curve_means(rows, "finetune"), curve_means(rows, "scratch")
    sizes = sorted(ft)
    return "\n".join(
        [
            "| images per class | " + " | ".join(str(k) for k in sizes) + " |",
            "| --- |" + " ---: |" * len(sizes),
            "| fine-tuned from ImageNet | "
            + " | ".join(pct(ft[k]) for k in sizes)
            + " |",
            "| from scratch | " + " | ".join(pct(sc[k]) for k in sizes) + " |",
        ]
        + (
            [
                "| from scratch, 4x the epochs (seed 0) | "
                + " | ".join(pct(long[k]) if k in long else "" for k in sizes)
                + " |"
            ]
            if (long := curve_means(rows, LONG_SCRATCH))
            else []
        )
    ) + (f"\n\n{_stale_note('curve').strip(' ()')}." if _stale_note("curve") else "")


def ladder_table() -> str:
    rows = _rows("ladder")
    m = strategy_summary(rows, key="step")
    said = ladder_verdicts(rows)
    steps = {r["step"]: r["steps"] for r in rows}
    lines = [
        "| rung | test accuracy (mean) | gain | optimiser steps | against the rung above, over seeds |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    names = list(m)
    for prev, name in zip([None] + names[:-1], names):
        gain = (
            "" if prev is None else f"{100 * (m[name]['mean'] - m[prev]['mean']):+.1f}"
        )
        lines.append(
            f"| {name} | {pct(m[name]['mean'])} | {gain} | {steps[name]} | {said.get(name, '')} |"
        )
    return "\n".join(lines)


# --- the pipeline benchmark (make benchmark -> src/tlbook/results/benchmark-<backbone>-cpu.json) ----------------

BENCHMARK_BACKBONES = {
    "efficientnet_lite0": "EfficientNet-Lite0",
    "resnet18": "ResNet-18",
}
BENCHMARK_MEASURES = {
    "data only": "data only",
    "whole step": "whole training step",
    "network only": "network only (ceiling)",
    "vs source as written": "whole step vs the source as written",
}


def _benchmark(backbone: str) -> dict:
    return _saved(f"benchmark-{backbone}")


def _ratio(row: dict, value: float) -> str:
    """Data-only ratios to 0.1 (they are large), whole steps to 0.01."""
    return f"{value:.1f}" if row["measure"] == "data only" else f"{value:.2f}"


def benchmark_table() -> str:
    lines = [
        "| backbone | input size | measure | source img/s | tlbook img/s | ratio | range |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for backbone, label in BENCHMARK_BACKBONES.items():
        for row in _benchmark(backbone)["rows"]:
            src = row["source_images_per_second"]
            ratio = f"{_ratio(row, row['ratio'])}x"
            lines.append(
                f"| {label} | {row['size']} px | {BENCHMARK_MEASURES[row['measure']]} | "
                f"{'' if src is None else f'{src:,.0f}'} | {row['images_per_second']:,.0f} | "
                f"{ratio if row['measure'] == 'network only' else f'**{ratio}**'} | "
                f"{_ratio(row, row['ratio_low'])}-{_ratio(row, row['ratio_high'])} |"
            )
    return "\n".join(lines)


def benchmark_machine() -> str:
    saved = _benchmark("efficientnet_lite0")
    when = f", {saved['date']}" if "date" in saved else ""
    from tlbook.backbones import ARCHITECTURE_BEFORE_IT_WAS_RECORDED, get_spec

    networks = []
    for b, label in BENCHMARK_BACKBONES.items():
        measured = _benchmark(b).get(
            "architecture"
        ) or ARCHITECTURE_BEFORE_IT_WAS_RECORDED.get(b)
        note = (
            f" (NOTE: tlbook now builds it as {get_spec(b).architecture}; re-run make benchmark)"
            if measured != get_spec(b).architecture
            else ""
        )
        networks.append(f"{label} as {measured}{note}")
    return f"{saved['machine']}{when}; {saved['rounds']} rounds per ratio; networks: {', '.join(networks)}"


def benchmark_line() -> str:
    saved = _benchmark("efficientnet_lite0")
    r = {(row["size"], row["measure"]): row for row in saved["rows"]}
    big = max(size for size, _ in r)
    return (
        f"data {_ratio(r[32, 'data only'], r[32, 'data only']['ratio'])}x faster at 32 px, "
        f"{_ratio(r[big, 'data only'], r[big, 'data only']['ratio'])}x at {big} px; whole step "
        f"{r[32, 'whole step']['ratio']:.2f}x at 32 px (median of {saved['rounds']} rounds), where the network "
        f"alone, with no data cost, is {r[32, 'network only']['ratio']:.2f}x; "
        f"{r[32, 'vs source as written']['ratio']:.2f}x against the source's code as written"
    )


def padding_line() -> str:
    """benchmarks/padding_speed.py's saved ratios (TensorFlow "same" padding over symmetric) and what they say."""
    saved = _saved("padding")
    rows = saved["rows"]
    per_size = "; ".join(
        f"{r['ratio']:.2f} at {r['size']} px (rounds {r['ratio_low']:.2f}-{r['ratio_high']:.2f})"
        for r in rows
    )

    def verdict(r: dict) -> str:
        if r["ratio_low"] <= 1 <= r["ratio_high"]:
            return f"at {r['size']} px no difference this machine resolves (the rounds' range includes 1)"
        return (
            f"at {r['size']} px the TensorFlow-padding network trains "
            f"{abs(100 * (1 - r['ratio'])):.0f} % {'slower' if r['ratio'] < 1 else 'faster'}"
        )

    verdicts = "; ".join(verdict(r) for r in rows)
    return (
        f"{saved['machine']}, {saved['date']}, batch {saved['batch_size']}, median of {saved['rounds']} rounds: "
        f"training speed of tf_ over symmetric padding {per_size}: {verdicts}"
    )


def grading_speed_line() -> str:
    """benchmarks/grading_speed.py's saved classes: seconds for 40 solved handouts per chapter, --jobs 2."""
    rows = sorted(
        (r for r in _saved("grading-speed")["rows"] if r["jobs"] == 2),
        key=lambda r: r["chapter"],
    )
    each = ", ".join(f"chapter {r['chapter']} {r['seconds']:.0f} s" for r in rows)
    slowest = max(rows, key=lambda r: r["ratio_to_goal"])
    machines = sorted({f"{r['machine']}, {r.get('date', 'undated')}" for r in rows})
    return (
        f"{rows[0]['students']} solved handouts of each chapter with --jobs 2 on "
        f"{' and '.join(machines)}: {each}; the slowest, chapter {slowest['chapter']}, takes "
        f"{slowest['ratio_to_goal']:.2f} of the 5-minute goal"
    )


def frontier_table() -> str:
    """The frontier study: each recipe's mean test accuracy over seeds and mean seconds of training."""
    rows = _rows("frontier")
    machines = sorted({r["machine"] for r in rows})
    loads = [r["load_before"] for r in rows]
    lines = [
        "| recipe | test accuracy (mean ± sd) | seconds of training (mean) | seeds |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, m in frontier_summary(rows).items():
        lines.append(
            f"| {name} | {pct(m['mean'])} ± {100 * m['std']:.1f} | {m['seconds']:.0f} | {m['seeds']} |"
        )
    lines.append("")
    lines.append(
        f"Measured on {' and '.join(machines)}"
        + f"; the 1-minute load average before each run was {min(loads):.1f} to {max(loads):.1f} "
        "(it includes the study's own previous run)"
        + ". Goals: "
        + "; ".join(frontier_goals(rows))
        + "."
    )
    return "\n".join(lines)


def frontier_ops_table() -> str:
    """benchmarks/frontier_ops.py: each recipe's operations and the fraction of the measured peak it reaches."""
    saved = _saved("frontier-ops")
    lines = [
        "| recipe | GFLOP per image, forward | per training step | GFLOP/s achieved | fraction of peak |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in saved["rows"]:
        step = r["training_step_gflop_per_image"]
        lines.append(
            f"| {r['recipe']} | {r['forward_gflop_per_image']:.2f} | {f'{step:.2f}' if step else '(none)'} | "
            f"{r['achieved_gflop_per_second']:.1f} | {r['fraction_of_peak']:.2f} |"
        )
    lines.append("")
    lines.append(
        f"Peak: {saved['peak_gflop_per_second']:.0f} GFLOP/s (float32 matrix product), measured on "
        f"{saved['machine']}, {saved['date']}; seconds from the frontier study, measured on "
        f"{' and '.join(saved['study_machine'])}."
    )
    return "\n".join(lines)


def frontier_line() -> str:
    return "; ".join(frontier_goals(_rows("frontier")))


def _executions() -> dict[int, dict]:
    """Each chapter's record of the fresh-kernel run that made its committed outputs (make timings)."""
    import nbformat

    return {
        int(path.stem[:2]): nbformat.read(path, as_version=4).metadata["tlbook"][
            "execution"
        ]
        for path in sorted(BOOK.glob("[0-9][0-9]_*.ipynb"))
    }


def chapter_runtime(chapter: int) -> str:
    return duration(_executions()[chapter]["seconds"])


def book_runtime() -> str:
    """The whole book's wall time, one chapter after another, and the machine it was measured on."""
    runs = _executions()
    machines = sorted({f"{r['machine']}, {r['date']}" for r in runs.values()})
    loaded = [str(c) for c, r in runs.items() if busy(r)]
    note = (
        f"; chapter(s) {', '.join(loaded)} shared the machine with other work, so theirs are upper bounds"
        if loaded
        else ""
    )
    each = ", ".join(f"chapter {c} {r['seconds']:.0f} s" for c, r in runs.items())
    total = sum(r["seconds"] for r in runs.values())
    return (
        f"{duration(total)} in all ({each}; measured on {' and '.join(machines)}{note})"
    )


def study_time(name: str) -> str:
    """A study's runs' recorded wall times, added up (a study saves each run's seconds)."""
    rows = _rows(name)
    return f"{duration(sum(r['seconds'] for r in rows))} ({len(rows)} runs){_incomplete_note(name)}"


CLAIMS: dict[str, Callable[[], str]] = {
    **{f"runtime-{c:02d}": (lambda c=c: chapter_runtime(c)) for c in range(1, 7)},
    "book-runtime": book_runtime,
    "frontier-table": frontier_table,
    "frontier-line": frontier_line,
    "frontier-ops-table": frontier_ops_table,
    **{f"study-time-{s}": (lambda s=s: study_time(s)) for s in STUDIES},
    "ladder-line": ladder_line,
    "ladder-table": ladder_table,
    "strategies-line": strategies_line,
    "strategies-table": strategies_table,
    "paired-table": paired_table,
    "goals-line": goals_line,
    "goals-table": goals_table,
    "sweep-table": sweep_table,
    "sweep-line": sweep_line,
    "curve-line": curve_line,
    "scratch-line": scratch_line,
    "scratch-table": scratch_table,
    "scratch-scales": scratch_scales,
    "curve-table": curve_table,
    "benchmark-table": benchmark_table,
    "benchmark-machine": benchmark_machine,
    "benchmark-line": benchmark_line,
    "padding-line": padding_line,
    "grading-speed": grading_speed_line,
}


def regenerate(text: str) -> str:
    """``text`` with every marked region rewritten; a multi-line region keeps its own line breaks."""

    def fill(m: re.Match) -> str:
        name = m.group("name")
        if name not in CLAIMS:
            raise KeyError(
                f"no generator for claim {name!r}; known: {', '.join(CLAIMS)}"
            )
        body = CLAIMS[name]()
        if "\n" in m.group("body"):
            body = f"\n{body}\n"
        return f"{m.group(1)}{body}{m.group(4)}"

    return REGION.sub(fill, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit 1 if a region is out of date",
    )
    args = parser.parse_args(argv)
    stale = []
    for name in FILES:
        path = ROOT / name
        old = path.read_text()
        new = regenerate(old)
        if new != old:
            stale.append(name)
            if not args.check:
                path.write_text(new)
    if args.check and stale:
        print(
            f"out of date: {', '.join(stale)}; run python tools/claims.py",
            file=sys.stderr,
        )
        return 1
    print(
        f"{'rewrote' if stale else 'up to date:'} {', '.join(stale) or ', '.join(FILES)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
