"""Late penalties: a due date and a policy per assignment, applied to the time a notebook was handed in.

The configuration is the course's ``autograder.toml`` (next to ``source/``; the grader's side only, never
released). Every date carries its time zone: a due date is a TOML offset date-time, or a local date-time
read in the course's ``timezone`` (an IANA name such as ``Europe/Zurich``)::

    timezone = "Europe/Zurich"          # optional; needed only for due dates written without an offset

    [late]                              # the default policy of every assignment
    policy = "per_day"                  # none | zero | per_day
    percent_per_day = 10                # per_day: points lost per started day (24 h) after the due date
    max_percent = 50                    # per_day, optional: never more than this

    [assignments.deep_mlps]
    due = 2026-12-01T23:59:00+01:00
    late = { policy = "zero" }          # optional: this assignment's own policy

The submission time is what ``autograder submit`` wrote to ``timestamp.txt`` (stored by ``grade`` as the
submission's ``submitted_at``); where there is none, the graded file's modification time. A time written
without a zone is read in the course's ``timezone``.

A ``timestamp.txt`` that is there but cannot be used (not a time, a time without a zone in a course without
``timezone``, not UTF-8, over 256 bytes, not a regular file: `autograder.course.submissions.read_timestamp`)
is **flagged for review** and counts as late by the policy's maximum (``zero``: 100 %; ``per_day``:
``max_percent``, else 100 %) until someone fixes the file and grades again with ``--force``. Failing closed
is deliberate: granting "on time" would make a garbled or deleted-and-replaced timestamp a free extension,
and the file's modification time is no better evidence (whoever can write the file can set it). The
explanation, which feedback pages and Gradescope's ``results.json`` show, begins with "flagged for review".

Extensions move one student's (or one group's) due date; the policy is unchanged::

    extensions = "extensions.csv"       # optional: student_id,assignment,due|days (one row per extension)
    roster = "roster.csv"               # optional: student_id,group|section, for "group:NAME" / "section:NAME" keys

    [assignments.deep_mlps.extensions]
    alice = "2026-12-10T23:59:00+01:00" # a new due date (quoted or not)
    bob = "+2d"                         # or the assignment's due date moved by days and/or hours ("+36h", "+1d12h")
    "section:B" = "+1d"                 # everyone in section B of the roster

A student's own extension beats their group's; of several groups' extensions the latest due date counts.
Penalties are computed from the stored submission time each time they are read (exports, feedback pages), so
granting or changing an extension needs no regrading. A student the roster (or, at export time, the
gradebook) does not know is a warning, not an error: `extension_warnings`.

The same table says which handed-in version counts (``autograder submit`` keeps every version)::

    [assignments.deep_mlps]
    counts = "last_before_due"          # last (default) | last_before_due | best
    max_per_day = 3                     # optional: submit refuses a 4th hand-in on the same day

A ``check_metric`` question can have a leaderboard (`autograder.results.leaderboard`, docs/authoring.md)::

    [assignments.feedforward_classifier.leaderboard]
    metric = "extra.heldout_accuracy"   # the check_metric check whose held-out data is split
    public_fraction = 0.3               # optional (default 0.3): the share of the held-out items scored in public
    evaluations_per_day = 3             # optional (default: no cap): evaluations per student per day (course timezone)
    split_seed = 7                      # optional: another fixed split of the held-out items

`penalty_for` is the function the exports and the feedback pages call.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from autograder.course import Assignment, CourseError

CONFIG_FILE = "autograder.toml"
POLICIES = ("none", "zero", "per_day")
#: Which handed-in version counts (``counts = ...``): the latest, the latest by the due date, the best total.
COUNTS = ("last", "last_before_due", "best")
#: What ``submitted_at`` starts with when ``timestamp.txt`` exists but cannot be used (``read_timestamp`` in
#: `autograder.course.submissions` writes it; defined here so that this module imports nothing of ours).
UNREADABLE_TIMESTAMP = "unreadable timestamp.txt: "
#: Keys of ``[assignments.<a>.extensions]`` that name a roster group rather than a student.
GROUP_PREFIXES = ("group:", "section:")
_RELATIVE = re.compile(r"\+\s*(?:(\d+(?:\.\d+)?)\s*d)?\s*(?:(\d+(?:\.\d+)?)\s*h)?")


@dataclass(frozen=True)
class LatePolicy:
    policy: str = "none"  # none | zero | per_day
    percent_per_day: float = 0.0
    max_percent: float | None = None

    def percent(self, days_late: int) -> float:
        """Points lost, in percent, for a submission ``days_late`` started days after the due date."""
        if days_late <= 0 or self.policy == "none":
            return 0.0
        if self.policy == "zero":
            return 100.0
        cap = 100.0 if self.max_percent is None else min(self.max_percent, 100.0)
        return min(days_late * self.percent_per_day, cap)

    def maximum_percent(self) -> float:
        """The most this policy can take off: what a submission whose time cannot be read loses."""
        if self.policy == "none":
            return 0.0
        if self.policy == "zero":
            return 100.0
        return 0.0 if self.percent_per_day <= 0 else (100.0 if self.max_percent is None else min(self.max_percent, 100.0))

    def describe(self) -> str:
        if self.policy == "none":
            return "no late penalty"
        if self.policy == "zero":
            return "late work scores zero"
        cap = f", at most {self.max_percent:g}%" if self.max_percent is not None else ""
        return f"{self.percent_per_day:g}% per started day late{cap}"


@dataclass(frozen=True)
class Extension:
    """One extension: who (a student id, or ``group:NAME`` / ``section:NAME``), the new due date, and where it was set."""

    who: str
    due: datetime  # always timezone-aware
    origin: str  # e.g. "autograder.toml [assignments.toy.extensions] alice" or "extensions.csv line 3"


#: The share of the held-out items whose score the leaderboard shows before the due date, unless set.
DEFAULT_PUBLIC_FRACTION = 0.3


@dataclass(frozen=True)
class LeaderboardSettings:
    """``[assignments.<a>.leaderboard]``: which check_metric check has a leaderboard, and how it is split and capped."""

    metric: str  # the check's name ("extra.heldout_accuracy"), not the metric function's
    public_fraction: float = DEFAULT_PUBLIC_FRACTION
    evaluations_per_day: int | None = None  # None: no cap
    split_seed: int | None = None  # None: a seed derived from the assignment's and the check's names


@dataclass(frozen=True, eq=False)
class Deadline:
    """An assignment's hand-in policy: the due date, the late policy, extensions, and which version counts."""

    assignment: str
    due: datetime | None  # always timezone-aware
    policy: LatePolicy
    zone: ZoneInfo | None = None  # the course's timezone, for submission times written without one
    extensions: dict[str, Extension] = field(default_factory=dict)  # student id or "group:NAME" -> extension
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)  # student id -> "group:NAME", "section:NAME" (roster)
    counts: str = "last"  # COUNTS
    max_per_day: int | None = None
    roster_students: frozenset[str] | None = None  # the roster's ids, when the course has one
    leaderboard: LeaderboardSettings | None = None

    def latest_due(self) -> datetime | None:
        """The last due date of anyone (extensions included): when every student has handed in."""
        dues = [self.due] + [e.due for e in self.extensions.values()] if self.due is not None else []
        return max(dues) if dues else None

    def due_for(self, student_id: str | None) -> tuple[datetime | None, Extension | None]:
        """The student's own due date, and the extension that set it (None: the assignment's due date)."""
        if self.due is None or student_id is None or not self.extensions:
            return self.due, None
        own = self.extensions.get(student_id)
        if own is not None:
            return own.due, own
        granted = [self.extensions[g] for g in self.groups.get(student_id, ()) if g in self.extensions]
        if granted:
            latest = max(granted, key=lambda e: e.due)
            return latest.due, latest
        return self.due, None

    def due_text(self, student_id: str | None) -> str:
        """"2026-12-03T23:59:00+01:00 (extended for you from 2026-12-01T23:59:00+01:00)" or the plain due date."""
        due, extension = self.due_for(student_id)
        if due is None:
            return ""
        if extension is None:
            return format_time(due)
        return f"{format_time(due)} (extended for you from {format_time(self.due)})"


