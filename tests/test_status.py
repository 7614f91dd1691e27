"""Statuses have one meaning everywhere: the grader's own failures are shown as ours, whatever row wrote them."""

from autograder.results.feedback import STATUS_LABELS, shown_status
from autograder.results.report import GRADER_ERROR, category
from autograder.results.status import LABELS, RETRIED, QuestionStatus, SubmissionStatus, label


def test_a_row_older_than_grader_error_is_shown_as_the_graders_failure_on_a_feedback_page():
    assert shown_status("failed") == SubmissionStatus.GRADER_ERROR
    assert "our fault, not yours" in STATUS_LABELS[shown_status("failed")]
    assert shown_status("error") == "error"


def test_every_retried_status_is_the_graders_category_in_the_report():
    assert {category(QuestionStatus.FAILED, 0.0, 1.0, status) for status in RETRIED} == {GRADER_ERROR}


def test_every_question_status_has_a_label_a_person_reads():
    assert all(status in LABELS for status in QuestionStatus)
    assert label("something new") == "something new"
