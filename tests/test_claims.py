"""The numbers typed into README.md and the book's pages match book/results/.

The multi-run studies are measured by ``python -m tlbook study ...`` and the
pipeline's speed by ``make benchmark``, all saved in ``book/results/*.json``.
The study results that README.md and book/reproduce.md quote are written by
``tools/claims.py`` between claim markers (the check below reruns it); the
benchmark tables are still checked cell by cell against their files.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest


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


def test_quoted_results_are_regenerated_from_the_results_files() -> None:
    """README.md and book/reproduce.md quote study results only inside claim markers, written by tools/claims.py."""
    import claims  # tools/

    for name in claims.FILES:
        text = (ROOT / name).read_text()
        assert claims.regenerate(text) == text, f"{name} is out of date: run python tools/claims.py"


def test_every_claim_marker_has_a_generator_and_is_used() -> None:
    import claims

    used = {m.group("name") for name in claims.FILES for m in claims.REGION.finditer((ROOT / name).read_text())}
    assert used == set(claims.CLAIMS), f"unused generators {set(claims.CLAIMS) - used}, unknown markers {used - set(claims.CLAIMS)}"


def test_regenerating_rewrites_a_changed_number(tmp_path, monkeypatch) -> None:
    """The check can fail: a quote edited by hand is rewritten from the results."""
    import claims

    text = "before <!-- claim:curve-line -->fine-tuned 99.9 % (typed by hand)<!-- /claim:curve-line --> after"
    regenerated = claims.regenerate(text)
    assert regenerated != text and "99.9 %" not in regenerated and regenerated.startswith("before <!-- claim:")


def test_the_code_uses_the_learning_rates_chosen_on_validation() -> None:
    """Every strategy's rate in the cpu preset is the sweep's pick on validation accuracy, never a test-set pick."""
    from tlbook.config import get_config
    from tlbook.experiment import recipe_for
    from tlbook.studies import chosen_by_validation

    rows = _rows("sweep")
    assert all("test_accuracy" not in r for r in rows)
    cfg = get_config("cpu")
    for name in dict.fromkeys(r["strategy"] for r in rows):
        assert recipe_for(cfg, name).lr == pytest.approx(chosen_by_validation(rows, name)["lr"]), name


def test_study_results_were_made_with_the_current_backbone_and_preprocessing() -> None:
    from dataclasses import asdict

    from tlbook.backbones import get_spec, preprocessing_for

    for name in ("sweep", "ladder", "strategies"):
        saved = _load(name)
        backbone = saved["config"]["backbone"]
        assert saved.get("architecture") == get_spec(backbone).architecture, f"{name}-cpu.json: re-run the study"
        expected = json.loads(json.dumps(asdict(preprocessing_for(backbone, saved["config"]["image_size"]))))
        assert saved.get("preprocessing") == expected, name


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