@dataclass(frozen=True)
class Penalty:
    fraction: float  # of the score that is taken off: 0.0 (none) .. 1.0 (all)
    explanation: str
    submitted_at: datetime | None = None
    days_late: int = 0
    time_source: str | None = None  # "timestamp.txt" | "file modification time" | None
    flagged: bool = False  # the submission time could not be read: counted as late by the maximum, to be reviewed


# ------------------------------------------------------------------------------------- configuration


def config_path(course_root: Path) -> Path:
    return Path(course_root) / CONFIG_FILE


def load_deadlines(course_root: Path, known_assignments: list[str] | None = None) -> dict[str, Deadline]:
    """Every assignment's deadline from ``autograder.toml``; {} when the course has no such file.

    Raises `CourseError` naming the file and the key for anything it cannot use.
    """
    path = config_path(course_root)
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise CourseError(f"{path}: not valid TOML: {error}") from None
    _only_keys(path, "the top level", data, {"timezone", "late", "assignments", "extensions", "roster", "grade"})  # grade: course.settings
    zone = None
    if "timezone" in data:
        name = data["timezone"]
        try:
            zone = ZoneInfo(str(name))
        except (ZoneInfoNotFoundError, ValueError):
            raise CourseError(f"{path}: timezone {name!r} is not an IANA time zone name (e.g. 'Europe/Zurich' or 'UTC')") from None
    default = _policy(path, "[late]", data.get("late", {}))
    assignments = data.get("assignments", {})
    if not isinstance(assignments, dict):
        raise CourseError(f"{path}: 'assignments' must be a table: [assignments.<name>] with due = ...")
    groups, roster_students = _roster(path, data["roster"]) if "roster" in data else ({}, None)
    deadlines = {}
    for name, entry in assignments.items():
        where = f"[assignments.{name}]"
        if known_assignments is not None and name not in known_assignments:
            raise CourseError(f"{path}: {where} names no assignment of the course (assignments: {', '.join(known_assignments) or 'none'})")
        if not isinstance(entry, dict):
            raise CourseError(f"{path}: {where} must be a table with due = ...")
        _only_keys(path, where, entry, {"due", "late", "extensions", "counts", "max_per_day", "leaderboard", "exclusive"})
        counts = entry.get("counts", "last")
        if counts not in COUNTS:
            raise CourseError(f"{path}: {where} counts = {counts!r}; use one of {', '.join(repr(c) for c in COUNTS)}")
        max_per_day = _max_per_day(path, where, entry)
        # a due date is needed by everything but a plain version policy (counts = "last" | "best", max_per_day)
        needs_due = "late" in entry or "extensions" in entry or "leaderboard" in entry or counts == "last_before_due" \
            or not ({"counts", "max_per_day", "exclusive"} & set(entry))
        if "due" not in entry and needs_due:
            raise CourseError(f"{path}: {where} has no 'due' date, e.g. due = 2026-12-01T23:59:00+01:00")
        due = _due(path, where, entry["due"], zone) if "due" in entry else None
        policy = (_policy(path, f"{where} late", entry["late"]) if "late" in entry else default) if due is not None else LatePolicy()
        extensions = _table_extensions(path, f"[assignments.{name}.extensions]", entry.get("extensions", {}), due, zone)
        board = _leaderboard(path, f"[assignments.{name}.leaderboard]", entry["leaderboard"]) if "leaderboard" in entry else None
        deadlines[name] = Deadline(name, due, policy, zone, extensions, groups, counts, max_per_day, roster_students, board)
    if "extensions" in data:
        _csv_extensions(path, data["extensions"], deadlines, zone, known_assignments)
    return deadlines


