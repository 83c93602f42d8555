"""The class grader: the sandbox runs the notebook, the grader judges every answer itself.

Forgeries score nothing, the sandbox stops what a notebook should not do, and crashes, loops and junk
are reported, not fatal. Each test runs real notebooks in kernels (slow tier).
"""

import csv
import os
import shutil
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT

from tlbook.cli import main
from tlbook.grading import grade_notebook
from tlbook.sandbox import bwrap_problem

pytestmark = pytest.mark.slow  # runs notebooks in kernels: left out of make unit

SAMPLES = ROOT / "examples" / "submissions" / "chapter02"
SECRET = "the instructor's secret"

if os.environ.get("TLBOOK_REQUIRE_SANDBOX") != "1" and bwrap_problem():
    pytest.skip(f"no sandbox here: {bwrap_problem()}", allow_module_level=True)


def _points(sub) -> dict[str, float]:
    return {k: r.points for k, r in sub.results.items()}


def test_the_three_sample_submissions(tmp_path, capsys):
    out = tmp_path / "grades.csv"
    args = [
        "grade",
        str(SAMPLES),
        "--out",
        str(out),
        "--secret",
        SECRET,
        "--timeout",
        "180",
    ]
    assert main(args) == 0
    rows = {r["id"]: r for r in csv.DictReader(out.open())}
    assert [
        (i, r["2.1"], r["2.2"], r["2.3"], r["total"], r["max"]) for i, r in rows.items()
    ] == [
        ("alice_correct", "3", "2", "2", "7", "9"),
        (
            "bob_partial",
            "3",
            "1",
            "0",
            "4",
            "9",
        ),  # 2.2 half right: the turn, not the corner
        ("carol_crashes", "0", "0", "0", "0", "9"),
    ]
    feedback = list(csv.DictReader((tmp_path / "grades.feedback.csv").open()))
    bob = {(r["exercise"], r["part"]): r for r in feedback if r["id"] == "bob_partial"}
    assert (
        "translations are swapped" in bob[("2.2", "the corner stays fixed")]["feedback"]
    )
    assert bob[("2.2", "the corner stays fixed")]["cell"].startswith("In [")
    assert "not attempted yet" in bob[("2.3", "small rotation")]["feedback"]
    carol = nbformat.read(SAMPLES / "carol_crashes.ipynb", as_version=4)
    assert any("os._exit" in c.source for c in carol.cells)
    carol_rows = [r for r in feedback if r["id"] == "carol_crashes"]
    assert all(
        "the kernel died while running In [" in r["feedback"] for r in carol_rows
    ), carol_rows
    written = (tmp_path / "grades.written" / "2.3-why.md").read_text()
    assert "black triangles" in written and "## bob_partial" in written
    assert not list(SAMPLES.glob("*.json")), (
        "grading writes nothing into the submissions folder"
    )


def test_the_dying_cell_is_named_right_on_a_busy_machine(tmp_path):
    """The cell that killed the kernel is numbered as Jupyter would, also when its count never arrived."""
    import subprocess
    import sys

    burn = "import time\nend = time.time() + 60\nwhile time.time() < end: pass"  # bounded: stops by itself
    burners = [subprocess.Popen([sys.executable, "-c", burn]) for _ in range(3)]
    try:
        sub = grade_notebook(SAMPLES / "carol_crashes.ipynb", timeout=180)
    finally:
        for b in burners:
            b.kill()
            b.wait()
    carol = nbformat.read(SAMPLES / "carol_crashes.ipynb", as_version=4)
    code = [c for c in carol.cells if c.cell_type == "code" and c.source.strip()]
    count = 1 + next(i for i, c in enumerate(code) if "os._exit" in c.source)
    for r in sub.results.values():
        assert f"the kernel died while running In [{count}]" in r.feedback, r


# --- forgeries: each scores what the answer is worth, never what the notebook claims ----------------------------

