"""Where a solution notebook is turned into the student version.

The pipeline reads top to bottom; each step is one of nbgrader's preprocessors used as a library (no
database, no configuration files), plus two small steps of our own:

1. validate the source (unique grade_ids, points on graded cells) with a message naming the cell;
2. `ClearSolutions`: replace ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` with a stub;
3. `ClearHiddenTests`: drop ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS``;
4. `ClearOutput`: no outputs or execution counts;
5. `LockCells`: test and read-only cells become non-editable, non-deletable in Jupyter;
6. `ComputeChecksums`: nbgrader's checksum of every graded cell, on the released content;
7. normalise notebook metadata so that the file depends only on source/ (``release --check`` relies on it).
"""

from __future__ import annotations

import copy

import nbformat
from nbformat import NotebookNode

from autograder.course import cells
from autograder.course.cells import Kind
from autograder.course import CourseError

CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
TEXT_STUB = "YOUR ANSWER HERE"


def validate_source(notebook: NotebookNode, where: str) -> None:
    """Raise `CourseError` naming the cell when the source notebook cannot be released as it is."""
    seen: dict[str, int] = {}
    for index, cell in enumerate(notebook.cells):
        meta = cells.nbgrader(cell)
        if not meta:
            continue
        grade_id = cells.grade_id(cell)
        label = f"{where}, cell {index + 1}"
        if grade_id is None:
            raise CourseError(f"{label}: an nbgrader cell has no grade_id; give it a unique one in the cell's metadata")
        if grade_id in seen:
            raise CourseError(f"{label}: grade_id {grade_id!r} is also used by cell {seen[grade_id] + 1}; grade_ids must be unique")
        seen[grade_id] = index
        kind = cells.kind(cell)
        if kind in (Kind.TEST, Kind.MANUAL) and "points" not in meta:
            raise CourseError(f"{label} ({grade_id}): a graded cell needs 'points' in its nbgrader metadata")
        if kind in (Kind.TEST, Kind.MANUAL, Kind.TASK) and cells.points(cell) < 0:
            raise CourseError(f"{label} ({grade_id}): points must not be negative")
        if kind is Kind.TEST and cell.cell_type != "code":
            raise CourseError(f"{label} ({grade_id}): a test cell (grade, not solution) must be a code cell")


def _normalise(notebook: NotebookNode) -> NotebookNode:
    notebook.metadata.pop("celltoolbar", None)
    notebook.metadata.pop("widgets", None)
    for cell in notebook.cells:
        for key in ("execution", "collapsed", "scrolled", "ExecuteTime"):
            cell.metadata.pop(key, None)
        if cells.kind(cell) is Kind.TEST:
            cells.nbgrader(cell)["locked"] = True
    return notebook


def release_notebook(source: NotebookNode, where: str = "notebook") -> NotebookNode:
    """The student version of one solution notebook (the input is not modified)."""
    # Imported here, not above: importing nbgrader costs a second (its package imports its Jupyter server
    # extensions), which `autograder grade` pays while its warm workers start rather than before.
    from nbgrader.preprocessors import ClearHiddenTests, ClearOutput, ClearSolutions, ComputeChecksums, LockCells

    validate_source(source, where)
    notebook = copy.deepcopy(source)
    resources: dict = {}
    steps = [
        ClearSolutions(code_stub={"python": CODE_STUB}, text_stub=TEXT_STUB),
        ClearHiddenTests(),
        ClearOutput(),
        LockCells(),
    ]
    try:
        for step in steps:
            notebook, resources = step.preprocess(notebook, resources)
    except RuntimeError as error:  # nbgrader reports solution regions outside solution cells this way
        raise CourseError(f"{where}: {error}") from None
    _normalise(notebook)
    notebook, resources = ComputeChecksums().preprocess(notebook, resources)
    return notebook


def render(notebook: NotebookNode) -> str:
    """The exact bytes written for a notebook: stable, so `release --check` can compare files."""
    return nbformat.writes(notebook, version=4) + "\n"