def _max_per_day(path: Path, where: str, entry: dict) -> int | None:
    if "max_per_day" not in entry:
        return None
    value = entry["max_per_day"]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise CourseError(f"{path}: {where} max_per_day = {value!r}; it must be a whole number of hand-ins per day, 1 or more")
    return value


def _leaderboard(path: Path, where: str, table) -> LeaderboardSettings:
    if not isinstance(table, dict):
        raise CourseError(f"{path}: {where} must be a table with metric = \"<the check_metric check's name>\"")
    _only_keys(path, where, table, {"metric", "public_fraction", "evaluations_per_day", "split_seed"})
    metric = table.get("metric")
    if not isinstance(metric, str) or not metric.strip():
        raise CourseError(f"{path}: {where} needs metric = \"<the name of a check_metric check>\", e.g. metric = \"extra.heldout_accuracy\"")
    fraction = table.get("public_fraction", DEFAULT_PUBLIC_FRACTION)
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
        raise CourseError(f"{path}: {where} public_fraction = {fraction!r}; it must be a number between 0 and 1 (exclusive), e.g. 0.3")
    cap = table.get("evaluations_per_day")
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        raise CourseError(f"{path}: {where} evaluations_per_day = {cap!r}; it must be a whole number, 1 or more (leave it out for no cap)")
    seed = table.get("split_seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise CourseError(f"{path}: {where} split_seed = {seed!r}; it must be a whole number, 0 or more")
    return LeaderboardSettings(metric.strip(), float(fraction), cap, seed)


def _moved(base: datetime | None, text: str, where: str) -> datetime:
    """``base`` moved by "+2d", "+36h" or "+1d12h"; raises CourseError(where) otherwise."""
    match = _RELATIVE.fullmatch(text.strip())
    if not match or not (match.group(1) or match.group(2)):
        raise CourseError(f"{where} = {text!r} is neither a date-time with its offset (2026-12-10T23:59:00+01:00) "
                          "nor a number of days and/or hours after the due date (\"+2d\", \"+36h\", \"+1d12h\")")
    if base is None:
        raise CourseError(f"{where} = {text!r} moves the due date, but the assignment has none: give due = ... first")
    return base + timedelta(days=float(match.group(1) or 0), hours=float(match.group(2) or 0))


def _extension_due(value, where: str, base: datetime | None, zone: ZoneInfo | None) -> datetime:
    """An extension's due date from a TOML date-time, an ISO 8601 string, or "+Nd"/"+Nh" (after ``base``)."""
    if isinstance(value, str) and value.strip().startswith("+"):
        return _moved(base, value, where)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00") if value.strip().endswith("Z") else value.strip())
        except ValueError:
            raise CourseError(f"{where} = {value!r} is neither a date-time with its offset (2026-12-10T23:59:00+01:00) "
                              "nor a number of days and/or hours after the due date (\"+2d\", \"+36h\")") from None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            if zone is None:
                raise CourseError(f"{where} = {value.isoformat()} has no time zone; write it with an offset "
                                  f"(e.g. {value.isoformat()}+01:00) or set timezone = \"Europe/Zurich\" at the top of the file")
            value = value.replace(tzinfo=zone)
        return value
    if isinstance(value, date):
        raise CourseError(f"{where} = {value.isoformat()} is a date without a time; write e.g. {value.isoformat()}T23:59:00+01:00")
    raise CourseError(f"{where} = {value!r}; write a date-time (2026-12-10T23:59:00+01:00) or \"+2d\"")


def _table_extensions(path: Path, where: str, table, due: datetime | None, zone: ZoneInfo | None) -> dict[str, Extension]:
    if not isinstance(table, dict):
        raise CourseError(f"{path}: {where.removesuffix('.extensions]') + ']'} extensions must be a table ({where} with "
                          "alice = \"+2d\"); a CSV of extensions is named at the top of the file: extensions = \"extensions.csv\"")
    found = {}
    for who, value in table.items():
        if isinstance(value, dict):  # alice.due = ... or a dotted key: not a thing we read
            raise CourseError(f"{path}: {where} {who} must be a date-time or \"+2d\", not a table")
        origin = f"{path.name} {where} {who}"
        found[who] = Extension(who, _extension_due(value, f"{path}: {where} {who}", due, zone), origin)
    return found


def _read_csv(config: Path, name, what: str, columns: str) -> tuple[Path, list[tuple[int, dict[str, str]]], list[str]]:
    if not isinstance(name, str) or not name.strip():
        raise CourseError(f"{config}: {what} = {name!r}; name a CSV file next to {CONFIG_FILE}, e.g. {what} = \"{what}.csv\"")
    csv_path = (config.parent / name).resolve()
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise CourseError(f"{config}: {what} = {name!r}: cannot read {csv_path} ({getattr(error, 'strerror', None) or error}); "
                          f"it must be a UTF-8 CSV with the columns {columns}") from None
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip() for f in reader.fieldnames or []]
    rows = [(reader.line_num, {(k or "").strip(): (v or "").strip() if isinstance(v, str) else "" for k, v in row.items()})
            for row in reader]
    return csv_path, rows, fields


