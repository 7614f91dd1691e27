"""The class list: who should have handed in, so that a student who handed in nothing gets a ``missing`` row.

Without a roster only students who handed in something get rows (as nbgrader grades only those who
submitted): a submissions folder lists who submitted, never who did not. With one (``grade --roster
FILE``), every student on it who handed in nothing for a notebook gets a ``missing`` row for it.

A roster is a CSV file with a header row. The student's id is read from the first of these columns it has
(compared without case, spaces or underscores): ``student_id``; Canvas's gradebook export's ``SIS Login
ID``, ``SIS User ID`` and ``ID`` (all three are kept as the student's ids: whichever of them names the
student's folder matches, and the row of a student who handed in nothing uses the first non-empty one).
Canvas's "Points Possible" row and rows with no id are skipped. This module reads only the CSV: it
decides nothing about folders (`autograder.course.submissions.discover` does).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from autograder.course import CourseError

#: Columns that name a student, in the order their values are preferred for the row's student id.
ID_COLUMNS = ("student_id", "SIS Login ID", "SIS User ID", "ID")
#: Larger files are refused: a class list is small, and the file is read whole.
MAX_ROSTER_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class RosterStudent:
    student_id: str  # the id a `missing` row gets
    ids: frozenset[str]  # every id the roster gives this student; a submission under any of them is theirs


def _key(column: str) -> str:
    return "".join(ch for ch in column.lower() if ch not in " _-")


def read_roster(path: str | Path) -> list[RosterStudent]:
    """The students of the CSV roster at ``path``; raises `CourseError` naming the file and the fix."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_ROSTER_BYTES:
            raise CourseError(f"{path}: the roster is over {MAX_ROSTER_BYTES // 2**20} MiB; pass a CSV with one row per student")
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise CourseError(f"{path}: cannot read the roster ({error}); pass a UTF-8 CSV file with a student_id column") from None
    reader = csv.DictReader(io.StringIO(text))
    header = {_key(name): name for name in (reader.fieldnames or []) if name}
    columns = [header[_key(c)] for c in ID_COLUMNS if _key(c) in header]
    if not columns:
        raise CourseError(f"{path}: the roster has none of the columns {', '.join(ID_COLUMNS)} (its header: "
                          f"{', '.join(reader.fieldnames or []) or 'empty'}); add a student_id column, or pass Canvas's "
                          "gradebook export (Grades > Export)")
    students, seen = [], set()
    for row in reader:
        if "Points Possible" in (row.get("Student") or ""):
            continue  # Canvas's second row
        values = [(row.get(c) or "").strip() for c in columns]
        ids = [v for v in values if v]
        if not ids or ids[0] in seen:
            continue
        seen.add(ids[0])
        students.append(RosterStudent(ids[0], frozenset(ids)))
    return students
