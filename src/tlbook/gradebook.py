"""From graded submissions to what a teacher files: a roster, points, gradebook exports, written answers.

Everything is derived from one JSON file beside the CSV (``grades.json``), so
late work (``--merge``) and hand-marked written answers (``--manual``) are
added to it and every export is written again, consistently:

- ``grades.csv``: one row per student, a column per exercise (points), one
  per written question, the total and the maximum, and a status;
- ``grades.feedback.csv``: one row per student, exercise and part, with the
  cell of the attempt that counts and the feedback, for comments;
- ``grades.gradebook.csv``: the total in the columns Canvas's Gradebook
  import needs (``Student``, ``ID``, ``SIS User ID``, ``SIS Login ID``,
  ``Section``, then the assignment); Moodle's CSV import maps ``ID`` (or
  ``SIS Login ID``) to a user field and the assignment column to a grade item;
- ``grades.written/``: one Markdown document per written question, a section
  per student, and ``manual.csv`` to fill in and merge back with ``--manual``;
- with ``--gradescope``, Gradescope's ``results.json`` per submission.

>>> roster = [Student("s1", "Ada", "ada*")]
>>> match(["ada_ch2.ipynb", "bob.ipynb"], roster)
({'s1': ['ada_ch2.ipynb']}, ['bob.ipynb'])
"""

from __future__ import annotations

import csv
import fnmatch
import io
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .errors import GradingError
from .files import atomic_folder, atomic_path, show
from .grading import ExerciseResult, Submission

__all__ = [
    "Student",
    "read_roster",
    "match",
    "Gradebook",
    "load",
    "write_all",
]

# Columns a roster may have; id and name are required, pattern defaults to "<id>*".
ROSTER_COLUMNS = ("id", "name", "pattern", "section", "sis_login_id")


@dataclass(frozen=True)
class Student:
    """One line of the roster."""

    id: str
    name: str
    pattern: str  # which submitted files are this student's (a glob on the path inside the folder)
    section: str = ""
    sis_login_id: str = ""


