"""Per-student totals of one assignment: every notebook's score, the maximum and the late penalty.

What exports, feedback pages and the class report all add up the same way. A question still waiting for a
hand grade counts zero in the total until it is graded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from autograder.course.late import Deadline, LatePolicy, Penalty, extension_warnings, penalty_for_row
from autograder.results.gradebook import Gradebook, SubmissionRow


def no_deadline(assignment: str) -> Deadline:
    return Deadline(assignment, None, LatePolicy())


@dataclass
class StudentTotal:
    """One student's grade on one assignment, all notebooks together."""

    student_id: str
    score: float = 0.0  # before the penalty; questions awaiting a hand grade count zero
    max_score: float = 0.0
    penalty: Penalty = field(default_factory=lambda: Penalty(0.0, "no late penalty applies"))
    submissions: list[SubmissionRow] = field(default_factory=list)

    @property
    def adjusted(self) -> float:
        return round(self.score * (1 - self.penalty.fraction), 6)


def student_totals(gradebook: Gradebook, assignment: str, deadline: Deadline | None = None) -> list[StudentTotal]:
    """Per student: the total, the maximum and the late penalty (the largest of their notebooks')."""
    deadline = deadline or no_deadline(assignment)
    totals: dict[str, StudentTotal] = {}
    for submission in gradebook.submissions(assignment):
        total = totals.setdefault(submission.student_id, StudentTotal(submission.student_id))
        total.submissions.append(submission)
        total.score += sum(r.score or 0.0 for r in submission.results)
        total.max_score += sum(r.max_score for r in submission.results)
        penalty = penalty_for_row(deadline, submission)
        if penalty.fraction > total.penalty.fraction or (not total.penalty.submitted_at and penalty.submitted_at):
            total.penalty = penalty
    return [totals[key] for key in sorted(totals)]


def extension_problems(gradebook: Gradebook, assignment: str, deadline: Deadline) -> list[str]:
    """Warnings about ``deadline``'s extensions: ids that are neither in the roster nor in the gradebook,
    groups nobody is in (`autograder.course.late.extension_warnings`); exports and feedback print them."""
    if not deadline.extensions:
        return []
    students = {s.student_id for s in gradebook.submissions(assignment, manual=False)}
    return extension_warnings(deadline, students)
