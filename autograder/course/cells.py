"""What a notebook cell is, read from nbgrader's cell metadata (``cell.metadata.nbgrader``)."""

from __future__ import annotations

import re
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


def _heading(markdown: str) -> str | None:
    """The text of the last Markdown heading (``# ...``) in a cell, emphasis and trailing points removed."""
    found = None
    for line in markdown.splitlines():
        stripped = line.strip()
        if stripped.startswith("#") and stripped.lstrip("#").startswith(" "):
            found = stripped.lstrip("#").strip()
    if found is None:
        return None
    for mark in ("**", "__", "`"):
        found = found.replace(mark, "")
    found = re.sub(r"\s*\([^()]*\bpoints?\b[^()]*\)\s*$", "", found)  # "(2 points)": the page shows points itself
    return found.strip() or None


def question_titles(notebook: NotebookNode) -> dict[str, str]:
    """grade_id of each graded cell -> the heading that introduces its question in the notebook (the last
    Markdown heading above it), e.g. "Question 2: count the parameters"; graded cells with no heading above
    them are left out."""
    titles, current = {}, None
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "markdown" and kind(cell) not in (Kind.MANUAL,):
            source = cell.get("source", "")
            current = _heading("".join(source) if isinstance(source, list) else str(source)) or current
        identifier = grade_id(cell)
        if identifier and kind(cell) in (Kind.TEST, Kind.MANUAL, Kind.TASK) and current:
            titles[identifier] = current
    return titles


#: What a task's hand-graded work reads when the student wrote no cell after the task.
NO_TASK_WORK = "(no cells after the task: look for the work in the student's other cells)"


def task_work(following) -> str:
    """The work a student shows for an nbgrader task: their cells after the task cell, up to the next
    nbgrader cell, as one Markdown text (code cells fenced), which is what a grader reads and what a hand
    grade of the task is keyed by. ``following``: the cells after the task, each with ``cell_type``,
    ``source`` and ``grade_id`` (None for a cell that is not nbgrader's)."""
    parts = []
    for cell in following:
        if cell.grade_id is not None:
            break
        text = cell.source.strip("\n")
        if not text.strip():
            continue
        if cell.cell_type == "code":
            fence = "```"
            while fence in text:
                fence += "`"
            text = f"{fence}python\n{text}\n{fence}"
        parts.append(text)
    return "\n\n".join(parts) or NO_TASK_WORK