def read_roster(path: str | Path) -> list[Student]:
    """The roster CSV ``path`` (columns ``id``, ``name`` and optionally ``pattern``, ``section``, ``sis_login_id``).

    Refused with the line at fault: a missing column, an empty or repeated id.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise GradingError(f"the roster {show(path)} cannot be read ({e})") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in ("id", "name") if c not in header]
    if missing:
        raise GradingError(
            f"the roster {show(path)} has no column {', '.join(missing)}; its first line must name the "
            f"columns ({', '.join(ROSTER_COLUMNS)}; id and name required)"
        )
    students: list[Student] = []
    seen: set[str] = set()
    for line, row in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        if not any(row.values()):
            continue
        sid = row.get("id", "")
        if not sid:
            raise GradingError(f"the roster {show(path)}, line {line}: the id is empty")
        if sid in seen:
            raise GradingError(
                f"the roster {show(path)}, line {line}: the id {sid!r} appears twice"
            )
        seen.add(sid)
        students.append(
            Student(
                sid,
                row.get("name", ""),
                row.get("pattern") or f"{sid}*",
                row.get("section", ""),
                row.get("sis_login_id", ""),
            )
        )
    return students


def match(
    files: list[str], roster: list[Student]
) -> tuple[dict[str, list[str]], list[str]]:
    """Each student's files (by the roster's patterns, letter case ignored) and the files nobody claims."""
    owned: dict[str, list[str]] = {s.id: [] for s in roster}
    unclaimed = []
    for f in files:
        owners = [s for s in roster if fnmatch.fnmatch(f.lower(), s.pattern.lower())]
        if owners:
            owned[owners[0].id].append(f)
        else:
            unclaimed.append(f)
    return owned, unclaimed


@dataclass
class Gradebook:
    """Everything the exports are written from (saved as ``grades.json``)."""

    chapter: int | None
    exercises: list[dict[str, Any]]  # {"id", "points", "parts": {name: points}}
    written: list[dict[str, Any]]  # {"key", "prompt", "points"}
    submissions: dict[str, dict[str, Any]]  # by file name: asdict(Submission)
    roster: list[dict[str, str]]  # asdict(Student); empty without a roster
    manual: dict[str, dict[str, float]]  # by student id: {written key: points}
    secret_used: bool

    @staticmethod
    def new(
        chapter: int | None, roster: list[Student], *, secret_used: bool
    ) -> Gradebook:
        from .exercises import exercises_of

        exercises = exercises_of(chapter) if chapter is not None else []
        return Gradebook(
            chapter,
            [
                {
                    "id": e.id,
                    "points": e.points,
                    "parts": {p.name: p.points for p in e.parts},
                }
                for e in exercises
            ],
            [
                {"key": w.key, "prompt": w.prompt, "points": w.points}
                for e in exercises
                for w in e.written
            ],
            {},
            [asdict(s) for s in roster],
            {},
            secret_used,
        )

    def add(self, sub: Submission) -> None:
        """Add or replace one submission (late work replaces the student's earlier file of the same name)."""
        self.submissions[sub.name] = asdict(sub)

    def students(self) -> list[dict[str, Any]]:
        """One entry per student: id, name, their files, their best submission, and a status."""
        files = list(self.submissions)
        if self.roster:
            roster = [Student(**s) for s in self.roster]
            owned, _ = match(files, roster)
            people = [(s, owned[s.id]) for s in roster]
        else:
            people = [(Student(Path(f).stem, "", f), [f]) for f in files]
        out = []
        for student, theirs in people:
            subs = [self.submissions[f] for f in theirs]
            best = max(subs, key=_total, default=None)
            status = "no submission" if best is None else (best["note"] or "graded")
            if len(subs) > 1:
                status += f"; {len(subs)} files ({', '.join(theirs)}): the best counts"
            out.append(
                {"student": student, "files": theirs, "best": best, "status": status}
            )
        return out

    def unclaimed(self) -> list[str]:
        if not self.roster:
            return []
        return match(list(self.submissions), [Student(**s) for s in self.roster])[1]

    def max_points(self) -> float:
        return sum(e["points"] for e in self.exercises) + sum(
            w["points"] for w in self.written
        )


def _total(sub: dict[str, Any]) -> float:
    return sum(r["points"] for r in sub["results"].values())


def load(path: str | Path) -> Gradebook:
    """The gradebook saved beside a grade sheet (``--merge``, ``--manual``)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Gradebook(**data)
    except (OSError, ValueError, TypeError) as e:
        raise GradingError(
            f"{show(path)} is not a grade book this grader wrote ({type(e).__name__}); grade the class "
            "first, without --merge"
        ) from None


def read_manual(path: str | Path, book: Gradebook) -> dict[str, dict[str, float]]:
    """Hand-marked points from ``path`` (columns ``id``, ``question``, ``points``), checked against the book."""
    path = Path(path)
    try:
        rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    except (OSError, UnicodeDecodeError) as e:
        raise GradingError(
            f"the manual scores {show(path)} cannot be read ({e})"
        ) from None
    questions = {w["key"]: w["points"] for w in book.written}
    ids = {s["student"].id for s in book.students()}
    scores: dict[str, dict[str, float]] = {}
    for line, row in enumerate(rows, start=2):
        sid, key, value = (
            (row.get(k, "") or "").strip() for k in ("id", "question", "points")
        )
        if not value:
            continue  # not marked yet
        where = f"the manual scores {show(path)}, line {line}"
        if sid not in ids:
            raise GradingError(f"{where}: no student has the id {sid!r}")
        if key not in questions:
            raise GradingError(
                f"{where}: there is no written question {key!r} (known: {', '.join(questions)})"
            )
        try:
            points = float(value)
        except ValueError:
            raise GradingError(f"{where}: points {value!r} is not a number") from None
        if not (math.isfinite(points) and 0 <= points <= questions[key]):
            raise GradingError(
                f"{where}: points {value} is outside 0..{questions[key]:g} for {key}"
            )
        scores.setdefault(sid, {})[key] = points
    return scores


# --- exports ------------------------------------------------------------------------------------------------------


def _csv(rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow(
            [
                (f"{c:g}" if isinstance(c, float) else str(c))
                .encode("utf-8", "backslashreplace")
                .decode()
                for c in row
            ]
        )
    return buffer.getvalue()


def grades_rows(book: Gradebook) -> list[list[Any]]:
    """The main sheet: a row per student, a column per exercise and written question, total and maximum."""
    ex_ids = [e["id"] for e in book.exercises]
    keys = [w["key"] for w in book.written]
    rows: list[list[Any]] = [
        ["id", "name", "files", *ex_ids, *keys, "total", "max", "status"]
    ]
    for s in book.students():
        student, best = s["student"], s["best"]
        points = [
            float(best["results"][e]["points"])
            if best and e in best["results"]
            else 0.0
            for e in ex_ids
        ]
        manual = book.manual.get(student.id, {})
        written = [manual[k] if k in manual else "" for k in keys]
        total = sum(points) + sum(v for v in written if isinstance(v, float))
        rows.append(
            [
                student.id,
                student.name,
                " ".join(s["files"]),
                *points,
                *written,
                total,
                book.max_points(),
                s["status"],
            ]
        )
    return rows


def feedback_rows(book: Gradebook) -> list[list[Any]]:
    """The long sheet: a row per student, exercise and part, with the cell that counts and the feedback."""
    rows: list[list[Any]] = [
        [
            "id",
            "file",
            "exercise",
            "part",
            "points",
            "max",
            "cell",
            "attempts",
            "feedback",
        ]
    ]
    for s in book.students():
        best = s["best"]
        for e in book.exercises:
            r = (
                ExerciseResult(**best["results"][e["id"]])
                if best and e["id"] in best["results"]
                else None
            )
            for part, most in e["parts"].items():
                rows.append(
                    [
                        s["student"].id,
                        best["name"] if best else "",
                        e["id"],
                        part,
                        float(r.parts.get(part, 0.0)) if r else 0.0,
                        float(most),
                        r.cell if r else "",
                        r.attempts if r else 0,
                        (r.problems.get(part, "") if r else s["status"]),
                    ]
                )
    return rows


def gradebook_rows(book: Gradebook, assignment: str) -> list[list[Any]]:
    """Canvas's and Moodle's import: Student, ID, SIS User ID, SIS Login ID, Section, the assignment's total."""
    rows: list[list[Any]] = [
        ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", assignment]
    ]
    totals = {r[0]: r[-3] for r in grades_rows(book)[1:]}
    for s in book.students():
        st = s["student"]
        rows.append(
            [st.name or st.id, st.id, st.id, st.sis_login_id, st.section, totals[st.id]]
        )
    return rows


def gradescope_results(sub: dict[str, Any] | None, book: Gradebook) -> dict[str, Any]:
    """Gradescope's ``results.json`` for one submission: the score, and a test per exercise part."""
    tests = []
    for e in book.exercises:
        r = sub["results"].get(e["id"]) if sub else None
        for part, most in e["parts"].items():
            tests.append(
                {
                    "name": f"Exercise {e['id']}: {part}",
                    "score": float(r["parts"].get(part, 0.0)) if r else 0.0,
                    "max_score": float(most),
                    "output": r["problems"].get(part, "") if r else "no submission",
                    "visibility": "visible",
                }
            )
    return {
        "score": sum(t["score"] for t in tests),
        "output": (sub["note"] if sub else "no submission") or "graded by tlbook",
        "tests": tests,
    }


def written_documents(book: Gradebook) -> dict[str, str]:
    """One Markdown document per written question (a section per student), and the manual-scores template."""
    docs = {}
    students = book.students()
    for w in book.written:
        lines = [
            f"# {w['key']} ({w['points']:g} point{'s' if w['points'] != 1 else ''})",
            "",
            f"> {w['prompt']}",
            "",
        ]
        for s in students:
            st, best = s["student"], s["best"]
            answer = (best or {}).get("written", {}).get(w["key"], "")
            lines += [
                f"## {st.name or st.id} ({st.id})",
                "",
                answer or "*(no answer)*",
                "",
            ]
        docs[f"{w['key'].replace(' ', '-')}.md"] = "\n".join(lines)
    manual: list[list[Any]] = [["id", "name", "question", "points", "max"]]
    for s in students:
        for w in book.written:
            given = book.manual.get(s["student"].id, {}).get(w["key"], "")
            manual.append(
                [s["student"].id, s["student"].name, w["key"], given, w["points"]]
            )
    docs["manual.csv"] = _csv(manual)
    return docs


def summary(book: Gradebook) -> str:
    """Points per student, then per exercise, then the files no roster line claims."""
    lines = []
    for row in grades_rows(book)[1:]:
        lines.append(f"{row[0]}: {row[-3]:g} of {row[-2]:g} points ({row[-1]})")
    students = book.students()  # the roster matched once, not once per exercise
    for e in book.exercises:
        got = [
            s["best"]["results"][e["id"]]["points"]
            for s in students
            if s["best"] and e["id"] in s["best"]["results"]
        ]
        full = sum(1 for g in got if g >= e["points"])
        lines.append(
            f"exercise {e['id']}: full marks for {full} of {len(students)} students"
        )
    for f in book.unclaimed():
        lines.append(f"{f}: matches no student in the roster (not in the grade sheet)")
    if not book.secret_used:
        lines.append(
            "graded on the handouts' public cases (no --secret): a student could have fitted them"
        )
    return "\n".join(lines) + "\n"


def write_all(
    book: Gradebook, out: Path, *, assignment: str, gradescope: Path | None = None
) -> list[Path]:
    """Write every export beside ``out`` (each file whole or not at all); return the paths written."""
    written = []
    targets = {
        out.with_suffix(".json"): json.dumps(asdict(book), indent=1),
        out: _csv(grades_rows(book)),
        out.with_suffix(".feedback.csv"): _csv(feedback_rows(book)),
        out.with_suffix(".gradebook.csv"): _csv(gradebook_rows(book, assignment)),
        out.with_name(out.name + ".summary.txt"): summary(book),
    }
    for path, text in targets.items():
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
        written.append(path)
    folder = out.with_suffix(".written")
    with atomic_folder(folder) as tmp:
        for name, text in written_documents(book).items():
            (tmp / name).write_text(text, encoding="utf-8")
    written.append(folder)
    if gradescope is not None:
        if (
            gradescope.suffix == ".json"
        ):  # inside Gradescope's autograder: one submission
            if len(book.submissions) != 1:
                raise GradingError(
                    "--gradescope FILE.json takes one submission; give a folder for several"
                )
            sub = next(iter(book.submissions.values()))
            with atomic_path(gradescope) as tmp:
                tmp.write_text(
                    json.dumps(gradescope_results(sub, book), indent=1),
                    encoding="utf-8",
                )
        else:
            with atomic_folder(gradescope) as tmp:
                for s in book.students():
                    (tmp / f"{s['student'].id}.json").write_text(
                        json.dumps(gradescope_results(s["best"], book), indent=1),
                        encoding="utf-8",
                    )
        written.append(gradescope)
    return written