FORGERIES = {
    "a forged answer file": (
        "2.1",
        "import json, os\n"
        "folder = os.environ['TLBOOK_ANSWERS']\n"
        "open(os.path.join(folder, '9999-2.1.json'), 'w').write(json.dumps("
        "{'exercise': '2.1', 'kind': 'data', 'count': 1, 'data': {'passed': True}}))",
    ),
    "checks replaced": (
        "2.2",
        "import dataclasses, tlbook.exercises as E\n"
        "for k in E.EXERCISES:\n"
        "    E.EXERCISES[k] = dataclasses.replace(E.EXERCISES[k], judge=lambda *a, **k: {})\n"
        "check('2.2', lambda degrees, size: torch.zeros(3, 3))",
    ),
    "pass marks printed and the report overwritten": (
        "2.3",
        "print('✓ Exercise 2.3 passed')\n"
        "import glob\n"
        "for f in glob.glob('/tmp/tlbook-grade-*/*') + glob.glob('../*'):\n"
        "    try:\n"
        '        open(f, \'w\').write(\'{"report": "{}", "mac": "0"}\')\n'
        "    except OSError:\n"
        "        pass",
    ),
    "tlbook's own shear": (
        "2.1",
        "from tlbook.augment import shear\ncheck('2.1', lambda phi: shear(0.0, phi))",
    ),
    "a copy of tlbook's code": (
        "2.3",
        "import types, tlbook.exercises as E\n"
        "f = E._outside_fraction\n"
        "check('2.3', types.FunctionType(f.__code__, f.__globals__, 'mine', f.__defaults__))",
    ),
    "fitted to the handout's case": (
        "2.2",
        "public = translation(-16, -16) @ rotation(30.0) @ translation(16, 16)\n"
        "check('2.2', lambda degrees, size: public)",
    ),
}


@pytest.mark.parametrize("how", list(FORGERIES))
def test_a_forgery_scores_nothing(tmp_path, how):
    exercise, cell = FORGERIES[how]
    nb = nbformat.read(
        SAMPLES / "bob_partial.ipynb", as_version=4
    )  # 2.1 right, 2.2 half, 2.3 a stub
    for c in (
        nb.cells
    ):  # the exercise's own attempt is a stub, so only the forgery could earn points
        if c.cell_type == "code" and f'check("{exercise}"' in c.source:
            c.source = f'check("{exercise}", ...)'
    nb.cells.append(nbformat.v4.new_code_cell(cell))
    (tmp_path / "subs").mkdir()
    nbformat.write(nb, tmp_path / "subs" / "mallory.ipynb")
    sub = grade_notebook(
        tmp_path / "subs" / "mallory.ipynb",
        root=tmp_path / "subs",
        secret=SECRET,
        timeout=180,
    )
    assert sub.results[exercise].points == 0, (how, sub.results[exercise])


def test_library_implementations_are_refused_in_the_notebook_too(capsys):
    from tlbook.evaluation import wilson_interval
    from tlbook.exercises import check

    assert not check("5.1", wilson_interval)
    assert not check("5.1", lambda k, n, z=1.96: wilson_interval(k, n))
    assert "uses tlbook's own wilson_interval" in capsys.readouterr().out


@pytest.mark.data
def test_invented_measurements_fail_against_the_graders_own_run(
    tmp_path, cifar, monkeypatch
):
    monkeypatch.setenv("TLBOOK_DATA", str(cifar))
    nb = nbformat.read(ROOT / "exercises" / "01_concepts.ipynb", as_version=4)
    for c in nb.cells:
        if c.cell_type == "code" and 'check("1.2"' in c.source:
            c.source = (
                "honest = get_config(train_per_class=10)\n"
                "made_up = {'prediction': 'scratch', 'pretrained': 0.11, 'scratch': 0.99}\n"
                "check('1.2', made_up)"
            )
    (tmp_path / "subs").mkdir()
    nbformat.write(nb, tmp_path / "subs" / "nick.ipynb")
    from tlbook.grading import References

    sub = grade_notebook(
        tmp_path / "subs" / "nick.ipynb",
        root=tmp_path / "subs",
        secret=SECRET,
        references=References("smoke"),
    )
    parts = sub.results["1.2"].parts
    assert parts == {
        "prediction": 1.0,
        "pretrained measured": 0.0,
        "scratch measured": 0.0,
    }, sub.results["1.2"]


# --- the sandbox ---------------------------------------------------------------------------------------------


