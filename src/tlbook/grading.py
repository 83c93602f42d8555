"""Grade submitted exercise notebooks: the grader runs each one in a sandbox, then judges every answer itself.

    python -m tlbook grade submissions/ --out grades.csv --secret "$SECRET" --roster students.csv

For each submission the grader copies the student's folder (or the notebook
alone) into a scratch folder and runs it under bubblewrap (:mod:`tlbook.sandbox`),
in the ``smoke`` preset, with a time and a memory limit. Every ``check(...)``
in the notebook hands its answer in; after the notebook, the sandbox runs
function answers on **hidden variants** of the exercise's inputs, generated
from the instructor's secret, and reports the outputs as data. The grader then
judges them in its own process with its own copy of the checks
(:func:`tlbook.exercises.judge_outputs`): points per part, the best attempt of
each exercise, feedback without expected values. Measured answers (1.2, 5.3)
are compared with the grader's own run of the same experiment. Nothing a
notebook writes, prints or patches takes part in the verdict.

:mod:`tlbook.gradebook` turns the results into the CSV files, the Gradebook
and Gradescope exports and the written-answer documents.

>>> rng_for("secret", "2.1").random() == rng_for("secret", "2.1").random()
True
>>> rng_for("secret", "2.1").random() == rng_for("other", "2.1").random()
False
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import pickle
import random
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import GradingError
from .files import show
from .sandbox import (
    ANSWERS_ENV,
    TOKEN_ENV,
    bwrap_problem,
    end_processes,
    runner_command,
    sign,
)

# The grader's defaults, written once (the command line shows them).
DEFAULT_TIMEOUT = 300.0  # seconds per notebook
DEFAULT_PRESET = "smoke"
DEFAULT_MEMORY_GB = (
    4.0  # memory per submission (its runner, kernel and prober share the cap each)
)
DEFAULT_JOBS = 1
# Beyond the notebook's time limit, what the sandbox may spend running function answers on the hidden cases.
PROBING_SECONDS = 120.0
# A student's folder copied into the sandbox may hold at most this much (photos for exercise 1.3, say).
MAX_FOLDER_BYTES = 500_000_000

__all__ = [
    "GradingError",
    "ExerciseResult",
    "Submission",
    "missing_packages",
    "grade_notebook",
    "grade_many",
    "find_submissions",
    "hand_in",
    "rng_for",
    "References",
]


@dataclass
class ExerciseResult:
    """One exercise of one submission: the best attempt's points, per part, and where it was made."""

    exercise: str
    points: float
    max_points: float
    parts: dict[str, float]
    feedback: (
        str  # what is wrong ("" when every part passed), or why nothing was graded
    )
    problems: dict[str, str] = field(
        default_factory=dict
    )  # part -> what is wrong with it
    cell: str = ""  # "In [7]", as Jupyter numbers the cell of the attempt that counts
    attempts: int = 0

    @staticmethod
    def nothing(ex: Any, why: str) -> ExerciseResult:
        """No points for exercise ``ex``, every part for the same reason."""
        zero = {p.name: 0.0 for p in ex.parts}
        return ExerciseResult(ex.id, 0.0, ex.points, zero, why, {p: why for p in zero})


@dataclass
class Submission:
    """What the grader found in one student's notebook."""

    name: str  # the file as the grade sheet shows it
    chapter: int | None
    results: dict[str, ExerciseResult] = field(default_factory=dict)
    note: str = ""  # why the notebook as a whole was not graded, or a warning
    written: dict[str, str] = field(
        default_factory=dict
    )  # written answers by key ("1.2 why")
    seconds: float = 0.0

    @property
    def points(self) -> float:
        return sum(r.points for r in self.results.values())

    @property
    def max_points(self) -> float:
        return sum(r.max_points for r in self.results.values())


def missing_packages() -> list[str]:
    """The packages of the ``grade`` extra that this environment lacks (nothing is imported).

    >>> missing_packages()
    []
    """
    import importlib.util

    return [
        name
        for name in ("nbformat", "nbclient", "ipykernel", "cloudpickle")
        if importlib.util.find_spec(name) is None
    ]


# --- the notebook's half: handing answers in ------------------------------------------------------------------