def _csv_extensions(config: Path, name, deadlines: dict[str, Deadline], zone: ZoneInfo | None,
                    known_assignments: list[str] | None) -> None:
    """Add the extensions of ``extensions = "file.csv"`` (student_id,assignment,due|days) to ``deadlines``."""
    csv_path, rows, fields = _read_csv(config, name, "extensions", "student_id,assignment,due (or days)")
    missing = [c for c in ("student_id", "assignment") if c not in fields]
    if missing or not ({"due", "days"} & set(fields)):
        raise CourseError(f"{csv_path}: the header is {','.join(fields) or '(empty)'}; it needs the columns student_id, "
                          "assignment and due (a date-time with its offset) or days (a number)")
    for line, row in rows:
        where = f"{csv_path}: line {line}"
        student, assignment = row.get("student_id", ""), row.get("assignment", "")
        if not student or not assignment:
            raise CourseError(f"{where}: student_id and assignment must both be given")
        if known_assignments is not None and assignment not in known_assignments:
            raise CourseError(f"{where}: assignment {assignment!r} is not an assignment of the course "
                              f"(assignments: {', '.join(known_assignments) or 'none'})")
        deadline = deadlines.get(assignment)
        if deadline is None or deadline.due is None:
            raise CourseError(f"{where}: {assignment} has no due date in {config}; give [assignments.{assignment}] due = ... first")
        due_text, days = row.get("due", ""), row.get("days", "")
        if bool(due_text) == bool(days):
            raise CourseError(f"{where}: give either due (a date-time) or days (a number), not {'both' if due_text else 'neither'}")
        if days:
            try:
                moved = deadline.due + timedelta(days=float(days))
            except (ValueError, OverflowError):
                raise CourseError(f"{where}: days = {days!r} is not a number of days (e.g. 2 or 0.5)") from None
        else:
            moved = _extension_due(due_text, f"{where}: due", deadline.due, zone)
        if student in deadline.extensions:
            raise CourseError(f"{where}: {student} already has an extension for {assignment} ({deadline.extensions[student].origin}); keep one")
        deadline.extensions[student] = Extension(student, moved, f"{csv_path.name} line {line}")


