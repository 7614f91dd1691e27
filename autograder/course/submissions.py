"""Finding the submissions of an assignment in a directory, in the layouts students and LMSs hand them in.

A submissions directory is written by students (or by tools acting for them), so nothing in it is trusted:

* no symbolic link is ever followed below the directory the grader names: a linked student folder,
  assignment folder, notebook or ``timestamp.txt`` is one ``invalid`` row saying so (a link to another
  student's notebook, or to ``source/``, would otherwise be graded, and shown, as the linker's work);
* every path handed to the grader is absolute, below the resolved submissions directory, and of type
  `HandedInPath`: `open_handed_in` opens it one component at a time without following a link, so a folder
  swapped for a link after discovery is refused too;
* nothing is read without a size cap (``timestamp.txt``: `MAX_TIMESTAMP_BYTES`; notebooks: the grader's
  limit, checked on the open file); special files (FIFOs, devices, sockets) are never opened for reading
  in a way that blocks;
* a name that is not valid UTF-8 (or not printable) gets a printable id (`printable_name`).

Versions. ``autograder submit`` keeps every hand-in under ``<folder>/versions/<UTC stamp>/`` (the notebook and
its ``timestamp.txt``) next to the latest copy. When a student's folder has versions, the assignment's policy
(``counts`` in ``autograder.toml``, `autograder.course.late`) says which one is graded: ``last`` (the latest
copy, as without versions), ``last_before_due`` (the last version handed in by the student's own due date,
extensions included; if none was on time, the first late one), or ``best`` (every version is graded and the
best total after the late penalty is kept: `Submission.candidates`, chosen in `autograder.grading.batch`).
A linked version folder or notebook is not a version (it is never read). The course's policy is read only
when some folder has versions, so courses that do not use ``submit`` never depend on it.

Who gets a row. Only students who handed in something for this assignment (as nbgrader grades only those who
submitted): a student folder with none of the assignment's notebooks and nothing that looks like one is not
a row (in nbgrader's ``submitted/``, a student who handed in only another assignment has such a folder).
A folder that does hold something looking like the notebook under a wrong name (any other ``.ipynb``,
``toy.py``, ``Toy.html``...; or any file in its ``<assignment>/`` folder) is one ``invalid`` row per
notebook that names the expected file and what was found: more use to the student than ``missing``, which
would say they handed in nothing. A student who handed in some of a several-notebook assignment's notebooks
gets ``missing`` rows for the others. With a roster (`autograder.course.roster`), every student on it who
handed in nothing gets a ``missing`` row per notebook.

Layouts (`discover`): ``<id>/<nb>.ipynb``; ``<id>/<assignment>/<nb>.ipynb`` (nbgrader's ``submitted/``,
written by ``nbgrader collect``, and ``autograder submit``); ``<id>.ipynb``; and nbgrader's exchange as
students' ``nbgrader submit`` (or the lab extension) leaves it, ``<exchange>/<course_id>/inbound/
<id>+<assignment>+<timestamp>[+<random>]/<nb>.ipynb``: given that ``inbound/`` folder or the course's
folder above it, each student's latest hand-in of this assignment counts (by the folder name's timestamp,
as ``nbgrader collect`` picks it), and its time is its ``timestamp.txt``, else the folder name's.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from pathlib import Path, PosixPath
from typing import Iterable

from autograder.course import Assignment, CourseError, cells
from autograder.course.late import UNREADABLE_TIMESTAMP  # noqa: F401 - what submitted_at starts with when timestamp.txt is unusable
from autograder.course.late import Deadline, TimeError, deadline_for, format_time, parse_submission_time
from autograder.course.roster import RosterStudent

#: ``timestamp.txt`` holds one time (``submit`` writes 33 bytes); a larger file is not read, and is flagged.
MAX_TIMESTAMP_BYTES = 256
#: `file_hash` reads at most this much (plus the size): larger notebooks are refused by the grader anyway.
MAX_HASHED_BYTES = 64 * 1024 * 1024

_LINK = "is a symbolic link"
#: The folder of kept versions in a student's assignment folder (written by ``autograder submit``).
VERSIONS = "versions"
#: How the note naming the graded version begins (the feedback page shows such notes apart from repairs).
VERSION_NOTE = "graded version "


class ProblemKind(Enum):
    """Why a submission has no file to grade; the value is the row's status."""

    MISSING = "missing"  # nothing was handed in for this notebook
    INVALID = "invalid"  # something was, but it cannot be graded (a directory, a link, an unusable name...)


