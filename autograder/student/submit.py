"""`autograder submit`: check that a file is a notebook of the course, then place it where `grade` finds it."""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from autograder.student import StudentError
from autograder.student.released import ReleasedCourse, identify, read_student_notebook

_STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,199}")


@dataclass
class Receipt:
    path: Path  # where the notebook now is: <to>/<student>/<assignment>/<notebook>.ipynb
    assignment: str
    notebook: str
    submitted_at: str  # what timestamp.txt holds
    replaced: bool  # an earlier submission of this notebook was replaced


def submit_notebook(path: str | Path, student_id: str, to: str | Path, course: str | Path | None = None,
                    now: datetime | None = None) -> Receipt:
    """Check that ``path`` is a notebook of one of the course's assignments and place it where `grade` finds it.

    Writes ``<to>/<student_id>/<assignment>/<notebook>.ipynb`` (the file's bytes, unchanged) and, next to
    it, nbgrader's ``timestamp.txt`` with the time in UTC (ISO 8601 with its offset). A second submission
    of the same notebook replaces the first, timestamp included.
    """
    path = Path(path)
    if not _STUDENT_ID.fullmatch(student_id or ""):
        raise StudentError(f"--student {student_id!r} is not a usable id: use letters, digits and . _ @ + - "
                           "(starting with a letter or digit), e.g. your university login")
    notebook = read_student_notebook(path)
    released = identify(notebook, path, ReleasedCourse.locate(course, path))
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        raise ValueError("submit_notebook needs a timezone-aware time")
    stamp = now.astimezone(timezone.utc).isoformat()
    folder = Path(to) / student_id / released.assignment
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / released.notebook
    replaced = target.exists()
    _write_atomically(target, path.read_bytes())
    _write_atomically(folder / "timestamp.txt", (stamp + "\n").encode("utf-8"))
    return Receipt(target, released.assignment, released.notebook, stamp, replaced)


def _write_atomically(target: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