def _roster(config: Path, name) -> tuple[dict[str, tuple[str, ...]], frozenset[str]]:
    """student id -> ("group:A", "section:B") from ``roster = "file.csv"`` (student_id and group and/or section)."""
    csv_path, rows, fields = _read_csv(config, name, "roster", "student_id and group and/or section")
    if "student_id" not in fields or not ({"group", "section"} & set(fields)):
        raise CourseError(f"{csv_path}: the header is {','.join(fields) or '(empty)'}; it needs student_id and group and/or section")
    groups: dict[str, tuple[str, ...]] = {}
    for line, row in rows:
        student = row.get("student_id", "")
        if not student:
            raise CourseError(f"{csv_path}: line {line}: no student_id")
        groups[student] = tuple(f"{column}:{row[column]}" for column in ("group", "section") if row.get(column))
    return groups, frozenset(groups)


def extension_warnings(deadline: Deadline, known_students: set[str] | None = None) -> list[str]:
    """What looks wrong in the extensions without being an error: an id that names no known student (the
    roster's, and ``known_students``, e.g. the gradebook's), a group or section nobody is in."""
    known = set(known_students or ()) | set(deadline.roster_students or ())
    members = {g for names in deadline.groups.values() for g in names}
    warnings = []
    for who, extension in sorted(deadline.extensions.items()):
        if who.startswith(GROUP_PREFIXES):
            if who not in members:
                known_groups = ", ".join(sorted(members)) if deadline.groups else f"there is no roster = \"roster.csv\" in {CONFIG_FILE}"
                warnings.append(f"{extension.origin}: nobody in the roster is in {who}; check the name ({known_groups})")
        elif known and who not in known:
            warnings.append(f"{extension.origin}: {who} is not a student of {deadline.assignment} (not in the roster or the "
                            "gradebook); check the id, the extension applies to nobody until it matches")
    return warnings


