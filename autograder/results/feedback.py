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

from autograder.wire.causes import causes, cause_sentence
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
    name_on_board = _leaderboard_names(assignment)
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
            leaderboard_name=name_on_board(total.student_id) if name_on_board else None,
        )
        path = output / f"{safe_filename(total.student_id)}.html"
        path.write_text(html, encoding="utf-8")
        page = FeedbackPage(total.student_id, path, total.score, total.max_score, total.adjusted, total.penalty.explanation)
        pages.append(page)
        if on_written is not None:
            on_written(page)
    return pages


def _leaderboard_names(assignment) -> Callable[[str], str] | None:
    """Where the assignment has a leaderboard, each student's pseudonym on it (only their own page says which
    row is theirs); None without one."""
    from autograder.course.late import has_leaderboard
    from autograder.results.leaderboard import course_secret, pseudonym

    if not has_leaderboard(assignment.course.root, assignment.name):
        return None
    secret = course_secret(assignment.course.root)
    return lambda student_id: pseudonym(secret, student_id)


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


def cell_label(cells: list[dict], index: int) -> str:
    """A cell as the page names it: "answer cell 'count_parameters'", "test cell 'q1_test'", "cell 7"."""
    cell = cells[index]
    if cell.get("grade_id"):
        noun = {"test": "test cell", "answer": "answer cell", "manual": "answer cell"}.get(cell.get("kind"), "read-only cell")
        return f"{noun} '{cell['grade_id']}'"
    return f"cell {index + 1}"


def cell_anchor(notebook: str, cells: list[dict], index: int) -> str:
    cell = cells[index]
    return f"cell-{notebook}-{cell['grade_id']}" if cell.get("grade_id") else f"cell-{notebook}-n{index}"


#: Characters of a source line quoted where an error was raised.
ERROR_LINE_SHOWN = 120


def error_where(notebook: str, cells: list[dict], index: int) -> dict | None:
    """Where the error of cell ``index`` was raised, as the student's view kept it: the cell (named and linked),
    the line, and that line of the student's own code; None when the view has no place for it."""
    places = cells[index].get("error_at") if 0 <= index < len(cells) else None
    if not places or not isinstance(places, list) or not isinstance(places[0], dict):
        return None
    inner = places[0]
    at = inner.get("cell")
    if not isinstance(at, int) or not 0 <= at < len(cells):
        return None
    line = inner.get("line")
    function = str(inner.get("function") or "")
    text = f"at {cell_label(cells, at)}" + (f", line {line}" if isinstance(line, int) else "")
    if function and function != "<module>":
        text += f", in {function}"
    code = ""
    if isinstance(line, int) and cells[at].get("kind") != "test":
        lines = str(cells[at].get("source", "")).split("\n")
        if 0 < line <= len(lines):
            code = lines[line - 1].strip()[:ERROR_LINE_SHOWN]
    return {"text": text, "code": code, "anchor": cell_anchor(notebook, cells, at), "cell": at}


def grouped_checks(checks: list[dict]) -> list[dict]:
    """The rows of a question's check table: failed checks that say the same thing (one cause, many checks)
    share one row naming them all; passed checks and unique messages keep their own."""
    rows: list[dict] = []
    by_message: dict[tuple, dict] = {}
    for check in checks:
        key = (check["message"], check.get("hint", ""))
        if not check["passed"] and check["message"] and key in by_message:
            row = by_message[key]
            row["names"].append(check["name"])
            if check["seed"] is not None:
                row["seeds"].append(check["seed"])
            continue
        row = {"names": [check["name"]], "passed": check["passed"], "message": check["message"], "hint": check.get("hint", ""),
               "seeds": [check["seed"]] if check["seed"] is not None else []}
        rows.append(row)
        if not check["passed"]:
            by_message[key] = row
    return rows


