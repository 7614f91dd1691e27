"""`autograder submit`: check that a file is a notebook of the course, then place it where `grade` finds it.

Every hand-in is kept: ``<to>/<id>/<assignment>/versions/<UTC stamp>/`` holds each one (the notebook and its
``timestamp.txt``), created exclusively and never overwritten; ``<to>/<id>/<assignment>/<notebook>.ipynb`` and
``timestamp.txt`` next to it are the latest, where `grade` finds them. Nothing is written through a symbolic
link below ``<to>``.

``max_per_day = N`` in the course folder's ``autograder.toml`` (``[assignments.<a>]``) caps the hand-ins of an
assignment per calendar day (in the course's ``timezone``, else UTC), counted from the kept versions: the
N+1th is refused before anything is written, with a message saying when the next one is accepted. Which
kept version is graded is the grader's policy (``counts``, `autograder.course.submissions`).
"""

from __future__ import annotations

import errno
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from autograder.student import StudentError
from autograder.student.released import ReleasedCourse, identify, read_student_notebook

_STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,199}")
VERSIONS = "versions"
_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


@dataclass
class Receipt:
    path: Path  # the latest copy, where grade finds it: <to>/<student>/<assignment>/<notebook>.ipynb
    assignment: str
    notebook: str
    submitted_at: str  # what timestamp.txt holds
    replaced: bool  # an earlier submission was the latest until now (it is kept under versions/)
    version: int = 1  # this hand-in's number: 1 for the first
    version_path: Path | None = None  # <to>/<student>/<assignment>/versions/<stamp>/<notebook>.ipynb

    def describe(self) -> str:
        earlier = f"; the {self.version - 1} earlier one(s) are kept" if self.version > 1 else ""
        return (f"{self.assignment}/{self.notebook}: version {self.version}, submitted {self.submitted_at}, kept as "
                f"{self.version_path}; graded from {self.path}{earlier}")


