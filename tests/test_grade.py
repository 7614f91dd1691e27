"""Grading a batch end to end on a small course: scores, statuses, gradebook, export."""

import csv
import io

import nbformat
import pytest

from autograder.cli import main
from autograder.course import Course
from autograder.results.export import CSV_COLUMNS, to_csv
from autograder.grading.plan import build_plan
from autograder.course.submissions import discover
from autograder.grading.batch import grade_batch
from autograder.results.gradebook import Gradebook
from autograder.sandbox.limits import Limits
from conftest import CORRECT, hand_in, student_version


def grade(course, submissions, **kwargs):
    assignment = Course.at(course).assignment("toy")
    plan = build_plan(assignment, Limits(cell_timeout=10))
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        class_list = sorted(p.name for p in submissions.iterdir())  # the roster: `nobody` handed in nothing, and gets a row
        summary = grade_batch(plan, discover(submissions, assignment, roster=class_list), gradebook, workers=2, **kwargs)
    return summary, exported(course)


def exported(course):
    """The course gradebook's CSV export, as rows."""
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        return list(csv.DictReader(io.StringIO(to_csv(gradebook, "toy"))))


def scores(rows, student):
    return {r["question"]: (r["score"], r["status"]) for r in rows if r["student_id"] == student}


@pytest.fixture
def batch(toy_course, tmp_path):
    submissions = tmp_path / "submitted"
    hand_in(submissions, "correct", student_version(toy_course, CORRECT))
    hand_in(submissions, "untouched", student_version(toy_course, {}))
    wrong = dict(CORRECT, mean_rows="def mean_rows(a):\n    return np.mean(a, axis=0)", half="answer_half = 0.4")
    hand_in(submissions, "wrong_axis", student_version(toy_course, wrong))
    raises = dict(CORRECT, double="def double(x):\n    raise RuntimeError('oops')")
    hand_in(submissions, "raises", student_version(toy_course, raises))
    broken = dict(CORRECT, mean_rows="1 / 0")
    hand_in(submissions, "broken_answer", student_version(toy_course, broken))
    hand_in(submissions, "corrupt", b'{"cells": [')
    hand_in(submissions, "empty", b"")
    hand_in(submissions, "latin1", "caf\xe9".encode("latin-1"))
    hand_in(submissions, "not_a_notebook", b'{"hello": 1}')
    hand_in(submissions, "other_assignment", nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]))
    (submissions / "dir_student" / "toy.ipynb").mkdir(parents=True)
    (submissions / "nobody").mkdir()
    return submissions


def test_a_batch_gets_one_row_per_student_and_question(toy_course, batch):
    summary, rows = grade(toy_course, batch)
    assert list(rows[0]) == CSV_COLUMNS
    students = {r["student_id"] for r in rows}
    assert len(students) == 12 and len(rows) == 12 * 4

    assert scores(rows, "correct") == {
        "double_test": ("2", "passed"), "mean_rows_test": ("1", "passed"), "half_test": ("1", "passed"),
        "explain": ("0", "not_attempted"),
    }
    assert {q: s for q, (s, _) in scores(rows, "untouched").items()} == {"double_test": "0", "mean_rows_test": "0", "half_test": "0", "explain": "0"}
    # the stubs still raise NotImplementedError: unanswered, said as a status (nobody reads it out of a message)
    assert scores(rows, "untouched")["double_test"] == scores(rows, "untouched")["mean_rows_test"] == ("0", "not_attempted")
    wrong = scores(rows, "wrong_axis")
    assert wrong["double_test"] == ("2", "passed")
    assert wrong["mean_rows_test"][0] == "0" and wrong["half_test"] == ("0", "failed")
    assert scores(rows, "raises")["double_test"] == ("0", "error")
    assert scores(rows, "raises")["mean_rows_test"] == ("1", "passed")
    raised = next(r["message"] for r in rows if r["student_id"] == "raises" and r["question"] == "double_test")
    assert "RuntimeError: oops" in raised


