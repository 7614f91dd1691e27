"""What the grader keeps from source/ about one notebook: the grading manifest.

It is derived from the solution notebook on the trusted side every time it is needed (and can be shipped
as JSON to remote workers); it never goes into release/. For each nbgrader cell, in source order:

* test and read-only cells: the full source, hidden tests included (restored into every submission);
* answer cells: the released stub (put back when a student deleted the cell) and its checksum;
* graded cells: points.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from nbformat import NotebookNode

from autograder import cells
from autograder.cells import Kind
from autograder.release import release_notebook


@dataclass
class ManifestCell:
    grade_id: str
    kind: str  # a `cells.Kind` value
    cell_type: str  # code | markdown | raw
    source: str  # test/locked: the instructor's full source; answer/manual: the released stub
    solution_source: str  # the instructor's version (solution included); used by the reference pass
    points: float
    checksum: str | None
    metadata: dict  # the released cell's metadata (nbgrader's included)

    @property
    def graded(self) -> bool:
        return self.kind in (Kind.TEST, Kind.MANUAL)


@dataclass
class NotebookManifest:
    assignment: str
    notebook: str  # file name, e.g. "deep_mlps.ipynb"
    cells: list[ManifestCell] = field(default_factory=list)
    # The source notebook's cells with no nbgrader metadata, in order, with the grade_id of the nbgrader
    # cell before them (None at the top): what the reference pass runs besides test and read-only cells.
    plain_cells: list[tuple[str | None, str, str]] = field(default_factory=list)  # (anchor, cell_type, source)
    metadata: dict = field(default_factory=dict)

    def by_id(self) -> dict[str, ManifestCell]:
        return {cell.grade_id: cell for cell in self.cells}

    @property
    def graded_cells(self) -> list[ManifestCell]:
        return [cell for cell in self.cells if cell.graded]

    @property
    def max_score(self) -> float:
        return sum(cell.points for cell in self.graded_cells)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "NotebookManifest":
        manifest = cls(data["assignment"], data["notebook"], metadata=data.get("metadata", {}))
        manifest.cells = [ManifestCell(**cell) for cell in data["cells"]]
        manifest.plain_cells = [tuple(item) for item in data.get("plain_cells", [])]
        return manifest


def build_manifest(assignment: str, notebook_name: str, source: NotebookNode, where: str) -> NotebookManifest:
    """The manifest of a solution notebook: what the grader keeps from source/."""
    released = release_notebook(source, where)
    return manifest_from_cells(assignment, notebook_name, dict(released.metadata), zip(source.cells, released.cells))


def manifest_from_cells(assignment: str, notebook_name: str, metadata: dict, pairs) -> NotebookManifest:
    """A manifest from (instructor's cell, released cell) pairs, in notebook order.

    From source/ the instructor's cell holds the solution and the hidden tests; a student's `check`, which
    has only release/, passes the released cell as both (visible tests only).
    """
    manifest = NotebookManifest(assignment, notebook_name, metadata=metadata)
    anchor = None
    for source_cell, released_cell in pairs:
        kind = cells.kind(source_cell)
        grade_id = cells.grade_id(source_cell)
        if kind is Kind.PLAIN or grade_id is None:
            manifest.plain_cells.append((anchor, source_cell.cell_type, source_cell.source))
            continue
        keeps_instructor_source = kind in (Kind.TEST, Kind.LOCKED, Kind.TASK)
        manifest.cells.append(
            ManifestCell(
                grade_id=grade_id,
                kind=kind.value,
                cell_type=source_cell.cell_type,
                source=source_cell.source if keeps_instructor_source else released_cell.source,
                solution_source=source_cell.source,
                points=cells.points(source_cell) if kind in (Kind.TEST, Kind.MANUAL) else 0.0,
                checksum=cells.nbgrader(released_cell).get("checksum"),
                metadata=dict(released_cell.metadata),
            )
        )
        anchor = grade_id
    return manifest