def submit_notebook(path: str | Path, student_id: str, to: str | Path, course: str | Path | None = None,
                    now: datetime | None = None) -> Receipt:
    """Check that ``path`` is a notebook of one of the course's assignments and place it where `grade` finds it.

    Writes the file's bytes, unchanged, and nbgrader's ``timestamp.txt`` (the time in UTC, ISO 8601 with its
    offset) twice: as a new version ``<to>/<student_id>/<assignment>/versions/<stamp>/`` that nothing ever
    replaces, and as the latest ``<to>/<student_id>/<assignment>/<notebook>.ipynb`` (+ ``timestamp.txt``),
    which a later submission replaces. The receipt says which version this is.
    """
    path = Path(path)
    if not _STUDENT_ID.fullmatch(student_id or ""):
        raise StudentError(f"--student {student_id!r} is not a usable id: use letters, digits and . _ @ + - "
                           "(starting with a letter or digit), e.g. your university login")
    notebook = read_student_notebook(path)
    where = ReleasedCourse.locate(course, path)
    released = identify(notebook, path, where)
    data = _read_bytes(path)
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        raise ValueError("submit_notebook needs a timezone-aware time")
    moment = now.astimezone(timezone.utc)
    stamp = moment.isoformat()
    stamp_bytes = (stamp + "\n").encode("utf-8")
    to = Path(to)
    to.mkdir(parents=True, exist_ok=True)  # the drop folder itself is the course's choice; below it, no link is followed
    opened: list[int] = []
    try:
        directory = os.open(to, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
        opened.append(directory)
        shown = to
        for part in (student_id, released.assignment, VERSIONS):
            shown = shown / part
            directory = _subdirectory(directory, part, shown)
            opened.append(directory)
        versions, folder = opened[-1], opened[-2]
        _refuse_over_cap(where.root, released.assignment, versions, moment)
        name = _new_version(versions, moment, shown)
        version_dir = _subdirectory(versions, name, shown / name)
        opened.append(version_dir)
        _write_new(version_dir, released.notebook, data)
        _write_new(version_dir, "timestamp.txt", stamp_bytes)
        replaced = _exists(folder, released.notebook)
        _replace(folder, released.notebook, data)
        _replace(folder, "timestamp.txt", stamp_bytes)
        number = sorted(_versions(versions)).index(name) + 1
    finally:
        for descriptor in reversed(opened):
            os.close(descriptor)
    assignment_dir = to / student_id / released.assignment
    return Receipt(assignment_dir / released.notebook, released.assignment, released.notebook, stamp, replaced,
                   number, assignment_dir / VERSIONS / name / released.notebook)


def _refuse_over_cap(root: Path, assignment: str, versions: int, moment: datetime) -> None:
    """`StudentError` when this hand-in would pass ``max_per_day`` (counted from the versions kept today)."""
    from autograder.course import CourseError
    from autograder.course.late import CONFIG_FILE, format_time, hand_in_cap

    try:
        cap, zone = hand_in_cap(root, assignment)
    except CourseError as error:
        raise StudentError(str(error)) from None
    if cap is None:
        return
    zone = zone or timezone.utc
    today = moment.astimezone(zone).date()
    earlier = []
    for name in _versions(versions):
        try:
            kept = datetime.strptime(name.split("-")[0], "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=timezone.utc)
        except ValueError:
            continue  # not a folder submit made
        if kept.astimezone(zone).date() == today:
            earlier.append(kept)
    if len(earlier) < cap:
        return
    tomorrow = datetime.combine(today + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    raise StudentError(f"{assignment}: not handed in: this would be hand-in {len(earlier) + 1} today ({today.isoformat()}, "
                       f"{getattr(zone, 'key', 'UTC')}), and the course allows {cap} per day (max_per_day in {root / CONFIG_FILE}). "
                       f"Your last version, submitted {format_time(max(earlier))}, is kept and graded as the course's policy says; "
                       f"hand in again from {format_time(tomorrow)}")


def _read_bytes(path: Path) -> bytes:
    from autograder.course.submissions import open_handed_in, read_capped
    from autograder.grading.submission import MAX_NOTEBOOK_BYTES

    descriptor = open_handed_in(path)
    try:
        return read_capped(descriptor, MAX_NOTEBOOK_BYTES + 1)
    finally:
        os.close(descriptor)


def _subdirectory(parent: int, name: str, shown: Path) -> int:
    """The folder ``name`` in ``parent`` (created if need be), opened without following a link."""
    try:
        os.mkdir(name, 0o755, dir_fd=parent)
    except FileExistsError:
        pass
    try:
        return os.open(name, _DIRECTORY, dir_fd=parent)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOTDIR):
            raise StudentError(f"{shown} is a symbolic link or not a folder; submit does not write through it. "
                               "Ask the course staff to look at the submissions folder") from None
        raise


def _versions(versions: int) -> list[str]:
    return [n for n in os.listdir(versions) if not n.startswith(".")]


def _new_version(versions: int, moment: datetime, shown: Path) -> str:
    """A new, empty version folder named after the time (``20261201T223000.123456Z``), made exclusively."""
    base = moment.strftime("%Y%m%dT%H%M%S.%fZ")
    for attempt in range(1, 1000):
        name = base if attempt == 1 else f"{base}-{attempt}"
        try:
            os.mkdir(name, 0o755, dir_fd=versions)
            return name
        except FileExistsError:
            continue
    raise StudentError(f"{shown}: too many submissions at {base}")


def _exists(directory: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=directory, follow_symlinks=False)
        return True
    except FileNotFoundError:
        return False


def _write_new(directory: int, name: str, data: bytes) -> None:
    """Create ``name`` in ``directory``; never replaces anything (O_EXCL) and never follows a link."""
    descriptor = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o644,
                         dir_fd=directory)
    with os.fdopen(descriptor, "wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())


def _replace(directory: int, name: str, data: bytes) -> None:
    """Replace ``name`` in ``directory`` atomically (a link there is replaced, not written through)."""
    temporary = f".{name}.{secrets.token_hex(8)}"
    _write_new(directory, temporary, data)
    try:
        os.replace(temporary, name, src_dir_fd=directory, dst_dir_fd=directory)
    except BaseException:
        os.unlink(temporary, dir_fd=directory)
        raise
