"""What the grader keeps from source/ about one notebook: the grading manifest.

It is derived from the solution notebook on the trusted side (and can be shipped as JSON to remote
workers); it never goes into release/. `autograder release` and the first `grade` keep it under
``.autograder/manifests/``, keyed by the source notebook's bytes and the code that derives it, as nbgrader's
generate_assignment keeps the source cells in its gradebook: a grading run does not repeat the release
pipeline (nor pay a second of importing nbgrader for it). For each nbgrader cell, in source order:

* test and read-only cells: the full source, hidden tests included (restored into every submission);
* task cells (nbgrader's hand-graded tasks): the released text, without the mark scheme (restored likewise);
* answer cells: the released stub (put back when a student deleted the cell) and its checksum;
* graded and task cells: points.

The notebook is the source with the course's header and footer (`release.instructor_notebook`), released with
the course's ``nbgrader_config.py``; both are part of what a kept manifest is keyed by.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from nbformat import NotebookNode

import autograder
from autograder.course import cells, nbgrader_config
from autograder.course.cells import Kind
from autograder.prepare import release
from autograder.prepare.release import instructor_notebook, release_notebook

if TYPE_CHECKING:
    from autograder.course import Assignment
    from autograder.course.nbgrader_config import NbgraderConfig


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
    released_source: str = ""  # the cell as released (test cells: without their hidden tests); "" in older manifests

    @property
    def graded(self) -> bool:
        """A question with points: autograded tests, a hand-graded answer, or a hand-graded task."""
        return self.kind in (Kind.TEST, Kind.MANUAL, Kind.TASK)


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


def build_manifest(assignment: str, notebook_name: str, source: NotebookNode, where: str,
                   config: NbgraderConfig | None = None) -> NotebookManifest:
    """The manifest of a solution notebook: what the grader keeps from source/ (with the course's
    header, footer and nbgrader_config.py; None: nbgrader's defaults)."""
    full = instructor_notebook(source, config)
    released = release_notebook(full, where, config)
    return manifest_from_cells(assignment, notebook_name, dict(released.metadata), zip(full.cells, released.cells))


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
        keeps_instructor_source = kind in (Kind.TEST, Kind.LOCKED)  # a task's mark scheme never reaches a student
        manifest.cells.append(
            ManifestCell(
                grade_id=grade_id,
                kind=kind.value,
                cell_type=source_cell.cell_type,
                source=source_cell.source if keeps_instructor_source else released_cell.source,
                solution_source=source_cell.source,
                points=cells.points(source_cell) if kind in (Kind.TEST, Kind.MANUAL, Kind.TASK) else 0.0,
                checksum=cells.nbgrader(released_cell).get("checksum"),
                metadata=dict(released_cell.metadata),
                released_source=released_cell.source,
            )
        )
        anchor = grade_id
    return manifest


def assignment_manifest(assignment: Assignment, notebook_name: str) -> NotebookManifest:
    """The manifest of one of the assignment's notebooks: kept from an earlier release or grading run when
    the source notebook and the code that derives manifests are unchanged, otherwise built and kept."""
    path = assignment.source_notebook_path(notebook_name)
    cache = _manifest_cache(assignment, notebook_name, path.read_bytes())
    try:
        return NotebookManifest.from_json(json.loads(cache.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        pass  # not kept yet, or unreadable: build it again
    manifest = build_manifest(assignment.name, notebook_name, assignment.read_source(notebook_name), str(path),
                              assignment.course.nbgrader_config)
    _write(cache, manifest)
    return manifest


def keep_manifest(assignment: Assignment, manifest: NotebookManifest) -> None:
    """Write the manifest where `assignment_manifest` looks (quietly not, where the course is read-only)."""
    source = assignment.source_notebook_path(manifest.notebook).read_bytes()
    _write(_manifest_cache(assignment, manifest.notebook, source), manifest)


def _write(cache: Path, manifest: NotebookManifest) -> None:
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=cache.parent, prefix=".manifest-")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(manifest.to_json(), out)
        os.replace(temporary, cache)  # whole or not at all, whoever reads it meanwhile
    except OSError:
        pass


def _manifest_cache(assignment: Assignment, notebook_name: str, source: bytes) -> Path:
    digest = hashlib.sha256(source)
    digest.update(f"{assignment.name}/{notebook_name}".encode())
    digest.update(assignment.course.nbgrader_config.fingerprint())
    digest.update(_deriving_code())
    return assignment.course.cache_dir / "manifests" / f"{assignment.name}--{notebook_name}--{digest.hexdigest()[:20]}.json"


@functools.cache
def _deriving_code() -> bytes:
    """What a manifest is derived by: this package's version and code, and nbgrader's version."""
    digest = hashlib.sha256(f"autograder {autograder.__version__}".encode())
    try:
        digest.update(importlib.metadata.version("nbgrader").encode())
    except importlib.metadata.PackageNotFoundError:
        pass
    for module in (sys.modules[__name__], release, cells, nbgrader_config):  # the modules themselves, wherever they live
        digest.update(Path(module.__file__).read_bytes())
    return digest.digest()
