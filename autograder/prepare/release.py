"""Where a solution notebook is turned into the student version.

The pipeline reads top to bottom; it is the part of ``nbgrader generate_assignment`` that writes the
student notebook, in nbgrader's order, each step one of nbgrader's preprocessors used as a library (no
database) configured by the course's ``nbgrader_config.py`` as inside nbgrader
(`autograder.course.nbgrader_config`), plus small steps of our own:

0. `instructor_notebook`: ``IncludeHeaderFooter``, the header and footer notebooks around the source's cells
   (the notebook the grading manifest pairs with the released one, cell for cell);
1. validate the source (unique grade_ids, points on graded and task cells) with a message naming the cell;
2. `LockCells`: test, read-only and task cells non-editable, answer cells non-deletable, in Jupyter;
3. `ClearSolutions`: replace ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` with a stub;
4. `ClearOutput`: no outputs or execution counts;
5. `ClearHiddenTests`: drop ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS``;
6. `ClearMarkScheme`: drop a task cell's ``=== BEGIN MARK SCHEME ===`` ... ``=== END MARK SCHEME ===``;
7. normalise notebook metadata so that the file depends only on the course (``release --check`` relies on it);
8. `ComputeChecksums`: nbgrader's checksum of every graded, read-only and task cell, on the released content.

nbgrader's other steps of generate_assignment are left out: ``SaveCells`` writes its database (our manifest,
`autograder.prepare.manifest`, keeps what grading needs), ``CheckCellMetadata`` is step 1, ``InstantiateTests``
(autotests) is refused at step 1, and nbgrader's first ``ComputeChecksums`` is overwritten by its last.
"""

from __future__ import annotations

import copy

import nbformat
from nbformat import NotebookNode

from autograder.course import cells
from autograder.course.cells import Kind
from autograder.course import CourseError
from autograder.course.nbgrader_config import NbgraderConfig

CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"  # nbgrader's default for Python
TEXT_STUB = "YOUR ANSWER HERE"
AUTOTEST = "AUTOTEST"  # nbgrader's InstantiateTests.autotest_delimiter


def instructor_notebook(source: NotebookNode, config: NbgraderConfig | None = None) -> NotebookNode:
    """The source notebook with the course's header and footer notebooks around it (a copy; nbgrader's
    ``IncludeHeaderFooter``): what `release_notebook` releases and the grading manifest keeps."""
    notebook = copy.deepcopy(source)
    if config is None:
        return notebook
    notebook.cells = _cells_of(config.header) + list(notebook.cells) + _cells_of(config.footer)
    return notebook


def _cells_of(path) -> list:
    if path is None:
        return []
    try:
        return list(nbformat.read(path, as_version=4).cells)
    except Exception as error:  # noqa: BLE001 - the instructor's header/footer notebook: name it
        raise CourseError(f"{path}: cannot read this header/footer notebook (nbgrader_config.py names it): {error}") from None


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
        if kind in (Kind.TEST, Kind.MANUAL, Kind.TASK) and "points" not in meta:
            raise CourseError(f"{label} ({grade_id}): a graded cell needs 'points' in its nbgrader metadata")
        if kind in (Kind.TEST, Kind.MANUAL, Kind.TASK) and cells.points(cell) < 0:
            raise CourseError(f"{label} ({grade_id}): points must not be negative")
        if kind is Kind.TEST and cell.cell_type != "code":
            raise CourseError(f"{label} ({grade_id}): a test cell (grade, not solution) must be a code cell")
        if kind is Kind.TASK and cell.cell_type != "markdown":
            raise CourseError(f"{label} ({grade_id}): a task cell must be a Markdown cell (as nbgrader requires)")
        if kind is Kind.TEST and AUTOTEST in cell.source:
            raise CourseError(f"{label} ({grade_id}): nbgrader's autotests ({AUTOTEST} lines) are not supported; "
                              "write the test out with checks (docs/authoring.md)")


def _normalise(notebook: NotebookNode) -> NotebookNode:
    notebook.metadata.pop("celltoolbar", None)
    notebook.metadata.pop("widgets", None)
    for cell in notebook.cells:
        for key in ("execution", "collapsed", "scrolled", "ExecuteTime"):
            cell.metadata.pop(key, None)
    return notebook


def release_notebook(source: NotebookNode, where: str = "notebook", config: NbgraderConfig | None = None) -> NotebookNode:
    """The student version of one solution notebook (the input is not modified), configured by the course's
    ``nbgrader_config.py`` (None: nbgrader's defaults). Header and footer are not added here: pass
    `instructor_notebook`'s result to release them too."""
    # Imported here, not above: importing nbgrader costs a second (its package imports its Jupyter server
    # extensions), which `autograder grade` pays while its warm workers start rather than before.
    from nbgrader.preprocessors import ClearHiddenTests, ClearMarkScheme, ClearOutput, ClearSolutions, ComputeChecksums, LockCells

    validate_source(source, where)
    notebook = copy.deepcopy(source)
    resources: dict = {}
    settings = {"config": config.traitlets_config} if config is not None else {}
    steps = [LockCells(**settings), ClearSolutions(**settings), ClearOutput(**settings), ClearHiddenTests(**settings),
             ClearMarkScheme(**settings)]
    try:
        for step in steps:
            notebook, resources = step(notebook, resources)  # calling, not .preprocess: a step with enabled = False is skipped
    except (RuntimeError, ValueError) as error:  # nbgrader reports misplaced regions, a missing language's stub, this way
        raise CourseError(f"{where}: {' '.join(str(error).split())}") from None
    _normalise(notebook)
    notebook, resources = ComputeChecksums().preprocess(notebook, resources)
    return notebook


def render(notebook: NotebookNode) -> str:
    """The exact bytes written for a notebook: stable, so `release --check` can compare files."""
    return nbformat.writes(notebook, version=4) + "\n"
