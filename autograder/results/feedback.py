"""One HTML feedback page per student: what to fix first, every question's score, its checks, the notebook as graded.

What a student may see is decided once, in `autograder.results.disclosure` (test cells as released, outputs
withheld after hidden tests ran, hidden test lines redacted from messages); this module lays it out. Seeds are
the instructor's: they are in each check's tooltip, not in the text a student reads.

Never on a page: hidden test code, solutions/, the reference's expected values beyond what a check
message states.
"""


from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from autograder.results.disclosure import (WITHHELD_AFTER, WITHHELD_HIDDEN, WITHHELD_SIZE, Redactor, hidden_code_redactor,
                                           without_seed)
from autograder.course.cells import question_titles
from autograder.course.submissions import VERSION_NOTE
from autograder.results.pages import code_css, environment
from autograder.results.status import LABELS, RETRIED, QuestionStatus, SubmissionStatus
from autograder.results.totals import student_totals


STATUS_LABELS = {str(status): text for status, text in LABELS.items()}


def shown_status(status: str) -> str:
    """A submission's status as its page shows it: rows older than ``grader_error`` said ``failed`` for the
    grader's own failures, which a page must not label as the student's wrong value."""
    return SubmissionStatus.GRADER_ERROR if status in RETRIED else status


@dataclass
class FeedbackPage:
    student_id: str
    path: Path
    score: float
    max_score: float
    adjusted: float
    penalty: str


def safe_filename(student_id: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._@-]+", "_", student_id).strip("._") or "student"
    return name if name == student_id else f"{name}-{hashlib.sha1(student_id.encode()).hexdigest()[:8]}"


def write_feedback(assignment, gradebook, output: Path, on_written: Callable[[FeedbackPage], None] | None = None,
                   students: list[str] | None = None) -> list[FeedbackPage]:
    """One page per student, ``<output>/<student_id>.html``; returns what was written."""
    from markupsafe import Markup

    redact = hidden_code_redactor(assignment)
    titles = {name: question_titles(assignment.read_source(name)) for name in assignment.notebook_names}
    deadline = _deadline(assignment)
    template = environment().get_template("feedback.html.j2")
    output.mkdir(parents=True, exist_ok=True)
    pages = []
    for total in student_totals(gradebook, assignment.name, deadline):
        if students is not None and total.student_id not in students:
            continue
        views = gradebook.student_views(assignment.name, total.student_id)
        notebooks = [_notebook_context(submission, views.get((total.student_id, submission.notebook)), redact,
                                       titles.get(submission.notebook))
                      for submission in total.submissions]
        html = template.render(
            assignment=assignment.name, student_id=total.student_id, score=total.score, max_score=total.max_score,
            adjusted=total.adjusted, penalty=total.penalty, notebooks=notebooks, css=Markup(code_css()), labels=STATUS_LABELS,
            withheld_hidden=WITHHELD_HIDDEN, withheld_after=WITHHELD_AFTER, withheld_size=WITHHELD_SIZE,
        )
        path = output / f"{safe_filename(total.student_id)}.html"
        path.write_text(html, encoding="utf-8")
        page = FeedbackPage(total.student_id, path, total.score, total.max_score, total.adjusted, total.penalty.explanation)
        pages.append(page)
        if on_written is not None:
            on_written(page)
    return pages


def _deadline(assignment):
    from autograder.course.late import deadline_for

    return deadline_for(assignment)


#: How many failing questions the top of the page lists under "what to fix first".
FIX_FIRST_SHOWN = 5


def _first_failure(question: dict) -> str:
    failed = [c for c in question["checks"] if not c["passed"]]
    if failed:
        first = failed[0]
        more = f" (and {len(failed) - 1} more of {len(question['checks'])} checks failed)" if len(failed) > 1 else ""
        return f"{first['name']}: {first['message']}{more}" if first["message"] else f"{first['name']} failed{more}"
    return question["message"]


def _notebook_context(submission, view: dict | None, redact: Redactor, titles: dict[str, str] | None = None) -> dict:
    titles = titles or {}
    questions = []
    by_question = {}
    for result in submission.results:
        checks = [{"name": c.get("name", ""), "passed": bool(c.get("passed")), "seed": c.get("seed"),
                   "message": without_seed(redact(str(c.get("message", ""))))} for c in (result.checks or []) if isinstance(c, dict)]
        pending = result.status == QuestionStatus.NEEDS_MANUAL_GRADE or result.score is None
        question = {"id": result.question, "title": titles.get(result.question, ""), "score": result.score,
                    "max_score": result.max_score, "status": result.status, "pending": pending,
                    "message": without_seed(redact(result.message)), "checks": checks,
                    "lost": 0.0 if pending else max(result.max_score - (result.score or 0.0), 0.0),
                    "passed_checks": sum(c["passed"] for c in checks)}
        question["first_failure"] = _first_failure(question)
        questions.append(question)
        by_question[result.question] = question
    cells = []
    for cell in (view or {}).get("cells", []):
        cell = dict(cell)
        cell["question"] = by_question.get(cell.get("grade_id"))
        cells.append(cell)
    fix_first = sorted((q for q in questions if q["lost"] > 1e-9), key=lambda q: -q["lost"])[:FIX_FIRST_SHOWN]
    return {
        "name": submission.notebook, "status": shown_status(submission.status), "message": without_seed(redact(submission.message)),
        "notes": [redact(n) for n in (submission.notes or []) if not n.startswith(VERSION_NOTE)],
        "version": next((n for n in (submission.notes or []) if n.startswith(VERSION_NOTE)), ""),
        "questions": questions, "cells": cells,
        "score": sum(q["score"] or 0.0 for q in questions), "max_score": sum(q["max_score"] for q in questions),
        "pending": sum(q["max_score"] for q in questions if q["pending"]), "fix_first": fix_first,
        "has_view": view is not None and bool(view.get("cells")),
    }
