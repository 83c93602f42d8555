"""Build the chapter notebooks in book/ from their sources in chapters/, and execute them.

Each chapter has one source, ``chapters/NN_name.py``, in jupytext's "percent"
format (read with jupytext): ``# %% [markdown]`` starts a markdown cell (its lines are comments),
``# %%`` starts a code cell, ``# %% tags=["nbval-check-output"]`` gives
the cell tags, and ``figure={"caption": ..., "name": ..., "alt": ...}`` on
the same line turns the cell's image into a numbered figure with alt text
(myst-nb's ``mystnb`` cell metadata). This script

1. puts the canonical Colab setup cell first among the code cells, right
   after the title (one text, built from the repository URL in ``_config.yml``),
2. writes ``book/NN_name.ipynb``,
3. executes it in a fresh kernel in the ``cpu`` preset (or ``--preset``),
   saving widget state so that widgets render in the static book, and records
   how long that took, on which machine, in the notebook's metadata
   (``tlbook.execution``): the time it took to make exactly those outputs;
4. writes that time into the chapter's opening box, between the markers
   ``<!-- runtime -->`` and ``<!-- /runtime -->`` of the source (so no
   runtime is typed; ``tools/claims.py`` quotes the same records in the
   README and the instructors' page).

The executed notebooks are committed; the book renders their outputs and
``make test`` re-runs them under nbval in the ``smoke`` preset.

Exercises come from the same source. The chapter's exercise section starts
with a code cell tagged ``exercise-setup`` (imports, ``check``); each
exercise is a markdown cell with its statement followed by a code cell
tagged ``exercise`` whose solution lies between ``# BEGIN SOLUTION`` and
``# END SOLUTION`` lines (``# BEGIN SOLUTION stub: answer = ...`` names the
stub; the default stub raises ``NotImplementedError``). In the book the
solution is shown folded, with the check's output; the student version,
``exercises/NN_name.ipynb`` (not executed), has the stubs instead.

    python tools/build_notebooks.py                 # all chapters, cpu preset
    python tools/build_notebooks.py 02_augmentation # one chapter
    python tools/build_notebooks.py --text-only     # after editing prose or code layout only: keep outputs
    python tools/build_notebooks.py --no-execute    # structure only
    python tools/build_notebooks.py --timings       # every chapter, one after another: what make timings runs
    python tools/build_notebooks.py --exercises-only  # the student notebooks only
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

from tlbook.exercises import EXERCISES as EXERCISES_BY_ID
from tlbook.exercises import Written
from tlbook.files import atomic_path

# The runtime box's text, shared with the book's Sphinx extension (which quotes it in each edition's language).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "_ext"))
from runtime_box import RUNTIME, busy, duration, runtime_text  # noqa: E402,F401 - _ext is not a package

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "chapters"
BOOK = ROOT / "book"
EXERCISES = ROOT / "exercises"  # student handouts: not part of the book, not executed
SOLUTION = re.compile(r"^(?P<indent>\s*)# BEGIN SOLUTION(?: stub: (?P<stub>.*))?$")
END_SOLUTION = re.compile(r"^\s*# END SOLUTION\s*$")


def repository_url() -> str:
    """``repository.url`` from _config.yml (read without a YAML dependency)."""
    text = (ROOT / "_config.yml").read_text()
    match = re.search(r"^repository:\s*\n\s+url:\s*(\S+)", text, flags=re.M)
    if not match:
        raise SystemExit("_config.yml has no repository.url; the Colab cell needs it")
    return match.group(1)


SETUP_MARKER = "# Setup: in Colab,"


def chapter_extras(source_text: str) -> str:
    """The optional extras a chapter's Colab install needs: ``[export]`` where it exports to ONNX.

    >>> chapter_extras("from tlbook.export import export_onnx"), chapter_extras("import torch")
    ('[export]', '')
    """
    return "[export]" if "tlbook.export" in source_text else ""


def colab_cell_source(extras: str = "") -> str:
    """The first code cell of every notebook: only inside Colab, installs tlbook (with ``extras``, e.g.
    ``"[export]"``) and says what the runtime is."""
    return (
        f"{SETUP_MARKER} install the book's library (Colab's own torch is kept) and say\n"
        "# what this runtime is: its device, and on a CPU how to switch to a GPU.\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        f'    %pip install --quiet "tlbook{extras} @ git+{repository_url()}"\n'
        "    from tlbook.devices import runtime_report\n"
        "\n"
        "    print(runtime_report())"
    )


def parse_percent(text: str) -> list[nbformat.NotebookNode]:
    """Cells from a percent-format script (read by jupytext), with tlbook's figure metadata made myst-nb's.

    A cell header ``# %% figure={"caption": ..., "name": ..., "alt": ...}``
    becomes myst-nb's ``mystnb`` metadata (a numbered figure with alt text);
    tags and everything else are jupytext's reading.
    """
    cells = jupytext.reads(text, fmt="py:percent").cells
    for cell in cells:
        figure = cell.metadata.pop("figure", None)
        if figure:
            cell.metadata["mystnb"] = {
                "figure": {"caption": figure["caption"], "name": figure["name"]},
                "image": {"alt": figure["alt"]},
            }
    return cells


def solution_code(source: str) -> str:
    """An exercise cell as the book shows it: the solution, without the markers."""
    return "\n".join(
        line
        for line in source.splitlines()
        if not (SOLUTION.match(line) or END_SOLUTION.match(line))
    )


def stub_code(source: str, exercise: str) -> str:
    """An exercise cell as students get it: each solution block replaced by its stub."""
    out, inside = [], False
    for line in source.splitlines():
        start = SOLUTION.match(line)
        if start:
            if inside:
                raise ValueError(f"exercise {exercise}: nested # BEGIN SOLUTION")
            inside = True
            stub = (
                start.group("stub")
                or f'raise NotImplementedError("Exercise {exercise}: replace this line with your code")'
            )
            out.append(start.group("indent") + stub)
        elif END_SOLUTION.match(line):
            if not inside:
                raise ValueError(
                    f"exercise {exercise}: # END SOLUTION without # BEGIN SOLUTION"
                )
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(
            f"exercise {exercise}: # BEGIN SOLUTION without # END SOLUTION"
        )
    return "\n".join(out)


def exercise_id(cell: nbformat.NotebookNode) -> str:
    """The id in the cell's ``check("N.M", ...)`` call."""
    match = re.search(r'check\("(\d+\.\d+)"', cell.source)
    if not match:
        raise ValueError(
            f'an exercise cell has no check("N.M", ...) call:\n{cell.source}'
        )
    return match.group(1)