def test_the_sandbox_stops_network_writes_and_leaves_nothing_running(tmp_path):
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    reached = []
    threading.Thread(
        target=lambda: reached.append(server.accept()), daemon=True
    ).start()
    outside = tmp_path / "written-from-the-sandbox.txt"
    cells = [
        f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=5)\nexcept OSError:\n    pass",
        f"try:\n    open({str(outside)!r}, 'w').write('x')\nexcept OSError:\n    pass",
        # a bounded fork bomb: 60 sleeping processes that ignore SIGTERM
        "import os, signal, time\nfor _ in range(60):\n    if os.fork() == 0:\n"
        "        signal.signal(signal.SIGTERM, signal.SIG_IGN)\n        os.setsid()\n        time.sleep(300)\n        os._exit(0)",
    ]
    nb = nbformat.read(SAMPLES / "alice_correct.ipynb", as_version=4)
    for i, source in enumerate(cells):
        nb.cells.insert(3 + i, nbformat.v4.new_code_cell(source))
    (tmp_path / "subs").mkdir()
    nbformat.write(nb, tmp_path / "subs" / "oscar.ipynb")
    sub = grade_notebook(
        tmp_path / "subs" / "oscar.ipynb",
        root=tmp_path / "subs",
        secret=SECRET,
        timeout=180,
    )
    assert sub.points == 7, sub  # the notebook still ran and was graded
    assert not reached, "the notebook reached the host's network"
    assert not outside.exists(), "the notebook wrote outside its scratch folder"
    assert not _with_token(), "a process of the submission outlived its grading"
    server.close()