def hand_in(ex: Any, answer: Any) -> None:
    """In a notebook the grader runs: save ``answer`` to exercise ``ex`` for the grader (else nothing).

    Data answers are saved as JSON; functions with cloudpickle, to be run by the grader's sandbox on
    hidden cases. What is saved is only ever an *answer*: the grader judges it itself.
    """
    folder = os.environ.get(ANSWERS_ENV)
    if not folder:
        return
    from .exercises import _unanswered, hand_in_form

    count = None
    try:
        count = get_ipython().execution_count  # type: ignore[name-defined]  # noqa: F821
    except NameError:
        pass
    base = Path(folder) / f"{len(list(Path(folder).glob('*.json'))):04d}-{ex.id}"
    record: dict[str, Any] = {"exercise": ex.id, "count": count}
    empty = _unanswered(answer)
    try:
        if empty:
            record.update(kind="empty", error=empty)
        elif ex.answer == "function":
            import cloudpickle

            base.with_suffix(".fn").write_bytes(cloudpickle.dumps(answer))
            record["kind"] = "function"
        else:
            record.update(kind="data", data=hand_in_form(ex, answer))
        text = json.dumps(record)
    except Exception as e:  # noqa: BLE001 - say why, as the grade sheet will
        record = {
            "exercise": ex.id,
            "count": count,
            "kind": "error",
            "error": f"the answer could not be handed to the grader ({type(e).__name__}: {e})",
        }
        text = json.dumps(record)
    tmp = base.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(base.with_suffix(".json"))


# --- hidden variants and the grader's own measurements --------------------------------------------------------


def rng_for(secret: str | None, exercise: str) -> random.Random | None:
    """The generator of ``exercise``'s hidden cases under ``secret`` (None without one: the public cases)."""
    if secret is None:
        return None
    digest = hmac.new(secret.encode(), exercise.encode(), hashlib.sha256).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


class References:
    """The grader's own measurements for the run-and-interpret exercises, made once per grading, on demand."""

    def __init__(self, preset: str) -> None:
        self.preset = preset
        self._done: dict[str, dict[str, float] | None] = {}
        self._lock = threading.Lock()
        self.problems: dict[str, str] = {}

    def get(self, ex: Any) -> dict[str, float] | None:
        if ex.measure is None:
            return None
        with self._lock:
            if ex.id not in self._done:
                from .config import get_config

                try:
                    self._done[ex.id] = ex.measure(get_config(self.preset))
                except Exception as e:  # noqa: BLE001 - no data, say: measured answers are not compared
                    self._done[ex.id] = None
                    self.problems[ex.id] = f"{type(e).__name__}: {e}"
            return self._done[ex.id]


# --- one submission ---------------------------------------------------------------------------------------------

_CHECK_CALL = re.compile(r"""check\(\s*["'](\d+\.\d+)["']""")


def _chapter_of(nb: Any) -> int | None:
    chapter = nb.get("metadata", {}).get("tlbook", {}).get("chapter")
    if isinstance(chapter, int):
        return chapter
    ids = {
        m
        for c in nb.cells
        if c.cell_type == "code"
        for m in _CHECK_CALL.findall(c.source)
    }
    chapters = {int(i.split(".")[0]) for i in ids}
    return chapters.pop() if len(chapters) == 1 else None


def _written_answers(nb: Any) -> dict[str, str]:
    """The written answers: markdown cells the handout tagged ``written-answer`` (``metadata.tlbook.written``)."""
    found = {}
    for cell in nb.cells:
        key = cell.get("metadata", {}).get("tlbook", {}).get("written")
        if cell.cell_type == "markdown" and isinstance(key, str):
            text = cell.source
            if text.startswith("**Your answer"):  # the handout's prompt line
                text = text.split("\n", 1)[1] if "\n" in text else ""
            text = text.replace("*Write your answer here.*", "").strip()
            found[key] = text
    return found


def _copy_submission(path: Path, root: Path | None, into: Path) -> Path:
    """Copy the student's own folder (``root/<student>/...``) or the notebook alone; return the copy's path."""
    own = path.parent if root is not None and path.parent != root else None
    if own is not None:
        size = sum(
            f.stat().st_size
            for f in own.rglob("*")
            if f.is_file() and not f.is_symlink()
        )
        if size > MAX_FOLDER_BYTES:
            raise GradingError(
                f"{show(own)} holds {size / 1e6:.0f} MB; at most {MAX_FOLDER_BYTES / 1e6:.0f} MB is copied"
            )
        shutil.copytree(
            own,
            into,
            symlinks=True,
            ignore=shutil.ignore_patterns(".ipynb_checkpoints"),
        )
        return into / path.name
    into.mkdir()
    shutil.copy2(path, into / "submission.ipynb")
    return into / "submission.ipynb"


