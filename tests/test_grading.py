"""The class grader: one CSV row per (student file, exercise); crashes, loops and junk are reported, not fatal."""

import csv
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT

from tlbook.cli import main
from tlbook.grading import grade_notebook

pytestmark = pytest.mark.slow  # runs notebooks in kernels: left out of make unit

SAMPLES = ROOT / "examples" / "submissions" / "chapter02"


def test_the_three_sample_submissions(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "grades.csv"
    assert main(["grade", str(SAMPLES), "--out", str(out), "--timeout", "180"]) == 0
    rows = list(csv.DictReader(out.open()))
    got = {(r["student_file"], r["exercise"]): r for r in rows}
    assert [(r["student_file"], r["exercise"], r["passed"]) for r in rows] == [
        ("alice_correct.ipynb", "2.1", "yes"),
        ("alice_correct.ipynb", "2.2", "yes"),
        ("alice_correct.ipynb", "2.3", "yes"),
        ("bob_partial.ipynb", "2.1", "yes"),
        ("bob_partial.ipynb", "2.2", "no"),
        ("bob_partial.ipynb", "2.3", "no"),
        ("carol_crashes.ipynb", "2.1", "no"),
        ("carol_crashes.ipynb", "2.2", "no"),
        ("carol_crashes.ipynb", "2.3", "no"),
    ]
    assert "translations are swapped" in got[("bob_partial.ipynb", "2.2")]["feedback"]
    assert "not attempted yet" in got[("bob_partial.ipynb", "2.3")]["feedback"]
    carol = nbformat.read(SAMPLES / "carol_crashes.ipynb", as_version=4)
    crash = next(i for i, c in enumerate(carol.cells) if "os._exit" in c.source)
    assert (
        f"the kernel died (while running cell {crash})"
        in got[("carol_crashes.ipynb", "2.1")]["feedback"]
    )
    summary = (tmp_path / "grades.csv.summary.txt").read_text()
    assert "alice_correct.ipynb: 3 of 3 exercises passed" in summary
    assert "bob_partial.ipynb: 1 of 3 exercises passed" in summary
    assert not list(SAMPLES.glob("*.jsonl")), (
        "grading writes nothing into the submissions folder"
    )


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
    assert (
        len(rows) == 1
        and rows[0].exercise == "-"
        and "malformed submission" in rows[0].feedback
    )


def test_a_notebook_without_chapter_needs_the_option(tmp_path):
    nb = nbformat.read(SAMPLES / "alice_correct.ipynb", as_version=4)
    del nb.metadata["tlbook"]
    nbformat.write(nb, tmp_path / "frank.ipynb")
    rows = grade_notebook(tmp_path / "frank.ipynb")
    assert "pass --chapter N" in rows[0].feedback


def test_missing_folder_is_a_clear_error(tmp_path, capsys):
    assert (
        main(["grade", str(tmp_path / "nope"), "--out", str(tmp_path / "g.csv")]) == 2
    )
    assert (
        "the submissions folder" in (err := capsys.readouterr().err)
        and "nope does not exist" in err
    )
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
    assert all(
        f"the kernel died (while running cell {crash})" in r.feedback for r in rows
    ), rows[0].feedback


# --- the grader owns its children ---------------------------------------------------------------------------

DAEMON = """
import os, signal, sys, time
pids = {pids!r}
if os.fork() == 0:                      # a daemon: fork, new session, fork again, ignore the polite signals
    os.setsid()
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        with open(pids, "a") as f:
            f.write(f"{{os.getpid()}}\\n")
        time.sleep(600)                 # bounded: it would stop by itself in ten minutes
        os._exit(0)
    os._exit(0)
with open(pids, "a") as f:
    f.write(f"{{os.getpid()}}\\n")      # the kernel itself
"""


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped by its parent, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def _submission(tmp_path: Path, name: str, *cells: str) -> Path:
    nb = nbformat.read(SAMPLES / "alice_correct.ipynb", as_version=4)
    for i, source in enumerate(cells):
        nb.cells.insert(3 + i, nbformat.v4.new_code_cell(source))
    folder = tmp_path / "subs"
    folder.mkdir(exist_ok=True)
    nbformat.write(nb, folder / name)
    return folder / name


def _wait_for_lines(path: Path, n: int) -> list[int]:
    """The pids written to ``path`` once there are ``n`` of them (bounded wait; the grader's limit is the real one)."""
    import time

    for _ in range(6000):
        if path.exists() and len(path.read_text().split()) >= n:
            return [int(p) for p in path.read_text().split()]
        time.sleep(0.05)
    raise AssertionError(f"{path} never got {n} pids")


@pytest.mark.parametrize("ends", ["normally", "by its time limit"])
def test_no_process_of_a_submission_survives_it(tmp_path, ends):
    pids = tmp_path / "pids.txt"
    cells = [DAEMON.format(pids=str(pids))]
    if ends == "by its time limit":
        cells.append(
            "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True:\n    pass"
        )
    rows = grade_notebook(
        _submission(tmp_path, "gina.ipynb", *cells),
        timeout=60 if ends == "normally" else 25,
    )
    assert len(rows) == 3
    if ends == "normally":
        assert [r.passed for r in rows] == [True] * 3, rows
    else:
        assert "time limit" in rows[0].feedback
    started = _wait_for_lines(pids, 2)
    assert not [p for p in started if _alive(p)], (
        "the daemon or the kernel outlived the grading"
    )


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def test_a_notebook_that_prints_200_mb_is_graded_in_bounded_memory(tmp_path):
    """Printing without end costs the grader nothing (it never holds the output) and the grading process at
    most its cap (--memory): the notebook is graded or gets a row saying why, never an unbounded grader."""
    flood = "import sys\nfor _ in range(200):\n    sys.stdout.write('x' * 1_000_000)"
    path = _submission(tmp_path, "hugo.ipynb", flood)
    import tlbook.grading

    reports = []
    real = tlbook.grading._run_isolated

    def keep(*args, **kwargs):
        reports.append(real(*args, **kwargs))
        return reports[-1]

    before = _rss_mb()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tlbook.grading, "_run_isolated", keep)
        rows = grade_notebook(path, timeout=600, memory_gb=2.0)
    assert _rss_mb() - before < 100, "the grader itself held the printed output"
    assert len(rows) == 3 and all(
        r.passed or r.feedback.startswith("not graded") for r in rows
    ), rows
    if "peak_memory_mb" in reports[0]:  # the child finished: it stayed within its cap
        assert reports[0]["peak_memory_mb"] <= 2.0 * 1024 + 64, reports[0]


