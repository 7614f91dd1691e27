"""Issue 17: extensions (per student, per group, from a CSV) and which handed-in version counts.

Penalties are computed from the stored submission time whenever they are read, so an extension changes an
export without regrading; `counts` picks the graded version ("last", "last_before_due", "best") and
`max_per_day` caps `submit`. The end-to-end part grades one drop folder written by `submit` under each policy.
"""

from __future__ import annotations

import csv
import io
import shutil
from datetime import datetime, timezone
from pathlib import Path

import nbformat
import pytest

from autograder.course import Course, CourseError
from autograder.course.late import extension_warnings, late_penalty, load_deadlines
from autograder.course.submissions import discover
from autograder.grading.batch import grade_batch, pending
from autograder.grading.plan import build_plan
from autograder.results.export import gradescope_results, to_csv
from autograder.results.feedback import write_feedback
from autograder.results.gradebook import Gradebook
from autograder.results.totals import student_totals
from autograder.sandbox.limits import Limits
from autograder.student import StudentError
from autograder.student.submit import submit_notebook
from conftest import CORRECT, build_toy_course, student_version

DUE = "2026-12-01T23:59:00Z"
POLICY = f'[late]\npolicy = "zero"\n[assignments.toy]\ndue = {DUE}\n'
HALF = {"double": CORRECT["double"]}  # 2 of the 4 autograded points


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 12, day, hour, 0, tzinfo=timezone.utc)


def configure(course: Path, text: str) -> None:
    (course / "autograder.toml").write_text(text)


def deadline(course: Path):
    return load_deadlines(course, Course.at(course).assignment_names())["toy"]


# --------------------------------------------------------------------------------------- extensions


def test_an_extension_in_the_policy_file_turns_a_late_submission_on_time_and_says_so(toy_course):
    configure(toy_course, POLICY + '[assignments.toy.extensions]\nalice = "2026-12-10T23:59:00+01:00"\nbob = "+2d"\n')
    policy = deadline(toy_course)
    for student in ("alice", "bob"):
        penalty = late_penalty(policy, "2026-12-03T10:00:00+00:00", student_id=student)
        assert penalty.fraction == 0.0, student
        assert "(extended for you from 2026-12-01T23:59:00+00:00)" in penalty.explanation
    assert "2026-12-03T23:59:00+00:00 (extended for you" in late_penalty(policy, "2026-12-03T10:00:00+00:00", student_id="bob").explanation
    late = late_penalty(policy, "2026-12-03T10:00:00+00:00", student_id="carol")
    assert late.fraction == 1.0 and "extended" not in late.explanation


def test_a_group_extension_comes_from_the_roster_and_a_students_own_one_beats_it(toy_course):
    (toy_course / "roster.csv").write_text("student_id,section\nalice,B\nbob,B\ncarol,A\n")
    configure(toy_course, 'roster = "roster.csv"\n' + POLICY + '[assignments.toy.extensions]\n"section:B" = "+1d"\nbob = "+3d"\n')
    policy = deadline(toy_course)
    assert policy.due_for("alice")[0] == datetime(2026, 12, 2, 23, 59, tzinfo=timezone.utc)
    assert policy.due_for("bob")[0] == datetime(2026, 12, 4, 23, 59, tzinfo=timezone.utc)
    assert policy.due_for("carol")[1] is None


def test_extensions_from_a_csv_move_the_due_date_by_days_or_to_a_date(toy_course):
    (toy_course / "extensions.csv").write_text("student_id,assignment,due,days\nalice,toy,,2\nbob,toy,2026-12-05T12:00:00+00:00,\n")
    configure(toy_course, 'extensions = "extensions.csv"\n' + POLICY)
    policy = deadline(toy_course)
    assert policy.due_for("alice")[0] == datetime(2026, 12, 3, 23, 59, tzinfo=timezone.utc)
    assert policy.due_for("bob")[0] == datetime(2026, 12, 5, 12, 0, tzinfo=timezone.utc)
    assert policy.due_for("alice")[1].origin == "extensions.csv line 2"


