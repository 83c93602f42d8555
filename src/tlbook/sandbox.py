"""Where a submission runs: bubblewrap's sandbox, the processes inside it, and their end.

The grader (:mod:`tlbook.grading`) starts one **runner** per submission, under
``bwrap`` (Debian's ``bubblewrap``): the whole file system read-only except the
submission's scratch folder, an empty ``/tmp``, no network, its own process,
IPC and host-name namespaces, every capability dropped, and the runner as the
namespace's first process, so that when it ends every process the notebook
started ends with it. Inside, the runner

1. reads the hidden cases from its standard input (before any student code runs);
2. executes the notebook in a fresh kernel (errors allowed, output bounded);
3. ends every process the notebook left behind;
4. reads the answers the checks handed in (JSON; function answers as cloudpickle
   files, which it does not load) and, for folder answers, reads the folder with
   tlbook's own code;
5. starts the **prober**, a fresh interpreter that loads the function answers
   with tlbook's own implementations withheld and an audit hook that refuses to
   read or re-execute tlbook's source, and runs them on the hidden cases;
6. writes one JSON report on a descriptor only it holds.

The grader judges the report itself; nothing in the sandbox decides a grade.

>>> sorted(_tree({1: (0, "S"), 2: (1, "S"), 3: (2, "Z"), 4: (0, "S")}, 1))
[1, 2, 3]
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# The grader and the checks in the student's kernel agree on this variable: the folder where check()
# hands in answers. A protocol between two tlbook processes, not a setting (those are read in tlbook.config).
ANSWERS_ENV = "TLBOOK_ANSWERS"

# Output a notebook may keep in the runner's memory; beyond it, further output is dropped (errors are kept).
MAX_OUTPUT_BYTES = 2_000_000
# Seconds one case of one function answer may take in the prober.
PROBE_SECONDS = 20


def bwrap_problem() -> str | None:
    """Why bubblewrap cannot sandbox a submission here, or None when it can (it is tried, not guessed)."""
    exe = shutil.which("bwrap")
    if exe is None:
        return "bubblewrap (bwrap) is not installed: `apt-get install bubblewrap`, or pass --no-sandbox"
    try:
        done = subprocess.run(
            [exe, *_bwrap_flags(Path("/"), None), "true"],
            capture_output=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"bubblewrap does not start ({e}); pass --no-sandbox to grade without it"
    if done.returncode != 0:
        why = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [
            "no reason given"
        ]
        return f"bubblewrap cannot run here ({why[0]}); pass --no-sandbox to grade without it"
    return None


def _bwrap_flags(
    scratch: Path, chdir: Path | None, hide: tuple[Path, ...] = ()
) -> list[str]:
    flags = [
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--tmpfs",
        "/tmp",
    ]
    for path in hide:  # the secret, the other students' work: not even readable inside
        if path.is_dir():
            flags += ["--tmpfs", str(path)]
        elif path.exists():
            flags += ["--ro-bind", "/dev/null", str(path)]
    if scratch != Path("/"):
        flags += ["--bind", str(scratch), str(scratch)]
    flags += [
        "--unshare-all",
        "--cap-drop",
        "ALL",
        "--die-with-parent",
        "--new-session",
    ]
    if chdir is not None:
        flags += ["--chdir", str(chdir)]
    return flags


def runner_command(
    notebook: Path,
    *,
    scratch: Path,
    workdir: Path,
    memory_gb: float,
    sandbox: bool,
    hide: tuple[Path, ...] = (),
) -> list[str]:
    """The command that runs one submission's runner, under bwrap when ``sandbox``.

    ``hide`` are files and folders the submission may not even read (the secret, the submissions folder);
    a folder that holds what the runner needs (this Python, tlbook) is not hidden.
    """
    cmd = [
        sys.executable,
        "-m",
        "tlbook.sandbox",
        "run",
        str(notebook),
        str(scratch),
        str(memory_gb),
    ]
    if not sandbox:
        return cmd
    needed = [Path(sys.prefix).resolve(), Path(__file__).resolve().parent]
    hidden = tuple(
        p.resolve()
        for p in hide
        if not any(n == p.resolve() or p.resolve() in n.parents for n in needed)
    )
    return ["bwrap", *_bwrap_flags(scratch, workdir, hidden), *cmd]


# --- processes ------------------------------------------------------------------------------------------------


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
        # The name in parentheses may hold spaces: split after the last ")".
        rest = stat[stat.rfind(")") + 2 :].split()
        table[int(entry)] = (int(rest[1]), rest[0])
    return table


def _tree(table: dict[int, tuple[int, str]], root: int) -> set[int]:
    """``root`` and every process below it in ``table`` (pid -> (parent pid, state)); empty if it is gone."""
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


TOKEN_ENV = "TLBOOK_GRADING_TOKEN"


def end_processes(proc: subprocess.Popen, token: str) -> None:
    """End ``proc`` and every process that descends from it or carries its grading ``token``; reap ``proc``.

    Under bwrap, ending the runner ends its namespace; without it (``--no-sandbox``) the runner is a
    *subreaper*, so a daemon that a notebook starts (fork, setsid, fork again) stays its descendant, and a
    process that escapes even that still carries the token in its environment. Everything found is killed
    with SIGKILL, round after round until none is left, so a fork bomb cannot outrun it.
    """
    if not os.path.isdir("/proc"):
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return
    marker = f"{TOKEN_ENV}={token}".encode()
    me = os.getpid()
    killed: set[int] = (
        set()
    )  # followed until they are gone: a killed process is still running its exit
    deadline = (
        time.monotonic() + 60
    )  # SIGKILL takes milliseconds; the deadline only bounds a pathology
    while time.monotonic() < deadline:
        table = _processes()
        found = _tree(table, proc.pid)
        found |= {pid for pid in table if pid not in found and _carries(pid, marker)}
        found |= killed & set(table)
        alive = {
            p for p in found if p != me and table.get(p, (0, "Z"))[1] not in ("Z", "X")
        }
        if not alive:
            break
        for pid in alive:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        killed |= alive
        with contextlib.suppress(subprocess.TimeoutExpired, ChildProcessError, OSError):
            proc.wait(timeout=0.05)
        time.sleep(0.005)  # look again shortly, without spinning
    proc.wait()


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


def _prctl(option: int, value: int) -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


def _become_subreaper() -> None:
    """Orphaned descendants (a daemon's double fork) become this process's children, not init's."""
    _prctl(36, 1)  # PR_SET_CHILD_SUBREAPER


def _not_dumpable() -> None:
    """No other process of the same user may trace this one or read its memory and descriptors."""
    _prctl(4, 0)  # PR_SET_DUMPABLE


def _die_with_parent() -> None:
    """If the grader goes away (killed, even with SIGKILL), end everything below this process and exit."""
    import threading

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        _end_descendants()
        os._exit(3)

    threading.Thread(target=watch, name="tlbook-parent-watch", daemon=True).start()


def _limit_memory(gigabytes: float) -> None:
    """Cap this process's data memory, and so its children's (Linux)."""
    import resource

    limit = int(gigabytes * 2**30)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


# --- the runner (inside the sandbox) ----------------------------------------------------------------------------


def _execute(notebook: Path, answers: Path, timeout: float) -> dict[str, Any]:
    """Run every cell in a fresh kernel, errors allowed, for at most ``timeout`` seconds in all.

    Returns the cells' execution counts and errors. At the time limit the kernel (and all it started) is
    killed, and what the checks handed in until then still counts.
    """
    import threading

    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    nb = nbformat.read(notebook, as_version=4)
    report: dict[str, Any] = {"cells": []}
    running: list[int] = []  # the cell sent to the kernel last, recorded as it starts
    kept = [0]  # bytes of output kept so far

    def started(cell, cell_index: int, **kwargs) -> None:
        running.append(cell_index)

    class BoundedClient(NotebookClient):
        """Keeps at most MAX_OUTPUT_BYTES of the notebook's output in memory (errors always)."""

        def output(self, outs, msg, display_id, cell_index):
            if msg.get("msg_type") != "error":
                kept[0] += len(json.dumps(msg.get("content", {}), default=str))
                if kept[0] > MAX_OUTPUT_BYTES:
                    return None
            return super().output(outs, msg, display_id, cell_index)

    os.environ[ANSWERS_ENV] = str(answers)
    client = BoundedClient(
        nb,
        kernel_name="python3",
        allow_errors=True,
        timeout=None,
        resources={"metadata": {"path": str(notebook.parent)}},
        on_cell_execute=started,
    )
    late = threading.Event()

    def stop() -> None:
        late.set()
        _end_descendants()

    timer = threading.Timer(timeout, stop)
    timer.daemon = True
    timer.start()
    try:
        client.execute()
    except Exception as e:  # noqa: BLE001 - a dead kernel, a time-out, or a notebook nbclient cannot run
        if late.is_set():
            report["timed_out"] = True
        elif isinstance(e, DeadKernelError):
            # Recorded when the cell started, so it does not race with the kernel's death under load.
            report["kernel_died"] = running[-1] if running else -1
        else:
            report["failed"] = f"{type(e).__name__}: {e}"
    finally:
        timer.cancel()
        _end_descendants()
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        report["cells"].append(
            {
                "index": i,
                # As Jupyter numbers it: the kernel's count, or, for a cell whose count never arrived
                # (the kernel died running it), its place among the cells sent, which is the same.
                "count": cell.get("execution_count")
                or (running.index(i) + 1 if i in running else None),
                "ran": i in running,
                "error": f"{errors[0].get('ename')}: {errors[0].get('evalue')}"
                if errors
                else None,
            }
        )
    return report


def _read_answers(
    answers: Path, library: dict[str, list[bytes]]
) -> list[dict[str, Any]]:
    """The attempts check() handed in, in order; each file is JSON (a student may have written any of them).

    ``library`` is, per exercise, the bytecode of tlbook's own implementations (from the grader, so this
    process need not import them): a function answer that carries one verbatim is a copy.
    """
    from .exercises import EXERCISES, answer_data

    attempts = []
    for f in sorted(answers.glob("*.json"))[:1000]:
        try:
            a = json.loads(f.read_text(encoding="utf-8")[:5_000_000])
            ex = EXERCISES[a["exercise"]]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        attempt = {"exercise": ex.id, "count": a.get("count"), "kind": a.get("kind")}
        if a.get("kind") == "data":
            attempt["data"] = answer_data(ex, a.get("data"))
        elif a.get("kind") == "function":
            fn = answers / f"{f.stem}.fn"
            try:
                payload = fn.read_bytes()
            except OSError:
                continue
            # A copy of tlbook's own implementation carries its bytecode verbatim.
            if any(len(c) > 8 and c in payload for c in library.get(ex.id, [])):
                attempt["error"] = (
                    f"{_withheld()} {ex.library[0].split(':')[1]} (a copy of its code): write your own"
                )
            else:
                attempt["payload"] = payload
        elif a.get("kind") == "empty":
            attempt["error"] = str(a.get("error", "not attempted yet"))[:500]
        else:
            attempt["error"] = str(a.get("error", "the answer could not be handed in"))[
                :500
            ]
        attempts.append(attempt)
    return attempts


def _withheld() -> str:
    from .exercises import WITHHELD

    return WITHHELD


def _probe_all(
    attempts: list[dict[str, Any]], cases: bytes, counts: dict[str, int], scratch: Path
) -> None:
    """Run the function answers on their cases in a fresh prober process; fill in each attempt's outputs.

    ``cases`` is the grader's pickle of the cases, passed on unopened (this process needs no torch).
    """
    todo = [a for a in attempts if "payload" in a]
    if not todo:
        return
    job = pickle.dumps(([(a["exercise"], a.pop("payload")) for a in todo], cases))
    seconds = PROBE_SECONDS * (1 + sum(counts.get(a["exercise"], 1) for a in todo))
    with open(scratch / "prober.txt", "wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tlbook.sandbox", "probe"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=sink,
            cwd=scratch,
        )
        try:
            stdout, _ = proc.communicate(job, timeout=seconds)
        except subprocess.TimeoutExpired:
            stdout = b""
        finally:
            _end_descendants()
    lines = stdout.decode("utf-8", "replace").splitlines()
    for i, a in enumerate(todo):
        try:
            a["outputs"] = json.loads(lines[i])
        except (IndexError, ValueError):
            a["error"] = (
                "running your function on the graded cases did not finish "
                "(an endless loop, or it ended the process)"
            )


def _run(notebook: Path, scratch: Path, memory_gb: float) -> None:
    """The runner: see the module's docstring. Writes one JSON report to the descriptor it was given as stdout."""
    report_fd = os.dup(
        1
    )  # the grader's pipe; not inherited by anything this process starts
    log = os.open(scratch / "runner.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    # The grader's key and cases, read before any student code runs; the key signs the report, so nothing
    # in the sandbox that writes where the report goes can forge one.
    key, cases, counts, library, timeout = pickle.loads(sys.stdin.buffer.read())
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    _not_dumpable()
    _become_subreaper()
    _die_with_parent()
    _limit_memory(memory_gb)
    answers = scratch / "answers"
    answers.mkdir(exist_ok=True)
    started = time.monotonic()
    report = _execute(notebook, answers, timeout)
    report["notebook_seconds"] = round(time.monotonic() - started, 2)
    report["attempts"] = _read_answers(answers, library)
    report["answers_seconds"] = round(time.monotonic() - started, 2)
    _probe_all(report["attempts"], cases, counts, scratch)
    report["probe_seconds"] = round(time.monotonic() - started, 2)
    import resource

    report["kernel_peak_memory_mb"] = (
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
    )
    text = json.dumps(report)
    with os.fdopen(report_fd, "w", encoding="utf-8") as f:
        json.dump({"report": text, "mac": sign(key, text)}, f)


def sign(key: bytes, text: str) -> str:
    """The runner's signature of its report (HMAC-SHA256 under the grader's one-time key)."""
    import hashlib
    import hmac

    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


# --- the prober (inside the sandbox, after the notebook) ------------------------------------------------------


def _guard(package: Path, modules: set[str]) -> None:
    """From now on this process refuses to read tlbook's source or run a fresh copy of its modules.

    An audit hook cannot be removed, so student code that runs later cannot undo it; the withheld
    implementations (:func:`tlbook.exercises.withheld`) cannot be rebuilt from their files.
    """
    root = str(package)

    def hook(event: str, args: tuple) -> None:
        if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
            path = (
                os.fsdecode(args[0])
                if not isinstance(args[0], os.PathLike)
                else os.fspath(args[0])
            )
            if os.path.abspath(path).startswith(root):
                raise PermissionError(
                    f"{_withheld()} source: the grader does not let answers read it"
                )
        elif (
            event == "exec"
            and args
            and getattr(args[0], "co_filename", "").startswith(root)
        ):
            raise PermissionError(
                f"{_withheld()} modules: the grader does not let answers reload them"
            )
        elif event == "compile" and len(args) > 1 and str(args[1]).startswith(root):
            raise PermissionError(
                f"{_withheld()} source: the grader does not let answers compile it"
            )
        elif event == "marshal.loads":
            raise PermissionError(
                "marshal.loads is not available to answers while grading"
            )

    sys.addaudithook(hook)


def _prober() -> None:
    """Load each function answer, run it on its cases, print one JSON line of outputs per answer."""
    import importlib

    import cloudpickle  # noqa: F401 - the answers were pickled with it

    from . import exercises

    # The runner's (trusted) job, read before any answer loads; the cases are the grader's pickle.
    answers, blob = pickle.loads(sys.stdin.buffer.read())
    cases = pickle.loads(blob)
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # what answers print goes to the log, not into the outputs
    # cloudpickle names the modules a function's globals come from (``tlbook.augment`` for rotation):
    # those are loaded now, before the guard, and no other tlbook module can be loaded after it. Of the
    # implementations the exercises withhold, those in a loaded module are swapped for stand-ins; the
    # others cannot be reached at all.
    named = {
        m.decode()
        for _, payload in answers
        for m in re.findall(rb"tlbook(?:\.[a-z_]+)+", payload)
    }
    for module in sorted(named):
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    names = {
        n for exercise, _ in answers for n in exercises.EXERCISES[exercise].library
    }
    everything = tuple(sorted(n for n in names if n.split(":")[0] in sys.modules))
    with exercises.withheld(everything):
        _guard(Path(exercises.__file__).parent, set(sys.modules))
        for exercise, payload in answers:
            ex = exercises.EXERCISES[exercise]
            signal.signal(signal.SIGALRM, _too_long)
            signal.alarm(PROBE_SECONDS * max(1, len(cases[exercise])))
            try:
                answer = pickle.loads(payload)
                loaded = tuple(n for n in ex.library if n in everything)
                outputs = exercises.probe_answer(
                    ex, answer, cases[exercise], library=loaded
                )
            except BaseException as e:  # noqa: BLE001 - whatever the answer does, the next one is probed
                outputs = [
                    {
                        "error": f"your answer could not be run by the grader ({type(e).__name__}: {e})"
                    }
                ]
            finally:
                signal.alarm(0)
            try:
                line = json.dumps(outputs, allow_nan=True)
            except (TypeError, ValueError) as e:
                line = json.dumps([{"error": f"the outputs are not plain data ({e})"}])
            out.write(line + "\n")
            out.flush()


class _TooLong(Exception):
    pass


def _too_long(signum: int, frame: Any) -> None:
    raise _TooLong(
        "it ran past the grader's time limit for one case (an endless loop?)"
    )


if __name__ == "__main__":
    if sys.argv[1] == "run":
        _run(Path(sys.argv[2]), Path(sys.argv[3]), float(sys.argv[4]))
    elif sys.argv[1] == "probe":
        _prober()