def test_ctrl_c_during_grading_leaves_nothing_running(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    pids = tmp_path / "pids.txt"
    path = _submission(
        tmp_path, "ivan.ipynb", DAEMON.format(pids=str(pids)), "while True:\n    pass"
    )
    out = tmp_path / "grades.csv"
    grader = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tlbook",
            "grade",
            str(path.parent),
            "--out",
            str(out),
            "--timeout",
            "600",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As from a terminal: a test run started in the background of a script inherits an *ignored*
        # SIGINT, which Python then keeps ignoring (no KeyboardInterrupt), unlike a person's Ctrl-C.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    started = _wait_for_lines(pids, 2)
    grader.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal sends
    try:
        _, err = grader.communicate(timeout=120)
    except (
        subprocess.TimeoutExpired
    ):  # say where it hangs (tlbook's CLI dumps its stacks on SIGUSR1)
        grader.send_signal(signal.SIGUSR1)
        time.sleep(2)
        grader.kill()
        _, err = grader.communicate()
        raise AssertionError(
            f"the grader did not stop within 120 s of Ctrl-C; its stacks:\n{err}"
        ) from None
    assert grader.returncode == 130 and "interrupted" in err, err
    assert not [p for p in started if _alive(p)], (
        "Ctrl-C left the daemon or the kernel running"
    )
    assert not out.exists(), "no grade sheet from an interrupted grading"


def test_a_killed_grader_leaves_nothing_running(tmp_path):
    """Even SIGKILL, which the grader cannot catch: its grading child notices and ends the submission's tree."""
    import signal
    import subprocess
    import sys
    import time

    pids = tmp_path / "pids.txt"
    path = _submission(
        tmp_path, "jo.ipynb", DAEMON.format(pids=str(pids)), "while True:\n    pass"
    )
    grader = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tlbook",
            "grade",
            str(path.parent),
            "--out",
            str(tmp_path / "g.csv"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    started = _wait_for_lines(pids, 2)
    grader.send_signal(signal.SIGKILL)
    grader.wait()
    for _ in range(600):  # bounded: the child looks every 0.2 s
        if not [p for p in started if _alive(p)]:
            break
        time.sleep(0.1)
    assert not [p for p in started if _alive(p)], (
        "the daemon or the kernel outlived a killed grader"
    )