@pytest.mark.parametrize(
    "csv_text, message",
    [
        ("student_id,assignment,due\nalice,toy,next friday\n", "extensions.csv: line 2: due = 'next friday' is neither a date-time"),
        ("student_id,assignment,days\nalice,toy,\nbob,toy,two\n", "extensions.csv: line 2: give either due"),
        ("student_id,assignment,days\nalice,toy,1\nbob,toy,two\n", "extensions.csv: line 3: days = 'two' is not a number"),
        ("student_id,assignment,days\nalice,nope,1\n", "line 2: assignment 'nope' is not an assignment of the course"),
        ("student_id,due\nalice,2026-12-05T12:00:00Z\n", "it needs the columns student_id, assignment and due"),
        ("student_id,assignment,due\nalice,toy,2026-12-05T12:00:00\n", "line 2: due = 2026-12-05T12:00:00 has no time zone"),
    ],
)
def test_a_malformed_extension_in_the_csv_is_refused_naming_the_file_and_the_line(toy_course, csv_text, message):
    (toy_course / "extensions.csv").write_text(csv_text)
    configure(toy_course, 'extensions = "extensions.csv"\n' + POLICY)
    with pytest.raises(CourseError) as error:
        deadline(toy_course)
    assert message in str(error.value)
    assert str(toy_course / "extensions.csv") in str(error.value)


@pytest.mark.parametrize(
    "text, message",
    [
        ('alice = "tomorrow"\n', "[assignments.toy.extensions] alice = 'tomorrow' is neither a date-time"),
        ('alice = "+2 weeks"\n', "[assignments.toy.extensions] alice = '+2 weeks' is neither"),
        ("alice = 2026-12-05\n", "alice = 2026-12-05 is a date without a time"),
        ("alice = 2\n", "alice = 2; write a date-time"),
    ],
)
def test_a_malformed_extension_in_the_policy_file_is_refused_naming_the_key(toy_course, text, message):
    configure(toy_course, POLICY + "[assignments.toy.extensions]\n" + text)
    with pytest.raises(CourseError) as error:
        deadline(toy_course)
    assert "autograder.toml" in str(error.value) and message in str(error.value)


def test_an_extension_for_an_unknown_student_or_group_is_a_warning_not_an_error(toy_course):
    (toy_course / "roster.csv").write_text("student_id,group\nalice,lab1\n")
    configure(toy_course, 'roster = "roster.csv"\n' + POLICY + '[assignments.toy.extensions]\nalcie = "+1d"\n"group:lab2" = "+1d"\n')
    warnings = extension_warnings(deadline(toy_course), {"alice", "bob"})
    assert len(warnings) == 2
    assert "alcie is not a student of toy" in warnings[0] and "[assignments.toy.extensions] alcie" in warnings[0]
    assert "nobody in the roster is in group:lab2" in warnings[1] and "(group:lab1)" in warnings[1]


@pytest.mark.parametrize(
    "entry, message",
    [
        ('counts = "first"\n', "counts = 'first'; use one of 'last', 'last_before_due', 'best'"),
        ("max_per_day = 0\n", "max_per_day = 0; it must be a whole number"),
        ('max_per_day = "3"\n', "max_per_day = '3'"),
    ],
)
def test_a_wrong_version_policy_is_refused_naming_the_key(toy_course, entry, message):
    configure(toy_course, POLICY + entry)
    with pytest.raises(CourseError) as error:
        deadline(toy_course)
    assert "[assignments.toy]" in str(error.value) and message in str(error.value)


def test_a_version_policy_needs_no_due_date_but_last_before_due_does(toy_course):
    configure(toy_course, '[assignments.toy]\ncounts = "best"\nmax_per_day = 2\n')
    assert (deadline(toy_course).counts, deadline(toy_course).max_per_day, deadline(toy_course).due) == ("best", 2, None)
    configure(toy_course, '[assignments.toy]\ncounts = "last_before_due"\n')
    with pytest.raises(CourseError, match="has no 'due' date"):
        deadline(toy_course)


