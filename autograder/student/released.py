"""The released course a student has (``release/``), and which of its notebooks a file is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder.course import cells
from autograder.grading.submission import Invalid, read_notebook
from autograder.prepare.manifest import NotebookManifest, manifest_from_cells
from autograder.student import StudentError


@dataclass(frozen=True)
class ReleasedCourse:
    """The course as a student has it: a folder with ``release/<assignment>/<notebook>.ipynb``."""

    root: Path

    @classmethod
    def locate(cls, course: str | Path | None, notebook: Path) -> "ReleasedCourse":
        """``--course DIR`` when given; else the current directory or the nearest folder above the notebook with release/."""
        if course is not None:
            root = Path(course).resolve()
            if not (root / "release").is_dir():
                raise StudentError(f"{root} has no release/ folder: pass --course the course folder you were given "
                                   "(the one that holds release/<assignment>/<notebook>.ipynb)")
            return cls(root)
        candidates = [Path.cwd(), *Path(notebook).resolve().parents]
        for candidate in candidates:
            if (candidate / "release").is_dir():
                return cls(candidate.resolve())
        raise StudentError(f"no release/ folder in the current directory or above {notebook}: pass --course DIR, "
                           "the course folder you were given (the one that holds release/<assignment>/...)")

    def released_notebooks(self) -> list[tuple[str, Path]]:
        return sorted((path.parent.name, path) for path in (self.root / "release").glob("*/*.ipynb"))


@dataclass
class ReleasedNotebook:
    assignment: str
    notebook: str  # the released file name: the name `grade` expects
    path: Path
    manifest: NotebookManifest

    @property
    def folder(self) -> Path:
        return self.path.parent


def manifest_from_release(assignment: str, notebook_name: str, released: nbformat.NotebookNode) -> NotebookManifest:
    """A grading manifest from the released notebook: test cells hold the visible tests only.

    Release already wrote what `sanitize` compares against (stubs, locked cells, nbgrader checksums), so
    the released cells are taken as they are.
    """
    return manifest_from_cells(assignment, notebook_name, dict(released.metadata), zip(released.cells, released.cells))


def changed_cell(released: nbformat.NotebookNode) -> str | None:
    """The grade_id of the first cell that no longer matches the checksum release gave it, if any.

    A file under release/ with such a cell is somebody's worked copy, not the release: it cannot say what
    the locked and test cells were.
    """
    from nbgrader.utils import compute_checksum

    for cell in released.cells:
        checksum = cells.nbgrader(cell).get("checksum")
        if checksum and compute_checksum(cell) != checksum:
            return cells.grade_id(cell) or "?"
    return None


def identify(notebook: nbformat.NotebookNode, path: Path, course: ReleasedCourse) -> ReleasedNotebook:
    """The released notebook this one is a copy of: the one sharing most nbgrader cells (grade_ids).

    Only notebooks under release/ that are still as released count (every cell matches its checksum).
    """
    ids = {cells.grade_id(cell) for cell in notebook.get("cells", [])} - {None}
    best: list[tuple[int, bool, ReleasedNotebook]] = []
    worked: list[tuple[Path, str]] = []
    for assignment, released_path in course.released_notebooks():
        if released_path.resolve() == path.resolve():
            continue
        try:
            released = nbformat.read(released_path, as_version=4)
        except Exception as error:
            raise StudentError(f"{released_path}: the released notebook cannot be read ({error}); get a fresh copy of the course") from None
        manifest = manifest_from_release(assignment, released_path.name, released)
        shared = len(ids & {c.grade_id for c in manifest.cells})
        if not shared:
            continue
        changed = changed_cell(released)
        if changed is not None:
            worked.append((released_path, changed))
            continue
        best.append((shared, released_path.name == path.name, ReleasedNotebook(assignment, released_path.name, released_path, manifest)))
    if not best and worked:
        where, grade_id = worked[0]
        raise StudentError(f"{path}: the released notebook it comes from, {where}, is not as released any more (cell {grade_id!r} "
                           "was changed), so it cannot tell what the grader restores. Get a fresh copy of release/ and keep "
                           "your work in a copy of the notebook (e.g. next to release/, or under another name)")
    if not best:
        raise StudentError(f"{path}: none of its cells belongs to an assignment in {course.root / 'release'}; is it a notebook "
                           "of this course? Start from the released notebook (its locked cells carry the ids the grader needs)")
    best.sort(key=lambda item: (item[0], item[1]), reverse=True)
    if len(best) > 1 and best[0][:2] == best[1][:2]:
        names = ", ".join(f"{item[2].assignment}/{item[2].notebook}" for item in best[:2])
        raise StudentError(f"{path}: its cells match more than one released notebook ({names}); rename the file as the released notebook")
    return best[0][2]


def read_student_notebook(path: Path) -> nbformat.NotebookNode:
    if not path.exists():
        raise StudentError(f"{path}: no such file")
    if path.is_dir():
        raise StudentError(f"{path} is a directory; give the notebook file (.ipynb)")
    try:
        return read_notebook(path)
    except Invalid as error:
        raise StudentError(f"{path}: {error}") from None
    except OSError as error:
        raise StudentError(f"{path}: cannot be read ({error.strerror or error})") from None


