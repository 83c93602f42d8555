"""Rosters, points, exports parsed back, and merges: the gradebook without running a notebook."""

import csv
import json

import pytest

from tlbook.cli import main
from tlbook.errors import GradingError
from tlbook.gradebook import Gradebook, read_manual, read_roster, write_all
from tlbook.grading import ExerciseResult, Submission


def _sub(name: str, points: dict[str, float]) -> Submission:
    from tlbook.exercises import EXERCISES

    results = {}
    for ex_id, got in points.items():
        ex = EXERCISES[ex_id]
        parts, left = {}, got
        for p in ex.parts:  # fill parts in order until the points are used up
            parts[p.name] = min(p.points, left)
            left -= parts[p.name]
        problems = {p: "wrong" for p, v in parts.items() if v < ex.parts[0].points}
        results[ex_id] = ExerciseResult(
            ex_id,
            got,
            ex.points,
            parts,
            "wrong" if problems else "",
            problems,
            "In [4]",
            1,
        )
    return Submission(name, 2, results, written={"2.3 why": f"{name} thinks so"})


def _book(tmp_path, roster_text=None):
    roster = []
    if roster_text:
        (tmp_path / "roster.csv").write_text(roster_text)
        roster = read_roster(tmp_path / "roster.csv")
    book = Gradebook.new(2, roster, secret_used=True)
    book.add(_sub("ada_ch2.ipynb", {"2.1": 3, "2.2": 1, "2.3": 2}))
    book.add(_sub("stray.ipynb", {"2.1": 1, "2.2": 0, "2.3": 0}))
    return book


def test_roster_points_and_every_export_parse_back(tmp_path):
    book = _book(
        tmp_path, "id,name,pattern,section\ns1,Ada Lovelace,ada*,A\ns2,Bob,bob*,B\n"
    )
    out = tmp_path / "grades.csv"
    gradescope = tmp_path / "gradescope"
    write_all(book, out, assignment="Chapter 2", gradescope=gradescope)
    rows = {r["id"]: r for r in csv.DictReader(out.open())}
    assert (
        rows["s1"]["2.1"] == "3"
        and rows["s1"]["total"] == "6"
        and rows["s1"]["max"] == "9"
    )
    assert rows["s2"]["total"] == "0" and rows["s2"]["status"] == "no submission"
    assert (
        "stray.ipynb: matches no student"
        in out.with_name("grades.csv.summary.txt").read_text()
    )
    canvas = list(csv.reader(out.with_suffix(".gradebook.csv").open()))
    assert canvas[0] == [
        "Student",
        "ID",
        "SIS User ID",
        "SIS Login ID",
        "Section",
        "Chapter 2",
    ]
    assert canvas[1] == ["Ada Lovelace", "s1", "s1", "", "A", "6"]
    long = list(csv.DictReader(out.with_suffix(".feedback.csv").open()))
    assert {(r["exercise"], r["part"]) for r in long if r["id"] == "s1"} >= {
        ("2.2", "the turn is right")
    }
    results = json.loads((gradescope / "s1.json").read_text())
    assert results["score"] == 6 and sum(t["max_score"] for t in results["tests"]) == 7
    assert all(
        {"name", "score", "max_score", "output"} <= set(t) for t in results["tests"]
    )
    written = (out.with_suffix(".written") / "2.3-why.md").read_text()
    assert "## Ada Lovelace (s1)" in written and "ada_ch2.ipynb thinks so" in written


def test_manual_scores_merge_back_and_bad_ones_are_refused(tmp_path):
    book = _book(tmp_path, "id,name\ns1,Ada\n")
    out = tmp_path / "grades.csv"
    write_all(book, out, assignment="x")
    manual = out.with_suffix(".written") / "manual.csv"
    rows = list(csv.DictReader(manual.open()))
    assert {r["question"] for r in rows} == {"2.3 prediction", "2.3 why"}
    filled = tmp_path / "marked.csv"
    filled.write_text("id,question,points\ns1,2.3 why,1\n")
    assert main(["grade", "--manual", str(filled), "--out", str(out)]) == 0
    row = next(csv.DictReader(out.open()))
    assert (
        row["2.3 why"] == "1" and row["total"] == "1"
    )  # no file matches s1*: only the manual point
    for bad, why in (
        ("s9,2.3 why,1", "no student"),
        ("s1,9.9,1", "no written question"),
        ("s1,2.3 why,5", "outside"),
    ):
        filled.write_text("id,question,points\n" + bad + "\n")
        with pytest.raises(GradingError, match=why):
            read_manual(filled, book)


@pytest.mark.parametrize(
    "text, why",
    [
        ("name\nAda\n", "no column id"),
        ("id,name\n,Ada\n", "id is empty"),
        ("id,name\na,A\na,B\n", "appears twice"),
    ],
)
def test_a_bad_roster_is_refused_with_its_line(tmp_path, text, why):
    (tmp_path / "r.csv").write_text(text)
    with pytest.raises(GradingError, match=why):
        read_roster(tmp_path / "r.csv")


def test_merge_without_an_earlier_grading_is_a_clear_error(tmp_path, capsys):
    assert (
        main(
            [
                "grade",
                "--manual",
                str(tmp_path / "m.csv"),
                "--out",
                str(tmp_path / "g.csv"),
            ]
        )
        == 2
    )
    assert "not a grade book this grader wrote" in capsys.readouterr().err
