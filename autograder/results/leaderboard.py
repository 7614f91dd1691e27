"""The leaderboard of a ``check_metric`` question: public scores while the assignment runs, private ones after.

Configured per assignment in ``autograder.toml`` (`autograder.course.late.LeaderboardSettings`)::

    [assignments.feedforward_classifier.leaderboard]
    metric = "extra.heldout_accuracy"   # the check_metric check
    public_fraction = 0.3               # default 0.3
    evaluations_per_day = 3             # default: no cap

**The split.** The held-out items (the pictures only ``solutions/`` can draw) are split once, by a seeded
permutation (`autograder.grading.held_out.split_indices`), into a *public* part (``public_fraction`` of
them) and a *private* part (the rest). Every evaluation computes both means in one confined run
(``<metric>_per_sample`` in solutions/: one score per item); the check's points are decided on the
private part. Held-out data never enters the student's process.

**An evaluation** is one version of a student's notebook graded while a leaderboard is configured: a hand-in
kept by ``submit`` (every version under ``counts = "best"``, the one that counts otherwise), or the one file
of a folder without versions. It counts on the day of its submission time (``timestamp.txt``, else the
file's modification time) in the course's ``timezone`` (UTC without one), whatever its outcome (a model
that cannot be rebuilt spends its evaluation too), and it is spent when the version is first graded:
grading the same version again (``--force``) spends nothing. Of a student's versions handed in on one day,
at most ``evaluations_per_day`` are evaluated, the earliest handed in first (`allot`); a later one is *not
evaluated*: its metric check fails saying so, its row's note says so, and the page counts it. A version
whose submission time cannot be read is not evaluated either (fix ``timestamp.txt``, grade with ``--force``).

**The page** (`write_leaderboard`): before the reveal, one row per student under a pseudonym (`pseudonym`: a
keyed hash of the student id with the course's secret), ranked by their best public score, with their number
of evaluations; the private scores are not in the file at all. After the reveal (the latest due date of
anyone, extensions included, so nobody still working sees a private score), the private score of the version
that counts (the gradebook's row for the student) ranks the students, and the public rank is shown beside it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from autograder.course import Assignment, CourseError
from autograder.course.late import (
    UNREADABLE_TIMESTAMP,
    Deadline,
    LeaderboardSettings,
    TimeError,
    deadline_for,
    parse_submission_time,
    submission_time,
)
from autograder.errors import UserError
from autograder.wire.seeding import stable_seed

#: The course's secret for pseudonyms: in the course folder, created on first use, never released or committed.
SECRET_FILE = ".autograder-secret"
#: Hex digits of a pseudonym (40 bits: two of 1,000 students share one with probability about 5e-7).
PSEUDONYM_HEX_DIGITS = 10


@dataclass
class Evaluation:
    """One version's leaderboard evaluation: decided before the run (`allowed`), filled in by the metric check."""

    check: str  # the check_metric check's name
    public_fraction: float
    seed: int
    allowed: bool
    refusal: str  # why not evaluated ("" when allowed): the check's message and the row's note
    path: str
    submitted_at: str
    sha256: str
    day: str
    public: float | None = None
    private: float | None = None

    def record(self, public: float, private: float) -> None:
        self.public, self.private = float(public), float(private)

    def outcome(self) -> dict:
        """What the gradebook keeps of it (`Gradebook.record_leaderboard_entry`)."""
        return {"path": self.path, "submitted_at": self.submitted_at, "sha256": self.sha256, "day": self.day,
                "evaluated": self.allowed, "public": self.public, "private": self.private, "note": self.refusal}


@dataclass
class Allotment:
    """The decisions of one batch: for each version to grade, whether it is evaluated (`allot`)."""

    settings: LeaderboardSettings
    seed: int
    decisions: dict[tuple, Evaluation] = field(default_factory=dict)

    def evaluation(self, submission) -> Evaluation | None:
        """A fresh `Evaluation` for ``submission`` (a version the batch grades), or None if it has none."""
        decided = self.decisions.get(_run_key(submission))
        return None if decided is None else dataclasses.replace(decided)


def _run_key(submission) -> tuple:
    return (submission.student_id, submission.notebook, str(submission.path or ""), submission.submitted_at or "")


def split_seed(assignment: str, settings: LeaderboardSettings) -> int:
    """The split's seed: ``split_seed`` if set, else one derived from the assignment's and the check's names."""
    return settings.split_seed if settings.split_seed is not None else stable_seed(f"leaderboard:{assignment}:{settings.metric}")