def _run_sandboxed(
    notebook: Path,
    scratch: Path,
    cases: dict[str, list[Any]],
    *,
    timeout: float,
    preset: str,
    memory_gb: float,
    sandbox: bool,
    threads: int,
    hide: tuple[Path, ...] = (),
) -> dict[str, Any]:
    """Run the runner; its report, or ``{"timed_out": True}`` / ``{"failed": why}``."""
    token = secrets.token_hex(8)
    home = scratch / "home"
    home.mkdir()
    env = {
        **os.environ,
        "TLBOOK_PRESET": preset,
        "MPLBACKEND": "Agg",
        "HOME": str(home),
        "MPLCONFIGDIR": str(home / "matplotlib"),
        "IPYTHONDIR": str(home / "ipython"),
        "JUPYTER_RUNTIME_DIR": str(home / "jupyter"),
        "OMP_NUM_THREADS": str(threads),
        "TMPDIR": "/tmp",
        TOKEN_ENV: token,
    }
    env.pop(ANSWERS_ENV, None)
    cmd = runner_command(
        notebook,
        scratch=scratch,
        workdir=notebook.parent,
        memory_gb=memory_gb,
        sandbox=sandbox,
        hide=hide,
    )
    key = secrets.token_bytes(32)
    # The report goes to a file with no name (nothing in the sandbox can open it by path), and is signed.
    with tempfile.TemporaryFile() as report_file:
        proc = subprocess.Popen(
            cmd,
            env=env,
            cwd=notebook.parent,
            stdin=subprocess.PIPE,
            stdout=report_file,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        with _LOCK:
            _RUNNING[proc] = token
        try:
            assert proc.stdin is not None
            counts = {ex: len(c) for ex, c in cases.items()}
            job = (key, pickle.dumps(cases), counts, _library_code(cases), timeout)
            proc.stdin.write(pickle.dumps(job))
            proc.stdin.close()
            # The runner stops the notebook at ``timeout`` itself and keeps what was handed in until then;
            # this limit is for the whole sandbox (the prober's cases included).
            proc.wait(timeout=timeout + PROBING_SECONDS)
        except subprocess.TimeoutExpired:
            return {"timed_out": True}
        except BrokenPipeError:
            pass  # the runner failed at once: its log says why
        finally:  # on time-out, on Ctrl-C (KeyboardInterrupt passes through) and after a normal end
            end_processes(proc, token)
            with _LOCK:
                _RUNNING.pop(proc, None)
        report_file.seek(0)
        raw = report_file.read(50_000_000)
    try:
        signed = json.loads(raw)
        if not hmac.compare_digest(signed["mac"], sign(key, signed["report"])):
            return {
                "failed": "its report was tampered with (the signature does not match)"
            }
        return json.loads(signed["report"])
    except (ValueError, KeyError, TypeError):
        log = scratch / "runner.txt"
        tail = _tail(log).strip().splitlines()[-3:] if log.exists() else []
        return {
            "failed": " | ".join(tail)
            or f"the runner exited with status {proc.returncode}"
        }


def _library_code(cases: dict[str, list[Any]]) -> dict[str, list[bytes]]:
    """Per exercise, the bytecode of tlbook's own implementations, which the runner looks for in answers."""
    from .exercises import EXERCISES, library_code

    return {ex: library_code(EXERCISES[ex].library) for ex in cases}


def _tail(path: Path, size: int = 4096) -> str:
    """The last ``size`` bytes of ``path`` as text (never the whole file: it may be huge)."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - size))
        return f.read().decode("utf-8", "replace")


def _cell_name(count: Any) -> str:
    return f"In [{count}]" if isinstance(count, int) else "a cell that did not run"


def _why_not_attempted(
    ex_id: str, nb: Any, report: dict[str, Any], timeout: float
) -> str:
    """Why exercise ``ex_id`` has no attempt: its own cell's error, or what stopped the notebook before it."""
    cells = {c["index"]: c for c in report.get("cells", [])}
    own = [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and ex_id in _CHECK_CALL.findall(c.source)
    ]
    if not own:
        return f'not graded: the notebook has no check("{ex_id}", ...) call (was the cell deleted?)'
    cell = cells.get(own[0], {})
    if cell.get("error"):
        return f"not graded: its cell {_cell_name(cell.get('count'))} raised {cell['error']}"
    if report.get("timed_out"):
        return f"not graded: the notebook ran past the time limit of {timeout:g} s before this exercise"
    if "kernel_died" in report:
        died = cells.get(report["kernel_died"], {})
        where = _cell_name(died.get("count")) if died else "before the first cell"
        return f"not graded: the kernel died while running {where}, before this exercise's check ran"
    if report.get("failed"):
        return f"not graded: the notebook could not be run ({report['failed']})"
    if not cell.get("ran"):
        return "not graded: its cell did not run"
    return (
        "not graded: its check(...) never handed an answer in (was the call changed?)"
    )


def grade_notebook(
    path: str | os.PathLike,
    *,
    root: str | os.PathLike | None = None,
    chapter: int | None = None,
    secret: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    preset: str = DEFAULT_PRESET,
    memory_gb: float = DEFAULT_MEMORY_GB,
    sandbox: bool = True,
    references: References | None = None,
    threads: int = 2,
    hide: tuple[Path, ...] = (),
    name: str | None = None,
) -> Submission:
    """Grade one notebook (see the module's docstring).

    ``root`` is the submissions folder: a notebook in a subfolder of it (``root/<student>/work.ipynb``) runs
    from a copy of that subfolder, so relative paths to the student's own files work; a notebook directly
    in ``root`` runs alone; ``root`` itself is hidden from it, with ``hide``. ``chapter`` is the chapter the
    grade is for (default: the notebook's own).
    """
    import time

    import nbformat

    from .exercises import exercises_of, judge_outputs

    path = Path(path)
    name = name or show(path.name)
    started = time.monotonic()
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except Exception as e:  # noqa: BLE001 - not JSON, not a notebook: say which
        return Submission(
            name,
            chapter,
            note=f"malformed submission, not graded: {type(e).__name__}: {e}",
        )
    own = _chapter_of(nb)
    expected = chapter if chapter is not None else own
    if expected is None:
        return Submission(
            name, None, note="the notebook does not say its chapter; pass --chapter N"
        )
    exercises = exercises_of(expected)
    if not exercises:
        return Submission(name, expected, note=f"chapter {expected} has no exercises")
    sub = Submission(name, expected, written=_written_answers(nb))
    if own is not None and own != expected:
        why = f"not graded: this is chapter {own}'s notebook, not chapter {expected}'s"
        for ex in exercises:
            sub.results[ex.id] = ExerciseResult.nothing(ex, why)
        sub.note = why
        return sub
    cases = {ex.id: ex.cases(rng_for(secret, ex.id)) for ex in exercises}
    with tempfile.TemporaryDirectory(prefix="tlbook-grade-") as tmp:
        scratch = Path(tmp)
        try:
            copy = _copy_submission(
                path, Path(root) if root is not None else None, scratch / "submission"
            )
        except (OSError, GradingError) as e:
            return Submission(name, expected, note=f"not graded: {e}")
        report = _run_sandboxed(
            copy,
            scratch,
            cases,
            timeout=timeout,
            preset=preset,
            memory_gb=memory_gb,
            sandbox=sandbox,
            threads=threads,
            hide=(*hide, *((Path(root),) if root is not None else ())),
        )
    by_exercise: dict[str, list[dict[str, Any]]] = {}
    for attempt in report.get("attempts", []):
        by_exercise.setdefault(attempt.get("exercise"), []).append(attempt)
    for ex in exercises:
        best: ExerciseResult | None = None
        tried = by_exercise.get(ex.id, [])
        for attempt in tried:
            if "error" in attempt:
                outputs: list[Any] = [{"error": attempt["error"]}] * len(cases[ex.id])
            elif "outputs" in attempt:
                outputs = attempt["outputs"]
            else:
                outputs = [attempt.get("data")] * len(cases[ex.id])
            reference = references.get(ex) if references is not None else None
            verdict = judge_outputs(
                ex, cases[ex.id], outputs, reveal=False, reference=reference
            )
            result = ExerciseResult(
                ex.id,
                verdict.points,
                ex.points,
                verdict.earned,
                verdict.feedback(),
                verdict.problems,
                _cell_name(attempt.get("count")),
                len(tried),
            )
            if (
                best is None or result.points >= best.points
            ):  # the best attempt; the later one on a tie
                best = result
        if best is None:
            why = _why_not_attempted(ex.id, nb, report, timeout)
            best = ExerciseResult.nothing(ex, why)
        sub.results[ex.id] = best
    if report.get("timed_out"):
        sub.note = f"the notebook ran past the time limit of {timeout:g} s"
    elif "kernel_died" in report:
        sub.note = "the kernel died"
    sub.seconds = round(time.monotonic() - started, 1)
    return sub


def grade_many(
    paths: list[Path],
    *,
    root: Path | None,
    jobs: int = DEFAULT_JOBS,
    verbose: bool = True,
    on_done: Callable[[Submission], None] | None = None,
    **options: Any,
) -> list[Submission]:
    """Grade ``paths``, ``jobs`` at a time (each job's torch gets its share of the cores); in order."""
    cores = os.cpu_count() or 1
    threads = max(1, cores // max(1, jobs))

    def one(path: Path) -> Submission:
        shown = show(path.relative_to(root)) if root is not None else show(path.name)
        sub = grade_notebook(path, root=root, threads=threads, name=shown, **options)
        if verbose:
            print(
                f"graded {shown}: {sub.points:g} of {sub.max_points:g} points ({sub.seconds:g} s)",
                flush=True,
            )
        if on_done is not None:
            on_done(sub)
        return sub

    if jobs <= 1:
        return [one(p) for p in paths]
    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        return list(pool.map(one, paths))
    except (
        BaseException
    ):  # Ctrl-C: end every running submission now, not when its time limit comes
        pool.shutdown(wait=False, cancel_futures=True)
        with _LOCK:
            running = list(_RUNNING.items())
        for proc, token in running:
            end_processes(proc, token)
        raise
    finally:
        pool.shutdown(wait=True)


# The sandboxes running now (a Popen and its token each), so that Ctrl-C can end them all at once.
_RUNNING: dict[subprocess.Popen, str] = {}
_LOCK = threading.Lock()


def check_sandbox(sandbox: bool) -> None:
    """Refuse to grade without a sandbox unless the instructor said so (``--no-sandbox``)."""
    if sandbox:
        problem = bwrap_problem()
        if problem:
            raise GradingError(f"refusing to grade without a sandbox: {problem}")


def find_submissions(folder: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Notebooks to grade under ``folder`` (any letter case of ``.ipynb``, subfolders too) and everything else.

    Every file, link and unreadable folder below ``folder`` is in one of the two lists, so each appears in
    the grade sheet or in the grader's output: Jupyter's autosaves (``.ipynb_checkpoints``), hidden files
    (macOS's ``._name.ipynb``), links that lead nowhere, pipes and other files are returned with the reason
    they are not graded. A student's own files beside their notebook (``<student>/photos/...``) are listed
    as "part of a submission". Links to folders are not followed (no loop can trap the search).
    """
    graded: list[Path] = []
    skipped: list[tuple[Path, str]] = []

    def unreadable(e: OSError) -> None:
        skipped.append(
            (Path(e.filename), f"a folder that cannot be read ({e.strerror})")
        )

    entries: list[Path] = []
    for top, dirs, files in os.walk(folder, onerror=unreadable, followlinks=False):
        entries += [Path(top, d) for d in dirs if os.path.islink(os.path.join(top, d))]
        entries += [Path(top, f) for f in files]
    notebooks_in = {
        p.parent
        for p in entries
        if p.suffix.lower() == ".ipynb"
        and p.parent != folder
        and ".ipynb_checkpoints" not in p.parts
    }
    for path in sorted(entries):
        parts = path.relative_to(folder).parts
        notebook = path.suffix.lower() == ".ipynb"
        owner = next((d for d in notebooks_in if d in path.parents), None)
        if ".ipynb_checkpoints" in parts:
            skipped.append(
                (path, "a Jupyter autosave (.ipynb_checkpoints), not a submission")
            )
        elif any(part.startswith(".") for part in parts):
            skipped.append(
                (
                    path,
                    "a hidden file (its name or folder starts with '.'), e.g. macOS metadata",
                )
            )
        elif path.is_symlink() and not path.exists():
            skipped.append((path, "a symbolic link that leads nowhere (or to a loop)"))
        elif path.is_dir():
            skipped.append((path, "a link to a folder, not followed"))
        elif not notebook and owner is not None:
            skipped.append(
                (path, f"part of the submission in {show(owner.relative_to(folder))}/")
            )
        elif not notebook:
            skipped.append((path, "not a notebook (.ipynb)"))
        elif not path.is_file():
            skipped.append((path, "not a regular file (a pipe or a device)"))
        else:
            graded.append(path)
    return graded, skipped