def _notebook_context(submission, view: dict | None, redact: Redactor, titles: dict[str, str] | None = None) -> dict:
    titles = titles or {}
    view_cells = [c for c in (view or {}).get("cells", []) if isinstance(c, dict)]
    test_cell = {c.get("grade_id"): i for i, c in enumerate(view_cells) if c.get("kind") == "test" and c.get("grade_id")}
    questions = []
    by_question = {}
    for result in submission.results:
        checks = [{"name": c.get("name", ""), "passed": bool(c.get("passed")), "seed": c.get("seed"),
                   "message": without_seed(redact(str(c.get("message", "")))),
                   "hint": "" if c.get("passed") else redact(str(c.get("hint") or ""))}
                  for c in (result.checks or []) if isinstance(c, dict)]
        pending = result.status == QuestionStatus.NEEDS_MANUAL_GRADE or result.score is None
        question = {"id": result.question, "title": titles.get(result.question, ""), "score": result.score,
                    "max_score": result.max_score, "status": result.status, "pending": pending,
                    "message": without_seed(redact(result.message)), "checks": checks, "rows": grouped_checks(checks),
                    "lost": 0.0 if pending else max(result.max_score - (result.score or 0.0), 0.0),
                    "passed_checks": sum(c["passed"] for c in checks),
                    "comment": result.status == QuestionStatus.MANUALLY_GRADED,  # the grader's words, in Markdown
                    "hint": next((c["hint"] for c in checks if c["hint"]), ""), "cause": "", "dependents": []}
        question["first_failure"] = _first_failure(question)
        where = error_where(submission.notebook, view_cells, test_cell[result.question]) if result.question in test_cell else None
        question["where"] = where if where is not None and not question["comment"] and question["lost"] > 1e-9 else None
        questions.append(question)
        by_question[result.question] = question
    _attach_causes(questions, by_question, view_cells)
    cells = []
    for index, cell in enumerate(view_cells):
        cell = dict(cell)
        cell["question"] = by_question.get(cell.get("grade_id"))
        cell["anchor"] = cell_anchor(submission.notebook, view_cells, index)
        cells.append(cell)
    roots = [q for q in questions if q["lost"] > 1e-9 and not q["caused_by"]]
    fix_first = sorted(roots, key=lambda q: -q["lost"])[:FIX_FIRST_SHOWN]
    return {
        "name": submission.notebook, "status": shown_status(submission.status), "message": without_seed(redact(submission.message)),
        "notes": [redact(n) for n in (submission.notes or []) if not n.startswith(VERSION_NOTE)],
        "version": next((n for n in (submission.notes or []) if n.startswith(VERSION_NOTE)), ""),
        "questions": questions, "cells": cells,
        "score": sum(q["score"] or 0.0 for q in questions), "max_score": sum(q["max_score"] for q in questions),
        "pending": sum(q["max_score"] for q in questions if q["pending"]), "fix_first": fix_first,
        "has_view": view is not None and bool(view.get("cells")),
        "titles": {q["id"]: q["title"] for q in questions if q["title"]},
    }


def _attach_causes(questions: list[dict], by_question: dict[str, dict], cells: list[dict]) -> None:
    """Questions that lost points because they used the student's answer to another question that lost points
    say so once ("this used your `f` (question A), which fails its own check") and are listed under that
    question in "what to fix first" instead of beside it (`autograder.wire.causes`)."""
    lost = {q["id"] for q in questions if q["lost"] > 1e-9}
    titles = {q["id"]: q["title"] for q in questions}
    not_attempted = {q["id"] for q in questions if q["status"] == QuestionStatus.NOT_ATTEMPTED}
    found = causes(cells, lost) if cells else {}
    for question in questions:
        used = found.get(question["id"], [])
        question["cause"] = cause_sentence(used, titles, not_attempted) if used else ""
        question["caused_by"] = list(dict.fromkeys(u.question for u in used))
    for question in questions:
        # listed under its cause when that cause is itself a root (a cycle of two failing questions: both stay roots)
        root = next((by_question[c] for c in question["caused_by"] if c in by_question and not by_question[c]["caused_by"]), None)
        if root is None:
            question["caused_by"] = []
            continue
        root["dependents"].append(question)