# ------------------------------------------------------------------------------------- max_per_day


def test_a_hand_in_past_max_per_day_is_refused_and_the_next_day_accepted(toy_course, tmp_path):
    configure(toy_course, POLICY + "max_per_day = 2\n")
    path = tmp_path / "toy.ipynb"
    nbformat.write(student_version(toy_course, CORRECT), path)
    inbox = tmp_path / "in"
    for hour in (8, 9):
        submit_notebook(path, "alice", inbox, toy_course, now=at(1, hour))
    with pytest.raises(StudentError) as refused:
        submit_notebook(path, "alice", inbox, toy_course, now=at(1, 23))
    message = str(refused.value)
    assert "hand-in 3 today (2026-12-01, UTC)" in message and "allows 2 per day (max_per_day" in message
    assert "submitted 2026-12-01T09:00:00+00:00, is kept" in message and "hand in again from 2026-12-02T00:00:00+00:00" in message
    assert len(list((inbox / "alice" / "toy" / "versions").iterdir())) == 2  # nothing written
    assert submit_notebook(path, "alice", inbox, toy_course, now=at(2, 0)).version == 3
    assert submit_notebook(path, "bob", inbox, toy_course, now=at(1, 23)).version == 1  # the cap is per student


# ------------------------------------------------------------------------------- graded end to end


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """The toy course, and a drop folder written by submit:

    * alice: wrong at 12-01 10:00, right at 12-01 20:00, wrong again at 12-02 10:00 (a day late);
    * dave: right at 12-01 09:00, half right at 12-01 12:00 (both on time);
    * bob: right at 12-03 10:00, late by the due date (12-01 23:59).
    """
    base = tmp_path_factory.mktemp("policy")
    root = build_toy_course(base / "course")
    inbox = base / "in"
    versions = {"alice": [({}, at(1, 10)), (CORRECT, at(1, 20)), ({}, at(2, 10))],
                "dave": [(CORRECT, at(1, 9)), (HALF, at(1, 12))],
                "bob": [(CORRECT, at(3, 10))]}
    for student, handed in versions.items():
        for number, (answers, when) in enumerate(handed):
            path = base / f"{student}-{number}.ipynb"
            nbformat.write(student_version(root, answers), path)
            submit_notebook(path, student, inbox, root, now=when)
    return {"root": root, "inbox": inbox, "base": base}


def grade(course, counts: str, name: str, extensions: str = "", force: bool = False) -> str:
    configure(course["root"], POLICY + f'counts = "{counts}"\n' + extensions)
    url = f"sqlite:///{course['base'] / name}"
    assignment = Course.at(course["root"]).assignment("toy")
    with Gradebook(url) as gradebook:
        grade_batch(build_plan(assignment, Limits(cell_timeout=20)), discover(course["inbox"], assignment), gradebook,
                    workers=1, force=force)
    return url


def rows(url: str) -> dict:
    with Gradebook(url) as gradebook:
        return {s.student_id: s for s in gradebook.submissions("toy")}


def test_last_grades_the_latest_copy_and_names_its_version(course):
    graded = rows(grade(course, "last", "last.db"))
    assert graded["alice"].score == 0.0
    assert graded["alice"].notes[0].startswith("graded version 3 of 3 (submitted 2026-12-02T10:00:00+00:00)")
    assert graded["dave"].score == 2.0


def test_last_before_due_grades_the_last_version_handed_in_on_time(course):
    graded = rows(grade(course, "last_before_due", "before.db"))
    assert graded["alice"].score == 4.0 and graded["alice"].submitted_at == "2026-12-01T20:00:00+00:00"
    assert graded["alice"].notes[0].startswith("graded version 2 of 3 (submitted 2026-12-01T20:00:00+00:00); "
                                               'counts = "last_before_due": the last version handed in by the due date')
    assert graded["dave"].score == 2.0  # the later of two on-time versions, though the earlier scored more
    assert "none was handed in by the due date" in graded["bob"].notes[0]  # all late: the first one


