"""How long the grader takes for a class: N solved copies of a chapter's handout, graded with --jobs J.

The instructors' goal is a class of 40 in at most 5 minutes on 2 cores in the
``smoke`` preset. This makes ``--students`` copies of the chapter's student
notebook with the book's solutions filled in (``tools/build_notebooks.py``),
grades them with the sandboxed grader and prints the wall time, the time per
submission and the ratio to the 300-second goal (below 1 meets it). Every
copy must earn full marks: a benchmark of a broken grader is no benchmark.

    python benchmarks/grading_speed.py --chapter 1 --jobs 2
    python benchmarks/grading_speed.py --chapter 1 --jobs 2 --out src/tlbook/results/grading-speed-cpu.json

Run it on a quiet machine: the time is the machine's, not only the grader's.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import build_notebooks as builder  # noqa: E402 - tools/ is not a package

from tlbook.devices import machine_description  # noqa: E402
from tlbook.files import write_json_atomic  # noqa: E402
from tlbook.grading import References, check_sandbox, grade_many  # noqa: E402

GOAL_SECONDS = 300.0  # 40 students of any chapter, 2 cores, smoke preset


def solved_handout(chapter: int) -> nbformat.NotebookNode:
    """The chapter's student notebook with every stub replaced by the book's solution."""
    source = next((ROOT / "chapters").glob(f"{chapter:02d}_*.py"))
    cells = builder.parse_percent(source.read_text())
    solutions = {
        builder.exercise_id(c): builder.solution_code(c.source)
        for c in cells
        if "exercise" in c.metadata.get("tags", [])
    }
    nb = builder.student_notebook(source)
    for cell in nb.cells:
        if cell.cell_type == "code" and 'check("' in cell.source:
            cell.source = solutions[builder.exercise_id(cell)]
    return nb


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chapter", type=int, default=1)
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", help="also write the measurement to this JSON file")
    args = parser.parse_args()
    check_sandbox(True)
    nb = solved_handout(args.chapter)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = []
        for i in range(args.students):
            paths.append(root / f"student{i:02d}.ipynb")
            nbformat.write(nb, paths[-1])
        references = References("smoke")
        start = time.perf_counter()
        subs = grade_many(
            paths,
            root=root,
            jobs=args.jobs,
            verbose=False,
            chapter=args.chapter,
            secret="benchmark",
            references=references,
        )
        seconds = time.perf_counter() - start
    short = [s.name for s in subs if s.points < s.max_points]
    if short:
        print(f"not full marks: {short[:3]} ({subs[0].results})", file=sys.stderr)
        return 1
    result = {
        "chapter": args.chapter,
        "students": args.students,
        "jobs": args.jobs,
        "seconds": round(seconds, 1),
        "seconds_per_student": round(seconds / args.students, 2),
        "goal_seconds_for_40": GOAL_SECONDS,
        "ratio_to_goal": round(seconds / args.students * 40 / GOAL_SECONDS, 3),
        "machine": machine_description("cpu"),
        "date": time.strftime("%Y-%m-%d"),
    }
    print(
        f"chapter {args.chapter}: {args.students} students in {seconds:.0f} s with --jobs {args.jobs} "
        f"({seconds / args.students:.1f} s each); 40 would take {result['ratio_to_goal']:.2f} of the "
        f"{GOAL_SECONDS:.0f} s goal"
    )
    if args.out:  # one row per chapter and --jobs, the newest kept
        import json

        saved = (
            json.loads(Path(args.out).read_text())
            if Path(args.out).exists()
            else {"rows": []}
        )
        rows = [
            r
            for r in saved["rows"]
            if (r["chapter"], r["jobs"]) != (args.chapter, args.jobs)
        ]
        rows.append(result)
        write_json_atomic(
            args.out, {"rows": sorted(rows, key=lambda r: (r["chapter"], r["jobs"]))}
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
