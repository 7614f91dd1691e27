"""Late penalties: due dates and policies from autograder.toml, applied to the submission time."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from autograder.course import Course, CourseError
from autograder.course.late import Deadline, LatePolicy, late_penalty, load_deadlines, parse_submission_time, penalty_for

DUE = datetime(2026, 12, 1, 23, 59, tzinfo=timezone.utc)


def per_day(percent: float, cap: float | None = None) -> Deadline:
    return Deadline("toy", DUE, LatePolicy("per_day", percent, cap))


def configure(course: Path, text: str) -> None:
    (course / "autograder.toml").write_text(text)


def test_on_time_costs_nothing():
    assert late_penalty(per_day(10), DUE - timedelta(seconds=1)).fraction == 0.0
    assert late_penalty(per_day(10), DUE).fraction == 0.0


def test_per_day_counts_every_started_day():
    assert late_penalty(per_day(10), DUE + timedelta(minutes=1)).fraction == pytest.approx(0.10)
    assert late_penalty(per_day(10), DUE + timedelta(hours=24)).fraction == pytest.approx(0.10)
    assert late_penalty(per_day(10), DUE + timedelta(hours=24, seconds=1)).fraction == pytest.approx(0.20)


def test_per_day_stops_at_the_cap():
    penalty = late_penalty(per_day(10, cap=25), DUE + timedelta(days=6))
    assert penalty.fraction == pytest.approx(0.25)
    assert penalty.days_late == 6
    assert "25% off" in penalty.explanation


def test_per_day_never_takes_more_than_everything():
    assert late_penalty(per_day(40), DUE + timedelta(days=5)).fraction == 1.0


def test_zero_policy_takes_everything_once_late():
    deadline = Deadline("toy", DUE, LatePolicy("zero"))
    assert late_penalty(deadline, DUE + timedelta(seconds=1)).fraction == 1.0
    assert late_penalty(deadline, DUE).fraction == 0.0


def test_no_policy_and_no_due_date_cost_nothing():
    assert late_penalty(Deadline("toy", DUE, LatePolicy("none")), DUE + timedelta(days=9)).fraction == 0.0
    assert late_penalty(Deadline("toy", None, LatePolicy("zero")), DUE + timedelta(days=9)).fraction == 0.0


def test_times_in_different_zones_are_compared_as_instants():
    deadline = Deadline("toy", datetime(2026, 12, 1, 23, 59, tzinfo=ZoneInfo("Europe/Zurich")), LatePolicy("zero"))
    # 23:30 UTC is 00:30 in Zurich: 31 minutes late, although 23:30 < 23:59 on the clock face.
    penalty = late_penalty(deadline, "2026-12-01T23:30:00+00:00")
    assert penalty.fraction == 1.0
    assert "31 min after the due date" in penalty.explanation


def test_reads_what_submit_writes_and_what_nbgrader_writes():
    assert parse_submission_time("2026-12-01T10:00:00.123456+00:00") == datetime(2026, 12, 1, 10, 0, 0, 123456, tzinfo=timezone.utc)
    assert parse_submission_time("2026-12-01 10:00:00.000000 UTC") == datetime(2026, 12, 1, 10, tzinfo=timezone.utc)
    assert parse_submission_time("2026-12-01 11:00:00 Europe/Zurich") == datetime(2026, 12, 1, 10, tzinfo=timezone.utc)


def test_a_time_without_zone_is_read_in_the_course_timezone_or_not_at_all():
    zurich = ZoneInfo("Europe/Zurich")
    assert parse_submission_time("2026-12-01 11:00:00", zurich) == datetime(2026, 12, 1, 10, tzinfo=timezone.utc)
    penalty = late_penalty(per_day(10, cap=30), "2026-12-05 11:00:00")  # cannot be placed: flagged, as unreadable
    assert penalty.flagged and penalty.fraction == pytest.approx(0.30)
    assert "no time zone" in penalty.explanation and "checked by hand" in penalty.explanation


def test_an_unreadable_time_is_flagged_for_review_and_costs_the_policys_maximum():
    penalty = late_penalty(per_day(10, cap=50), "last tuesday")
    assert penalty.flagged and penalty.fraction == pytest.approx(0.50)
    assert penalty.explanation.startswith("flagged for review: timestamp.txt unreadable")
    assert "'last tuesday'" in penalty.explanation
    assert late_penalty(per_day(10), "last tuesday").fraction == 1.0  # no cap: everything
    assert late_penalty(Deadline("toy", DUE, LatePolicy("zero")), "unreadable timestamp.txt: not UTF-8 text").fraction == 1.0
    assert late_penalty(Deadline("toy", DUE, LatePolicy("none")), "last tuesday").fraction == 0.0  # nothing to lose


def test_penalty_for_reads_the_course_configuration(toy_course):
    configure(toy_course, 'timezone = "Europe/Zurich"\n[late]\npolicy = "per_day"\npercent_per_day = 10\n'
                          '[assignments.toy]\ndue = 2026-12-01T23:59:00\n')
    assignment = Course.at(toy_course).assignment("toy")
    fraction, explanation = penalty_for(assignment, "2026-12-03T12:00:00+00:00")
    assert fraction == pytest.approx(0.20)
    assert "2026-12-01T23:59:00+01:00" in explanation and "10% per started day" in explanation


def test_an_assignment_overrides_the_course_policy(toy_course):
    configure(toy_course, '[late]\npolicy = "per_day"\npercent_per_day = 10\n'
                          '[assignments.toy]\ndue = 2026-12-01T23:59:00Z\nlate = { policy = "zero" }\n')
    assert penalty_for(Course.at(toy_course).assignment("toy"), "2026-12-02T00:00:00Z")[0] == 1.0


def test_without_a_timestamp_the_file_modification_time_counts(toy_course, tmp_path):
    configure(toy_course, '[late]\npolicy = "zero"\n[assignments.toy]\ndue = 2026-12-01T23:59:00Z\n')
    notebook = tmp_path / "toy.ipynb"
    notebook.write_text("{}")
    late = datetime(2026, 12, 2, 1, 0, tzinfo=timezone.utc).timestamp()
    os.utime(notebook, (late, late))
    fraction, explanation = penalty_for(Course.at(toy_course).assignment("toy"), None, notebook)
    assert fraction == 1.0
    assert "file modification time" in explanation


def test_a_course_without_configuration_has_no_penalties(toy_course):
    assert penalty_for(Course.at(toy_course).assignment("toy"), "2030-01-01T00:00:00Z") == (0.0, "no late penalty applies")


@pytest.mark.parametrize(
    "text, message",
    [
        ("[assignments.toy]\ndue = 2026-12-01T23:59:00\n", "has no time zone"),
        ("[assignments.toy]\ndue = 2026-12-01\n", "a date without a time"),
        ('[assignments.toy]\ndue = "tomorrow"\n', "is not a TOML date-time"),
        ("[assignments.toy]\nlate = { policy = \"zero\" }\n", "has no 'due' date"),
        ("[assignments.nope]\ndue = 2026-12-01T23:59:00Z\n", "names no assignment of the course"),
        ('[late]\npolicy = "half"\n', "use one of none, zero, per_day"),
        ('[late]\npolicy = "per_day"\n', "needs percent_per_day"),
        ('[late]\npolicy = "per_day"\npercent_per_day = 150\n', "between 0 and 100"),
        ('[late]\npolicy = "zero"\npercent_per_day = 10\n', "only apply to policy = \"per_day\""),
        ('[late]\npolicy = "zero"\ngrace = 5\n', "unknown key(s) grace"),
        ('timezone = "Mars/Olympus"\n', "not an IANA time zone name"),
        ("due = [", "not valid TOML"),
    ],
)
def test_a_wrong_configuration_is_refused_naming_the_file_and_the_key(toy_course, text, message):
    configure(toy_course, text)
    with pytest.raises(CourseError) as error:
        load_deadlines(toy_course, Course.at(toy_course).assignment_names())
    assert "autograder.toml" in str(error.value)
    assert message in str(error.value)
