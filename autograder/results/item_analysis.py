"""Item analysis of one assignment: which questions are hard, which discriminate, which misconceptions are common.

Classical test theory, computed from the gradebook (hand grades included once given):

* **difficulty** of a question: the mean fraction of its points the students earned (1 = everyone full marks);
* **discrimination**: the correlation between a student's fraction on the question and their fraction on the
  *rest* of the assignment (the corrected item-total correlation: the question itself is left out of the
  total, so a question does not correlate with itself). Around 0.3 and above, the question separates students
  who did well overall from those who did not; under `POOR_DISCRIMINATION` it barely does, and a negative
  value means strong students lose points on it more than weak ones (often a test that rejects correct
  answers, or a question whose wording misleads);
* per **check**: how many students failed it and their most common wrong results, grouped by the check's
  message with the numbers that vary between students masked, so one misconception shows as one line. A
  check that never ran (the student's code raised before it) is left out: it shows no misconception.

Answers waiting for a hand grade are left out of everything (never counted as zero), and a question still
waiting for any is not ranked: its mean would be that of the students who did not answer.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field

from autograder.results.disclosure import without_seed
from autograder.results.status import QuestionStatus, SubmissionStatus

#: Under this corrected item-total correlation a question is called out as discriminating badly.
POOR_DISCRIMINATION = 0.2
#: Fewer students than this and no correlation is computed (it would be noise).
MIN_STUDENTS_FOR_DISCRIMINATION = 5
#: How many of the most common wrong results are shown per check.
COMMON_WRONG_SHOWN = 3
#: Submissions that never reached the grader's verdict (no notebook, or ours failed): not students' answers.
NOT_GRADED = {SubmissionStatus.INVALID, SubmissionStatus.MISSING, SubmissionStatus.GRADER_ERROR, "failed"}

#: A check whose cell stopped before it (the student's code raised earlier) says so; it is no wrong result.
NOT_CHECKED = "not checked"
_NUMBER = re.compile(r"(?<![A-Za-z_])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


@dataclass
class CheckFailures:
    question: str
    check: str
    failed: int
    ran: int
    common: list[tuple[str, int]] = field(default_factory=list)  # (message with varying numbers masked, students)


@dataclass
class ItemStats:
    notebook: str
    question: str
    max_score: float
    graded: int = 0
    pending: int = 0  # answers waiting for a hand grade
    difficulty: float | None = None  # mean fraction of the points earned
    discrimination: float | None = None  # corrected item-total correlation

    @property
    def discriminates_badly(self) -> bool:
        return self.discrimination is not None and self.discrimination < POOR_DISCRIMINATION


@dataclass
class ItemAnalysis:
    items: list[ItemStats]
    checks: list[CheckFailures]

    @property
    def hardest(self) -> list[ItemStats]:
        """Fully graded questions, lowest difficulty (mean fraction) first."""
        ranked = [item for item in self.items if item.difficulty is not None and not item.pending]
        return sorted(ranked, key=lambda item: (item.difficulty, item.question))

    @property
    def poorly_discriminating(self) -> list[ItemStats]:
        return sorted((item for item in self.items if item.discriminates_badly), key=lambda item: item.discrimination)


def pearson(xs: list[float], ys: list[float]) -> float | None:
    """The correlation of two equally long lists, None where either does not vary."""
    if len(xs) < 2:
        return None
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mean_x) ** 2 for x in xs)
    syy = sum((y - mean_y) ** 2 for y in ys)
    if sxx <= 1e-12 or syy <= 1e-12:
        return None
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / math.sqrt(sxx * syy)


def mask_numbers(message: str) -> str:
    """A check's message with its numbers masked: "got 0.51, expected 0.5" and "got 0.49, expected 0.5"
    are one misconception, not two."""
    return _NUMBER.sub("#", " ".join(without_seed(str(message)).split()))[:240]


def analyse(submissions) -> ItemAnalysis:
    """The item analysis of gradebook rows (`Gradebook.submissions(assignment)`), one per student and notebook."""
    items: dict[tuple[str, str], ItemStats] = {}
    fractions: dict[str, dict[tuple[str, str], float]] = {}  # student -> question -> fraction earned
    points: dict[tuple[str, str], float] = {}
    checks: dict[tuple[str, str], CheckFailures] = {}
    wrong: dict[tuple[str, str], Counter] = {}
    for submission in submissions:
        for result in submission.results:
            key = (submission.notebook, result.question)
            item = items.setdefault(key, ItemStats(submission.notebook, result.question, result.max_score))
            item.max_score = max(item.max_score, result.max_score)
            points[key] = item.max_score
            if submission.status in NOT_GRADED:
                continue
            if result.status == QuestionStatus.NEEDS_MANUAL_GRADE or result.score is None:
                item.pending += 1
                continue
            item.graded += 1
            if result.max_score > 0:
                fractions.setdefault(submission.student_id, {})[key] = min(max(result.score / result.max_score, 0.0), 1.0)
            for check in result.checks or []:
                if not isinstance(check, dict) or not check.get("name") or str(check.get("message", "")).startswith(NOT_CHECKED):
                    continue  # a check that never ran (its cell stopped earlier) says nothing about a misconception
                found = checks.setdefault((result.question, str(check["name"])), CheckFailures(result.question, str(check["name"]), 0, 0))
                found.ran += 1
                if not check.get("passed"):
                    found.failed += 1
                    wrong.setdefault((result.question, str(check["name"])), Counter())[mask_numbers(check.get("message", ""))] += 1
    for key, item in items.items():
        earned = [by_question[key] for by_question in fractions.values() if key in by_question]
        item.difficulty = statistics.fmean(earned) if earned else None
        if len(earned) >= MIN_STUDENTS_FOR_DISCRIMINATION and not item.pending:
            xs, ys = [], []
            for by_question in fractions.values():
                if key not in by_question:
                    continue
                rest = [k for k in by_question if k != key]
                total = sum(points[k] for k in rest)
                if total <= 0:
                    continue
                xs.append(by_question[key])
                ys.append(sum(by_question[k] * points[k] for k in rest) / total)
            item.discrimination = pearson(xs, ys)
    for key, counter in wrong.items():
        checks[key].common = counter.most_common(COMMON_WRONG_SHOWN)
    failing = sorted((c for c in checks.values() if c.failed), key=lambda c: (-c.failed, c.question, c.check))
    return ItemAnalysis(list(items.values()), failing)
