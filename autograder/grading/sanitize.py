"""A submission restored against source/ before it runs (trusted side).

Whatever a student did to the notebook's structure, the notebook that runs has every read-only and test
cell exactly as source/ has it (hidden tests included), in source order, once; the student's answer cells
with the source's metadata; and the student's own extra cells where the student put them relative to
the cell before. Every repair is noted, so the gradebook can say what happened.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import nbformat
from nbformat import NotebookNode

from autograder.course import cells
from autograder.course.cells import Kind
from autograder.prepare.manifest import ManifestCell, NotebookManifest


class NotThisAssignment(ValueError):
    """The notebook shares no graded cell with the assignment's notebook."""


@dataclass
class RunnableCell:
    """One cell of the restored notebook."""

    cell_type: str
    source: str
    origin: str  # "source" (restored from source/), "student", "stub" (a deleted answer put back)
    grade_id: str | None = None
    kind: str = Kind.PLAIN.value
    checksum_matches_release: bool = False  # an answer cell left as released


@dataclass
class Sanitized:
    cells: list[RunnableCell] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def index_of(self, grade_id: str) -> int | None:
        for index, cell in enumerate(self.cells):
            if cell.grade_id == grade_id:
                return index
        return None


def _checksum(cell_type: str, source: str, metadata: dict) -> str:
    """nbgrader's checksum of a cell as the source's metadata describes it."""
    from nbgrader.utils import compute_checksum

    probe = nbformat.from_dict({"cell_type": cell_type, "source": source, "metadata": {"nbgrader": dict(metadata.get("nbgrader", {}))}})
    return compute_checksum(probe)


def _as_released(item: ManifestCell, source: str) -> bool:
    """Whether ``source`` is the cell as released. nbgrader's checksum hashes the source with metadata that
    is the manifest's here, so equal checksums mean equal sources: compare the sources themselves where the
    manifest has the released one (and skip importing nbgrader, a second of a batch's start-up)."""
    if item.checksum is None:
        return False
    if item.released_source or item.kind in (Kind.ANSWER.value, Kind.MANUAL.value):
        released = item.released_source or item.source  # an answer cell's manifest source is its released stub
        return source == released
    return _checksum(item.cell_type, source, item.metadata) == item.checksum


def sanitize(student: NotebookNode, manifest: NotebookManifest) -> Sanitized:
    known = manifest.by_id()
    result = Sanitized()
    taken: dict[str, NotebookNode] = {}  # grade_id -> the student's first copy
    anchored: dict[str | None, list[NotebookNode]] = {}
    anchor: str | None = None
    student_order: list[str] = []

    for cell in student.get("cells", []):
        grade_id = cells.grade_id(cell)
        if grade_id is not None and grade_id in known:
            if grade_id in taken:
                result.notes.append(f"cell {grade_id!r} appeared more than once; only the first copy was kept")
                continue
            taken[grade_id] = cell
            student_order.append(grade_id)
            anchor = grade_id
            continue
        if cells.nbgrader(cell) and cells.kind(cell) is not Kind.PLAIN:
            label = f" {grade_id!r}" if grade_id else ""
            result.notes.append(f"a cell claims to be nbgrader cell{label}, which this assignment does not have; it runs as an ordinary cell")
        anchored.setdefault(anchor, []).append(cell)

    # A setup cell's grade_id ("setup", "imports") is often shared by every notebook of a course: only answer,
    # test and hand-graded cells say whose notebook this is.
    own = [item for item in manifest.cells if item.kind in (Kind.ANSWER, Kind.TEST, Kind.MANUAL)]
    if manifest.cells and (not taken or (own and not any(item.grade_id in taken for item in own))):
        raise NotThisAssignment(
            f"none of the {'answer or test' if taken else 'graded or read-only'} cells of {manifest.assignment}/{manifest.notebook} "
            "is in this notebook; is it the notebook of another assignment?"
        )
    expected_order = [cell.grade_id for cell in manifest.cells if cell.grade_id in taken]
    if student_order != expected_order:
        result.notes.append("read-only, answer or test cells were moved; they run in the order of the released notebook")

    def emit_student_cells(key: str | None) -> None:
        for cell in anchored.get(key, []):
            cell_type = cell.get("cell_type", "code")
            if cell_type not in ("code", "markdown", "raw"):
                continue
            result.cells.append(RunnableCell(cell_type, _text(cell.get("source", "")), "student"))

    emit_student_cells(None)
    for item in manifest.cells:
        student_cell = taken.get(item.grade_id)
        result.cells.append(_restore(item, student_cell, result.notes))
        emit_student_cells(item.grade_id)
    return result


def _text(source) -> str:
    return "".join(source) if isinstance(source, list) else str(source)


def _restore(item: ManifestCell, student_cell: NotebookNode | None, notes: list[str]) -> RunnableCell:
    kind = Kind(item.kind)
    if kind in (Kind.ANSWER, Kind.MANUAL):
        if student_cell is None:
            notes.append(f"answer cell {item.grade_id!r} was deleted; the released stub was put back")
            return RunnableCell(item.cell_type, item.source, "stub", item.grade_id, item.kind, True)
        source = _text(student_cell.get("source", ""))
        if student_cell.get("cell_type") != item.cell_type:
            notes.append(f"answer cell {item.grade_id!r} was changed to a {student_cell.get('cell_type')} cell; it is graded as a {item.cell_type} cell")
        unchanged = _as_released(item, source)
        return RunnableCell(item.cell_type, source, "student", item.grade_id, item.kind, unchanged)
    # test, read-only and task cells always come from source/
    if student_cell is None:
        notes.append(f"{_noun(kind)} {item.grade_id!r} was deleted; it was restored from source/")
    else:
        student_source = _text(student_cell.get("source", ""))
        changed_type = student_cell.get("cell_type") != item.cell_type
        student_meta = cells.nbgrader(student_cell)
        changed_meta = any(student_meta.get(k) != cells.nbgrader(nbformat.from_dict({"metadata": item.metadata})).get(k)
                           for k in ("points", "grade", "solution"))
        edited = item.checksum is not None and not _as_released(item, student_source)
        if edited or changed_type or changed_meta:
            what = ", ".join(w for w, flag in (("edited", edited), ("its type changed", changed_type), ("its metadata changed", changed_meta)) if flag)
            notes.append(f"{_noun(kind)} {item.grade_id!r} was {what}; it was restored from source/")
    return RunnableCell(item.cell_type, item.source, "source", item.grade_id, item.kind)


def _noun(kind: Kind) -> str:
    return {Kind.TEST: "test cell", Kind.LOCKED: "read-only cell", Kind.TASK: "task cell"}.get(kind, "cell")