def test_every_submission_gets_a_status_and_a_message(toy_course, batch):
    summary, _ = grade(toy_course, batch)
    status = {s.student_id: (s.status, s.message) for s in summary.graded}
    assert status["correct"][0] == "ok"
    assert status["raises"][0] == "ok", "an error inside a test cell belongs to its question"
    assert status["broken_answer"][0] == "error" and "answer cell 'mean_rows' raised ZeroDivisionError" in status["broken_answer"][1]
    assert status["corrupt"][0] == "invalid" and "not valid JSON" in status["corrupt"][1]
    assert status["empty"][0] == "invalid" and "empty" in status["empty"][1]
    assert status["latin1"][0] == "invalid" and "UTF-8" in status["latin1"][1]
    assert status["not_a_notebook"][0] == "invalid" and "not a Jupyter notebook" in status["not_a_notebook"][1]
    assert status["other_assignment"][0] == "invalid" and "another assignment" in status["other_assignment"][1]
    assert status["dir_student"][0] == "invalid" and "is a directory" in status["dir_student"][1]
    assert status["nobody"][0] == "missing"


def test_a_failed_check_message_says_what_differed_and_the_seed(toy_course, batch):
    _, rows = grade(toy_course, batch)
    message = next(r["message"] for r in rows if r["student_id"] == "wrong_axis" and r["question"] == "mean_rows_test")
    assert "mean_rows.shape" in message and "expected (3,), got (4,)" in message
    half = next(r["message"] for r in rows if r["student_id"] == "wrong_axis" and r["question"] == "half_test")
    assert "expected 0.5, got 0.4" in half and "[seed " in half


def test_regrading_skips_unchanged_files_and_keeps_the_gradebook_identical(toy_course, batch):
    _, first = grade(toy_course, batch)
    summary, second = grade(toy_course, batch)
    # the missing notebook and the directory have no file to compare, so they are looked at again (no run)
    assert summary.skipped == 12 - 2
    assert {s.student_id for s in summary.graded} == {"nobody", "dir_student"}
    assert first == second
    summary, third = grade(toy_course, batch, force=True)
    assert len(summary.graded) == 12 and third == first


def test_a_changed_file_is_regraded(toy_course, batch):
    grade(toy_course, batch)
    hand_in(batch, "untouched", student_version(toy_course, CORRECT))
    summary, rows = grade(toy_course, batch)
    assert [s.student_id for s in summary.graded if s.sha256] == ["untouched"]
    assert scores(rows, "untouched")["double_test"] == ("2", "passed")


def test_a_rerun_retries_what_the_grader_failed_on_without_force(toy_course, batch, monkeypatch, capsys):
    """A `grader_error` row is the grader's fault (a bug, a lost cluster worker), not the student's: it is not graded."""
    import autograder.grading.submission

    real = autograder.grading.submission.grade_submission

    def fails_on_raises(plan, submission, worker=None):
        if submission.student_id == "raises":
            raise MemoryError("the grader ran out of memory")
        return real(plan, submission, worker)

    monkeypatch.setattr(autograder.grading.submission, "grade_submission", fails_on_raises)
    assert main(["grade", "toy", str(batch), "--course", str(toy_course), "--quiet", "--workers", "2"]) == 1  # not all graded
    assert "1 submission(s) the grader failed on" in capsys.readouterr().err  # and that a rerun retries it
    assert scores(exported(toy_course), "raises")["double_test"] == ("0", "grader_error")
    monkeypatch.setattr(autograder.grading.submission, "grade_submission", real)
    summary, second = grade(toy_course, batch)
    assert {s.student_id for s in summary.graded} == {"raises", "nobody", "dir_student"}
    assert scores(second, "raises")["double_test"] == ("0", "error") and scores(second, "raises")["half_test"] == ("1", "passed")


def test_layouts_nbgrader_and_single_file_are_both_found(toy_course, tmp_path):
    submissions = tmp_path / "mixed"
    nested = submissions / "alice" / "toy"
    nested.mkdir(parents=True)
    nbformat.write(student_version(toy_course, CORRECT), nested / "toy.ipynb")
    (nested / "timestamp.txt").write_text("2026-12-01 10:00:00 UTC")
    nbformat.write(student_version(toy_course, CORRECT), submissions / "bob.ipynb")
    found = discover(submissions, Course.at(toy_course).assignment("toy"))
    assert [(s.student_id, s.submitted_at) for s in found] == [("alice", "2026-12-01 10:00:00 UTC"), ("bob", None)]


def test_the_cli_grades_and_exports(toy_course, batch, tmp_path):
    from autograder.cli import main

    assert main(["grade", "toy", str(batch), "--course", str(toy_course), "--quiet", "--workers", "2"]) == 0
    out = tmp_path / "grades.csv"
    assert main(["export", "toy", "--course", str(toy_course), "--format", "csv", "--output", str(out)]) == 0
    assert out.read_text().splitlines()[0] == ",".join(CSV_COLUMNS)
    assert main(["release", "toy", "--course", str(toy_course), "--check"]) == 0
