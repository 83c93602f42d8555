"""The numbers typed into README.md and the book's pages match src/tlbook/results/.

The multi-run studies are measured by ``python -m tlbook study ...`` and the
pipeline's speed by ``make benchmark``, all saved in ``src/tlbook/results/*.json``.
The results that README.md, book/reproduce.md and book/benchmarks.md quote
are written by ``tools/claims.py`` between claim markers; the check below
reruns it, so a number retyped by hand, or a result re-measured without
regenerating its quotes, fails.
"""

from __future__ import annotations

import json

import pytest
from conftest import ROOT

RESULTS = ROOT / "src" / "tlbook" / "results"


def _load(name: str):
    """``src/tlbook/results/{name}-cpu.json``, parsed."""
    return json.loads((RESULTS / f"{name}-cpu.json").read_text())


def _rows(name: str) -> list[dict]:
    return _load(name)["rows"]


def test_quoted_results_are_regenerated_from_the_results_files() -> None:
    """README.md and book/reproduce.md quote study results only inside claim markers, written by tools/claims.py."""
    import claims  # tools/

    for name in claims.FILES:
        text = (ROOT / name).read_text()
        assert claims.regenerate(text) == text, (
            f"{name} is out of date: run python tools/claims.py"
        )


def test_every_claim_marker_has_a_generator_and_is_used() -> None:
    import claims

    used = {
        m.group("name")
        for name in claims.FILES
        for m in claims.REGION.finditer((ROOT / name).read_text())
    }
    assert used == set(claims.CLAIMS), (
        f"unused generators {set(claims.CLAIMS) - used}, unknown markers {used - set(claims.CLAIMS)}"
    )


def test_regenerating_rewrites_a_changed_number(tmp_path, monkeypatch) -> None:
    """The check can fail: a quote edited by hand is rewritten from the results."""
    import claims

    text = "before <!-- claim:curve-line -->fine-tuned 99.9 % (typed by hand)<!-- /claim:curve-line --> after"
    regenerated = claims.regenerate(text)
    assert (
        regenerated != text
        and "99.9 %" not in regenerated
        and regenerated.startswith("before <!-- claim:")
    )


def test_the_code_uses_the_learning_rates_chosen_on_validation() -> None:
    """Every strategy's rate in the cpu preset is the sweep's pick on validation accuracy, never a test-set pick."""
    from tlbook.config import get_config
    from tlbook.experiment import recipe_for
    from tlbook.studies import chosen_by_validation

    rows = _rows("sweep")
    assert all("test_accuracy" not in r for r in rows)
    cfg = get_config("cpu")
    for name in dict.fromkeys(r["strategy"] for r in rows):
        assert recipe_for(cfg, name).lr == pytest.approx(
            chosen_by_validation(rows, name)["lr"]
        ), name


def test_study_results_were_made_with_the_current_backbone_and_preprocessing() -> None:
    from dataclasses import asdict

    from tlbook.backbones import get_spec, preprocessing_for

    for name in ("sweep", "ladder", "strategies", "scratch"):
        saved = _load(name)
        backbone = saved["config"]["backbone"]
        assert saved.get("architecture") == get_spec(backbone).architecture, (
            f"{name}-cpu.json: re-run the study"
        )
        expected = json.loads(
            json.dumps(
                asdict(preprocessing_for(backbone, saved["config"]["image_size"]))
            )
        )
        assert saved.get("preprocessing") == expected, name