def colab_cell(extras: str = "") -> nbformat.NotebookNode:
    colab = nbformat.v4.new_code_cell(colab_cell_source(extras))
    colab.metadata["tags"] = ["hide-input"]  # the rendered book shows it folded
    return colab


def cpu_seconds() -> tuple[float, float] | None:
    """(CPU seconds every process has used, CPU seconds this process and its reaped children have used).

    The first from Linux's ``/proc/stat`` (None elsewhere); their difference over a run is what other
    processes took from the machine meanwhile. The notebook's kernel is a child, reaped when it shuts down.
    """
    import resource

    try:
        with open("/proc/stat", encoding="ascii") as f:
            ticks = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal: all but idle and iowait is work.
    machine = (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
    own = sum(
        u.ru_utime + u.ru_stime
        for u in (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
    )
    return machine, own


def execution_record(
    seconds: float, *, preset: str, before: tuple[float, float] | None
) -> dict:
    """What ``tlbook.execution`` holds: the wall time of one fresh-kernel run, where it ran, and how much
    CPU time other processes took meanwhile (from :func:`cpu_seconds` before the run and now)."""
    from tlbook.devices import machine_description

    after = cpu_seconds()
    other = None
    if before is not None and after is not None:
        other = round(max(0.0, (after[0] - before[0]) - (after[1] - before[1])), 1)
    return {
        "seconds": round(seconds, 1),
        "preset": preset,
        "machine": machine_description("cpu"),
        "date": time.strftime("%Y-%m-%d"),
        "other_cpu_seconds": other,
    }


def quote_runtime(cells: list[nbformat.NotebookNode], execution: dict | None) -> None:
    """Write ``runtime_text(execution)`` between the runtime markers of every markdown cell."""
    for cell in cells:
        if cell.cell_type == "markdown":
            cell.source = RUNTIME.sub(
                lambda m: m[1] + runtime_text(execution) + m[3], cell.source
            )


def notebook_cells(
    source_text: str, execution: dict | None = None
) -> list[nbformat.NotebookNode]:
    """The chapter's cells with the Colab setup cell right after the opening markdown cell.

    Exercise cells show their solution (markers removed), folded in the book; the
    runtime markers hold ``runtime_text(execution)``.
    """
    cells = parse_percent(source_text)
    quote_runtime(cells, execution)
    for cell in cells:
        if "exercise" in cell.metadata.get("tags", []):
            cell.source = solution_code(cell.source)
            cell.metadata["tags"] = [*cell.metadata["tags"], "hide-input"]
    at = 1 if cells and cells[0].cell_type == "markdown" else 0
    return cells[:at] + [colab_cell(chapter_extras(source_text))] + cells[at:]


def generated_marker(source: Path, command: str) -> dict:
    """Notebook metadata that says the file is generated, from what, and how to rebuild it."""
    return {
        "generated_from": f"chapters/{source.name}",
        "rebuild": command,
        "note": "generated file: edit the source and rebuild, never this notebook",
    }


def write_notebook(nb: nbformat.NotebookNode, target: Path) -> None:
    """Write ``nb`` to ``target`` atomically (a failure leaves the old file)."""
    with atomic_path(target) as tmp:
        nbformat.write(nb, tmp)


def written_cell(question: Written) -> nbformat.NotebookNode:
    """A markdown cell for a written answer; the grader collects it by ``metadata.tlbook.written``."""
    when = (
        "before you run the cell below"
        if question.before
        else "after you ran the cell above"
    )
    cell = nbformat.v4.new_markdown_cell(
        f"**Your answer ({question.key}, {when}):** {question.prompt}\n\n"
        "*Write your answer here.*"
    )
    cell.metadata["tlbook"] = {"written": question.key}
    return cell


def student_notebook(source: Path) -> nbformat.NotebookNode:
    """The student version of a chapter's exercises: statements and stubs, not executed."""
    cells = parse_percent(source.read_text())
    title = cells[0].source.splitlines()[0].lstrip("# ").strip()
    starts = [
        i for i, c in enumerate(cells) if "exercise-setup" in c.metadata.get("tags", [])
    ]
    if not starts:
        raise ValueError(f"{source.name} has no code cell tagged exercise-setup")
    chapter = int(source.stem.split("_")[0])
    body, ids = [], []
    for cell in cells[starts[0] :]:
        cell = nbformat.from_dict(dict(cell))
        tags = cell.metadata.get("tags", [])
        after = []
        if "exercise" in tags:
            ids.append(exercise_id(cell))
            cell.source = stub_code(cell.source, ids[-1])
            questions = EXERCISES_BY_ID[ids[-1]].written
            body += [written_cell(w) for w in questions if w.before]
            after = [written_cell(w) for w in questions if not w.before]
        cell.metadata.pop("tags", None)
        body += [cell, *after]
    intro = nbformat.v4.new_markdown_cell(
        f"# Exercises, chapter {chapter}: {title}\n\n"
        "Complete each cell marked with `NotImplementedError` or `...`, then run it: "
        "`check(...)` says whether your answer passes and, if not, what is wrong. "
        "Run the setup cells first. The chapter itself explains everything used here."
    )
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["tlbook"] = {
        "chapter": chapter,
        "exercises": ids,
        **generated_marker(
            source, f"python tools/build_notebooks.py --exercises-only {source.stem}"
        ),
    }
    nb.cells = [intro, colab_cell(), *body]
    for i, cell in enumerate(nb.cells):
        cell.id = f"chapter{chapter}-cell{i}"  # stable ids: rebuilding changes nothing
    return nb


def write_student_notebook(source: Path) -> Path:
    target = EXERCISES / f"{source.stem}.ipynb"
    write_notebook(student_notebook(source), target)
    return target


def same_code(a: str, b: str) -> bool:
    """Whether two code cells run the same program: equal syntax trees, so only layout or comments differ.

    A reformatting (black) changes no output; a cell with IPython syntax (``%pip``) must match as text,
    except the generated setup cell, whose code runs only in Colab (no output here, whatever it says).

    >>> same_code("f(1,2)", "f(1, 2)  # a comment"), same_code("f(1, 2)", "f(2, 1)")
    (True, False)
    """
    if a.startswith(SETUP_MARKER) and b.startswith(SETUP_MARKER):
        # The setup cell acts only inside Colab: elsewhere it imports sys and prints nothing.
        return True
    try:
        return ast.dump(ast.parse(a)) == ast.dump(ast.parse(b))
    except SyntaxError:
        return a == b


def build(source: Path, *, execute: bool | str, preset: str, timeout: int) -> Path:
    """Write ``book/<stem>.ipynb``; ``execute="if-code-changed"`` re-runs only when a code cell changed."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = notebook_cells(source.read_text())
    marker = generated_marker(source, f"python tools/build_notebooks.py {source.stem}")
    target = BOOK / f"{source.stem}.ipynb"
    if execute == "if-code-changed" and target.exists():
        old = nbformat.read(target, as_version=4)
        if "execution" in old.metadata.get("tlbook", {}):
            marker["execution"] = old.metadata["tlbook"]["execution"]
            quote_runtime(nb.cells, marker["execution"])
        old_code = [c for c in old.cells if c.cell_type == "code"]
        new_code = [c for c in nb.cells if c.cell_type == "code"]
        if len(old_code) == len(new_code) and all(
            map(same_code, (c.source for c in old_code), (c.source for c in new_code))
        ):
            # Only the text (or the code's layout) changed: keep the executed outputs, re-run nothing.
            for new, prev in zip(new_code, old_code):
                new.outputs, new.execution_count = prev.outputs, prev.execution_count
                if "execution" in prev.metadata:
                    new.metadata["execution"] = prev.metadata["execution"]
            if len(old.cells) == len(
                nb.cells
            ):  # same structure: keep cell ids, so the diff shows only what changed
                for new, prev in zip(nb.cells, old.cells):
                    if "id" in prev:
                        new["id"] = prev["id"]
            nb.metadata = dict(old.metadata)
            execute = False
            print(f"{target.name}: code unchanged (same syntax trees), outputs kept")
    if execute:
        # The preset reaches the kernel through its environment; this process's stays as it was.
        env = {
            **os.environ,
            "TLBOOK_PRESET": preset,
            "MPLBACKEND": os.environ.get(
                "MPLBACKEND", "module://matplotlib_inline.backend_inline"
            ),
        }
        before = cpu_seconds()
        start = time.perf_counter()
        NotebookClient(
            nb,
            timeout=timeout,
            kernel_name="python3",
            store_widget_state=True,
            resources={"metadata": {"path": str(BOOK)}},
        ).execute(env=env)
        seconds = time.perf_counter() - start
        print(f"executed {target.name} in the {preset} preset in {seconds:.0f} s")
        marker["execution"] = execution_record(seconds, preset=preset, before=before)
        if busy(marker["execution"]):
            print(
                f"note: other processes ran meanwhile: {target.name}'s time is too long"
            )
        quote_runtime(nb.cells, marker["execution"])
    # Stored last: the notebook keeps a copy of the dict, so later changes to ``marker`` would be lost.
    nb.metadata["tlbook"] = marker
    write_notebook(nb, target)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "chapters", nargs="*", help="source names (default: all in chapters/)"
    )
    parser.add_argument(
        "--no-execute",
        action="store_true",
        help="write the notebook without running it",
    )
    parser.add_argument(
        "--text-only",
        action="store_true",
        help="keep the committed outputs when no code cell changed beyond its layout and comments "
        "(same syntax tree); re-execute otherwise",
    )
    parser.add_argument(
        "--exercises-only",
        action="store_true",
        help="write only the student notebooks in exercises/",
    )
    parser.add_argument(
        "--timings",
        action="store_true",
        help="execute every chapter named (default: all) even if its code is unchanged, one after "
        "another, and record each one's wall time (make timings); run it on a quiet machine",
    )
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--timeout", type=int, default=1200, help="seconds per cell")
    args = parser.parse_args()
    sources = sorted(SOURCES.glob("[0-9][0-9]_*.py"))
    if args.chapters:
        sources = [
            s
            for s in sources
            if s.stem in args.chapters or s.stem.split("_")[0] in args.chapters
        ]
        if not sources:
            raise SystemExit(f"no chapter source matches {args.chapters} in {SOURCES}")
    for source in sources:
        if not args.exercises_only:
            execute: bool | str = (
                "if-code-changed"
                if args.text_only and not args.timings
                else args.timings or not args.no_execute
            )
            build(source, execute=execute, preset=args.preset, timeout=args.timeout)
        print(f"wrote {write_student_notebook(source).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
