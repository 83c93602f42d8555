"""The numbers typed into README.md and the book's pages match book/results/.

The multi-run tables are measured by ``python -m tlbook study ...``, the
accuracy goals by ``make reproduce`` and the pipeline's speed by ``make
benchmark``, all saved in ``book/results/*.json``; the chapters load those
files, but the README, the reproduction page and the benchmarks page copy some
of the numbers as text. These tests fail when a measurement is re-run and the
copied text is not updated (or the other way round).
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

import pytest

from tlbook.studies import curve_means

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "book" / "results"


def _load(name: str):
    """``book/results/{name}-cpu.json``, parsed."""
    return json.loads((RESULTS / f"{name}-cpu.json").read_text())


def _rows(name: str) -> list[dict]:
    return _load(name)["rows"]


def _pct(fraction: float) -> str:
    """0.7070000171 -> '70.7 %', as the prose writes it."""
    return f"{100 * fraction:.1f} %"


def _text(name: str) -> str:
    # Markdown wraps lines anywhere: compare with whitespace collapsed.
    return re.sub(r"\s+", " ", (ROOT / name).read_text())


def _table_rows(markdown: str) -> list[list[str]]:
    """The cells of every table row in ``markdown`` (a path below the repository root)."""
    lines = (ROOT / markdown).read_text().splitlines()
    return [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines if line.startswith("| ")]


def _table_row(markdown: str, label: str) -> list[str]:
    """The cells after ``label`` in the first table row that starts with it."""
    for cells in _table_rows(markdown):
        if cells[0] == label:
            return cells[1:]
    raise AssertionError(f"{markdown} has no table row starting with {label!r}")


def test_ladder_claim_in_readme() -> None:
    rows = _rows("ladder")
    first, last = rows[0], rows[-1]
    assert first["step"] == "source recipe"
    claim = f"{_pct(first['test_accuracy'])} (source recipe) to {_pct(last['test_accuracy'])} (book recipe)"
    assert claim in _text("README.md")


def test_strategies_claim_in_readme() -> None:
    acc = {r["strategy"]: r["test_accuracy"] for r in _rows("strategies")}
    trap = next(v for k, v in acc.items() if "not frozen" in k)
    claim = (
        f"full {_pct(acc['finetune'])}, partial {_pct(acc['partial'])}, "
        f"discriminative {_pct(acc['discriminative'])}, linear probe {_pct(acc['linear'])} "
        f"({_pct(trap)} with BatchNorm not frozen), scratch {_pct(acc['scratch'])}"
    )
    assert claim in _text("README.md")


@pytest.mark.parametrize(
    ("strategy", "label"), [("finetune", "fine-tuned from ImageNet"), ("scratch", "from scratch")]
)
def test_curve_table_in_reproduce_page(strategy: str, label: str) -> None:
    rows = _rows("curve")
    means = curve_means(rows, strategy)  # images per class -> mean test accuracy over seeds
    header = _table_row("book/reproduce.md", "images per class")
    assert [int(h) for h in header] == sorted(means)
    assert _table_row("book/reproduce.md", label) == [_pct(means[k]) for k in sorted(means)]


def test_curve_claim_in_readme() -> None:
    rows = _rows("curve")
    ft, sc = curve_means(rows, "finetune"), curve_means(rows, "scratch")
    lo, hi = min(ft), max(ft)
    claim = (
        f"fine-tuned {_pct(ft[lo])} ({lo} per class) to {_pct(ft[hi])} ({hi} per class); "
        f"from scratch {_pct(sc[lo])} to {_pct(sc[hi])}"
    )
    assert claim in _text("README.md")


def _goals() -> dict[str, dict[int, dict]]:
    """``make reproduce``'s runs: strategy -> seed -> run."""
    runs = _load("goals")
    by: dict[str, dict[int, dict]] = {}
    for r in runs:
        by.setdefault(r["strategy"], {})[r["config"]["seed"]] = r
    assert set(by) == {"finetune", "scratch"} and by["finetune"].keys() == by["scratch"].keys()
    return by


def _mean_accuracy(runs: dict[int, dict]) -> float:
    return statistics.fmean(r["test"]["accuracy"] for r in runs.values())


