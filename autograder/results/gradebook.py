"""Where grades are stored: a SQLAlchemy gradebook (SQLite by default, any SQLAlchemy URL).

Two tables. ``submissions`` has one row per (assignment, student, notebook) with the run's status and the
file's hash; ``results`` one row per graded question. A submission and its results are written in one
transaction, replacing any earlier grading of the same notebook, so an interrupted batch never leaves a
half-written submission and grading twice never duplicates a row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    Boolean,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, selectinload

from autograder.errors import UserError
from autograder.results.status import RETRIED, QuestionStatus, SubmissionStatus
from autograder.wire.text import safe_text, safe_tree


class NoSuchGrade(UserError, KeyError):
    """What a grader asked for is not in the gradebook (an answer, a rubric item); the message says what to do."""

    def __str__(self) -> str:  # KeyError's own str() quotes its message
        return str(self.args[0]) if self.args else ""


class BadGrade(UserError, ValueError):
    """A grade or rubric item that cannot be stored as given (out of range, no comment); the message says why."""


class Base(DeclarativeBase):
    pass


class SubmissionRow(Base):
    __tablename__ = "submissions"
    __table_args__ = (UniqueConstraint("assignment", "student_id", "notebook", name="one_row_per_notebook"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assignment: Mapped[str] = mapped_column(String(200), index=True)
    student_id: Mapped[str] = mapped_column(String(200))
    notebook: Mapped[str] = mapped_column(String(300))
    path: Mapped[str] = mapped_column(Text, default="")
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text, default="")
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    max_score: Mapped[float] = mapped_column(Float, default=0.0)
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    peak_memory_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # added later: see `_add_missing_columns`
    submitted_at: Mapped[str | None] = mapped_column(String(64), nullable=True)
    graded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    notes: Mapped[list] = mapped_column(JSON, default=list)

    results: Mapped[list["ResultRow"]] = relationship(
        back_populates="submission", cascade="all, delete-orphan", order_by="ResultRow.position"
    )


class ResultRow(Base):
    __tablename__ = "results"
    __table_args__ = (UniqueConstraint("submission_id", "question", name="one_row_per_question"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    question: Mapped[str] = mapped_column(String(300))
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    max_score: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text, default="")
    checks: Mapped[list] = mapped_column(JSON, default=list)
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)  # its cells' (added later, as below)
    peak_memory_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    submission: Mapped[SubmissionRow] = relationship(back_populates="results")


class StudentViewRow(Base):
    """The graded notebook as its student may see it (`autograder.results.feedback.student_view`), one per submission.

    A table of its own (not columns of ``submissions``) so that gradebooks written before it still open:
    `create_all` adds missing tables, never missing columns. ``answers`` (the hand-graded answers' text and
    hash) is kept apart from ``notebook`` so that combining manual grades never loads the outputs.
    """

    __tablename__ = "student_views"

    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), primary_key=True)
    answers: Mapped[dict] = mapped_column(JSON, default=dict)  # grade_id -> {"source", "sha256", "cell_type"}
    notebook: Mapped[dict] = mapped_column(JSON, default=dict)


class ManualGradeRow(Base):
    """A hand grade of one answer. Keyed by (assignment, student, notebook, question), not by submission row,
    so regrading (which replaces the submission's rows) never wipes it; it applies while the answer's text
    still has the hash it was graded on."""

    __tablename__ = "manual_grades"
    __table_args__ = (UniqueConstraint("assignment", "student_id", "notebook", "question", name="one_manual_grade"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assignment: Mapped[str] = mapped_column(String(200), index=True)
    student_id: Mapped[str] = mapped_column(String(200))
    notebook: Mapped[str] = mapped_column(String(300))
    question: Mapped[str] = mapped_column(String(300))
    score: Mapped[float] = mapped_column(Float)
    max_score: Mapped[float] = mapped_column(Float)
    comment: Mapped[str] = mapped_column(Text, default="")
    answer_sha256: Mapped[str] = mapped_column(String(64))
    grader: Mapped[str] = mapped_column(String(200), default="")
    graded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ManualGradeEventRow(Base):
    """Every save of a hand grade, in order (who, when, what): the history of a grade and its version.

    Version n of a grade is its n-th save. (key, version) is unique, so two graders who loaded version n
    and save at once collide in the database itself (SQLite and PostgreSQL alike): one of them gets version
    n + 1, the other a `GradeConflict`, and no update is lost. A grade saved before this table existed (or
    with `set_manual_grade` directly) is version 0."""

    __tablename__ = "manual_grade_events"
    __table_args__ = (UniqueConstraint("assignment", "student_id", "notebook", "question", "version", name="one_manual_grade_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assignment: Mapped[str] = mapped_column(String(200), index=True)
    student_id: Mapped[str] = mapped_column(String(200))
    notebook: Mapped[str] = mapped_column(String(300))
    question: Mapped[str] = mapped_column(String(300))
    version: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    comment: Mapped[str] = mapped_column(Text, default="")
    grader: Mapped[str] = mapped_column(String(200), default="")
    graded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    rubric: Mapped[list] = mapped_column(JSON, default=list)  # ids of the rubric items applied
    adjustment: Mapped[float] = mapped_column(Float, default=0.0)  # score - sum(items): kept when an item's points change
    note: Mapped[str] = mapped_column(Text, default="")  # why a save was made for the grader: "item 3 changed: +1 -> +0.5"


class RubricItemRow(Base):
    """One rubric item of a hand-graded question: points (positive or negative) and a reusable comment.

    A grade that applies items stores their ids (`ManualGradeEventRow.rubric`); its score is the sum of
    their points plus the grader's adjustment, within 0..max. Changing an item's points recomputes every
    grade whose latest save applies it, each as a new save (version) naming who changed the item and when."""

    __tablename__ = "rubric_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assignment: Mapped[str] = mapped_column(String(200), index=True)
    notebook: Mapped[str] = mapped_column(String(300))
    question: Mapped[str] = mapped_column(String(300))
    position: Mapped[int] = mapped_column(Integer, default=0)
    points: Mapped[float] = mapped_column(Float, default=0.0)
    text: Mapped[str] = mapped_column(Text, default="")
    changed_by: Mapped[str] = mapped_column(String(200), default="")
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LeaderboardEntryRow(Base):
    """One leaderboard evaluation (`autograder.results.leaderboard`): a graded version of a student's notebook,
    its scores on the public and the private part of the held-out data, or why it was not evaluated.

    Keyed by the version (its path, submission time and hash), not by the submission row: ``counts = "best"``
    grades every version but keeps one submission row, and a regrade replaces rows but never spends a day's
    evaluation twice."""

    __tablename__ = "leaderboard_entries"
    __table_args__ = (UniqueConstraint("assignment", "student_id", "notebook", "path", "submitted_at", "sha256",
                                       name="one_entry_per_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assignment: Mapped[str] = mapped_column(String(200), index=True)
    student_id: Mapped[str] = mapped_column(String(200))
    notebook: Mapped[str] = mapped_column(String(300))
    path: Mapped[str] = mapped_column(Text, default="")
    submitted_at: Mapped[str] = mapped_column(String(64), default="")  # "" when unknown (a NULL would defeat the unique key)
    sha256: Mapped[str] = mapped_column(String(64), default="")
    day: Mapped[str] = mapped_column(String(10), default="")  # the submission's date in the course's timezone
    evaluated: Mapped[bool] = mapped_column(Boolean, default=True)
    public: Mapped[float | None] = mapped_column(Float, nullable=True)
    private: Mapped[float | None] = mapped_column(Float, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    graded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
#: Columns added to tables after gradebooks were first written: (table, column). `create_all` makes missing
#: tables, never missing columns, so a gradebook written before them gets them on open (all nullable: the
#: rows graded before read None, "not measured").
ADDED_COLUMNS = (("submissions", "peak_memory_bytes"), ("results", "duration_s"), ("results", "peak_memory_bytes"))


@event.listens_for(Base.metadata, "after_create")
def _add_missing_columns(metadata, connection, **_) -> None:
    """After `create_all` (every open of a gradebook): ``ALTER TABLE ... ADD COLUMN`` for each of
    `ADDED_COLUMNS` the database lacks. Two graders opening one old PostgreSQL gradebook at once both may
    try: ``IF NOT EXISTS`` there; SQLite has no such clause, and a writer there holds the whole file."""
    present = {table: {c["name"] for c in inspect(connection).get_columns(table)} for table in {t for t, _ in ADDED_COLUMNS}}
    for table, name in ADDED_COLUMNS:
        if name in present[table]:
            continue
        column = metadata.tables[table].columns[name]
        kind = column.type.compile(dialect=connection.dialect)
        guard = "IF NOT EXISTS " if connection.dialect.name == "postgresql" else ""
        try:
            connection.execute(text(f'ALTER TABLE {table} ADD COLUMN {guard}"{name}" {kind}'))
        except DBAPIError as error:
            raise UserError(f"the gradebook {connection.engine.url.render_as_string(hide_password=True)} was written by an "
                            f"older version and lacks the column {table}.{name}, which this connection may not add "
                            f"({type(error.orig).__name__}: {str(error.orig).strip().splitlines()[0][:200]}); open it once "
                            "with write access (its owner), then again as before") from None


def rubric_comment(items: list["RubricItemRow"], comment: str) -> str:
    """The comment a student reads: the applied items (with their points), then the grader's own words."""
    lines = [f"- {item.text} ({item.points:+g})" for item in items]
    return "\n".join(lines + ([""] if lines and comment else []) + ([comment] if comment else []))


class GradeConflict(ValueError):
    """A hand grade was saved from a page loaded with an older version of it: another grader saved meanwhile.
    ``current`` is that grader's save (a `ManualGradeEventRow`)."""

    def __init__(self, message: str, current: "ManualGradeEventRow"):
        super().__init__(message)
        self.current = current


#: The status of a hand-graded answer once a current manual grade is applied to it.
MANUALLY_GRADED = "manually_graded"


def applied_manual_score(grade: "ManualGradeRow | None", answer_sha256: str | None, max_score: float) -> float | None:
    """The points a hand grade gives its answer now: its score within 0..``max_score``, or None when there is no
    grade or it was given to another version of the answer (``answer_sha256`` is the stored answer's hash now)."""
    if grade is None or grade.answer_sha256 != answer_sha256:
        return None
    return round(min(max(grade.score, 0.0), max_score), 9)


class StaleAnswer(UserError, ValueError):
    """A manual grade was given for an answer text that is no longer the student's current answer."""


@dataclass
class StoredResult:
    question: str
    score: float | None
    max_score: float
    status: str
    message: str = ""
    checks: list | None = None
    duration_s: float | None = None  # the question's cells (`autograder.grading.submission._usage_per_question`)
    peak_memory_bytes: int | None = None


@dataclass
class StoredSubmission:
    assignment: str
    student_id: str
    notebook: str
    path: str
    sha256: str | None
    status: str
    message: str
    results: list[StoredResult]
    duration_s: float | None = None
    submitted_at: str | None = None
    notes: list[str] | None = None
    peak_memory_bytes: int | None = None  # the most memory the run's cgroup was charged (`autograder.sandbox.launch.PeakMemory`)
    student_view: dict | None = None  # `autograder.results.feedback.student_view`: {"cells": [...], "answers": {...}}
    leaderboard: dict | None = None  # this version's leaderboard evaluation (`autograder.results.leaderboard.Evaluation.outcome`)


def safe_submission(item: StoredSubmission) -> StoredSubmission:
    """``item`` with every text in it made safe for every sink (`autograder.wire.text`), in place; returned.

    Called once where a graded row leaves grading (`autograder.grading.submission.grade_safely`, and on a
    Dask coordinator for the rows that come back as JSON): the ids and file names come from the
    submissions folder, everything else may come from the student's process.
    """
    item.assignment, item.student_id, item.notebook = safe_text(item.assignment), safe_text(item.student_id), safe_text(item.notebook)
    item.path, item.status, item.message = safe_text(item.path or ""), safe_text(item.status), safe_text(item.message or "")
    item.sha256 = None if item.sha256 is None else safe_text(item.sha256)
    item.submitted_at = None if item.submitted_at is None else safe_text(item.submitted_at)
    item.notes = None if item.notes is None else [safe_text(note) for note in item.notes]
    for result in item.results:
        result.question, result.status, result.message = safe_text(result.question), safe_text(result.status), safe_text(result.message or "")
        result.checks = None if result.checks is None else safe_tree(result.checks)
    item.student_view = None if item.student_view is None else safe_tree(item.student_view)
    item.leaderboard = None if item.leaderboard is None else safe_tree(item.leaderboard)
    return item


class GradebookUnavailable(UserError):
    """The gradebook named cannot be opened: a URL SQLAlchemy cannot read, a driver not installed, a server
    that does not answer or refuses, or (for the commands that only read grades) no gradebook there yet."""


class Gradebook:
    def __init__(self, url: str, create: bool = True):
        """Open (``create``: and make, if need be) the gradebook at the SQLAlchemy ``url``.

        Raises `GradebookUnavailable`, one line naming the URL (its password masked) and what to do, for
        anything but a bug of ours. With ``create=False`` (export, feedback, report...: commands that read
        grades) a gradebook that does not exist yet is that error too, and no file or table is made.
        """
        self.url = url
        self.engine = _engine(url)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        shown = self.engine.url.render_as_string(hide_password=True)
        if not create:
            _require_existing(self.engine, shown)
        try:
            Base.metadata.create_all(self.engine)
        except OperationalError as error:
            self.engine.dispose()
            raise GradebookUnavailable(f"gradebook {shown}: cannot connect ({_first_line(error.orig or error)}); "
                                       f"{_connect_advice(self.engine)}") from None

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "Gradebook":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def store(self, item: StoredSubmission) -> StoredSubmission:
        """Write one submission and its results atomically, replacing an earlier grading of it; returns what
        was stored.

        A row the database refuses (text it cannot hold, a value its JSON cannot take: anything but a lost
        connection or a lock, `OperationalError`) is replaced by that submission's ``grader_error`` row,
        which says why and is graded again by the next run: one bad row never stops a batch. Rows are made
        safe where they leave grading (`safe_submission`); this is the defence behind that.
        """
        try:
            self._write(item)
            return item
        except OperationalError:
            raise
        except Exception as error:
            reason = safe_text(f"{type(error).__name__}: {error}", 1000)
        fallback = safe_submission(StoredSubmission(
            item.assignment, item.student_id, item.notebook, item.path, item.sha256, SubmissionStatus.GRADER_ERROR,
            f"the gradebook could not store this submission's grades: {reason}",
            [StoredResult(r.question, 0.0, r.max_score, QuestionStatus.GRADER_ERROR, "not stored: see the submission's message")
             for r in item.results],
            duration_s=item.duration_s, submitted_at=item.submitted_at))
        self._write(fallback)
        return fallback

    def _write(self, item: StoredSubmission) -> None:
        scores = [r.score for r in item.results]
        total = sum(s for s in scores if s is not None) if item.results else 0.0
        with Session(self.engine) as session, session.begin():
            old = session.scalars(
                select(SubmissionRow.id).where(
                    SubmissionRow.assignment == item.assignment,
                    SubmissionRow.student_id == item.student_id,
                    SubmissionRow.notebook == item.notebook,
                )
            ).all()
            if old:
                session.execute(delete(ResultRow).where(ResultRow.submission_id.in_(old)))
                session.execute(delete(StudentViewRow).where(StudentViewRow.submission_id.in_(old)))
                session.execute(delete(SubmissionRow).where(SubmissionRow.id.in_(old)))
            row = SubmissionRow(
                assignment=item.assignment,
                student_id=item.student_id,
                notebook=item.notebook,
                path=item.path,
                sha256=item.sha256,
                status=item.status,
                message=_no_nul(item.message[:4000]),
                score=round(total, 9),
                max_score=sum(r.max_score for r in item.results),
                duration_s=item.duration_s,
                peak_memory_bytes=item.peak_memory_bytes,
                submitted_at=item.submitted_at,
                graded_at=datetime.now(timezone.utc),
                notes=_no_nul(list(item.notes or [])),
            )
            row.results = [
                ResultRow(
                    position=position,
                    question=r.question,
                    score=r.score,
                    max_score=r.max_score,
                    status=r.status,
                    message=_no_nul((r.message or "")[:4000]),
                    checks=_no_nul(json.loads(json.dumps(r.checks or [], default=str))),
                    duration_s=r.duration_s,
                    peak_memory_bytes=r.peak_memory_bytes,
                )
                for position, r in enumerate(item.results)
            ]
            session.add(row)
            if item.student_view is not None:
                session.flush()  # the new row's id
                view = _no_nul(json.loads(json.dumps(item.student_view, default=str)))
                session.add(StudentViewRow(submission_id=row.id, answers=view.pop("answers", {}), notebook=view))

    def record_leaderboard_entry(self, item: StoredSubmission) -> None:
        """Keep the leaderboard evaluation a graded version carries (``item.leaderboard``), replacing an earlier
        grading of the same version; nothing for a version without one."""
        entry = item.leaderboard
        if entry is None:
            return
        key = dict(assignment=item.assignment, student_id=item.student_id, notebook=item.notebook, path=str(entry.get("path") or ""),
                   submitted_at=str(entry.get("submitted_at") or ""), sha256=str(entry.get("sha256") or ""))
        with Session(self.engine) as session, session.begin():
            session.execute(delete(LeaderboardEntryRow).where(*(getattr(LeaderboardEntryRow, k) == v for k, v in key.items())))
            session.add(LeaderboardEntryRow(**key, day=str(entry.get("day") or ""), evaluated=bool(entry.get("evaluated")),
                                            public=entry.get("public"), private=entry.get("private"),
                                            note=_no_nul(str(entry.get("note") or ""))[:2000], graded_at=datetime.now(timezone.utc)))

    def leaderboard_entries(self, assignment: str) -> list[LeaderboardEntryRow]:
        """The assignment's leaderboard evaluations, oldest graded first, detached from the database."""
        with Session(self.engine) as session:
            found = session.scalars(select(LeaderboardEntryRow).where(LeaderboardEntryRow.assignment == assignment)
                                    .order_by(LeaderboardEntryRow.graded_at, LeaderboardEntryRow.id)).all()
            session.expunge_all()
        return list(found)

    def graded_hashes(self, assignment: str) -> dict[tuple[str, str], str | None]:
        """(student_id, notebook) -> sha256 of the file graded last, for resuming a batch.

        A row the grader itself failed on (status ``grader_error``: a grader bug, a Dask worker lost twice) is
        no verdict on the file, so it is left out: a rerun grades that file again.
        """
        with Session(self.engine) as session:
            rows = session.execute(
                select(SubmissionRow.student_id, SubmissionRow.notebook, SubmissionRow.sha256).where(
                    SubmissionRow.assignment == assignment, SubmissionRow.status.not_in(RETRIED)
                )
            ).all()
        return {(student, notebook): sha for student, notebook, sha in rows}

    def submissions(self, assignment: str, manual: bool = True) -> list[SubmissionRow]:
        """The assignment's graded notebooks, detached from the database.

        With ``manual`` (the default) the grades are combined: every hand-graded answer that has a current
        manual grade carries its score, status ``manually_graded`` and the grader's comment, and each
        row's ``score`` is the new total. A manual grade given for an answer that has changed since
        (a resubmission) does not apply: the answer stays ``needs_manual_grade`` and its message says so.
        Nothing is written back: the ``results`` table always holds what the autograder decided.
        """
        with Session(self.engine, expire_on_commit=False) as session:
            rows = session.scalars(
                select(SubmissionRow)
                .where(SubmissionRow.assignment == assignment)
                .order_by(SubmissionRow.student_id, SubmissionRow.notebook)
                .options(selectinload(SubmissionRow.results))  # one query for every row's results, not one per row
            ).all()
            if manual:
                self._combine(session, assignment, rows)
            session.expunge_all()  # what _combine changed stays in these objects only
            return list(rows)

    def _combine(self, session: Session, assignment: str, rows) -> None:
        grades = {(g.student_id, g.notebook, g.question): g for g in session.scalars(
            select(ManualGradeRow).where(ManualGradeRow.assignment == assignment))}
        if not grades:
            return
        answers = dict(session.execute(
            select(StudentViewRow.submission_id, StudentViewRow.answers)
            .join(SubmissionRow, SubmissionRow.id == StudentViewRow.submission_id)
            .where(SubmissionRow.assignment == assignment)).all())
        for row in rows:
            changed = False
            for result in row.results:
                grade = grades.get((row.student_id, row.notebook, result.question))
                if grade is None or result.status != "needs_manual_grade":
                    continue
                score = applied_manual_score(grade, (answers.get(row.id) or {}).get(result.question, {}).get("sha256"), result.max_score)
                if score is None:
                    result.message = (f"the answer changed after it was graded by hand ({grade.score:g} / {grade.max_score:g} "
                                      f"on {grade.graded_at:%Y-%m-%d}); grade it again")
                    continue
                result.score = score
                result.status = MANUALLY_GRADED
                result.message = grade.comment or "graded by hand"
                changed = True
            if changed:
                row.score = round(sum(r.score for r in row.results if r.score is not None), 9)

    def student_views(self, assignment: str, student_id: str | None = None, with_cells: bool = True) -> dict[tuple[str, str], dict]:
        """(student_id, notebook) -> the stored student view (cells and hand-graded answers); one student's
        with ``student_id``; only the answers without ``with_cells``."""
        columns = [SubmissionRow.student_id, SubmissionRow.notebook,
                   StudentViewRow.notebook if with_cells else StudentViewRow.submission_id, StudentViewRow.answers]
        query = (select(*columns).join(StudentViewRow, StudentViewRow.submission_id == SubmissionRow.id)
                 .where(SubmissionRow.assignment == assignment))
        if student_id is not None:
            query = query.where(SubmissionRow.student_id == student_id)
        with Session(self.engine) as session:
            found = session.execute(query).all()
        if not with_cells:
            return {(student, notebook): {"answers": answers or {}} for student, notebook, _, answers in found}
        return {(student, notebook): {**view, "answers": answers or {}} for student, notebook, view, answers in found}

    def manual_grades(self, assignment: str) -> dict[tuple[str, str, str], ManualGradeRow]:
        """(student_id, notebook, question) -> the manual grade given, current or not."""
        with Session(self.engine, expire_on_commit=False) as session:
            found = session.scalars(select(ManualGradeRow).where(ManualGradeRow.assignment == assignment)).all()
            session.expunge_all()
        return {(g.student_id, g.notebook, g.question): g for g in found}

    def set_manual_grade(self, assignment: str, student_id: str, notebook: str, question: str, score: float,
                         comment: str = "", answer_sha256: str | None = None, grader: str = "") -> ManualGradeRow:
        """Record (or replace) the hand grade of one answer.

        ``answer_sha256`` is the hash of the answer the grader read; when it is not the stored answer's any
        more (the student resubmitted meanwhile) `StaleAnswer` is raised and nothing is written. Raises
        `KeyError` for an answer that is not waiting for a hand grade and `ValueError` for a score outside
        0..max points.
        """
        with Session(self.engine) as session, session.begin():
            found = session.execute(
                select(SubmissionRow.id, ResultRow.max_score, ResultRow.status)
                .join(ResultRow, ResultRow.submission_id == SubmissionRow.id)
                .where(SubmissionRow.assignment == assignment, SubmissionRow.student_id == student_id,
                       SubmissionRow.notebook == notebook, ResultRow.question == question)
            ).first()
            if found is None or found.status != "needs_manual_grade":
                raise NoSuchGrade(f"{assignment}/{notebook}: {student_id} has no answer to {question!r} waiting for a hand grade")
            if not (isinstance(score, (int, float)) and 0 <= score <= found.max_score):
                raise BadGrade(f"{question}: the score must be a number from 0 to {found.max_score:g}, not {score!r}")
            answers = session.scalar(select(StudentViewRow.answers).where(StudentViewRow.submission_id == found.id)) or {}
            current = answers.get(question, {}).get("sha256")
            if current is None:
                raise NoSuchGrade(f"{assignment}/{notebook}: the answer of {student_id} to {question!r} was not stored; grade the batch again")
            if answer_sha256 is not None and answer_sha256 != current:
                raise StaleAnswer(f"{student_id}'s answer to {question!r} changed since the page was loaded; reload it and grade again")
            grade = session.scalars(select(ManualGradeRow).where(
                ManualGradeRow.assignment == assignment, ManualGradeRow.student_id == student_id,
                ManualGradeRow.notebook == notebook, ManualGradeRow.question == question)).first()
            if grade is None:
                grade = ManualGradeRow(assignment=assignment, student_id=student_id, notebook=notebook, question=question)
                session.add(grade)
            grade.score, grade.max_score, grade.comment = float(score), float(found.max_score), comment[:4000]
            grade.answer_sha256, grade.grader, grade.graded_at = current, grader[:200], datetime.now(timezone.utc)
            session.flush()
            session.expunge(grade)
        return grade


    def manual_grade_versions(self, assignment: str) -> dict[tuple[str, str, str], ManualGradeEventRow]:
        """(student_id, notebook, question) -> the latest save of its hand grade (its version, grader, time).
        Only the latest save of each grade is read, however long its history."""
        saved = ManualGradeEventRow
        latest = (select(saved.student_id, saved.notebook, saved.question, func.max(saved.version).label("version"))
                  .where(saved.assignment == assignment)
                  .group_by(saved.student_id, saved.notebook, saved.question).subquery())
        with Session(self.engine, expire_on_commit=False) as session:
            found = session.scalars(select(saved).join(latest, (saved.student_id == latest.c.student_id)
                                                       & (saved.notebook == latest.c.notebook)
                                                       & (saved.question == latest.c.question)
                                                       & (saved.version == latest.c.version))
                                    .where(saved.assignment == assignment)).all()
            session.expunge_all()
        return {(e.student_id, e.notebook, e.question): e for e in found}

    def hand_graded_results(self, assignment: str) -> list[tuple[str, str, str, float, dict]]:
        """(student_id, notebook, question, max_score, stored answer) of every answer the autograder left for a
        hand grade, read without the other results: what the hand-grading pages list. The stored answer is
        ``{"source", "cell_type", "sha256"}``, or {} when it was not stored."""
        with Session(self.engine) as session:
            found = session.execute(
                select(SubmissionRow.student_id, SubmissionRow.notebook, ResultRow.question, ResultRow.max_score,
                       StudentViewRow.answers)
                .join(ResultRow, ResultRow.submission_id == SubmissionRow.id)
                .outerjoin(StudentViewRow, StudentViewRow.submission_id == SubmissionRow.id)
                .where(SubmissionRow.assignment == assignment, ResultRow.status == QuestionStatus.NEEDS_MANUAL_GRADE)).all()
        return [(student, notebook, question, max_score, (answers or {}).get(question) or {})
                for student, notebook, question, max_score, answers in found]

    def student_ids(self, assignment: str) -> list[str]:
        """The ids of the students with a graded notebook of ``assignment``, sorted."""
        with Session(self.engine) as session:
            return list(session.scalars(select(SubmissionRow.student_id).where(SubmissionRow.assignment == assignment)
                                        .distinct().order_by(SubmissionRow.student_id)))

    def save_manual_grade(self, assignment: str, student_id: str, notebook: str, question: str, score: float,
                          comment: str = "", answer_sha256: str | None = None, grader: str = "",
                          version: int = 0, rubric: list[int] | None = None) -> ManualGradeEventRow:
        """`set_manual_grade` for a grader who loaded version ``version`` of the grade (0: never saved here).

        The save first claims version ``version + 1`` (an insert the unique constraint lets only one grader
        make), then writes the grade; if the grade is refused (a score out of range, a changed answer) the
        claim is withdrawn. A newer version than ``version`` raises `GradeConflict` naming the other save.

        ``rubric``: ids of the question's rubric items applied; the grade's comment is then the items' texts
        and ``comment``; ``score`` is kept as typed, and its difference from the items' sum (the adjustment) is
        stored for `set_rubric_item` to recompute from.
        """
        items = self._rubric_items(assignment, notebook, question, rubric or [])
        total = sum(item.points for item in items)
        key = dict(assignment=assignment, student_id=student_id, notebook=notebook, question=question)
        where = [getattr(ManualGradeEventRow, k) == v for k, v in key.items()]

        def conflict() -> GradeConflict:
            with Session(self.engine) as session:
                current = session.scalars(select(ManualGradeEventRow).where(*where)
                                          .order_by(ManualGradeEventRow.version.desc())).first()
                session.expunge_all()
            who = current.grader or "another grader"
            return GradeConflict(f"{who} saved a grade of {student_id}'s answer to {question!r} "
                                 f"({current.score:g}, version {current.version}) after this page was loaded; your grade "
                                 "was not saved. Read theirs, then grade again if it should change", current)

        event_row = ManualGradeEventRow(**key, version=int(version) + 1, score=float(score) if isinstance(score, (int, float)) else 0.0,
                                        comment=comment[:4000], grader=grader[:200], graded_at=datetime.now(timezone.utc),
                                        rubric=[item.id for item in items],
                                        adjustment=(float(score) - total) if isinstance(score, (int, float)) else 0.0)
        with Session(self.engine, expire_on_commit=False) as session:
            latest = session.scalar(select(ManualGradeEventRow.version).where(*where).order_by(ManualGradeEventRow.version.desc()))
            if (latest or 0) != int(version):
                raise conflict()
            session.add(event_row)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                raise conflict() from None
            session.expunge(event_row)
        try:
            self.set_manual_grade(assignment, student_id, notebook, question, score, rubric_comment(items, comment),
                                  answer_sha256, grader)
        except Exception:
            with Session(self.engine) as session, session.begin():
                session.execute(delete(ManualGradeEventRow).where(ManualGradeEventRow.id == event_row.id))
            raise
        return event_row

    def _rubric_items(self, assignment: str, notebook: str, question: str, ids: list[int]) -> list[RubricItemRow]:
        if not ids:
            return []
        found = {item.id: item for item in self.rubric(assignment, notebook, question)}
        missing = [i for i in ids if int(i) not in found]
        if missing:
            raise NoSuchGrade(f"{question}: no rubric item {missing[0]} (deleted meanwhile?); reload the page")
        return [found[int(i)] for i in dict.fromkeys(ids)]

    def rubric(self, assignment: str, notebook: str, question: str) -> list[RubricItemRow]:
        """The rubric items of one question, in order."""
        with Session(self.engine, expire_on_commit=False) as session:
            found = session.scalars(select(RubricItemRow).where(
                RubricItemRow.assignment == assignment, RubricItemRow.notebook == notebook, RubricItemRow.question == question)
                .order_by(RubricItemRow.position, RubricItemRow.id)).all()
            session.expunge_all()
        return list(found)

    def set_rubric_item(self, assignment: str, notebook: str, question: str, points: float, text: str,
                        item_id: int | None = None, changed_by: str = "") -> RubricItemRow:
        """Add a rubric item (``item_id`` None) or change one. When its points change, every grade whose latest
        save applies it is recomputed (sum of its items + its adjustment, within 0..max) and saved as a new
        version by ``changed_by``, with a note saying which item changed; the history keeps the old score."""
        if not text.strip():
            raise BadGrade(f"{question}: a rubric item needs a comment (what the student did); type one")
        now = datetime.now(timezone.utc)
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            if item_id is None:
                position = len(session.scalars(select(RubricItemRow.id).where(
                    RubricItemRow.assignment == assignment, RubricItemRow.notebook == notebook,
                    RubricItemRow.question == question)).all()) + 1
                item = RubricItemRow(assignment=assignment, notebook=notebook, question=question, position=position,
                                     points=float(points), text=text.strip()[:2000], changed_by=changed_by[:200], changed_at=now)
                session.add(item)
                session.flush()
                session.expunge(item)
                return item
            item = session.get(RubricItemRow, int(item_id))
            if item is None or (item.assignment, item.notebook, item.question) != (assignment, notebook, question):
                raise NoSuchGrade(f"{question}: no rubric item {item_id}; reload the page")
            before = item.points
            item.points, item.text, item.changed_by, item.changed_at = float(points), text.strip()[:2000], changed_by[:200], now
            session.flush()
            items = {i.id: i for i in session.scalars(select(RubricItemRow).where(
                RubricItemRow.assignment == assignment, RubricItemRow.notebook == notebook, RubricItemRow.question == question))}
            events = session.scalars(select(ManualGradeEventRow).where(
                ManualGradeEventRow.assignment == assignment, ManualGradeEventRow.notebook == notebook,
                ManualGradeEventRow.question == question).order_by(ManualGradeEventRow.version)).all()
            latest = {e.student_id: e for e in events}
            for student_id, last in latest.items():
                if item.id not in (last.rubric or []):
                    continue
                grade = session.scalars(select(ManualGradeRow).where(
                    ManualGradeRow.assignment == assignment, ManualGradeRow.student_id == student_id,
                    ManualGradeRow.notebook == notebook, ManualGradeRow.question == question)).first()
                if grade is None:
                    continue
                applied = [items[i] for i in last.rubric if i in items]
                score = min(max(last.adjustment + sum(i.points for i in applied), 0.0), grade.max_score)
                session.add(ManualGradeEventRow(
                    assignment=assignment, student_id=student_id, notebook=notebook, question=question,
                    version=last.version + 1, score=score, comment=last.comment, grader=changed_by[:200], graded_at=now,
                    rubric=list(last.rubric), adjustment=last.adjustment,
                    note=f"rubric item {item.position} changed: {before:+g} -> {item.points:+g} (was {last.score:g})"))
                grade.score, grade.comment = score, rubric_comment(applied, last.comment)
                grade.grader, grade.graded_at = changed_by[:200], now
            session.expunge(item)
        return item

    def manual_grade_history(self, assignment: str, student_id: str, notebook: str, question: str) -> list[ManualGradeEventRow]:
        """Every save of one answer's grade, oldest first."""
        with Session(self.engine, expire_on_commit=False) as session:
            found = session.scalars(select(ManualGradeEventRow).where(
                ManualGradeEventRow.assignment == assignment, ManualGradeEventRow.student_id == student_id,
                ManualGradeEventRow.notebook == notebook, ManualGradeEventRow.question == question)
                .order_by(ManualGradeEventRow.version)).all()
            session.expunge_all()
        return list(found)


def _no_nul(value):
    """``value`` with every NUL character replaced by U+FFFD: PostgreSQL's text cannot hold NUL (SQLite's
    can), and what a student's code prints or raises reaches the messages."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_no_nul(item) for item in value]
    if isinstance(value, dict):
        return {_no_nul(key): _no_nul(item) for key, item in value.items()}
    return value


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


# ------------------------------------------------------------------------------- opening a gradebook


#: Give up on a server that does not answer after this long (a wrong host or a firewall), instead of the
#: driver's default of waiting minutes.
CONNECT_TIMEOUT_SECONDS = 10


def _engine(url: str):
    """``create_engine(url)``, its failures said as one line: a URL that is not one, an unknown database
    kind, a driver that is not installed."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    example = "sqlite:////path/to/gradebook.db or postgresql+psycopg://USER@HOST/DB"
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise GradebookUnavailable(f"--gradebook {_mask(url)} is not a SQLAlchemy URL; give one like {example}") from None
    shown = parsed.render_as_string(hide_password=True)
    options = {"connect_args": {"connect_timeout": CONNECT_TIMEOUT_SECONDS}} if parsed.get_backend_name() == "postgresql" else {}
    try:
        return create_engine(parsed, future=True, **options)
    except NoSuchModuleError:
        raise GradebookUnavailable(f"--gradebook {shown}: SQLAlchemy knows no database kind {parsed.drivername!r}; "
                                   f"give a URL like {example}") from None
    except ImportError as error:
        driver = getattr(error, "name", None) or parsed.drivername
        raise GradebookUnavailable(f"--gradebook {shown}: the database driver {driver!r} is not installed; install it "
                                   f"(PostgreSQL: pip install 'autograder[grader]', which brings psycopg) or use another URL") from None


def _require_existing(engine, shown: str) -> None:
    """A command that reads grades never makes an empty gradebook: no file created, no table written."""
    from sqlalchemy import inspect

    hint = "run `autograder grade` first, or give --gradebook the URL that `grade` wrote to"
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if database in (None, "", ":memory:") or database.startswith("file:"):
            return
        from pathlib import Path

        if not Path(database).is_file():
            engine.dispose()
            raise GradebookUnavailable(f"no gradebook at {database}: {hint}")
    try:
        present = inspect(engine).has_table(SubmissionRow.__tablename__)
    except OperationalError as error:
        engine.dispose()
        raise GradebookUnavailable(f"gradebook {shown}: cannot connect ({_first_line(error.orig or error)}); "
                                   f"{_connect_advice(engine)}") from None
    if not present:
        engine.dispose()
        raise GradebookUnavailable(f"gradebook {shown} holds no grades (no {SubmissionRow.__tablename__} table): {hint}")


def _connect_advice(engine) -> str:
    if engine.dialect.name == "sqlite":
        return "check that the folder exists and is writable"
    return "check the host, port, user, password and database name in --gradebook, and that the server is running and reachable"


def _first_line(error) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def _mask(url: str) -> str:
    """``url`` with the password of ``scheme://user:password@host`` replaced, for a URL SQLAlchemy cannot parse."""
    import re

    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", str(url))