def test_best_grades_every_version_and_keeps_one_row_with_the_best_total(course):
    url = grade(course, "best", "best.db")
    graded = rows(url)
    assert len(graded) == 3  # one row per (student, notebook), as ever
    assert graded["dave"].score == 4.0 and graded["dave"].notes[0].startswith("graded version 1 of 2 (submitted 2026-12-01T09:00:00+00:00)")
    assert graded["alice"].score == 4.0 and graded["alice"].notes[0].startswith("graded version 2 of 3")
    assert 'counts = "best"' in graded["alice"].notes[0]


def test_best_resumes_without_regrading_until_a_version_is_added(course, tmp_path):
    url = grade(course, "best", "resume.db")
    assignment = Course.at(course["root"]).assignment("toy")
    with Gradebook(url) as gradebook:
        again = pending("toy", discover(course["inbox"], assignment), gradebook)
        assert (again.todo, again.skipped) == ([], 3)
        inbox = tmp_path / "in"
        shutil.copytree(course["inbox"], inbox)
        path = tmp_path / "late.ipynb"
        nbformat.write(student_version(course["root"], {}), path)
        submit_notebook(path, "dave", inbox, course["root"], now=at(1, 22))
        changed = pending("toy", discover(inbox, assignment), gradebook)
    assert [s.student_id for s in changed.todo] == ["dave"] and len(changed.todo[0].candidates) == 3


def test_an_extension_turns_a_late_submission_on_time_and_changing_it_needs_no_regrading(course, tmp_path):
    url = grade(course, "last", "extension.db", extensions='[assignments.toy.extensions]\nbob = "+3d"\n')
    graded_at = rows(url)["bob"].graded_at
    with Gradebook(url) as gradebook:
        bob = {t.student_id: t for t in student_totals(gradebook, "toy", deadline(course["root"]))}["bob"]
        assert (bob.penalty.fraction, bob.adjusted) == (0.0, 4.0)
        assert "on time (due 2026-12-04T23:59:00+00:00 (extended for you from 2026-12-01T23:59:00+00:00))" in bob.penalty.explanation
        assert "extended for you" in gradescope_results(bob)["output"]
        exported = [r for r in csv.DictReader(io.StringIO(to_csv(gradebook, "toy", deadline(course["root"])))) if r["student_id"] == "bob"]
        assert {r["late_penalty"] for r in exported} == {"0"} and "extended for you" in exported[0]["due"]
        pages = write_feedback(Course.at(course["root"]).assignment("toy"), gradebook, tmp_path / "pages")
        page = next(p for p in pages if p.student_id == "bob").path.read_text()
        assert "extended for you from 2026-12-01T23:59:00+00:00" in page

        configure(course["root"], POLICY)  # the extension withdrawn: no grading in between
        bob = {t.student_id: t for t in student_totals(gradebook, "toy", deadline(course["root"]))}["bob"]
        assert (bob.penalty.fraction, bob.adjusted) == (1.0, 0.0)
        assert "extended" not in bob.penalty.explanation
    assert rows(url)["bob"].graded_at == graded_at


def test_the_feedback_page_and_results_json_say_which_version_was_graded(course, tmp_path):
    url = grade(course, "best", "pages.db")
    with Gradebook(url) as gradebook:
        pages = write_feedback(Course.at(course["root"]).assignment("toy"), gradebook, tmp_path / "pages")
        page = next(p for p in pages if p.student_id == "dave").path.read_text()
        dave = {t.student_id: t for t in student_totals(gradebook, "toy", deadline(course["root"]))}["dave"]
    assert 'id="version-toy.ipynb">Graded version 1 of 2 (submitted 2026-12-01T09:00:00+00:00)' in page
    assert "What the grader repaired" not in page
    assert "graded version 1 of 2" in gradescope_results(dave)["output"]