def test_goals_table_in_reproduce_page() -> None:
    by = _goals()
    ft, sc = by["finetune"], by["scratch"]
    seeds = sorted(ft)
    for seed in seeds:
        label = f"{seed} (the chapters' seed)" if seed == 0 else str(seed)
        a, b = ft[seed]["test"]["accuracy"], sc[seed]["test"]["accuracy"]
        assert _table_row("book/reproduce.md", label) == [
            _pct(a), _pct(b), f"{100 * (a - b):.1f} points", f"{ft[seed]['seconds']:.0f} s, {sc[seed]['seconds']:.0f} s"
        ]
    mean_ft, mean_sc = _mean_accuracy(ft), _mean_accuracy(sc)
    mean_s = statistics.fmean(r["seconds"] for runs in by.values() for r in runs.values())
    assert _table_row("book/reproduce.md", "**mean**") == [
        f"**{_pct(mean_ft)}**", _pct(mean_sc), f"**{100 * (mean_ft - mean_sc):.1f} points**", f"{mean_s:.0f} s"
    ]


def test_goals_claim_in_readme() -> None:
    by = _goals()
    ft, sc = by["finetune"], by["scratch"]
    mean_ft, mean_sc = _mean_accuracy(ft), _mean_accuracy(sc)
    claim = (
        f"{_pct(mean_ft)} fine-tuned vs {_pct(mean_sc)} from scratch (at its best learning rate), "
        f"{100 * (mean_ft - mean_sc):.1f} points apart (mean of {len(ft)} seeds; "
        f"seed 0: {_pct(ft[0]['test']['accuracy'])} vs {_pct(sc[0]['test']['accuracy'])})"
    )
    assert claim in _text("README.md")


# book/benchmarks.md: `make benchmark` on a CPU -> book/results/benchmark-<backbone>-cpu.json
_BACKBONE_NAMES = {"efficientnet_lite0": "EfficientNet-Lite0", "resnet18": "ResNet-18"}
_MEASURE_NAMES = {"data only": "data only", "whole step": "whole training step", "network only": "network only (ceiling)",
                  "vs source as written": "whole step vs the source as written"}


def _ratio(row: dict, value: float) -> str:
    """Ratios as the page writes them: data-only to 0.1 (they are large), steps to 0.01."""
    return f"{value:.1f}" if row["measure"] == "data only" else f"{value:.2f}"


@pytest.mark.parametrize("backbone", sorted(_BACKBONE_NAMES))
def test_benchmark_table_in_benchmarks_page(backbone: str) -> None:
    saved = _load(f"benchmark-{backbone}")
    assert saved["backbone"] == backbone and saved["data"] == "CIFAR-10 (TLBOOK_DATA)"
    # Cells without bold markers; the size cell without its note, e.g. "112 px (`cpu` preset)" -> "112 px".
    table = [[c.strip("*") for c in cells] for cells in _table_rows("book/benchmarks.md")]
    for row in saved["rows"]:
        key = [_BACKBONE_NAMES[backbone], f"{row['size']} px", _MEASURE_NAMES[row["measure"]]]
        found = [cells for cells in table if [cells[0], cells[1].split(" (")[0], cells[2]] == key]
        assert len(found) == 1, f"book/benchmarks.md: no single table row for {key}"
        src = row["source_images_per_second"]
        assert found[0][3:7] == [
            "" if src is None else f"{src:,.0f}",
            f"{row['images_per_second']:,.0f}",
            f"{_ratio(row, row['ratio'])}x",
            f"{_ratio(row, row['ratio_low'])}-{_ratio(row, row['ratio_high'])}",
        ], key


def test_benchmark_claim_in_readme() -> None:
    saved = _load("benchmark-efficientnet_lite0")
    r = {(row["size"], row["measure"]): row for row in saved["rows"]}
    claim = (
        f"data {_ratio(r[32, 'data only'], r[32, 'data only']['ratio'])}x faster at 32 px, "
        f"{_ratio(r[112, 'data only'], r[112, 'data only']['ratio'])}x at 112 px; "
        f"whole step {r[32, 'whole step']['ratio']:.2f}x at 32 px (median of {saved['rounds']} rounds), "
        f"where the network alone, with no data cost, is {r[32, 'network only']['ratio']:.2f}x"
    )
    assert claim in _text("README.md")
    claim = f"{r[32, 'vs source as written']['ratio']:.2f}x against the source's code as written"
    assert claim in _text("README.md")
