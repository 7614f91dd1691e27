"""What a notebook cell is, read from nbgrader's cell metadata (``cell.metadata.nbgrader``)."""

from __future__ import annotations

from enum import Enum

from nbformat import NotebookNode


class Kind(str, Enum):
    ANSWER = "answer"  # solution cell: the student writes here
    MANUAL = "manual"  # solution cell with points: an answer graded by hand
    TEST = "test"  # grade cell: autograded tests (locked at release)
    LOCKED = "locked"  # read-only instructor cell (setup, instructions)
    TASK = "task"  # nbgrader "task" cell: a manually graded task description
    PLAIN = "plain"  # no nbgrader metadata: anybody's cell


def nbgrader(cell: NotebookNode) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else {}


def kind(cell: NotebookNode) -> Kind:
    meta = nbgrader(cell)
    if not meta:
        return Kind.PLAIN
    if meta.get("task"):
        return Kind.TASK
    solution, grade = bool(meta.get("solution")), bool(meta.get("grade"))
    if solution and grade:
        return Kind.MANUAL
    if solution:
        return Kind.ANSWER
    if grade:
        return Kind.TEST
    if meta.get("locked"):
        return Kind.LOCKED
    return Kind.PLAIN


def grade_id(cell: NotebookNode) -> str | None:
    value = nbgrader(cell).get("grade_id")
    return str(value) if value not in (None, "") else None


def points(cell: NotebookNode) -> float:
    try:
        return float(nbgrader(cell).get("points", 0) or 0)
    except (TypeError, ValueError):
        return 0.0