def deadline_for(assignment: Assignment) -> Deadline:
    """The assignment's deadline (with its extensions and version policy); an assignment without a due date
    has no penalty."""
    deadlines = load_deadlines(assignment.course.root, assignment.course.assignment_names())
    if assignment.name in deadlines:
        return deadlines[assignment.name]
    return Deadline(assignment.name, None, LatePolicy(), _course_zone(assignment.course.root))


def hand_in_cap(course_root: Path, assignment: str) -> tuple[int | None, ZoneInfo | None]:
    """``([assignments.<assignment>] max_per_day, the course's timezone)`` for ``autograder submit``.

    Reads only those two keys, so a student's copy of ``autograder.toml`` need not carry the staff's
    extensions or roster files; (None, None) without the file. Raises `CourseError` naming the key if they
    cannot be used.
    """
    path = config_path(course_root)
    if not path.is_file():
        return None, None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise CourseError(f"{path}: not valid TOML: {error}") from None
    zone = None
    if data.get("timezone"):
        try:
            zone = ZoneInfo(str(data["timezone"]))
        except (ZoneInfoNotFoundError, ValueError):
            raise CourseError(f"{path}: timezone {data['timezone']!r} is not an IANA time zone name (e.g. 'Europe/Zurich' or 'UTC')") from None
    entry = (data.get("assignments") or {}).get(assignment)
    if not isinstance(entry, dict):
        return None, zone
    return _max_per_day(path, f"[assignments.{assignment}]", entry), zone


def has_leaderboard(course_root: Path, assignment: str) -> bool:
    """Whether ``autograder.toml`` has an ``[assignments.<assignment>.leaderboard]`` table, reading nothing else, so
    that a batch of a course without one never depends on the rest of the file (as without versions); a file
    that is not TOML has none. `load_deadlines` then reads, and checks, the whole file."""
    path = config_path(course_root)
    if not path.is_file():
        return False
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return False
    entry = (data.get("assignments") or {}).get(assignment) if isinstance(data.get("assignments"), dict) else None
    return isinstance(entry, dict) and "leaderboard" in entry


def _course_zone(course_root: Path) -> ZoneInfo | None:
    path = config_path(course_root)
    if not path.is_file():
        return None
    name = tomllib.loads(path.read_text(encoding="utf-8")).get("timezone")
    return ZoneInfo(name) if name else None


