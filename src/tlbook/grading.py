"""Grade a folder of submitted exercise notebooks into a CSV: one row per (student file, exercise).

    python -m tlbook grade submissions/ --out grades.csv

Each submission runs in its own process and its own Jupyter kernel, in the
``smoke`` preset, with a time limit for the whole notebook; cells that raise do
not stop the cells after them (each ``check(...)`` still runs). The checks
report through the file named by ``TLBOOK_CHECK_LOG`` (see
:mod:`tlbook.exercises`). A submission that crashes its kernel, runs past the
limit or is not a notebook gets rows that say so, and the others are still
graded. Which exercises are expected comes from ``--chapter`` or from the
notebook's metadata (the student notebooks in ``exercises/`` carry it).

**This is not a sandbox.** Student code runs with your user's rights: it can
read and delete your files and use the network. Grade inside a throw-away
container, for example::

    docker run --rm --network none -v "$PWD":/course -w /course tlbook-image \\
        python -m tlbook grade submissions/ --out grades.csv

>>> Row("alice.ipynb", "2.1", True, "").as_csv()
['alice.ipynb', '2.1', 'yes', '']
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .config import CHECK_LOG_ENV, TlbookError

__all__ = ["Row", "GradingError", "grade_folder", "grade_notebook", "find_submissions", "summary"]


class GradingError(TlbookError, FileNotFoundError):
    """A submissions folder that cannot be graded; the message says why."""


@dataclass
class Row:
    """One line of the grade sheet."""

    student_file: str
    exercise: str  # "2.1", or "-" when the whole notebook could not be graded
    passed: bool
    feedback: str

    def as_csv(self) -> list[str]:
        return [self.student_file, self.exercise, "yes" if self.passed else "no", self.feedback]


def _expected_exercises(nb: dict, chapter: int | None) -> list[str]:
    from .exercises import exercises_of

    if chapter is None:
        chapter = nb.get("metadata", {}).get("tlbook", {}).get("chapter")
    if chapter is None:
        raise ValueError("the notebook has no tlbook chapter in its metadata; pass --chapter N")
    ids = [e.id for e in exercises_of(int(chapter))]
    if not ids:
        raise ValueError(f"chapter {chapter} has no exercises")
    return ids


def _run_isolated(path: Path, log: Path, *, timeout: float, preset: str) -> dict:
    """Execute ``path`` in a child process (and kernel) of its own; return its report."""
    report = log.with_suffix(".report.json")
    env = {**os.environ, "TLBOOK_PRESET": preset, CHECK_LOG_ENV: str(log), "MPLBACKEND": "Agg"}
    cmd = [sys.executable, "-m", "tlbook.grading", str(path), str(report)]
    # A session of its own, so that on timeout the kernel (a grandchild) is killed with it.
    proc = subprocess.Popen(cmd, env=env, cwd=log.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return {"timed_out": True}
    if report.exists():
        return json.loads(report.read_text())
    tail = output.decode(errors="replace").strip().splitlines()[-3:]
    return {"failed": " | ".join(tail) or f"the grading process exited with status {proc.returncode}"}


def grade_notebook(path: str | os.PathLike, *, chapter: int | None = None, timeout: float = 300,
                   preset: str = "smoke", name: str | None = None) -> list[Row]:
    """Rows for one submission: one per expected exercise, or one row saying why none could be graded.

    ``name`` is the student file as the grade sheet shows it (default: the file's name).
    """
    import nbformat

    path = Path(path)
    name = name or path.name
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        expected = _expected_exercises(nb, chapter)
    except Exception as e:  # not JSON, not a notebook, no chapter: say which
        return [Row(name, "-", False, f"malformed submission, not graded: {type(e).__name__}: {e}")]
    with tempfile.TemporaryDirectory(prefix="tlbook-grade-") as tmp:
        copy = Path(tmp) / "submission.ipynb"
        nbformat.write(nb, copy)
        log = Path(tmp) / "checks.jsonl"
        log.touch()
        report = _run_isolated(copy, log, timeout=timeout, preset=preset)
        results = {}
        for line in log.read_text().splitlines():
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue  # a student's own write to the log: ignore it
            results[r.get("exercise")] = r  # the last check of an exercise counts
    if report.get("timed_out"):
        why = f"not graded: the notebook ran past the time limit of {timeout:g} s (an endless loop?)"
    elif report.get("failed"):
        why = f"not graded: the notebook could not be run ({report['failed']})"
    elif report.get("kernel_died"):
        why = f"not graded: the kernel died ({report['kernel_died']})"
    else:
        errors = report.get("errors", [])
        why = ("not graded: its check(...) never ran"
               + (f"; first error: {errors[0]}" if errors else "; was the check call deleted?"))
    rows = []
    for ex in expected:
        if ex in results:
            rows.append(Row(name, ex, bool(results[ex].get("passed")), str(results[ex].get("feedback", ""))))
        else:
            rows.append(Row(name, ex, False, why))
    return rows


def grade_folder(folder: str | os.PathLike, *, out: str | os.PathLike, chapter: int | None = None,
                 timeout: float = 300, preset: str = "smoke", verbose: bool = True) -> list[Row]:
    """Grade every ``*.ipynb`` in ``folder``; write the CSV ``out`` (atomically) and ``out`` + ``.summary.txt``."""
    from .config import check_writable
    from .train import atomic_path

    folder = Path(folder)
    if not folder.is_dir():
        raise GradingError(f"{folder} is not a folder of submitted notebooks")
    out = check_writable(out, folder=False)  # before grading, not after an hour of it
    check_writable(out.with_name(out.name + ".summary.txt"), folder=False)
    paths, skipped = find_submissions(folder)
    for path, why in skipped:
        print(f"skipped {path.relative_to(folder)}: {why}", file=sys.stderr)
    if not paths:
        raise GradingError(f"{folder} holds no .ipynb files to grade (searched its subfolders too)")
    rows: list[Row] = []
    for path in paths:
        if verbose:
            print(f"grading {path.relative_to(folder)} ...", flush=True)
        rows.extend(grade_notebook(path, chapter=chapter, timeout=timeout, preset=preset,
                                   name=str(path.relative_to(folder))))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["student_file", "exercise", "passed", "feedback"])
    writer.writerows(r.as_csv() for r in rows)
    out = Path(out)
    with atomic_path(out) as tmp:
        tmp.write_text(buffer.getvalue(), encoding="utf-8")
    text = summary(rows)
    with atomic_path(out.with_name(out.name + ".summary.txt")) as tmp:
        tmp.write_text(text, encoding="utf-8")
    if verbose:
        print(text, end="")
        print(f"wrote {out} and {out.name}.summary.txt")
    print(f"{len(paths) + len(skipped)} submissions found, {len(paths)} graded, {len(skipped)} skipped",
          file=sys.stderr if not verbose else sys.stdout)
    return rows


def find_submissions(folder: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Notebooks to grade under ``folder`` (any letter case of ``.ipynb``, subfolders too) and the skipped ones.

    Jupyter's autosaves (``.ipynb_checkpoints``) and hidden files (macOS's
    ``._name.ipynb``) are not submissions; each is returned with the reason.
    """
    graded, skipped = [], []
    for path in sorted(folder.rglob("*")):
        if not (path.is_file() and path.suffix.lower() == ".ipynb"):
            continue
        parts = path.relative_to(folder).parts
        if ".ipynb_checkpoints" in parts:
            skipped.append((path, "a Jupyter autosave (.ipynb_checkpoints), not a submission"))
        elif any(part.startswith(".") for part in parts):
            skipped.append((path, "a hidden file (its name or folder starts with '.'), e.g. macOS metadata"))
        else:
            graded.append(path)
    return graded, skipped


def summary(rows: list[Row]) -> str:
    """Exercises passed per student file, then per exercise.

    >>> print(summary([Row("a.ipynb", "2.1", True, ""), Row("a.ipynb", "2.2", False, "x")]), end="")
    a.ipynb: 1 of 2 exercises passed
    exercise 2.1: passed by 1 of 1 submissions
    exercise 2.2: passed by 0 of 1 submissions
    """
    lines = []
    students = list(dict.fromkeys(r.student_file for r in rows))
    for s in students:
        mine = [r for r in rows if r.student_file == s]
        if len(mine) == 1 and mine[0].exercise == "-":
            lines.append(f"{s}: not graded ({mine[0].feedback})")
        else:
            lines.append(f"{s}: {sum(r.passed for r in mine)} of {len(mine)} exercises passed")
    for ex in sorted({r.exercise for r in rows if r.exercise != "-"}, key=lambda e: tuple(map(int, e.split(".")))):
        mine = [r for r in rows if r.exercise == ex]
        lines.append(f"exercise {ex}: passed by {sum(r.passed for r in mine)} of {len(mine)} submissions")
    return "\n".join(lines) + "\n"


def _execute_one(path: Path, report: Path) -> None:
    """Child process: run every cell in a fresh kernel, errors allowed; write a JSON report."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    nb = nbformat.read(path, as_version=4)
    result: dict = {"errors": []}
    running: list[int] = []  # index of the cell sent to the kernel last, recorded as it starts

    def started(cell, cell_index: int, **kwargs) -> None:
        running.append(cell_index)

    client = NotebookClient(nb, kernel_name="python3", allow_errors=True, timeout=None,
                            resources={"metadata": {"path": str(path.parent)}}, on_cell_execute=started)
    try:
        client.execute()
    except DeadKernelError:
        # The cell that was running when the kernel died: recorded when it started, so it does not
        # depend on how far the outputs had arrived (which raced with the kernel's death under load).
        result["kernel_died"] = f"while running cell {running[-1]}" if running else "before the first cell"
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                result["errors"].append(f"cell {i}: {out.get('ename')}: {out.get('evalue')}")
    report.write_text(json.dumps(result))


if __name__ == "__main__":
    _execute_one(Path(sys.argv[1]), Path(sys.argv[2]))
