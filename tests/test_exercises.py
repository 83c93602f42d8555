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


def test_tlbook_own_implementations_are_refused(capsys):
    """Each exercise whose answer tlbook ships is refused when answered with it, directly or wrapped."""
    from tlbook.augment import shear
    from tlbook.evaluation import per_class_scores, wilson_interval
    from tlbook.studies import images_needed

    answers = {
        "2.1": [lambda phi: shear(0.0, phi)],
        "5.1": [wilson_interval, lambda k, n, z=1.96: wilson_interval(k, n, z=z)],
        "5.2": [
            lambda c: tuple(per_class_scores(c)[k] for k in ("precision", "recall"))
        ],
        "6.1": [images_needed, lambda rows, s, t: images_needed(rows, s, t)],
    }
    for exercise, tries in answers.items():
        for answer in tries:
            assert not check(exercise, answer), exercise
            assert "uses tlbook's own" in capsys.readouterr().out, exercise
    # and the library works again afterwards: the stand-ins are in place only while an answer runs
    assert round(wilson_interval(1, 2)[0], 3) == 0.095


def test_a_cifar_export_is_not_your_own_images(tmp_path, capsys):
    import torch

    from tlbook.data import ImageSet, export_image_folder, stand_in_photos

    tiny = ImageSet(
        torch.zeros(6, 3, 32, 32, dtype=torch.uint8),
        torch.tensor([0, 0, 0, 1, 1, 1]),
        ["cat", "dog"],
    )
    assert not check("1.3", export_image_folder(tiny, tmp_path / "export"))
    assert "CIFAR-10's size" in capsys.readouterr().out
    assert check("1.3", stand_in_photos(tmp_path / "photos", per_class=3))
    assert not check("1.3", tmp_path / "nowhere")
    assert "is not a folder" in capsys.readouterr().out


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_handouts_are_self_contained(source):
    """A handout is read outside the book: no MyST cross-reference, no pointer to a run it does not hold."""
    import re

    nb = nbformat.read(ROOT / "exercises" / f"{source.stem}.ipynb", as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert not re.search(r"\{(eq|doc|numref|ref|cite)[^}]*\}`", text), source.stem
    assert not re.search(r"\babove\b(?! the)", text.replace("cell above", "")), (
        source.stem
    )
    written = [
        c for c in nb.cells if c.get("metadata", {}).get("tlbook", {}).get("written")
    ]
    chapter = int(source.stem[:2])
    assert len(written) == sum(len(e.written) for e in exercises_of(chapter))
