"""Exercises: every check passes on its solution and fails, with feedback, on the untouched stub.

The solution and the stub are both generated from the chapter source by
tools/build_notebooks.py; here each exercise cell is executed in-process in
the smoke preset, after the chapter's exercise-setup cell, with ``check``
wrapped so that its verdict is read back, not its printout. The same checks
judge hidden variants (generated cases) as the grader does.
"""

import random
from pathlib import Path

import build_notebooks as builder  # tools/, put on sys.path by conftest.py
import nbformat
import pytest
from conftest import ROOT
from hypothesis import given
from hypothesis import strategies as st

from tlbook.exercises import (
    EXERCISES,
    KINDS,
    check,
    exercises_of,
    judge_outputs,
    probe_answer,
)

SOURCES = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.py"))


def exercise_cells(source: Path) -> tuple[str, list]:
    cells = builder.parse_percent(source.read_text())
    setup = "\n\n".join(
        c.source for c in cells if "exercise-setup" in c.metadata.get("tags", [])
    )
    return setup, [c for c in cells if "exercise" in c.metadata.get("tags", [])]


def run_cell(code: str, namespace: dict) -> list[tuple[str, bool, object]]:
    """Execute ``code``; the (exercise, verdict, answer) of every check it called."""
    seen: list[tuple[str, bool, object]] = []
    namespace["check"] = lambda ex, answer: seen.append((ex, check(ex, answer), answer))
    exec(compile(code, "<exercise>", "exec"), namespace)
    return seen


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_solutions_pass_and_stubs_fail(source, tmp_path, monkeypatch, cifar, capsys):
    monkeypatch.setenv("TLBOOK_DATA", str(cifar))
    monkeypatch.setenv("TLBOOK_PRESET", "smoke")
    monkeypatch.chdir(tmp_path)
    setup, cells = exercise_cells(source)
    chapter = int(source.stem[:2])
    assert [builder.exercise_id(c) for c in cells] == [
        e.id for e in exercises_of(chapter)
    ], "each registered exercise appears once, in order, in the chapter source"
    for cell in cells:
        ex = builder.exercise_id(cell)
        namespace: dict = {}
        exec(compile(setup, "<setup>", "exec"), namespace)
        solved = run_cell(builder.solution_code(cell.source), namespace)
        assert [(e, ok) for e, ok, _ in solved] == [(ex, True)], capsys.readouterr().out
        exercise = EXERCISES[ex]
        if (
            exercise.answer == "function"
        ):  # the solution also passes every hidden variant
            answer = solved[0][2]
            for seed in range(3):
                cases = exercise.cases(random.Random(seed))
                verdict = judge_outputs(
                    exercise, cases, probe_answer(exercise, answer, cases), reveal=False
                )
                assert verdict.passed, (ex, seed, verdict.problems)
        capsys.readouterr()
        stubbed = run_cell(builder.stub_code(cell.source, ex), namespace)
        assert [(e, ok) for e, ok, _ in stubbed] == [(ex, False)]
        assert "not attempted yet" in capsys.readouterr().out


@given(st.integers(0, 2**32 - 1))
def test_hidden_cases_never_reveal_expected_values(seed):
    """In grading mode the feedback of a wrong answer names no expected number."""
    for ex in EXERCISES.values():
        if ex.answer != "function":
            continue
        cases = ex.cases(random.Random(seed))
        shown = judge_outputs(ex, cases, [{"error": "x"}] * len(cases), reveal=False)
        assert shown.points == 0
        for case in cases:
            wrong = judge_outputs(ex, [case], [[[0.0]]], reveal=False).feedback()
            assert "expected (" not in wrong and "autograd says" not in wrong, (
                ex.id,
                wrong,
            )


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_student_notebook_is_built_from_its_source(source):
    path = ROOT / "exercises" / f"{source.stem}.ipynb"
    committed = nbformat.read(path, as_version=4)
    fresh = builder.student_notebook(source)
    assert [c.source for c in committed.cells] == [c.source for c in fresh.cells], (
        f"{path.name} differs from chapters/{source.name}: run python tools/build_notebooks.py --text-only"
    )
    assert "# BEGIN SOLUTION" not in "\n".join(c.source for c in committed.cells)
    assert committed.cells[1].source == builder.colab_cell_source()
    assert committed.metadata["tlbook"]["exercises"] == [
        e.id for e in exercises_of(int(source.stem[:2]))
    ]


def test_every_chapter_mixes_kinds_and_has_three_to_five():
    kinds = {e.kind for e in EXERCISES.values()}
    assert kinds == set(KINDS)
    for chapter in range(1, len(SOURCES) + 1):
        assert 3 <= len(exercises_of(chapter)) <= 5


def test_feedback_is_specific(capsys):
    rotation = __import__("tlbook.augment", fromlist=["rotation"]).rotation
    assert not check("2.2", lambda degrees, size: rotation(degrees))
    out = capsys.readouterr().out
    assert "corner (-16, -16) moves to" in out
    assert not check(
        "5.2", lambda c: (c.double().diag() / c.sum(1), c.double().diag() / c.sum(0))
    )
    assert "swapped" in capsys.readouterr().out
    assert not check("9.9", 1)
    assert "no exercise '9.9'" in capsys.readouterr().out


def test_stub_markers_are_validated():
    with pytest.raises(ValueError, match="without # END SOLUTION"):
        builder.stub_code("x = 1\n# BEGIN SOLUTION\ny = 2", "1.1")
    assert (
        builder.stub_code(
            "    # BEGIN SOLUTION stub: a = ...\n    a = 1\n    # END SOLUTION", "1.1"
        )
        == "    a = ..."
    )