class HandedInPath(PosixPath):
    """A path found by `discover`: absolute, with no symbolic link in any component when it was found.

    `open_handed_in` opens such a path without following a link in any component.
    """


class NotAFile(OSError):
    """A submission's file is a link, a directory or a special file; the message says which."""


@dataclass
class Version:
    """One kept hand-in of one notebook: ``<folder>/versions/<name>/<notebook>.ipynb``."""

    number: int  # 1 for the first, in the order handed in
    of: int  # how many versions of this notebook there are
    name: str  # the folder's name: the UTC time submit wrote it (20261201T223000.123456Z)
    path: Path
    submitted_at: str | None  # its timestamp.txt, as read_timestamp gives it


@dataclass
class Submission:
    student_id: str
    notebook: str  # the assignment notebook this file is graded as
    path: Path | None  # None when there is no file to grade (see kind and problem)
    problem: str = ""  # why there is no file to grade, for the row's message
    submitted_at: str | None = None
    kind: ProblemKind | None = None  # set by discover whenever path is None
    versions: list[Version] = field(default_factory=list)  # every kept version of this notebook, oldest first
    version: Version | None = None  # the version this file is, once the policy chose it
    counts: str = "last"  # the policy that chose it (late.COUNTS)
    note: str = ""  # the row's note naming the graded version ("graded version 3 of 4 (submitted ...)...")
    candidates: list["Submission"] = field(default_factory=list)  # counts = "best": every version, each graded; one is kept

    def __post_init__(self) -> None:
        if self.path is None and self.kind is None:
            self.kind = ProblemKind.INVALID if self.problem else ProblemKind.MISSING

    def resume_key(self) -> str | None:
        """What `grade` compares with the stored row to skip unchanged work: the file's hash, or for ``best``
        a hash of every version's name and hash (a new or changed version grades them all again)."""
        if not self.candidates:
            return file_hash(self.path)
        digest = hashlib.sha256(b"best\n")
        for candidate in self.candidates:
            digest.update(f"{candidate.version.name if candidate.version else ''} {file_hash(candidate.path)}\n".encode())
        return digest.hexdigest()


def printable_name(name: str) -> str:
    """``name`` as a printable id: bytes that are not UTF-8 as ``\\xNN``, control characters escaped.

    ``os.listdir`` gives undecodable bytes as surrogates, which no database or terminal accepts.
    """
    text = os.fsencode(name).decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def discover(submissions_dir: Path, assignment: Assignment,
             roster: Iterable[RosterStudent | str] | None = None) -> list[Submission]:
    """Accepts ``<id>/<nb>.ipynb``, ``<id>/<assignment>/<nb>.ipynb`` (nbgrader), ``<id>.ipynb`` and nbgrader's
    exchange ``inbound/`` (see the module's docstring for the layouts and who gets a row).

    ``submissions_dir`` itself is the grader's choice and may be reached through links; below it, no link
    is followed (see the module's docstring). With ``roster`` (students, or plain ids), a student on it who
    handed in nothing gets a ``missing`` row per notebook.
    """
    found = _discover(Path(submissions_dir), assignment)
    if not found and roster is None:
        raise CourseError(_nothing_found(Path(submissions_dir), assignment))
    if roster is not None:
        found.extend(_absent(found, roster, assignment))
    return found


