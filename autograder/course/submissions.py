"""Finding the submissions of an assignment in a directory, in the layouts students and LMSs hand them in."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from autograder.course import Assignment, CourseError


@dataclass
class Submission:
    student_id: str
    notebook: str  # the assignment notebook this file is graded as
    path: Path | None  # None when the student handed in nothing for this notebook
    problem: str = ""  # set when the entry cannot be a notebook (e.g. a directory)
    submitted_at: str | None = None


def discover(submissions_dir: Path, assignment: Assignment) -> list[Submission]:
    """Accepts ``<id>/<nb>.ipynb``, ``<id>/<assignment>/<nb>.ipynb`` (nbgrader) and ``<id>.ipynb``."""
    if not submissions_dir.is_dir():
        raise CourseError(f"{submissions_dir} is not a directory of submissions")
    notebooks = assignment.notebook_names
    found: list[Submission] = []
    for entry in sorted(submissions_dir.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.suffix == ".ipynb" and not entry.is_dir():
            if len(notebooks) != 1:
                raise CourseError(f"{entry}: a single-file submission only works for a one-notebook assignment; use <student_id>/<notebook>.ipynb")
            found.append(Submission(entry.stem, notebooks[0], entry))
            continue
        if entry.suffix == ".ipynb" and entry.is_dir():
            found.append(Submission(entry.stem, notebooks[0] if len(notebooks) == 1 else entry.name, None,
                                    problem=f"{entry} is a directory, not a notebook file"))
            continue
        if not entry.is_dir():
            continue
        folder = entry / assignment.name if (entry / assignment.name).is_dir() else entry
        timestamp = _read_timestamp(folder)
        present = {p.name: p for p in folder.glob("*.ipynb")}
        for name in notebooks:
            path = present.get(name)
            if path is None and len(notebooks) == 1 and len(present) == 1:
                path = next(iter(present.values()))  # a renamed file of a one-notebook assignment
            if path is None:
                found.append(Submission(entry.name, name, None, problem=f"no {name} in {folder}", submitted_at=timestamp))
            elif path.is_dir():
                found.append(Submission(entry.name, name, None, problem=f"{path} is a directory, not a notebook file", submitted_at=timestamp))
            else:
                found.append(Submission(entry.name, name, path, submitted_at=timestamp))
    return found


def _read_timestamp(folder: Path) -> str | None:
    stamp = folder / "timestamp.txt"
    try:
        return stamp.read_text(encoding="utf-8").strip()[:64] if stamp.is_file() else None
    except (OSError, UnicodeDecodeError):
        return None


def file_hash(path: Path | None) -> str | None:
    if path is None or not path.is_file():
        return None
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