def _only_keys(path: Path, where: str, table: dict, allowed: set[str]) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise CourseError(f"{path}: {where} has unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def _policy(path: Path, where: str, table) -> LatePolicy:
    if not isinstance(table, dict):
        raise CourseError(f"{path}: {where} must be a table, e.g. {{ policy = \"per_day\", percent_per_day = 10 }}")
    _only_keys(path, where, table, {"policy", "percent_per_day", "max_percent"})
    kind = table.get("policy", "none")
    if kind not in POLICIES:
        raise CourseError(f"{path}: {where} policy = {kind!r}; use one of {', '.join(POLICIES)}")
    numbers = {}
    for key in ("percent_per_day", "max_percent"):
        if key in table:
            value = table[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
                raise CourseError(f"{path}: {where} {key} = {value!r}; it must be a number of percent between 0 and 100")
            numbers[key] = float(value)
    if kind == "per_day" and "percent_per_day" not in numbers:
        raise CourseError(f"{path}: {where} policy = \"per_day\" needs percent_per_day (e.g. 10)")
    if kind != "per_day" and numbers:
        raise CourseError(f"{path}: {where} {', '.join(numbers)} only apply to policy = \"per_day\"")
    return LatePolicy(kind, numbers.get("percent_per_day", 0.0), numbers.get("max_percent"))


def _due(path: Path, where: str, value, zone: ZoneInfo | None) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            if zone is None:
                raise CourseError(f"{path}: {where} due = {value.isoformat()} has no time zone; write it with an offset "
                                  f"(e.g. {value.isoformat()}+01:00) or set timezone = \"Europe/Zurich\" at the top of the file")
            return value.replace(tzinfo=zone)
        return value
    if isinstance(value, date):
        raise CourseError(f"{path}: {where} due = {value.isoformat()} is a date without a time; write e.g. {value.isoformat()}T23:59:00+01:00")
    raise CourseError(f"{path}: {where} due = {value!r} is not a TOML date-time; write e.g. due = 2026-12-01T23:59:00+01:00 (no quotes)")


# ----------------------------------------------------------------------------------- submission times


class TimeError(ValueError):
    """A submission time that cannot be read or placed in time."""


def parse_submission_time(text: str, zone: ZoneInfo | None = None) -> datetime:
    """Read ``timestamp.txt``: ISO 8601 (what ``submit`` writes) or nbgrader's ``2026-12-01 10:00:00.000000 UTC``.

    A trailing zone must be an IANA name (``UTC``, ``Europe/Zurich``); a time without any zone is read in
    ``zone`` (the course's), and without that it is refused.
    """
    text = text.strip()
    if not text:
        raise TimeError("the submission time is empty")
    named_zone = None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        head, _, tail = text.rpartition(" ")
        try:
            named_zone = ZoneInfo(tail)
            moment = datetime.fromisoformat(head)
        except (ZoneInfoNotFoundError, ValueError):
            raise TimeError(f"the submission time {text!r} is neither ISO 8601 (2026-12-01T10:00:00+00:00) "
                            "nor '<date> <time> <IANA zone>'") from None
        if moment.tzinfo is not None:
            raise TimeError(f"the submission time {text!r} has two time zones")
        moment = moment.replace(tzinfo=named_zone)
    if moment.tzinfo is None:
        if zone is None:
            raise TimeError(f"the submission time {text!r} has no time zone and the course sets no timezone in {CONFIG_FILE}")
        moment = moment.replace(tzinfo=zone)
    return moment


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def format_time(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{minutes} min" if minutes or not (days or hours) else ""]
    return " ".join(p for p in parts if p)


# ----------------------------------------------------------------------------------------- penalties


def late_penalty(deadline: Deadline, submitted_at: str | datetime | None, time_source: str | None = "timestamp.txt",
                 student_id: str | None = None) -> Penalty:
    """How much of the score a submission handed in at ``submitted_at`` loses under ``deadline``, measured from
    ``student_id``'s own due date (an extension moves it; the explanation then says so)."""
    due, _extension = deadline.due_for(student_id)
    due_text = deadline.due_text(student_id)
    if due is None or deadline.policy.policy == "none":
        return Penalty(0.0, "no late penalty applies" if due is None else f"due {due_text}; {deadline.policy.describe()}")
    if submitted_at is None:
        return Penalty(0.0, f"due {due_text}; the submission time is unknown, so no late penalty was applied")
    try:
        if isinstance(submitted_at, str) and submitted_at.startswith(UNREADABLE_TIMESTAMP):
            raise TimeError(submitted_at[len(UNREADABLE_TIMESTAMP):])
        moment = submitted_at if isinstance(submitted_at, datetime) else parse_submission_time(submitted_at, deadline.zone)
    except TimeError as error:
        return unreadable_time_penalty(deadline, str(error), time_source, student_id)
    if moment.tzinfo is None:
        raise ValueError("late_penalty needs a timezone-aware datetime")
    late_by = moment - due
    source = f" ({time_source})" if time_source else ""
    if late_by <= timedelta(0):
        return Penalty(0.0, f"submitted {format_time(moment)}{source}, on time (due {due_text})", moment, 0, time_source)
    days = math.ceil(late_by / timedelta(days=1))
    percent = deadline.policy.percent(days)
    explanation = (f"submitted {format_time(moment)}{source}, {_duration(late_by)} after the due date {due_text}: "
                   f"{days} started day(s) late; {deadline.policy.describe()}: {percent:g}% off")
    return Penalty(round(percent / 100.0, 9), explanation, moment, days, time_source)


def unreadable_time_penalty(deadline: Deadline, why: str, time_source: str | None = "timestamp.txt",
                            student_id: str | None = None) -> Penalty:
    """The penalty of a submission whose ``timestamp.txt`` cannot be used: the policy's maximum, flagged."""
    percent = deadline.policy.maximum_percent()
    explanation = (f"flagged for review: {time_source or 'the submission time'} unreadable ({why}); "
                   f"due {deadline.due_text(student_id)}; counted as late by the policy's maximum "
                   f"({deadline.policy.describe()}: {percent:g}% off) until the time is checked by hand "
                   "(fix timestamp.txt, then grade again with --force)")
    return Penalty(round(percent / 100.0, 9), explanation, None, 0, time_source, flagged=True)


def submission_time(submitted_at: str | None, path: str | Path | None) -> tuple[str | datetime | None, str | None]:
    """The submission time and where it came from: ``timestamp.txt`` if there was one, else the file's mtime."""
    if submitted_at:
        return submitted_at, "timestamp.txt"
    if path:
        try:
            mtime = os.lstat(path).st_mtime  # the file itself, never what a link (made later) points to
        except OSError:
            return None, None
        return datetime.fromtimestamp(mtime, timezone.utc), "file modification time"
    return None, None


def penalty_for(assignment: Assignment, submitted_at: str | datetime | None, path: str | Path | None = None,
                student_id: str | None = None) -> tuple[float, str]:
    """``(fraction taken off, explanation)`` for a submission of ``assignment`` (by ``student_id``: their extension).

    ``submitted_at`` is the stored submission time (``timestamp.txt``); when it is None, ``path`` (the
    graded file) gives its modification time instead. Raises `CourseError` if ``autograder.toml`` is wrong.
    """
    moment, source = submission_time(submitted_at, path) if not isinstance(submitted_at, datetime) else (submitted_at, None)
    penalty = late_penalty(deadline_for(assignment), moment, source, student_id)
    return penalty.fraction, penalty.explanation


def penalty_for_row(deadline: Deadline, row) -> Penalty:
    """The penalty of one gradebook submission row (anything with ``submitted_at``, ``path`` and ``status``)."""
    if getattr(row, "status", "") == "missing":
        return Penalty(0.0, "nothing was handed in")
    moment, source = submission_time(row.submitted_at, row.path)
    return late_penalty(deadline, moment, source, getattr(row, "student_id", None))