def _nothing_found(folder: Path, assignment: Assignment) -> str:
    """Why a submissions folder gave no row at all (empty, or laid out as no layout `discover` knows), with
    the layouts it expects: grading it would print "graded 0" and look like success."""
    notebook = assignment.notebook_names[0] if assignment.notebook_names else f"{assignment.name}.ipynb"
    try:
        entries = sorted(n for n in os.listdir(folder) if not n.startswith("."))
    except OSError:
        entries = []
    layouts = (f"<student_id>/{notebook}, <student_id>/{assignment.name}/{notebook}, <student_id>.ipynb (one-notebook "
               "assignments) or nbgrader's exchange <exchange>/<course_id>")
    if not entries:
        return f"{folder} is empty: no submission of {assignment.name} to grade; expected {layouts}"
    shown = ", ".join(printable_name(n) for n in entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
    hint = ""
    if _is_real_dir(folder / assignment.name):
        hint = f"; if the students' folders are in {folder / assignment.name}, grade that folder"
    return f"{folder} holds no submission of {assignment.name} (it holds {shown}); expected {layouts}{hint}"


def not_on_roster(found: Iterable[Submission], roster: Iterable[RosterStudent | str]) -> list[str]:
    """Ids of the students who handed in something but are not on the roster (graded all the same)."""
    known = set().union(*(_ids(student) for student in roster))
    return sorted({s.student_id for s in found if s.student_id not in known})


def _ids(student: RosterStudent | str) -> frozenset[str]:
    return student.ids if isinstance(student, RosterStudent) else frozenset([student])


def discover_in_folder(folder: Path, assignment: Assignment, student_id: str) -> list[Submission]:
    """One student's hand-in, a folder holding ``<nb>.ipynb`` or ``<assignment>/<nb>.ipynb`` (an upload to
    Gradescope: ``/autograder/submission/``), by the rules of a student folder of `discover`; a notebook
    with nothing handed in for it is a ``missing`` row (the student is known to be there)."""
    real = HandedInPath(os.path.realpath(folder))
    if not stat.S_ISDIR(os.lstat(real).st_mode):
        raise CourseError(f"{folder} is not a folder of submitted files")
    found = _student_folder(HandedInPath(real.parent), real, student_id, assignment, assignment.notebook_names)
    where = _shown(real.parent, real).replace("{", "{{").replace("}", "}}")
    return found + _absent(found, [student_id], assignment, reason=f"no {{name}} in what was handed in ({where}); hand in {{name}}, as released")


def _absent(found: list[Submission], roster: Iterable[RosterStudent | str], assignment: Assignment,
            reason: str = "nothing handed in (on the roster; no {name} found)") -> list[Submission]:
    handed_in = {s.student_id for s in found}
    rows = []
    for student in roster:
        if _ids(student) & handed_in:
            continue
        student_id = student.student_id if isinstance(student, RosterStudent) else student
        rows.extend(Submission(student_id, name, None, problem=reason.format(name=name),
                               kind=ProblemKind.MISSING) for name in assignment.notebook_names)
        handed_in.add(student_id)
    return rows


def _discover(submissions_dir: Path, assignment: Assignment) -> list[Submission]:
    if not submissions_dir.is_dir():
        raise CourseError(f"{submissions_dir} is not a directory of submissions")
    root = HandedInPath(os.path.realpath(submissions_dir))
    inbound = _exchange_inbound(root)
    if inbound is not None:
        return _discover_exchange(inbound, assignment)
    courses = sorted(n for n in os.listdir(root) if not n.startswith(".") and _exchange_inbound(root / n) is not None)
    if courses:
        raise CourseError(f"{submissions_dir} looks like nbgrader's exchange root (it holds {', '.join(courses[:3])}, each with "
                          f"inbound/); grade one course's hand-ins: {Path(submissions_dir) / courses[0]}")
    notebooks = assignment.notebook_names
    names = sorted(n for n in os.listdir(root) if not n.startswith("."))
    ids = _unique_ids(names)
    found: list[Submission] = []

    def refused(student: str, which: list[str], why: str) -> None:
        found.extend(Submission(student, name, None, problem=why, kind=ProblemKind.INVALID) for name in which)

    for name in names:
        entry = root / name
        single_file = name.endswith(".ipynb")
        student = ids[name][: -len(".ipynb")] if single_file else ids[name]
        shown = _shown(root, entry)
        try:
            mode = os.lstat(entry).st_mode
        except OSError as error:
            refused(student, notebooks, f"{shown} cannot be read ({error.strerror or error})")
            continue
        if not single_file and not stat.S_ISDIR(mode) and not stat.S_ISLNK(mode):
            continue  # a stray file (README, a CSV): not a submission
        if single_file and len(notebooks) != 1 and not stat.S_ISDIR(mode):
            raise CourseError(f"{shown}: a single-file submission only works for a one-notebook assignment; use <student_id>/<notebook>.ipynb")
        which = [notebooks[0]] if single_file and len(notebooks) == 1 else notebooks
        if stat.S_ISLNK(mode):
            what = "the notebook file" if single_file else "the folder"
            refused(student, which, f"{shown} {_LINK}; hand in {what} itself")
            continue
        if not is_utf8(name):
            refused(student, which, f"{shown}: the name is not valid UTF-8 (shown here as {ids[name]!r}); rename it in UTF-8 and grade again")
            continue
        if single_file and stat.S_ISREG(mode):
            found.append(Submission(student, notebooks[0], entry))
            continue
        if single_file and stat.S_ISDIR(mode):
            found.append(Submission(student, which[0] if len(which) == 1 else name, None,
                                    problem=f"{shown} is a directory, not a notebook file", kind=ProblemKind.INVALID))
            continue
        if single_file:
            refused(student, which, f"{shown} is not a regular file; hand in the notebook file itself")
            continue
        found.extend(_student_folder(root, entry, student, assignment, notebooks))
    if any(s.versions for s in found):  # only then is the policy read: a course without versions never depends on it
        policy = deadline_for(assignment)
        found = [choose_version(s, policy) for s in found]
    return found


def _student_folder(root: Path, entry: Path, student: str, assignment: Assignment, notebooks: list[str],
                    time_from_name: str | None = None) -> list[Submission]:
    folder = entry
    nested = entry / assignment.name
    try:
        nested_mode = os.lstat(nested).st_mode
    except FileNotFoundError:
        nested_mode = None
    except OSError as error:
        return [Submission(student, n, None, problem=f"{_shown(root, nested)} cannot be read ({error.strerror or error})",
                           kind=ProblemKind.INVALID) for n in notebooks]
    if nested_mode is not None and stat.S_ISLNK(nested_mode):
        return [Submission(student, n, None, problem=f"{_shown(root, nested)} {_LINK}; hand in the folder itself",
                           kind=ProblemKind.INVALID) for n in notebooks]
    if nested_mode is not None and stat.S_ISDIR(nested_mode):
        folder = nested
    try:
        with os.scandir(folder) as listing:
            present = {e.name: e for e in listing if e.name.endswith(".ipynb") and not e.name.startswith(".")}
    except OSError as error:
        return [Submission(student, n, None, problem=f"{_shown(root, folder)} cannot be read ({error.strerror or error})",
                           kind=ProblemKind.INVALID) for n in notebooks]
    if os.path.islink(folder / "timestamp.txt"):  # (a link made after this check is refused by read_timestamp, and flagged)
        why = f"{_shown(root, folder / 'timestamp.txt')} {_LINK}; hand in again with autograder submit (it writes timestamp.txt itself)"
        return [Submission(student, n, None, problem=why, kind=ProblemKind.INVALID) for n in notebooks]
    timestamp = read_timestamp(folder)
    kept = _kept_versions(folder)
    if timestamp is None:
        timestamp = time_from_name
    if not kept and not any(name in present for name in notebooks) and not (len(notebooks) == 1 and len(present) == 1):
        lookalikes = _lookalikes(folder, assignment, notebooks, nested=folder is not entry)
        if not lookalikes:
            return []  # handed in nothing for this assignment: not a row (a roster makes it a `missing` one)
        found_text = ", ".join(lookalikes[:5]) + (f" and {len(lookalikes) - 5} more" if len(lookalikes) > 5 else "")
        return [Submission(student, name, None, submitted_at=timestamp, kind=ProblemKind.INVALID,
                           problem=f"no {name} in {_shown(root, folder)}, but {found_text}: name the notebook {name}, as "
                                   "released, and hand it in again")
                for name in notebooks]
    found = []
    for name in notebooks:
        item = present.get(name)
        if item is None and len(notebooks) == 1 and len(present) == 1:
            item = next(iter(present.values()))  # a renamed file of a one-notebook assignment
            other = _assignment_of_notebook(assignment, item.name)
            if other is not None:
                found.append(Submission(student, name, None, submitted_at=timestamp, kind=ProblemKind.INVALID, versions=_versions_of(kept, name),
                                        problem=f"{_shown(root, folder / item.name)} is the notebook of assignment {other}, not "
                                                f"{assignment.name}: hand in {name} for {assignment.name}"))
                continue
        versions = _versions_of(kept, name)
        if item is None:
            found.append(Submission(student, name, None, problem=f"no {name} in {_shown(root, folder)}", submitted_at=timestamp,
                                    kind=ProblemKind.MISSING, versions=versions))
            continue
        path, shown = folder / item.name, _shown(root, folder / item.name)
        if item.is_symlink():
            problem = f"{shown} {_LINK}; hand in the notebook file itself"
        elif not is_utf8(item.name):
            problem = f"{shown}: the file name is not valid UTF-8; name it {name} and hand it in again"
        elif item.is_dir(follow_symlinks=False):
            problem = f"{shown} is a directory, not a notebook file"
        elif not item.is_file(follow_symlinks=False):
            problem = f"{shown} is not a regular file; hand in the notebook file itself"
        else:
            found.append(Submission(student, name, path, submitted_at=timestamp, versions=versions))
            continue
        found.append(Submission(student, name, None, problem=problem, submitted_at=timestamp, kind=ProblemKind.INVALID,
                                versions=versions))
    return found


def _kept_versions(folder: Path) -> list[tuple[str, Path]]:
    """``(name, folder)`` of every version folder under ``folder/versions/``, oldest first; links are not versions."""
    versions = folder / VERSIONS
    try:
        if not stat.S_ISDIR(os.lstat(versions).st_mode):
            return []
        with os.scandir(versions) as listing:
            names = sorted(e.name for e in listing if not e.name.startswith(".") and e.is_dir(follow_symlinks=False) and is_utf8(e.name))
    except OSError:
        return []
    return [(name, versions / name) for name in names]


def _versions_of(kept: list[tuple[str, Path]], notebook: str) -> list[Version]:
    """The versions that hold ``notebook`` as a regular file (submit hands in one notebook at a time)."""
    holding = []
    for name, folder in kept:
        try:
            if stat.S_ISREG(os.lstat(folder / notebook).st_mode):
                holding.append((name, folder))
        except OSError:
            continue
    return [Version(number, len(holding), name, folder / notebook, read_timestamp(folder))
            for number, (name, folder) in enumerate(holding, start=1)]


def choose_version(submission: Submission, deadline: Deadline) -> Submission:
    """``submission`` with the file that counts under ``deadline.counts``, and the note that names it."""
    versions = submission.versions
    if not versions:
        return submission
    counts = submission.counts = deadline.counts
    if counts == "last":
        last = versions[-1]
        if submission.path is not None and submission.submitted_at == last.submitted_at:  # the latest copy is the last version
            submission.version = last
            submission.note = version_note(last, "counts = \"last\": the last version handed in counts")
        return submission
    if counts == "best":
        submission.candidates = [
            Submission(submission.student_id, submission.notebook, v.path, submitted_at=v.submitted_at, version=v, counts=counts,
                       note=version_note(v, f"counts = \"best\": the best total of the {len(versions)} version(s), late penalty included"))
            for v in versions]
        return submission
    due, _extension = deadline.due_for(submission.student_id)
    on_time = [v for v in versions if _handed_in_by(v, due, deadline)]
    chosen = on_time[-1] if on_time else versions[0]
    why = (f"counts = \"last_before_due\": the last version handed in by the due date {deadline.due_text(submission.student_id)}"
           if on_time else f"counts = \"last_before_due\": none was handed in by the due date {deadline.due_text(submission.student_id)}, "
           "so the first one counts")
    return Submission(submission.student_id, submission.notebook, chosen.path, submitted_at=chosen.submitted_at, versions=versions,
                      version=chosen, counts=counts, note=version_note(chosen, why))


def _handed_in_by(version: Version, due: datetime | None, deadline: Deadline) -> bool:
    """Whether the version's timestamp.txt is at or before ``due``; an unreadable one is not (it fails closed)."""
    if due is None:
        return True
    if not version.submitted_at or version.submitted_at.startswith(UNREADABLE_TIMESTAMP):
        return False
    try:
        return parse_submission_time(version.submitted_at, deadline.zone) <= due
    except TimeError:
        return False


def version_note(version: Version, why: str) -> str:
    """"graded version 3 of 4 (submitted 2026-12-01T10:00:00+00:00); <why>" for the row's notes."""
    when = version.submitted_at or "at an unknown time"
    try:
        when = format_time(parse_submission_time(when)) if version.submitted_at else when
    except TimeError:
        pass
    return f"{VERSION_NOTE}{version.number} of {version.of} (submitted {when}); {why}"


def _assignment_of_notebook(assignment: Assignment, file_name: str) -> str | None:
    """The other assignment of the course whose released notebook is named ``file_name``, if one is."""
    try:
        others = [a for a in assignment.course.assignments() if a.name != assignment.name]
    except CourseError:
        return None
    return next((other.name for other in others if file_name in other.notebook_names), None)


def assignment_of_cells(assignment: Assignment, notebook: dict) -> tuple[str, str] | None:
    """``(assignment, notebook name)`` of the course's other notebook that shares the most answer, test and
    hand-graded cells (by nbgrader ``grade_id``) with ``notebook``, a handed-in notebook that shares none with
    ``assignment``'s; None when no other notebook shares one. Read from source/, only when grading refused it."""
    graded = (cells.Kind.ANSWER, cells.Kind.TEST, cells.Kind.MANUAL)

    def ids_of(cell_list) -> set[str]:
        return {cells.grade_id(cell) for cell in cell_list if isinstance(cell, dict) and cells.kind(cell) in graded} - {None}

    handed_in = ids_of(notebook.get("cells", []) if isinstance(notebook, dict) else [])
    best, shared_most = None, 0
    try:
        others = [a for a in assignment.course.assignments() if a.name != assignment.name]
    except CourseError:
        return None
    for other in others:
        for name in other.notebook_names:
            try:
                source = json.loads(other.source_notebook_path(name).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            shared = len(handed_in & ids_of(source.get("cells", []) if isinstance(source, dict) else []))
            if shared > shared_most:
                best, shared_most = (other.name, name), shared
    return best


def _lookalikes(folder: Path, assignment: Assignment, notebooks: list[str], nested: bool) -> list[str]:
    """Printable names of the files in ``folder`` that look like the assignment's notebook under a wrong name:
    any ``.ipynb``, or a file named like a notebook or the assignment with another suffix (``toy.py``,
    ``Toy.html``); in the assignment's own folder (``nested``), any file but ``timestamp.txt``."""
    stems = {Path(n).stem.lower() for n in notebooks} | {assignment.name.lower()}
    names = []
    try:
        with os.scandir(folder) as listing:
            for item in listing:
                if item.name.startswith(".") or item.name == "timestamp.txt" or item.is_dir(follow_symlinks=False):
                    continue
                lowered = item.name.lower()
                if nested or lowered.endswith(".ipynb") or lowered.split(".")[0] in stems:
                    names.append(printable_name(item.name))
    except OSError:
        return []
    return sorted(names)


# ------------------------------------------------------------------------------- nbgrader's exchange

#: nbgrader's default ``timestamp_format`` (``%Y-%m-%d %H:%M:%S.%f %Z``) and ISO 8601: the time, then any zone.
_EXCHANGE_TIME = re.compile(r"(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?)(?: ?\S*)$")


def _exchange_time(text: str) -> datetime | None:
    """The time a folder name of nbgrader's exchange carries, for ordering (its zone is the exchange's own,
    the same for every folder; nbgrader's default is UTC); None when ``text`` is not one."""
    match = _EXCHANGE_TIME.match(text)
    if match is None:
        return None
    try:
        return datetime.fromisoformat(f"{match.group(1)}T{match.group(2)}")
    except ValueError:
        return None


def exchange_name(name: str) -> tuple[str, str, str] | None:
    """``(student_id, assignment, timestamp)`` of an exchange folder name ``<id>+<assignment>+<timestamp>[+<random>]``
    (split from the right as ``nbgrader collect`` does: an id may hold ``+``); None when it is not one."""
    parts = name.rsplit("+", 3)
    if len(parts) == 4 and parts[0] and _exchange_time(parts[2]) is not None:
        return parts[0], parts[1], parts[2]
    parts = name.rsplit("+", 2)
    if len(parts) == 3 and parts[0] and _exchange_time(parts[2]) is not None:
        return parts[0], parts[1], parts[2]
    return None


def _is_real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _exchange_inbound(root: Path) -> Path | None:
    """The ``inbound/`` folder when ``root`` is nbgrader's exchange for one course (it has ``inbound/`` beside
    ``outbound/``, or an ``inbound/`` holding hand-ins), or ``root`` when it holds hand-ins itself (it is that
    folder). A drop folder that merely has a student called ``inbound`` is not taken for it."""

    def has_hand_ins(folder: Path) -> bool:
        try:
            return any(exchange_name(n) is not None for n in os.listdir(folder) if not n.startswith("."))
        except OSError:
            return False

    inbound = root / "inbound"
    if _is_real_dir(inbound) and (_is_real_dir(root / "outbound") or has_hand_ins(inbound)):
        return HandedInPath(inbound)
    return root if has_hand_ins(root) else None


def _discover_exchange(inbound: Path, assignment: Assignment) -> list[Submission]:
    """Each student's latest hand-in of ``assignment`` in nbgrader's ``inbound/`` (other assignments' and
    names that are not the exchange's are left alone, as ``nbgrader collect`` leaves them)."""
    notebooks = assignment.notebook_names
    latest: dict[str, tuple[datetime, str, str]] = {}
    try:
        names = os.listdir(inbound)
    except OSError as error:
        raise CourseError(f"{inbound}: cannot list nbgrader's inbound folder ({error.strerror or error}); grade as the "
                          "instructor who owns the exchange, or run nbgrader collect and grade submitted/") from None
    for name in names:
        parsed = None if name.startswith(".") else exchange_name(name)
        if parsed is None or parsed[1] != assignment.name:
            continue
        student, _, stamp = parsed
        key = (_exchange_time(stamp), name, stamp)
        if student not in latest or key[:2] > latest[student][:2]:
            latest[student] = key
    found: list[Submission] = []
    ids = _unique_ids(sorted(latest))
    for student in sorted(latest):
        _, name, stamp = latest[student]
        entry, shown, student_id = inbound / name, _shown(inbound, inbound / name), ids[student]
        try:
            mode = os.lstat(entry).st_mode
        except OSError as error:
            why = f"{shown} cannot be read ({error.strerror or error})"
        else:
            if stat.S_ISLNK(mode):
                why = f"{shown} {_LINK}; hand in again with nbgrader submit"
            elif not stat.S_ISDIR(mode):
                why = f"{shown} is not a folder; hand in again with nbgrader submit"
            elif not is_utf8(name):
                why = f"{shown}: the name is not valid UTF-8; hand in again with nbgrader submit under a UTF-8 id"
            else:
                found.extend(_student_folder(inbound, entry, student_id, assignment, notebooks, time_from_name=stamp))
                continue
        found.extend(Submission(student_id, n, None, problem=why, kind=ProblemKind.INVALID) for n in notebooks)
    return found


def _unique_ids(names: list[str]) -> dict[str, str]:
    """Each entry's printable id; an escaped name that equals another entry's name gets a suffix."""
    ids, taken = {}, set(names)
    for name in names:
        shown = printable_name(name)
        if shown != name:
            base, n = shown, 2
            while shown in taken:
                shown, n = f"{base} ({n})", n + 1
            taken.add(shown)
        ids[name] = shown
    return ids


def _shown(root: Path, path: Path | str) -> str:
    """A path as messages show it: printable, relative to the submissions directory's parent."""
    path = Path(path)
    try:
        path = path.relative_to(root.parent)
    except ValueError:
        pass
    return printable_name(str(path))


# ------------------------------------------------------------------------------------ reading files


def open_handed_in(path: str | Path, flags: int = os.O_RDONLY) -> int:
    """A file descriptor for the regular file at ``path``, opened without following a symbolic link.

    The last component is opened with ``O_NOFOLLOW`` (and ``O_NONBLOCK``, so a FIFO cannot block); for a
    `HandedInPath` every component is, from ``/``, so a folder swapped for a link after discovery is
    refused too. Raises `NotAFile` for a link, a directory or a special file, `OSError` otherwise.
    """
    flags |= os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    if isinstance(path, HandedInPath) and path.is_absolute():
        parts = path.parts
        # O_PATH where there is one: a folder the grader may search but not list (mode 0711) is still passed
        walk = getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)
        directory = os.open("/", walk)
        try:
            for part in parts[1:-1]:
                try:
                    inner = os.open(part, walk | os.O_NOFOLLOW, dir_fd=directory)
                except OSError as error:
                    if error.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise NotAFile(error.errno, f"{printable_name(part)} (a folder on the way to it) {_LINK} or not a folder") from None
                    raise
                os.close(directory)
                directory = inner
            descriptor = _open_leaf(parts[-1], flags, directory)
        finally:
            os.close(directory)
    else:
        descriptor = _open_leaf(os.fspath(path), flags, None)
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        raise NotAFile(errno.EINVAL, "it is a directory, not a file" if stat.S_ISDIR(mode) else "it is not a regular file")
    os.set_blocking(descriptor, True)
    return descriptor


def _open_leaf(name: str, flags: int, directory: int | None) -> int:
    try:
        return os.open(name, flags, dir_fd=directory)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise NotAFile(errno.ELOOP, f"it {_LINK}") from None
        raise


def read_chunks(descriptor: int, limit: int):
    """The bytes of ``descriptor``, in chunks of at most 1 MiB, stopping after ``limit`` bytes in all."""
    left = limit
    while left > 0:
        chunk = os.read(descriptor, min(left, 1 << 20))
        if not chunk:
            return
        yield chunk
        left -= len(chunk)


def read_capped(descriptor: int, limit: int) -> bytes:
    """At most ``limit`` bytes from ``descriptor`` (the caller checks the size first; this is the backstop)."""
    return b"".join(read_chunks(descriptor, limit))


def read_timestamp(folder: Path) -> str | None:
    """``timestamp.txt`` of a submission folder: None when there is none; its text (64 characters at most);
    or, when it exists but cannot be used, `UNREADABLE_TIMESTAMP` followed by why (never its content)."""
    stamp = Path(folder) / "timestamp.txt"
    path = HandedInPath(stamp) if isinstance(folder, HandedInPath) else stamp
    try:
        descriptor = open_handed_in(path)
    except FileNotFoundError:
        return None
    except NotAFile as error:
        if error.errno == errno.ELOOP:
            return _unreadable(f"timestamp.txt {_LINK}")
        return _unreadable(f"timestamp.txt: {error.strerror}")
    except OSError as error:
        return _unreadable(f"timestamp.txt: {error.strerror or error}")
    try:
        size = os.fstat(descriptor).st_size
        if size > MAX_TIMESTAMP_BYTES:
            return _unreadable(f"{size} bytes, over {MAX_TIMESTAMP_BYTES}")
        raw = read_capped(descriptor, MAX_TIMESTAMP_BYTES)
    except OSError as error:
        return _unreadable(f"{error.strerror or error}")
    finally:
        os.close(descriptor)
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        return _unreadable("not UTF-8 text")
    if not text:
        return _unreadable("empty")
    if not text.isprintable():
        return _unreadable("not one line of printable text")
    return text[:64]


def _unreadable(why: str) -> str:
    return (UNREADABLE_TIMESTAMP + why)[:64]


def file_hash(path: Path | None) -> str | None:
    """SHA-256 of the file (of its size and first `MAX_HASHED_BYTES` when larger); None when there is no
    regular file there to read without following a link."""
    if path is None:
        return None
    try:
        descriptor = open_handed_in(path)
    except OSError:
        return None
    try:
        size = os.fstat(descriptor).st_size
        digest = hashlib.sha256()
        if size > MAX_HASHED_BYTES:
            digest.update(f"size {size}\n".encode())
        for block in read_chunks(descriptor, MAX_HASHED_BYTES):
            digest.update(block)
        return digest.hexdigest()
    except OSError:
        return None
    finally:
        os.close(descriptor)
