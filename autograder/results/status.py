"""What a stored status means: one place for the statuses of submissions and questions, with their labels.

Every status is a `StrEnum`, so the gradebook stores (and exports write) its plain value. The meanings:

Submission (a row of ``submissions``):

* ``ok``: the notebook ran to its end; ``error``: an answer or setup cell raised (the message names it);
  ``timeout``: a cell or the whole budget ran out; ``crashed``: the Python process running it died
  (memory, a signal, ``os._exit``);
* ``invalid``: the file cannot be graded as this assignment's notebook (the message says why);
  ``missing``: nothing was handed in;
* ``grader_error``: **the grader** failed on this submission (a bug of ours, a lost Dask worker): never the
  student's fault, shown as ours, and graded again by the next `autograder grade` without ``--force``.

Question (a row of ``results``): ``passed``, ``partial`` (partly right), ``failed`` (a wrong value),
``error`` (the test raised), ``timeout``, ``crashed``, ``not_run`` (the run stopped before it),
``not_attempted`` (the stub is still there), ``needs_manual_grade`` / ``manually_graded`` (hand-graded
answers), and the submission's own ``invalid``, ``missing`` and ``grader_error`` on every question.
"""

from __future__ import annotations

from enum import StrEnum


class SubmissionStatus(StrEnum):
    OK = "ok"
    ERROR = "error"
    TIMEOUT = "timeout"
    CRASHED = "crashed"
    INVALID = "invalid"
    MISSING = "missing"
    GRADER_ERROR = "grader_error"


class QuestionStatus(StrEnum):
    PASSED = "passed"
    PARTIAL = "partial"
    FAILED = "failed"
    ERROR = "error"
    TIMEOUT = "timeout"
    CRASHED = "crashed"
    NOT_RUN = "not_run"
    NOT_ATTEMPTED = "not_attempted"
    NEEDS_MANUAL_GRADE = "needs_manual_grade"
    MANUALLY_GRADED = "manually_graded"
    INVALID = "invalid"
    MISSING = "missing"
    GRADER_ERROR = "grader_error"


#: Rows written by versions before ``grader_error`` existed said ``failed`` for the grader's own failures.
LEGACY_GRADER_ERROR = "failed"

#: Statuses whose rows the next run grades again without ``--force``: the grader, not the file, was at fault.
RETRIED = frozenset({SubmissionStatus.GRADER_ERROR.value, LEGACY_GRADER_ERROR})

#: What a person reads for each status (feedback pages, manual grading, the report).
LABELS = {
    QuestionStatus.PASSED: "passed",
    QuestionStatus.PARTIAL: "partly right",
    QuestionStatus.FAILED: "wrong value",
    QuestionStatus.ERROR: "error",
    QuestionStatus.TIMEOUT: "timed out",
    QuestionStatus.CRASHED: "crashed",
    QuestionStatus.NOT_RUN: "did not run",
    QuestionStatus.NOT_ATTEMPTED: "not attempted",
    QuestionStatus.NEEDS_MANUAL_GRADE: "waiting for a hand grade",
    QuestionStatus.MANUALLY_GRADED: "graded by hand",
    QuestionStatus.INVALID: "not gradable",
    QuestionStatus.MISSING: "not handed in",
    QuestionStatus.GRADER_ERROR: "not graded yet: the grader failed (our fault, not yours; it will be graded again)",
    SubmissionStatus.OK: "ok",
}


def label(status: str) -> str:
    """The label of a status value (an unknown one is shown as it is)."""
    return LABELS.get(status, status)