def _day(submitted_at: str | None, path, deadline: Deadline) -> tuple[str | None, str]:
    """(the submission's date in the course's timezone, "") or (None, why it cannot be placed in a day)."""
    if submitted_at and submitted_at.startswith(UNREADABLE_TIMESTAMP):
        return None, submitted_at[len(UNREADABLE_TIMESTAMP):]
    moment, _source = submission_time(submitted_at, path)
    if moment is None:
        return None, "no submission time and no file time"
    try:
        if isinstance(moment, str):
            moment = parse_submission_time(moment, deadline.zone)
    except TimeError as error:
        return None, str(error)
    return moment.astimezone(deadline.zone or timezone.utc).date().isoformat(), ""


def _moment(submitted_at: str | None, deadline: Deadline) -> datetime:
    try:
        return parse_submission_time(submitted_at or "", deadline.zone).astimezone(timezone.utc)
    except TimeError:
        return datetime.max.replace(tzinfo=timezone.utc)


def allot(assignment_name: str, deadline: Deadline, runs: list, spent: list) -> Allotment | None:
    """Which of ``runs`` (the versions a batch grades) are evaluated, given the evaluations already ``spent``
    (`Gradebook.leaderboard_entries`); None when the assignment has no leaderboard.

    A version graded before keeps its decision if it was evaluated (its evaluation is spent); any other is
    evaluated while the student has had fewer than ``evaluations_per_day`` evaluations on its day, the
    versions of one student taken in the order they were handed in."""
    from autograder.course.submissions import file_hash

    settings = deadline.leaderboard
    if settings is None:
        return None
    allotment = Allotment(settings, split_seed(assignment_name, settings))
    cap = settings.evaluations_per_day
    used: dict[tuple[str, str], int] = {}
    evaluated_before = set()
    for entry in spent:
        if entry.evaluated:
            used[(entry.student_id, entry.day)] = used.get((entry.student_id, entry.day), 0) + 1
            evaluated_before.add((entry.student_id, entry.notebook, entry.path, entry.submitted_at, entry.sha256))
    graded = [run for run in runs if run.path is not None]
    for run in sorted(graded, key=lambda r: (r.student_id, _moment(r.submitted_at, deadline), str(r.path))):
        sha = file_hash(run.path) or ""
        day, why = _day(run.submitted_at, run.path, deadline)
        evaluation = Evaluation(settings.metric, settings.public_fraction, allotment.seed, True, "", str(run.path),
                                run.submitted_at or "", sha, day or "")
        if (run.student_id, run.notebook, str(run.path), run.submitted_at or "", sha) in evaluated_before:
            pass  # its evaluation was spent when it was first graded
        elif day is None:
            evaluation.allowed = False
            evaluation.refusal = (f"not evaluated for the leaderboard: the submission time cannot be read ({why}); "
                                  "fix timestamp.txt and grade again with --force")
        elif cap is not None and used.get((run.student_id, day), 0) >= cap:
            evaluation.allowed = False
            evaluation.refusal = (f"not evaluated for the leaderboard: {cap} evaluation(s) of {run.student_id} were already "
                                  f"made on {day} (at most {cap} a day, {deadline.zone or 'UTC'}); this version scores 0 on "
                                  f"{settings.metric}: hand in again on another day")
        else:
            used[(run.student_id, day)] = used.get((run.student_id, day), 0) + 1
        allotment.decisions[_run_key(run)] = evaluation
    return allotment


# ------------------------------------------------------------------------------------------ pseudonyms


def course_secret(course_root: Path) -> bytes:
    """The course's secret key (``.autograder-secret`` in the course folder), created on first use (mode 0600)."""
    path = Path(course_root) / SECRET_FILE
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
    try:
        key = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: the course's secret cannot be read ({error}); delete it to make a new one "
                        "(every pseudonym on the leaderboard changes)") from None
    if len(key) < 32:
        raise UserError(f"{path}: the course's secret is shorter than 32 characters; delete it to make a new one "
                        "(every pseudonym on the leaderboard changes)")
    return key.encode("ascii")


def pseudonym(secret: bytes, student_id: str) -> str:
    """A student's name on the leaderboard: stable for the course, not computable without its secret."""
    return "anon-" + hmac.new(secret, student_id.encode("utf-8"), hashlib.sha256).hexdigest()[:PSEUDONYM_HEX_DIGITS]


# ------------------------------------------------------------------------------------------- the page


@dataclass
class Standing:
    pseudonym: str
    evaluations: int
    not_evaluated: int
    best_public: float | None
    public_rank: int | None = None
    private: float | None = None  # after the reveal: the private score of the version that counts
    private_rank: int | None = None
    private_note: str = ""


