"""Grades out of the gradebook: the long CSV (one row per student and graded question)."""

from __future__ import annotations

import csv
import io

from autograder.gradebook import Gradebook

CSV_COLUMNS = ["student_id", "notebook", "question", "score", "max_score", "status", "message"]


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.6g}"


def long_rows(gradebook: Gradebook, assignment: str) -> list[dict]:
    rows = []
    for submission in gradebook.submissions(assignment):
        for result in submission.results:
            rows.append(
                {
                    "student_id": submission.student_id,
                    "notebook": submission.notebook,
                    "question": result.question,
                    "score": _number(result.score),
                    "max_score": _number(result.max_score),
                    "status": result.status,
                    "message": " ".join(result.message.split()),
                }
            )
    return rows


def to_csv(gradebook: Gradebook, assignment: str) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(long_rows(gradebook, assignment))
    return buffer.getvalue()