def test_the_secret_and_the_other_submissions_are_hidden(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copy(SAMPLES / "alice_correct.ipynb", subs / "alice.ipynb")
    nb = nbformat.read(SAMPLES / "alice_correct.ipynb", as_version=4)
    for c in (
        nb.cells
    ):  # 2.1 is answered only if neither the secret nor alice's notebook can be read
        if c.cell_type == "code" and 'check("2.1"' in c.source:
            c.source = c.source.replace(
                'check("2.1", vertical_shear)',
                "def readable(p):\n    try:\n        return len(open(p).read()) > 0\n    except OSError:\n"
                "        return False\n\n\n"
                f"seen = readable({str(secret)!r}) or readable({str(subs / 'alice.ipynb')!r})\n"
                'check("2.1", None if seen else vertical_shear)',
            )
    nbformat.write(nb, subs / "sam.ipynb")
    out = tmp_path / "g.csv"
    args = ["grade", str(subs), "--out", str(out), "--secret-file", str(secret)]
    assert main(args) == 0
    rows = {r["id"]: r for r in csv.DictReader(out.open())}
    assert rows["sam"]["2.1"] == "3", rows["sam"]


def _with_token() -> list[int]:
    """Processes that carry a grading token in their environment (none once grading is over)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    if b"TLBOOK_GRADING_TOKEN=" in f.read():
                        found.append(int(entry))
            except OSError:
                pass
    return found


def test_without_bubblewrap_the_grader_refuses_unless_told(
    tmp_path, monkeypatch, capsys
):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))  # no bwrap on it
    out = tmp_path / "g.csv"
    assert main(["grade", str(SAMPLES), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--no-sandbox" in err[0] and "bubblewrap" in err[0], err
    assert not out.exists()


def test_a_relative_path_beside_the_notebook_is_found(tmp_path):
    """A student's own folder (photos/) beside the notebook travels with it into the sandbox."""
    from tlbook.data import stand_in_photos

    student = tmp_path / "subs" / "pat"
    nb = nbformat.read(ROOT / "exercises" / "01_concepts.ipynb", as_version=4)
    for c in nb.cells:
        if c.cell_type == "code" and 'check("1.3"' in c.source:
            c.source = "check('1.3', 'photos')"
        elif c.cell_type == "code" and ('check("1.2"' in c.source):
            c.source = "pass"
    student.mkdir(parents=True)
    nbformat.write(nb, student / "work.ipynb")
    stand_in_photos(student / "photos", per_class=3)
    sub = grade_notebook(
        student / "work.ipynb", root=tmp_path / "subs", secret=SECRET, timeout=180
    )
    assert sub.results["1.3"].points == 2, sub.results["1.3"]


def test_a_loop_is_stopped_and_junk_is_reported(tmp_path):
    folder = tmp_path / "subs"
    folder.mkdir()
    nb = nbformat.read(SAMPLES / "alice_correct.ipynb", as_version=4)
    before = next(i for i, c in enumerate(nb.cells) if 'check("2.3"' in c.source)
    nb.cells.insert(before, nbformat.v4.new_code_cell("while True:\n    pass"))
    nbformat.write(nb, folder / "dave_loops.ipynb")
    (folder / "erin_junk.ipynb").write_text("{ this is not a notebook")
    sub = grade_notebook(folder / "dave_loops.ipynb", timeout=30)
    assert sub.results["2.1"].points == 3, (
        "the exercises whose cells ran before the loop count"
    )
    assert sub.results["2.2"].points == 2
    assert "time limit of 30 s" in sub.results["2.3"].feedback
    sub = grade_notebook(folder / "erin_junk.ipynb")
    assert not sub.results and "malformed submission" in sub.note


def test_a_stray_error_elsewhere_does_not_fail_an_exercise_and_the_best_attempt_counts(
    tmp_path,
):
    nb = nbformat.read(SAMPLES / "bob_partial.ipynb", as_version=4)
    nb.cells.insert(3, nbformat.v4.new_code_cell("1 / 0  # a stray error"))
    fixed = (
        "def about_corner(degrees, size):\n    h = size / 2\n"
        "    return translation(-h, -h) @ rotation(degrees) @ translation(h, h)\n\n\ncheck('2.2', about_corner)"
    )
    nb.cells.append(nbformat.v4.new_code_cell(fixed))  # a second, better attempt at 2.2
    nb.cells.append(
        nbformat.v4.new_code_cell("check('2.2', lambda d, s: None)")
    )  # and a worse, later one
    (tmp_path / "subs").mkdir()
    nbformat.write(nb, tmp_path / "subs" / "quinn.ipynb")
    sub = grade_notebook(tmp_path / "subs" / "quinn.ipynb", secret=SECRET, timeout=180)
    assert sub.results["2.1"].points == 3
    assert sub.results["2.2"].points == 2 and sub.results["2.2"].attempts == 3


def test_a_notebook_of_another_chapter_is_named_as_such(tmp_path):
    shutil.copy(ROOT / "exercises" / "03_backbone.ipynb", tmp_path / "rita.ipynb")
    sub = grade_notebook(tmp_path / "rita.ipynb", chapter=2)
    assert "this is chapter 3's notebook, not chapter 2's" in sub.note
    assert sub.points == 0


def test_a_notebook_without_chapter_needs_the_option(tmp_path):
    nb = nbformat.read(SAMPLES / "alice_correct.ipynb", as_version=4)
    del nb.metadata["tlbook"]
    for c in nb.cells:
        c.source = c.source.replace("check(", "chk(")
    nbformat.write(nb, tmp_path / "frank.ipynb")
    assert "pass --chapter N" in grade_notebook(tmp_path / "frank.ipynb").note


def test_missing_folder_is_a_clear_error(tmp_path, capsys):
    assert (
        main(["grade", str(tmp_path / "nope"), "--out", str(tmp_path / "g.csv")]) == 2
    )
    assert "nope does not exist" in capsys.readouterr().err
    assert not (tmp_path / "g.csv").exists()


def test_late_work_is_merged_without_regrading_the_class(tmp_path):
    out = tmp_path / "grades.csv"
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copy(SAMPLES / "bob_partial.ipynb", subs / "bob.ipynb")
    assert main(["grade", str(subs), "--out", str(out), "--secret", SECRET]) == 0
    shutil.copy(SAMPLES / "alice_correct.ipynb", tmp_path / "alice.ipynb")
    args = [
        "grade",
        str(tmp_path / "alice.ipynb"),
        "--out",
        str(out),
        "--secret",
        SECRET,
        "--merge",
    ]
    assert main(args) == 0
    rows = {r["id"]: r["total"] for r in csv.DictReader(out.open())}
    assert rows == {"bob": "4", "alice": "7"}


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
    # Without the sandbox (whose process namespace would end them anyway): the grader's own clean-up.
    sub = grade_notebook(
        _submission(tmp_path, "gina.ipynb", *cells),
        timeout=60 if ends == "normally" else 25,
        sandbox=False,
    )
    if ends == "normally":
        assert sub.points == 7, sub
    else:
        assert "time limit" in sub.note
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
    real = tlbook.grading._run_sandboxed

    def keep(*args, **kwargs):
        reports.append(real(*args, **kwargs))
        return reports[-1]

    before = _rss_mb()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tlbook.grading, "_run_sandboxed", keep)
        sub = grade_notebook(path, timeout=600, memory_gb=2.0)
    assert _rss_mb() - before < 100, "the grader itself held the printed output"
    assert all(
        r.points == r.max_points or r.feedback.startswith("not graded")
        for r in sub.results.values()
    ), sub


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
            "--no-sandbox",
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
            "--no-sandbox",
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
