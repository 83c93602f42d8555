"""Write three sample submissions of chapter 2's exercises for the instructors' page and the grader's test.

    python tools/make_sample_submissions.py   # -> examples/submissions/chapter02/*.ipynb

* ``alice_correct.ipynb`` -- every exercise solved (the book's solutions);
* ``bob_partial.ipynb`` -- 2.1 solved, 2.2 with the translations swapped, 2.3 untouched, a written answer;
* ``carol_crashes.ipynb`` -- a cell that kills the kernel before any check runs.
"""

from __future__ import annotations

from pathlib import Path

import build_notebooks as builder  # beside this script
import nbformat

ROOT = Path(__file__).resolve().parents[1]

SOURCE = ROOT / "chapters" / "02_augmentation.py"
OUT = ROOT / "examples" / "submissions" / "chapter02"


def solved(
    nb: nbformat.NotebookNode, solutions: dict[str, str], ids: list[str]
) -> nbformat.NotebookNode:
    """Replace the stub cells of exercises ``ids`` by the book's solution code."""
    for cell in nb.cells:
        if cell.cell_type == "code" and 'check("' in cell.source:
            ex = builder.exercise_id(cell)
            if ex in ids:
                cell.source = solutions[ex]
    return nb


def sample_submissions() -> dict[str, nbformat.NotebookNode]:
    """The three submissions, by name (tests/test_notebooks.py checks the committed files against them)."""
    cells = builder.parse_percent(SOURCE.read_text())
    solutions = {
        builder.exercise_id(c): builder.solution_code(c.source)
        for c in cells
        if "exercise" in c.metadata.get("tags", [])
    }

    alice = solved(builder.student_notebook(SOURCE), solutions, list(solutions))
    bob = solved(builder.student_notebook(SOURCE), solutions, ["2.1"])
    for cell in bob.cells:
        if cell.cell_type == "code" and 'check("2.2"' in cell.source:
            cell.source = (
                "def about_corner(degrees, size):\n"
                "    h = size / 2\n"
                "    return translation(h, h) @ rotation(degrees) @ translation(-h, -h)\n"
                "\n\n"
                'check("2.2", about_corner)'
            )
        written = cell.get("metadata", {}).get("tlbook", {}).get("written")
        if written == "2.3 why":
            cell.source = cell.source.replace(
                "*Write your answer here.*",
                "The black corners teach the network that objects come with black"
                " triangles; flips and crops keep every pixel real.",
            )
    carol = solved(builder.student_notebook(SOURCE), solutions, list(solutions))
    setup = next(
        i
        for i, c in enumerate(carol.cells)
        if c.cell_type == "code"
        and "import" in c.source
        and "google.colab" not in c.source
    )
    crash = nbformat.v4.new_code_cell(
        "import os\n\nos._exit(1)  # a student's experiment that kills the kernel"
    )
    crash.id = "carol-crash"
    carol.cells.insert(setup + 1, crash)
    out = {"alice_correct": alice, "bob_partial": bob, "carol_crashes": carol}
    for nb in out.values():
        nb.metadata["tlbook"].update(
            builder.generated_marker(SOURCE, "python tools/make_sample_submissions.py")
        )
    return out


def main() -> None:
    for name, nb in sample_submissions().items():
        builder.write_notebook(nb, OUT / f"{name}.ipynb")
        print(f"wrote {(OUT / f'{name}.ipynb').relative_to(ROOT)}")


if __name__ == "__main__":
    main()
