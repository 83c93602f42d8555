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

import contextlib
import csv
import io
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import GradingError
from .files import atomic_path, check_writable, show

# The grader's defaults, written once (the command line shows them).
DEFAULT_TIMEOUT = 300.0  # seconds per notebook
DEFAULT_PRESET = "smoke"
DEFAULT_MEMORY_GB = (
    4.0  # memory per submission (the grading process and its kernel, each)
)

__all__ = [
    "missing_packages",
    "Row",
    "GradingError",
    "grade_folder",
    "grade_notebook",
    "find_submissions",
    "summary",
]


@dataclass
class Row:
    """One line of the grade sheet."""

    student_file: str
    exercise: str  # "2.1", or "-" when the whole notebook could not be graded
    passed: bool
    feedback: str

    def as_csv(self) -> list[str]:
        """The row's cells, each writable as UTF-8 whatever it holds (a name that was not valid UTF-8)."""
        cells = [
            self.student_file,
            self.exercise,
            "yes" if self.passed else "no",
            self.feedback,
        ]
        return [c.encode("utf-8", "backslashreplace").decode("utf-8") for c in cells]


def _expected_exercises(nb: dict, chapter: int | None) -> list[str]:
    from .exercises import exercises_of

    if chapter is None:
        chapter = nb.get("metadata", {}).get("tlbook", {}).get("chapter")
    if chapter is None:
        raise ValueError(
            "the notebook has no tlbook chapter in its metadata; pass --chapter N"
        )
    ids = [e.id for e in exercises_of(int(chapter))]
    if not ids:
        raise ValueError(f"chapter {chapter} has no exercises")
    return ids


def missing_packages() -> list[str]:
    """The packages of the ``grade`` extra that this environment lacks (nothing is imported).

    >>> missing_packages()
    []
    """
    import importlib.util

    return [
        name
        for name in ("nbformat", "nbclient", "ipykernel")
        if importlib.util.find_spec(name) is None
    ]


def _limit_memory(gigabytes: float) -> None:
    """In the child, before it runs anything: its data memory, and so its kernel's, is capped (Linux)."""
    import resource

    limit = int(gigabytes * 2**30)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


def _run_isolated(
    path: Path,
    log: Path,
    *,
    timeout: float,
    preset: str,
    memory_gb: float = DEFAULT_MEMORY_GB,
) -> dict:
    """Execute ``path`` in a child process (and kernel) of its own; return its report.

    The child's output goes to a file, of which only the end is read (a notebook that prints hundreds of
    megabytes costs disk, not memory); it gets no standard input; its memory (and its kernel's) is capped at
    ``memory_gb``; and every process it or its notebook started is ended when it finishes, runs out of time or
    the grader is interrupted (:func:`end_processes`).
    """
    report = log.with_suffix(".report.json")
    token = secrets.token_hex(8)
    env = {
        **os.environ,
        "TLBOOK_PRESET": preset,
        CHECK_LOG_ENV: str(log),
        "MPLBACKEND": "Agg",
        TOKEN_ENV: token,
    }
    cmd = [
        sys.executable,
        "-m",
        "tlbook.grading",
        str(path),
        str(report),
        str(memory_gb),
    ]
    output = log.with_suffix(".output.txt")
    with open(output, "wb") as sink:
        # A session of its own (no terminal's Ctrl-C reaches it directly; the grader ends it instead).
        proc = subprocess.Popen(
            cmd,
            env=env,
            cwd=log.parent,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"timed_out": True}
        finally:  # on time-out, on Ctrl-C (KeyboardInterrupt passes through) and after a normal end
            end_processes(proc, token)
    if report.exists():
        try:
            return json.loads(report.read_text())
        except ValueError:
            pass  # the notebook overwrote the report: treat it as missing
    tail = _tail(output).strip().splitlines()[-3:]
    return {
        "failed": " | ".join(tail)
        or f"the grading process exited with status {proc.returncode}"
    }


