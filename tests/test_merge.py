"""Hand grades merged with the autograde (`Gradebook.submissions`): a rule of the gradebook alone, no run."""

import pytest

from autograder.results.gradebook import Gradebook, StaleAnswer, StoredResult, StoredSubmission
from autograder.results.totals import student_totals


def handed_in(answer_sha256: str) -> StoredSubmission:
    return StoredSubmission("toy", "ann", "toy.ipynb", "", "file-hash", "ok", "", [
        StoredResult("double_test", 2.0, 2.0, "passed"),
        StoredResult("explain", None, 2.0, "needs_manual_grade", "waiting for a hand grade"),
    ], student_view={"cells": [], "answers": {"explain": {"sha256": answer_sha256, "source": "Doubling is linear."}}})


@pytest.fixture
def gradebook(tmp_path):
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as book:
        book.store(handed_in("first"))
        yield book


def results(book) -> dict[str, tuple]:
    (row,) = book.submissions("toy")
    return {r.question: (r.score, r.status, r.message) for r in row.results}


def test_a_question_waiting_for_a_hand_grade_counts_zero_in_the_total(gradebook):
    (total,) = student_totals(gradebook, "toy")
    assert (total.score, total.max_score) == (2.0, 4.0)


def test_a_hand_grade_of_the_current_answer_is_merged_into_the_question_and_the_total(gradebook):
    gradebook.set_manual_grade("toy", "ann", "toy.ipynb", "explain", 1.5, comment="half of it", answer_sha256="first")
    assert results(gradebook)["explain"] == (1.5, "manually_graded", "half of it")
    assert student_totals(gradebook, "toy")[0].score == 3.5


def test_the_autograde_is_never_overwritten_by_the_merge(gradebook):
    gradebook.set_manual_grade("toy", "ann", "toy.ipynb", "explain", 2.0, answer_sha256="first")
    (autograde,) = gradebook.submissions("toy", manual=False)
    assert {r.question: r.status for r in autograde.results}["explain"] == "needs_manual_grade"


def test_a_changed_answer_waits_for_a_new_hand_grade_and_says_why(gradebook):
    gradebook.set_manual_grade("toy", "ann", "toy.ipynb", "explain", 2.0, answer_sha256="first")
    gradebook.store(handed_in("second"))  # resubmitted and graded again
    score, status, message = results(gradebook)["explain"]
    assert (score, status) == (None, "needs_manual_grade") and "the answer changed after it was graded by hand" in message


def test_a_regraded_unchanged_answer_keeps_its_hand_grade(gradebook):
    gradebook.set_manual_grade("toy", "ann", "toy.ipynb", "explain", 2.0, answer_sha256="first")
    gradebook.store(handed_in("first"))
    assert results(gradebook)["explain"][:2] == (2.0, "manually_graded")


def test_a_hand_grade_of_an_answer_read_before_a_resubmission_is_refused(gradebook):
    gradebook.store(handed_in("second"))
    with pytest.raises(StaleAnswer):
        gradebook.set_manual_grade("toy", "ann", "toy.ipynb", "explain", 2.0, answer_sha256="first")
