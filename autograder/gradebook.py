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
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship


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

    submission: Mapped[SubmissionRow] = relationship(back_populates="results")


@dataclass
class StoredResult:
    question: str
    score: float | None
    max_score: float
    status: str
    message: str = ""
    checks: list | None = None


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


class Gradebook:
    def __init__(self, url: str):
        self.url = url
        self.engine = create_engine(url, future=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        Base.metadata.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "Gradebook":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def store(self, item: StoredSubmission) -> None:
        """Write one submission and its results atomically, replacing an earlier grading of it."""
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
                session.execute(delete(SubmissionRow).where(SubmissionRow.id.in_(old)))
            row = SubmissionRow(
                assignment=item.assignment,
                student_id=item.student_id,
                notebook=item.notebook,
                path=item.path,
                sha256=item.sha256,
                status=item.status,
                message=item.message[:4000],
                score=round(total, 9),
                max_score=sum(r.max_score for r in item.results),
                duration_s=item.duration_s,
                submitted_at=item.submitted_at,
                graded_at=datetime.now(timezone.utc),
                notes=list(item.notes or []),
            )
            row.results = [
                ResultRow(
                    position=position,
                    question=r.question,
                    score=r.score,
                    max_score=r.max_score,
                    status=r.status,
                    message=(r.message or "")[:4000],
                    checks=json.loads(json.dumps(r.checks or [], default=str)),
                )
                for position, r in enumerate(item.results)
            ]
            session.add(row)

    def graded_hashes(self, assignment: str) -> dict[tuple[str, str], str | None]:
        """(student_id, notebook) -> sha256 of the file graded last, for resuming a batch."""
        with Session(self.engine) as session:
            rows = session.execute(
                select(SubmissionRow.student_id, SubmissionRow.notebook, SubmissionRow.sha256).where(
                    SubmissionRow.assignment == assignment
                )
            ).all()
        return {(student, notebook): sha for student, notebook, sha in rows}

    def submissions(self, assignment: str) -> list[SubmissionRow]:
        with Session(self.engine, expire_on_commit=False) as session:
            rows = session.scalars(
                select(SubmissionRow)
                .where(SubmissionRow.assignment == assignment)
                .order_by(SubmissionRow.student_id, SubmissionRow.notebook)
            ).all()
            for row in rows:
                _ = list(row.results)  # load while the session is open
            return list(rows)


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