def _tail(path: Path, size: int = 4096) -> str:
    """The last ``size`` bytes of ``path`` as text (never the whole file: it may be huge)."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - size))
        return f.read().decode("utf-8", "replace")


TOKEN_ENV = "TLBOOK_GRADING_TOKEN"

# The grader and the checks in the student's kernel talk through a file whose path this variable names:
# a protocol between two tlbook processes, not a setting (those are read in tlbook.config only).
CHECK_LOG_ENV = "TLBOOK_CHECK_LOG"


def check_log_path() -> Path | None:
    """The file where exercise checks log their results (``TLBOOK_CHECK_LOG``, set by the grader), or None.

    >>> import os; os.environ.pop("TLBOOK_CHECK_LOG", None) and None; check_log_path() is None
    True
    """
    log = os.environ.get(CHECK_LOG_ENV)
    return Path(log) if log else None


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state letter) of every process (Linux /proc)."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode("ascii", "replace")
        except OSError:
            continue
        rest = stat[
            stat.rfind(")") + 2 :
        ].split()  # the name in parentheses may hold spaces
        table[int(entry)] = (int(rest[1]), rest[0])
    return table


def _tree(table: dict[int, tuple[int, str]], root: int) -> set[int]:
    """``root`` and every process below it in ``table`` (pid -> (parent pid, state)); empty if it is gone.

    >>> sorted(_tree({1: (0, "S"), 2: (1, "S"), 3: (2, "Z"), 4: (0, "S")}, 1))
    [1, 2, 3]
    """
    children: dict[int, list[int]] = {}
    for pid, (parent, _state) in table.items():
        children.setdefault(parent, []).append(pid)
    found: set[int] = set()
    todo = [root] if root in table else []
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo += children.get(pid, [])
    return found


def _carries(pid: int, marker: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return marker in f.read().split(b"\0")
    except OSError:
        return False


def end_processes(proc: subprocess.Popen, token: str) -> None:
    """End ``proc`` and every process that descends from it or carries its grading ``token``; reap ``proc``.

    The grading child makes itself a *subreaper* (``PR_SET_CHILD_SUBREAPER``), so a daemon that a notebook
    starts (fork, setsid, fork again) stays its descendant; a process that escapes even that still carries
    the token in its environment. Everything found is killed with SIGKILL (which no process can ignore),
    round after round until none is left, so a fork bomb cannot outrun it. Without /proc (not Linux), the
    child's process group is killed.
    """
    if not os.path.isdir("/proc"):
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return
    marker = f"{TOKEN_ENV}={token}".encode()
    me = os.getpid()
    # The killed are followed until they are gone: a killed process is still running its exit.
    killed: set[int] = set()
    # SIGKILL takes effect in milliseconds; the deadline only bounds a pathology.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        table = _processes()
        found = _tree(table, proc.pid)
        found |= {
            pid for pid in table if pid not in found and _carries(pid, marker)
        } | (killed & set(table))
        alive = {
            pid
            for pid in found
            if pid != me and table.get(pid, (0, "Z"))[1] not in ("Z", "X")
        }
        if not alive:
            break
        for pid in alive:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        killed |= alive
        with contextlib.suppress(subprocess.TimeoutExpired, ChildProcessError, OSError):
            proc.wait(timeout=0.05)
        time.sleep(
            0.005
        )  # the killed are still exiting: look again shortly, without spinning
    proc.wait()


def grade_notebook(
    path: str | os.PathLike,
    *,
    chapter: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    preset: str = DEFAULT_PRESET,
    memory_gb: float = DEFAULT_MEMORY_GB,
    name: str | None = None,
) -> list[Row]:
    """Rows for one submission: one per expected exercise, or one row saying why none could be graded.

    ``name`` is the student file as the grade sheet shows it (default: the file's name).
    """
    import nbformat

    path = Path(path)
    name = name or show(path.name)
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        expected = _expected_exercises(nb, chapter)
    except Exception as e:  # not JSON, not a notebook, no chapter: say which
        return [
            Row(
                name,
                "-",
                False,
                f"malformed submission, not graded: {type(e).__name__}: {e}",
            )
        ]
    with tempfile.TemporaryDirectory(prefix="tlbook-grade-") as tmp:
        copy = Path(tmp) / "submission.ipynb"
        nbformat.write(nb, copy)
        log = Path(tmp) / "checks.jsonl"
        log.touch()
        report = _run_isolated(
            copy, log, timeout=timeout, preset=preset, memory_gb=memory_gb
        )
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
        why = "not graded: its check(...) never ran" + (
            f"; first error: {errors[0]}" if errors else "; was the check call deleted?"
        )
    rows = []
    for ex in expected:
        if ex in results:
            rows.append(
                Row(
                    name,
                    ex,
                    bool(results[ex].get("passed")),
                    str(results[ex].get("feedback", "")),
                )
            )
        else:
            rows.append(Row(name, ex, False, why))
    return rows


def grade_folder(
    folder: str | os.PathLike,
    *,
    out: str | os.PathLike,
    chapter: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    preset: str = DEFAULT_PRESET,
    memory_gb: float = DEFAULT_MEMORY_GB,
    verbose: bool = True,
) -> list[Row]:
    """Grade every ``*.ipynb`` in ``folder``; write the CSV ``out`` (atomically) and ``out`` + ``.summary.txt``."""

    folder = Path(folder)
    if not folder.is_dir():
        raise GradingError(f"{show(folder)} is not a folder of submitted notebooks")
    out = check_writable(out, folder=False)  # before grading, not after an hour of it
    check_writable(out.with_name(out.name + ".summary.txt"), folder=False)
    paths, skipped = find_submissions(folder)
    for path, why in skipped:
        print(f"skipped {show(path.relative_to(folder))}: {why}", file=sys.stderr)
    if not paths:
        raise GradingError(
            f"{show(folder)} holds no .ipynb files to grade (searched its subfolders too)"
        )
    rows: list[Row] = []
    for path in paths:
        if verbose:
            print(f"grading {show(path.relative_to(folder))} ...", flush=True)
        rows.extend(
            grade_notebook(
                path,
                chapter=chapter,
                timeout=timeout,
                preset=preset,
                memory_gb=memory_gb,
                name=show(path.relative_to(folder)),
            )
        )
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
        print(f"wrote {show(out)} and {show(out.name)}.summary.txt")
    print(
        f"{len(paths) + len(skipped)} submissions found, {len(paths)} graded, {len(skipped)} skipped",
        file=sys.stderr if not verbose else sys.stdout,
    )
    return rows


def find_submissions(folder: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Notebooks to grade under ``folder`` (any letter case of ``.ipynb``, subfolders too) and everything else.

    Every file, link and unreadable folder below ``folder`` is in one of the two lists, so each appears in
    the grade sheet or in the grader's output: Jupyter's autosaves (``.ipynb_checkpoints``), hidden files
    (macOS's ``._name.ipynb``), links that lead nowhere, pipes and other files are returned with the reason
    they are not graded. Links to folders are not followed (no loop can trap the search).
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
    for path in sorted(entries):
        parts = path.relative_to(folder).parts
        notebook = path.suffix.lower() == ".ipynb"
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
        elif not notebook:
            skipped.append((path, "not a notebook (.ipynb)"))
        elif not path.is_file():
            skipped.append((path, "not a regular file (a pipe or a device)"))
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
            lines.append(
                f"{s}: {sum(r.passed for r in mine)} of {len(mine)} exercises passed"
            )
    for ex in sorted(
        {r.exercise for r in rows if r.exercise != "-"},
        key=lambda e: tuple(map(int, e.split("."))),
    ):
        mine = [r for r in rows if r.exercise == ex]
        lines.append(
            f"exercise {ex}: passed by {sum(r.passed for r in mine)} of {len(mine)} submissions"
        )
    return "\n".join(lines) + "\n"


# Output a notebook may keep in the grader's memory; beyond it, further output is dropped (errors are kept).
MAX_OUTPUT_BYTES = 2_000_000


def _become_subreaper() -> None:
    """Linux: orphaned descendants (a daemon's double fork) become this process's children, not init's."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(
                36, 1, 0, 0, 0
            )  # PR_SET_CHILD_SUBREAPER


def _execute_one(path: Path, report: Path) -> None:
    """Child process: run every cell in a fresh kernel, errors allowed; write a JSON report."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    _become_subreaper()
    _die_with_parent()
    nb = nbformat.read(path, as_version=4)
    result: dict = {"errors": []}
    running: list[
        int
    ] = []  # index of the cell sent to the kernel last, recorded as it starts
    kept = [0]  # bytes of output kept so far

    def started(cell, cell_index: int, **kwargs) -> None:
        running.append(cell_index)

    class BoundedClient(NotebookClient):
        """Keeps at most MAX_OUTPUT_BYTES of the notebook's output in memory (errors always)."""

        def output(self, outs, msg, display_id, cell_index):
            if msg.get("msg_type") != "error":
                size = len(json.dumps(msg.get("content", {}), default=str))
                kept[0] += size
                if kept[0] > MAX_OUTPUT_BYTES:
                    return None
            return super().output(outs, msg, display_id, cell_index)

    client = BoundedClient(
        nb,
        kernel_name="python3",
        allow_errors=True,
        timeout=None,
        resources={"metadata": {"path": str(path.parent)}},
        on_cell_execute=started,
    )
    try:
        client.execute()
    except DeadKernelError:
        # The cell that was running when the kernel died: recorded when it started, so it does not
        # depend on how far the outputs had arrived (which raced with the kernel's death under load).
        result["kernel_died"] = (
            f"while running cell {running[-1]}" if running else "before the first cell"
        )
    finally:
        _end_descendants()
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                result["errors"].append(
                    f"cell {i}: {out.get('ename')}: {out.get('evalue')}"
                )
    import resource

    result["peak_memory_mb"] = (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    )
    result["kernel_peak_memory_mb"] = (
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
    )
    report.write_text(json.dumps(result))


def _die_with_parent() -> None:
    """If the grader goes away (killed, even with SIGKILL), end everything below this process and exit.

    The grader ends this process's tree itself when it can; a grader that is killed cannot, and this process
    lives in a session of its own, so it watches for its parent to change (it is then an orphan) instead.
    """
    import threading

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        _end_descendants()
        os._exit(3)

    threading.Thread(target=watch, name="tlbook-parent-watch", daemon=True).start()


def _end_descendants() -> None:
    """Kill every process below this one (the notebook's daemons included: this process is their subreaper)."""
    if not os.path.isdir("/proc"):
        return
    me = os.getpid()
    killed: set[int] = set()
    for _ in range(1000):
        table = _processes()
        below = (_tree(table, me) - {me}) | (killed & set(table))
        alive = [pid for pid in below if table[pid][1] not in ("Z", "X")]
        for pid in below:  # reap the zombies that are ours
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
        if not alive:
            return
        for pid in alive:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        killed.update(alive)
        time.sleep(0.01)  # let the killed finish exiting before looking again


if __name__ == "__main__":
    # The child caps its own memory before it starts the kernel, which inherits the cap (a preexec_fn in the
    # grader could deadlock: the grader may have threads).
    _limit_memory(float(sys.argv[3]))
    _execute_one(Path(sys.argv[1]), Path(sys.argv[2]))
