"""Exports: the long CSV, Gradescope's results.json per student, a Canvas gradebook-import CSV; late penalties in all three."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest

from autograder.cli import main
from autograder.course import Course
from autograder.results.export import CSV_COLUMNS, gradescope_results, read_roster, to_canvas, to_csv
from autograder.results.totals import student_totals
from autograder.results.gradebook import Gradebook, StoredResult, StoredSubmission
from autograder.course.late import Deadline, LatePolicy, parse_submission_time

DUE = parse_submission_time("2026-12-01T23:59:00+00:00")
TEN_PERCENT_A_DAY = Deadline("toy", DUE, LatePolicy("per_day", 10.0))


def stored(student: str, scores: dict[str, tuple[float | None, float]], submitted_at: str | None = "2026-12-01T12:00:00+00:00",
           assignment: str = "toy", status: str = "ok") -> StoredSubmission:
    results = [StoredResult(q, s, m, "passed" if s == m else ("needs_manual_grade" if s is None else "failed"),
                            "" if s == m else f"{q} differs [seed 3]") for q, (s, m) in scores.items()]
    return StoredSubmission(assignment, student, "toy.ipynb", f"/nowhere/{student}/toy.ipynb", "0" * 64, status, "", results,
                            submitted_at=submitted_at)


@pytest.fixture
def gradebook(tmp_path: Path):
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as book:
        book.store(stored("ada", {"double_test": (2.0, 2.0), "half_test": (1.0, 1.0)}))
        book.store(stored("bob", {"double_test": (2.0, 2.0), "half_test": (0.0, 1.0)}, submitted_at="2026-12-03T08:00:00+00:00"))
        yield book


def test_the_long_csv_carries_the_late_penalty_and_the_adjusted_score(gradebook):
    rows = list(csv.DictReader(io.StringIO(to_csv(gradebook, "toy", TEN_PERCENT_A_DAY))))
    assert list(rows[0]) == CSV_COLUMNS
    bob = [r for r in rows if r["student_id"] == "bob"]
    assert [(r["question"], r["score"], r["late_penalty"], r["adjusted_score"]) for r in bob] == [
        ("double_test", "2", "0.2", "1.6"), ("half_test", "0", "0.2", "0")]
    assert bob[0]["submitted_at"] == "2026-12-03T08:00:00+00:00"
    assert {r["late_penalty"] for r in rows if r["student_id"] == "ada"} == {"0"}


def test_gradescope_results_follow_gradescopes_format(gradebook):
    [ada, bob] = student_totals(gradebook, "toy", TEN_PERCENT_A_DAY)
    results = gradescope_results(ada)
    assert results["score"] == 3.0
    assert results["tests"] == [
        {"name": "double_test", "score": 2.0, "max_score": 2.0, "status": "passed", "output": "", "visibility": "visible"},
        {"name": "half_test", "score": 1.0, "max_score": 1.0, "status": "passed", "output": "", "visibility": "visible"},
    ]
    for test in gradescope_results(bob, "after_published")["tests"]:
        assert set(test) == {"name", "score", "max_score", "status", "output", "visibility"}
        assert test["visibility"] == "after_published"


def test_gradescope_score_is_after_the_late_penalty_shown_as_its_own_line(gradebook):
    [_, bob] = student_totals(gradebook, "toy", TEN_PERCENT_A_DAY)
    results = gradescope_results(bob)
    assert results["score"] == pytest.approx(1.6)
    [late] = [t for t in results["tests"] if t["name"] == "late penalty"]
    assert late["score"] == pytest.approx(-0.4) and late["max_score"] == 0.0
    assert "2 started day(s) late" in late["output"]
    assert sum(t["score"] for t in results["tests"]) == pytest.approx(results["score"])


def test_a_question_awaiting_a_hand_grade_counts_zero_and_says_so(tmp_path):
    with Gradebook(f"sqlite:///{tmp_path / 'gb.db'}") as book:
        book.store(stored("ada", {"double_test": (2.0, 2.0), "explain": (None, 2.0)}))
        [ada] = student_totals(book, "toy")
    results = gradescope_results(ada)
    assert results["score"] == 2.0
    [explain] = [t for t in results["tests"] if t["name"] == "explain"]
    assert (explain["score"], explain["max_score"], explain["status"]) == (0.0, 2.0, "failed")
    assert "not graded yet" in explain["output"]


def test_gradescope_output_never_carries_hidden_test_code(toy_course, tmp_path):
    from autograder.results.disclosure import hidden_code_redactor

    hidden_line = "ag.check_close('double.random', double(x))"  # from the toy's hidden tests
    with Gradebook(f"sqlite:///{tmp_path / 'gb.db'}") as book:
        book.store(StoredSubmission("toy", "eve", "toy.ipynb", "", None, "error", f"the notebook printed {hidden_line}",
                                    [StoredResult("double_test", 0.0, 2.0, "failed", f"ValueError: {hidden_line}")]))
        [eve] = student_totals(book, "toy")
    text = json.dumps(gradescope_results(eve, redact=hidden_code_redactor(Course.at(toy_course).assignment("toy"))))
    assert "double.random" not in text
    assert "[hidden test code]" in text


def test_canvas_csv_has_canvas_columns_points_possible_and_adjusted_points(gradebook):
    text = to_canvas({"toy": student_totals(gradebook, "toy", TEN_PERCENT_A_DAY)}).text
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "toy"]
    assert rows[1] == ["Points Possible", "", "", "", "", "3"]
    assert rows[2:] == [["", "", "", "ada", "", "3"], ["", "", "", "bob", "", "1.6"]]


def test_canvas_rows_take_canvas_identifiers_from_a_roster(gradebook, tmp_path):
    roster = tmp_path / "canvas.csv"
    roster.write_text(
        "Student,ID,SIS User ID,SIS Login ID,Section,Homework 1 (123)\n"
        "    Points Possible,,,,,10\n"
        '"Lovelace, Ada",1001,S-1,ada,Lab A,\n'
        '"Turing, Alan",1002,S-2,alan,Lab B,\n',
        encoding="utf-8",
    )
    exported = to_canvas({"toy": student_totals(gradebook, "toy")}, read_roster(roster))
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[2] == ["Lovelace, Ada", "1001", "S-1", "ada", "Lab A", "3"]
    assert exported.unmatched == ["bob"]


def test_a_roster_without_canvas_columns_is_refused_naming_the_file(tmp_path):
    from autograder.results.export import RosterError

    roster = tmp_path / "roster.csv"
    roster.write_text("name,email\nAda,ada@example.org\n")
    with pytest.raises(RosterError, match="roster.csv: the roster lacks the column"):
        read_roster(roster)


# ------------------------------------------------------------------------------------------- the CLI


@pytest.fixture
def graded_course(toy_course: Path) -> Path:
    """The toy course with a second assignment and a gradebook, and a due date for `toy`."""
    shutil.copytree(toy_course / "source" / "toy", toy_course / "source" / "toy2")
    (toy_course / "autograder.toml").write_text('[late]\npolicy = "per_day"\npercent_per_day = 10\n'
                                                '[assignments.toy]\ndue = 2026-12-01T23:59:00Z\n')
    with Gradebook(Course.at(toy_course).gradebook_url) as book:
        book.store(stored("ada", {"double_test": (2.0, 2.0)}))
        book.store(stored("bob", {"double_test": (1.0, 2.0)}, submitted_at="2026-12-02T08:00:00+00:00"))
        book.store(stored("ada", {"double_test": (1.0, 2.0)}, assignment="toy2"))
    return toy_course


def test_export_gradescope_writes_one_results_json_per_student(graded_course, tmp_path):
    out = tmp_path / "gs"
    assert main(["export", "toy", "--course", str(graded_course), "--format", "gradescope", "--output", str(out)]) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.json")) == ["ada/results.json", "bob/results.json"]
    bob = json.loads((out / "bob" / "results.json").read_text())
    assert bob["score"] == pytest.approx(0.9)


def test_export_gradescope_needs_an_output_directory(graded_course, capsys):
    assert main(["export", "toy", "--course", str(graded_course), "--format", "gradescope"]) == 2
    assert "--output DIR" in capsys.readouterr().err


def test_export_canvas_puts_several_assignments_in_one_file(graded_course, tmp_path):
    out = tmp_path / "canvas.csv"
    assert main(["export", "toy", "toy2", "--course", str(graded_course), "--format", "canvas", "--output", str(out)]) == 0
    rows = list(csv.reader(io.StringIO(out.read_text())))
    assert rows[0][5:] == ["toy", "toy2"]
    assert rows[2] == ["", "", "", "ada", "", "2", "1"]
    assert rows[3] == ["", "", "", "bob", "", "0.9", ""]


def test_export_csv_refuses_several_assignments(graded_course, capsys):
    assert main(["export", "toy", "toy2", "--course", str(graded_course), "--format", "csv"]) == 2
    assert "only --format canvas takes several" in " ".join(capsys.readouterr().err.split())


def test_export_refuses_a_wrong_late_configuration_naming_the_key(graded_course, capsys):
    (graded_course / "autograder.toml").write_text('[late]\npolicy = "sometimes"\n')
    assert main(["export", "toy", "--course", str(graded_course)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "autograder.toml: [late] policy = 'sometimes'" in err
