"""Graded side by side with `nbgrader autograde` (issue 16): on a course nobody here wrote, nbgrader's own
autograde-test notebook with the submissions nbgrader ships for it and the generated classes of a real
class, every (student, question) gets the score nbgrader gives, except the listed deliberate differences.

Runs `benchmarks/nbgrader_parity.py` on its smallest course (about a minute: nbgrader starts a kernel per
notebook). docs/nbgrader.md, "Parity with nbgrader autograde", has the table for all three courses.
"""

from __future__ import annotations

import pytest

pytest.importorskip("nbgrader")

from benchmarks.nbgrader_parity import LYING, PATCHED, RESTORED, courses, run_course  # noqa: E402

#: (student, notebook, question) -> why ours differs from nbgrader there on purpose. Anything else differing fails.
DELIBERATE = {
    ("gen-deleted-test", "p1", "bar"): RESTORED,
    ("gen-patched-assert", "p1", "bar"): PATCHED,
    ("gen-lies-about-equality", "p1", "bar"): LYING,
}


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    return run_course(courses()["nbgrader-tests"], tmp_path_factory.mktemp("parity"), workers=1)


@pytest.mark.slow
def test_every_score_is_nbgraders_but_the_deliberate_differences(outcome):
    found = {key: reason for key, _, _, reason in outcome.differences}
    assert found == DELIBERATE, "\n".join(f"{key}: nbgrader {a}, ours {b}: {reason}" for key, a, b, reason in outcome.differences)
    assert outcome.bugs == []
    assert outcome.identical == outcome.pairs - len(DELIBERATE)


@pytest.mark.slow
def test_the_table_covers_every_submission_and_question_of_the_course(outcome):
    # nbgrader's six shipped submissions and the fourteen generated ones, four questions each, in both gradebooks
    shipped = {"unchanged", "changed", "cheat-attempt", "cheat-attempt-alternative", "grade-cell-changed", "locked-cell-changed"}
    students = {student for student, _, _ in outcome.theirs_grades}
    assert shipped <= students and len(students) == outcome.submissions == 20
    assert (outcome.autograded, outcome.manual) == (2, 2)
    assert set(outcome.theirs_grades) == set(outcome.our_grades)
    assert outcome.pairs == 20 * 4


@pytest.mark.slow
def test_the_comparison_is_not_vacuous(outcome):
    """Scores of both kinds occur: full, zero and pending hand grades, in nbgrader's gradebook as in ours."""
    theirs, ours = outcome.theirs_grades, outcome.our_grades
    assert theirs[("gen-solution", "p1", "bar")].score == ours[("gen-solution", "p1", "bar")].score == 1.0
    assert theirs[("gen-wrong-set_a", "p1", "bar")].score == ours[("gen-wrong-set_a", "p1", "bar")].score == 0.0
    assert theirs[("changed", "p1", "baz")].score is ours[("changed", "p1", "baz")].score is None  # waits for a hand grade
    assert theirs[("unchanged", "p1", "baz")].score == ours[("unchanged", "p1", "baz")].score == 0.0  # left as released
    # the deliberate ones: nbgrader has no grade to give a deleted test and believes the silenced asserts
    assert theirs[("gen-deleted-test", "p1", "bar")].score is None and ours[("gen-deleted-test", "p1", "bar")].score == 0.0
    assert theirs[("gen-patched-assert", "p1", "bar")].score == 1.0 and ours[("gen-patched-assert", "p1", "bar")].score == 0.0
