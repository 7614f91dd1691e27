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

`penalty_for` is the function the exports and the feedback pages call.
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from autograder.course import Assignment, CourseError
from autograder.course.submissions import UNREADABLE_TIMESTAMP

CONFIG_FILE = "autograder.toml"
POLICIES = ("none", "zero", "per_day")


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
class Deadline:
    assignment: str
    due: datetime | None  # always timezone-aware
    policy: LatePolicy
    zone: ZoneInfo | None = None  # the course's timezone, for submission times written without one


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
    _only_keys(path, "the top level", data, {"timezone", "late", "assignments"})
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
    deadlines = {}
    for name, entry in assignments.items():
        where = f"[assignments.{name}]"
        if known_assignments is not None and name not in known_assignments:
            raise CourseError(f"{path}: {where} names no assignment of the course (assignments: {', '.join(known_assignments) or 'none'})")
        if not isinstance(entry, dict):
            raise CourseError(f"{path}: {where} must be a table with due = ...")
        _only_keys(path, where, entry, {"due", "late"})
        if "due" not in entry:
            raise CourseError(f"{path}: {where} has no 'due' date, e.g. due = 2026-12-01T23:59:00+01:00")
        due = _due(path, where, entry["due"], zone)
        policy = _policy(path, f"{where} late", entry["late"]) if "late" in entry else default
        deadlines[name] = Deadline(name, due, policy, zone)
    return deadlines


def deadline_for(assignment: Assignment) -> Deadline:
    """The assignment's deadline; an assignment without a due date has no penalty."""
    deadlines = load_deadlines(assignment.course.root, assignment.course.assignment_names())
    if assignment.name in deadlines:
        return deadlines[assignment.name]
    return Deadline(assignment.name, None, LatePolicy(), _course_zone(assignment.course.root))


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


def late_penalty(deadline: Deadline, submitted_at: str | datetime | None, time_source: str | None = "timestamp.txt") -> Penalty:
    """How much of the score a submission handed in at ``submitted_at`` loses under ``deadline``."""
    if deadline.due is None or deadline.policy.policy == "none":
        return Penalty(0.0, "no late penalty applies" if deadline.due is None else f"due {format_time(deadline.due)}; {deadline.policy.describe()}")
    if submitted_at is None:
        return Penalty(0.0, f"due {format_time(deadline.due)}; the submission time is unknown, so no late penalty was applied")
    try:
        if isinstance(submitted_at, str) and submitted_at.startswith(UNREADABLE_TIMESTAMP):
            raise TimeError(submitted_at[len(UNREADABLE_TIMESTAMP):])
        moment = submitted_at if isinstance(submitted_at, datetime) else parse_submission_time(submitted_at, deadline.zone)
    except TimeError as error:
        return unreadable_time_penalty(deadline, str(error), time_source)
    if moment.tzinfo is None:
        raise ValueError("late_penalty needs a timezone-aware datetime")
    late_by = moment - deadline.due
    source = f" ({time_source})" if time_source else ""
    if late_by <= timedelta(0):
        return Penalty(0.0, f"submitted {format_time(moment)}{source}, on time (due {format_time(deadline.due)})", moment, 0, time_source)
    days = math.ceil(late_by / timedelta(days=1))
    percent = deadline.policy.percent(days)
    explanation = (f"submitted {format_time(moment)}{source}, {_duration(late_by)} after the due date {format_time(deadline.due)}: "
                   f"{days} started day(s) late; {deadline.policy.describe()}: {percent:g}% off")
    return Penalty(round(percent / 100.0, 9), explanation, moment, days, time_source)


def unreadable_time_penalty(deadline: Deadline, why: str, time_source: str | None = "timestamp.txt") -> Penalty:
    """The penalty of a submission whose ``timestamp.txt`` cannot be used: the policy's maximum, flagged."""
    percent = deadline.policy.maximum_percent()
    explanation = (f"flagged for review: {time_source or 'the submission time'} unreadable ({why}); "
                   f"due {format_time(deadline.due)}; counted as late by the policy's maximum "
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


def penalty_for(assignment: Assignment, submitted_at: str | datetime | None, path: str | Path | None = None) -> tuple[float, str]:
    """``(fraction taken off, explanation)`` for a submission of ``assignment``.

    ``submitted_at`` is the stored submission time (``timestamp.txt``); when it is None, ``path`` (the
    graded file) gives its modification time instead. Raises `CourseError` if ``autograder.toml`` is wrong.
    """
    moment, source = submission_time(submitted_at, path) if not isinstance(submitted_at, datetime) else (submitted_at, None)
    penalty = late_penalty(deadline_for(assignment), moment, source)
    return penalty.fraction, penalty.explanation


def penalty_for_row(deadline: Deadline, row) -> Penalty:
    """The penalty of one gradebook submission row (anything with ``submitted_at``, ``path`` and ``status``)."""
    if getattr(row, "status", "") == "missing":
        return Penalty(0.0, "nothing was handed in")
    moment, source = submission_time(row.submitted_at, row.path)
    return late_penalty(deadline, moment, source)