@dataclass
class Board:
    assignment: str
    metric: str
    public_fraction: float
    evaluations_per_day: int | None
    reveal_at: datetime
    now: datetime
    standings: list[Standing]

    @property
    def revealed(self) -> bool:
        return self.now >= self.reveal_at

    @property
    def shake_up(self) -> list[tuple[Standing, int]]:
        return [(s, (s.public_rank or 0) - (s.private_rank or 0)) for s in self.standings]


def _ranks(scores: dict[str, float | None]) -> dict[str, int]:
    """Competition ranking (1, 2, 2, 4), highest score first; no rank without a score."""
    ordered = sorted((value for value in scores.values() if value is not None), reverse=True)
    return {key: 1 + ordered.index(value) for key, value in scores.items() if value is not None}


def build_board(gradebook, assignment: Assignment, now: datetime | None = None) -> Board:
    """The leaderboard's content at ``now`` (default: the current time)."""
    deadline = deadline_for(assignment)
    settings = deadline.leaderboard
    if settings is None:
        raise CourseError(f"{assignment.name} has no leaderboard: add [assignments.{assignment.name}.leaderboard] with "
                          "metric = \"<check name>\" to autograder.toml (docs/authoring.md, Leaderboard)")
    reveal_at = deadline.latest_due()
    now = now or datetime.now(timezone.utc)
    secret = course_secret(assignment.course.root)
    entries = gradebook.leaderboard_entries(assignment.name)
    by_student: dict[str, list] = {}
    for entry in entries:
        by_student.setdefault(entry.student_id, []).append(entry)
    counted = {}
    if now >= reveal_at:
        latest = {}
        for entry in entries:  # oldest graded first: the last one of a version is its latest grading
            latest[(entry.student_id, entry.notebook, entry.path, entry.submitted_at)] = entry
        for row in gradebook.submissions(assignment.name, manual=False):
            counted[row.student_id] = latest.get((row.student_id, row.notebook, row.path, row.submitted_at or ""))
    standings = {}
    for student, own in by_student.items():
        scored = [e.public for e in own if e.evaluated and e.public is not None]
        standing = Standing(pseudonym(secret, student), sum(1 for e in own if e.evaluated), sum(1 for e in own if not e.evaluated),
                            max(scored) if scored else None)
        if now >= reveal_at:
            entry = counted.get(student)
            if entry is None or not entry.evaluated:
                standing.private_note = "the version that counts was not evaluated"
            elif entry.private is None:
                standing.private_note = "the version that counts could not be scored"
            else:
                standing.private = entry.private
        standings[student] = standing
    public_ranks = _ranks({s: v.best_public for s, v in standings.items()})
    private_ranks = _ranks({s: v.private for s, v in standings.items()})
    for student, standing in standings.items():
        standing.public_rank, standing.private_rank = public_ranks.get(student), private_ranks.get(student)
    rank_by = (lambda s: (s.private_rank or 10**9, s.public_rank or 10**9, s.pseudonym)) if now >= reveal_at else \
        (lambda s: (s.public_rank or 10**9, s.pseudonym))
    return Board(assignment.name, settings.metric, settings.public_fraction, settings.evaluations_per_day, reveal_at, now,
                 sorted(standings.values(), key=rank_by))


def when_text(moment: datetime, zone) -> str:
    """A time as the page shows it, in the course's timezone: "2026-12-05 23:59 CET"."""
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def write_leaderboard(gradebook, assignment: Assignment, output: Path, now: datetime | None = None) -> Board:
    """Write the leaderboard page (one HTML file, no script, nothing fetched) and return what it shows."""
    from autograder.results.pages import environment

    board = build_board(gradebook, assignment, now)
    env = environment()
    zone = deadline_for(assignment).zone or timezone.utc  # times as the course reads them
    page = env.get_template("leaderboard.html.j2").render(board=board, reveal_text=when_text(board.reveal_at, zone),
                                                          now_text=when_text(board.now, zone))
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(page, encoding="utf-8")
    return board


def parse_now(text: str) -> datetime:
    """``--now``: an ISO 8601 time with its offset (``2026-12-02T09:00:00+01:00``)."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise UserError(f"--now {text!r} is not an ISO 8601 time; write e.g. --now 2026-12-02T09:00:00+01:00") from None
    if moment.tzinfo is None:
        raise UserError(f"--now {text!r} has no time zone offset; write e.g. --now {text}+01:00")
    return moment
