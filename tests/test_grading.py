"""The class grader: one CSV row per (student file, exercise); crashes, loops and junk are reported, not fatal."""

import csv
import json
import shutil
from pathlib import Path

import nbformat
import pytest

from tlbook.cli import main
from tlbook.grading import grade_notebook

pytestmark = pytest.mark.slow  # runs notebooks in kernels: left out of make unit

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "examples" / "submissions" / "chapter02"


def test_the_three_sample_submissions(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "grades.csv"
    assert main(["grade", str(SAMPLES), "--out", str(out), "--timeout", "180"]) == 0
    rows = list(csv.DictReader(out.open()))
    got = {(r["student_file"], r["exercise"]): r for r in rows}
    assert [(r["student_file"], r["exercise"], r["passed"]) for r in rows] == [
        ("alice_correct.ipynb", "2.1", "yes"), ("alice_correct.ipynb", "2.2", "yes"), ("alice_correct.ipynb", "2.3", "yes"),
        ("bob_partial.ipynb", "2.1", "yes"), ("bob_partial.ipynb", "2.2", "no"), ("bob_partial.ipynb", "2.3", "no"),
        ("carol_crashes.ipynb", "2.1", "no"), ("carol_crashes.ipynb", "2.2", "no"), ("carol_crashes.ipynb", "2.3", "no"),
    ]
    assert "translations are swapped" in got[("bob_partial.ipynb", "2.2")]["feedback"]
    assert "not attempted yet" in got[("bob_partial.ipynb", "2.3")]["feedback"]
    carol = nbformat.read(SAMPLES / "carol_crashes.ipynb", as_version=4)
    crash = next(i for i, c in enumerate(carol.cells) if "os._exit" in c.source)
    assert f"the kernel died (while running cell {crash})" in got[("carol_crashes.ipynb", "2.1")]["feedback"]
    summary = (tmp_path / "grades.csv.summary.txt").read_text()
    assert "alice_correct.ipynb: 3 of 3 exercises passed" in summary
    assert "bob_partial.ipynb: 1 of 3 exercises passed" in summary
    assert not list(SAMPLES.glob("*.jsonl")), "grading writes nothing into the submissions folder"


def test_a_loop_is_stopped_and_junk_is_reported(tmp_path):
    folder = tmp_path / "subs"
    folder.mkdir()
    nb = nbformat.read(SAMPLES / "alice_correct.ipynb", as_version=4)
    nb.cells.insert(3, nbformat.v4.new_code_cell("while True:\n    pass"))
    nbformat.write(nb, folder / "dave_loops.ipynb")
    (folder / "erin_junk.ipynb").write_text("{ this is not a notebook")
    rows = grade_notebook(folder / "dave_loops.ipynb", timeout=20)
    assert [r.passed for r in rows] == [False] * 3
    assert "time limit of 20 s" in rows[0].feedback
    rows = grade_notebook(folder / "erin_junk.ipynb")
    assert len(rows) == 1 and rows[0].exercise == "-" and "malformed submission" in rows[0].feedback


def test_a_notebook_without_chapter_needs_the_option(tmp_path):
    nb = nbformat.read(SAMPLES / "alice_correct.ipynb", as_version=4)
    del nb.metadata["tlbook"]
    nbformat.write(nb, tmp_path / "frank.ipynb")
    rows = grade_notebook(tmp_path / "frank.ipynb")
    assert "pass --chapter N" in rows[0].feedback


def test_missing_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["grade", str(tmp_path / "nope"), "--out", str(tmp_path / "g.csv")]) == 2
    assert "is not a folder of submitted notebooks" in capsys.readouterr().err
    assert not (tmp_path / "g.csv").exists()


def test_the_dying_cell_is_named_right_on_a_busy_machine(tmp_path):
    """The cell that killed the kernel is recorded when it starts, so CPU load cannot shift it (it once did)."""
    import subprocess
    import sys

    burn = "import time\nend = time.time() + 60\nwhile time.time() < end: pass"  # bounded: stops by itself
    burners = [subprocess.Popen([sys.executable, "-c", burn]) for _ in range(3)]
    try:
        rows = grade_notebook(SAMPLES / "carol_crashes.ipynb", timeout=180)
    finally:
        for b in burners:
            b.kill()
            b.wait()
    carol = nbformat.read(SAMPLES / "carol_crashes.ipynb", as_version=4)
    crash = next(i for i, c in enumerate(carol.cells) if "os._exit" in c.source)
    assert all(f"the kernel died (while running cell {crash})" in r.feedback for r in rows), rows[0].feedback
