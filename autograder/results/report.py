"""The class view of one assignment: score distribution, per-question statistics, the hardest questions and
why answers lost points, with plots (matplotlib, embedded in the page as base64 PNG).

Scores are the combined ones (`Gradebook.submissions`: autograde plus current hand grades). Answers still
waiting for a hand grade are counted apart and left out of the question's statistics (they have no score
yet); in the totals they count zero, as in the exports.
"""

from __future__ import annotations

import base64
import io
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from autograder.results.status import RETRIED, QuestionStatus, SubmissionStatus

#: The report's categories: why an answer has the score it has, decided by its status and its submission's.
FULL_MARKS = "full marks"
PARTLY_RIGHT = "partly right"
WRONG_VALUE = "wrong value"
ERROR = "error"
TIMEOUT = "timeout"
DID_NOT_RUN = "did not run"
NOT_ATTEMPTED = "not attempted"
NO_NOTEBOOK = "no gradable notebook"
GRADER_ERROR = "grader error (ours)"
AWAITING_HAND_GRADE = "awaiting hand grade"

#: Every category with its colour in the plots, in the order the page lists them.
CATEGORIES = [
    (FULL_MARKS, "#2da44e"),
    (PARTLY_RIGHT, "#d4a72c"),
    (WRONG_VALUE, "#cf222e"),
    (ERROR, "#8250df"),
    (TIMEOUT, "#bc4c00"),
    (DID_NOT_RUN, "#6e7781"),
    (NOT_ATTEMPTED, "#afb8c1"),
    (NO_NOTEBOOK, "#24292f"),
    (GRADER_ERROR, "#ff8182"),
    (AWAITING_HAND_GRADE, "#0969da"),
]

#: Question statuses that decide the category whatever the score.
_BY_STATUS = {
    QuestionStatus.GRADER_ERROR: GRADER_ERROR,
    QuestionStatus.INVALID: NO_NOTEBOOK,
    QuestionStatus.MISSING: NO_NOTEBOOK,
    QuestionStatus.NEEDS_MANUAL_GRADE: AWAITING_HAND_GRADE,
    QuestionStatus.NOT_ATTEMPTED: NOT_ATTEMPTED,
    QuestionStatus.NOT_RUN: DID_NOT_RUN,
    QuestionStatus.TIMEOUT: TIMEOUT,
    QuestionStatus.ERROR: ERROR,
    QuestionStatus.CRASHED: ERROR,
}


def category(status: str, score: float | None, max_score: float, submission_status: str = SubmissionStatus.OK) -> str:
    """The report's category of one answer, from the statuses alone (scoring says ``not_attempted`` for a stub
    left as released; no message is read). A submission the grader failed on is ours, never the student's."""
    if submission_status in RETRIED:  # grader_error, or `failed` in rows older than grader_error
        return GRADER_ERROR
    if submission_status in (SubmissionStatus.INVALID, SubmissionStatus.MISSING):
        return NO_NOTEBOOK
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if score is not None and max_score > 0 and score >= max_score - 1e-9:
        return FULL_MARKS
    if score is not None and score > 0:
        return PARTLY_RIGHT
    return WRONG_VALUE


@dataclass
class QuestionStats:
    notebook: str
    question: str
    max_score: float
    scores: list[float] = field(default_factory=list)  # graded answers only
    categories: dict[str, int] = field(default_factory=dict)
    seconds: list[tuple[float, str]] = field(default_factory=list)  # (its cells' time, student), where measured
    memory: list[tuple[int, str]] = field(default_factory=list)  # (peak bytes while its cells ran, student)

    @property
    def label(self) -> str:
        return self.question

    @property
    def waiting(self) -> int:
        """Answers still waiting for a hand grade: left out of the statistics below."""
        return self.categories.get(AWAITING_HAND_GRADE, 0)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.scores) if self.scores else None

    @property
    def spread(self) -> float | None:
        return statistics.pstdev(self.scores) if len(self.scores) > 1 else (0.0 if self.scores else None)

    @property
    def median(self) -> float | None:
        return statistics.median(self.scores) if self.scores else None

    @property
    def mean_fraction(self) -> float | None:
        return None if self.mean is None or self.max_score <= 0 else self.mean / self.max_score

    @property
    def full_fraction(self) -> float | None:
        if not self.scores:
            return None
        return sum(1 for s in self.scores if s >= self.max_score - 1e-9) / len(self.scores)


@dataclass
class StudentLine:
    """One student's row of the report's student table."""

    student_id: str
    score: float  # after the late penalty
    raw_score: float
    max_score: float
    late: str  # the penalty, "" when none
    statuses: list[str]  # each notebook's submission status
    flags: list[str]  # "flagged for review: ..." notes of their notebooks
    seconds: float | None  # grading time, all notebooks together
    section: str = ""
    page: str = ""  # the feedback page's file name
    memory: int | None = None  # the most memory one of their notebooks' runs was charged (bytes), where measured
    extended: bool = False  # their due date was moved by an extension
    waiting: int = 0  # their answers waiting for a hand grade


@dataclass
class ClassReport:
    assignment: str
    totals: list[float]  # per student, after the late penalty
    raw_totals: list[float]
    max_score: float
    questions: list[QuestionStats]
    late: int = 0
    statuses: dict[str, int] = field(default_factory=dict)  # submission status -> notebooks
    items: object = None  # `autograder.results.item_analysis.ItemAnalysis`
    students: list[StudentLine] = field(default_factory=list)
    late_submitted: int = 0  # students who handed in after their own due date (penalised or not)
    extended: int = 0  # students whose due date an extension moved

    @property
    def waiting_students(self) -> int:
        """Students with an answer still waiting for a hand grade (their totals count it zero)."""
        return sum(1 for s in self.students if s.waiting)

    @property
    def hardest(self) -> list[QuestionStats]:
        """Fully graded questions, lowest mean first: one still waiting for hand grades is not ranked (its mean
        would be that of the students who left it unanswered)."""
        graded = [q for q in self.questions if q.mean_fraction is not None and not q.waiting]
        return sorted(graded, key=lambda q: (q.mean_fraction, q.question))[:5]

    @property
    def flagged(self) -> list[StudentLine]:
        return [s for s in self.students if s.flags]

    def sections(self) -> list[tuple[str, int, float | None]]:
        """(section, students, mean score) per section of the roster, when the report has one."""
        by_section: dict[str, list[float]] = {}
        for student in self.students:
            if student.section:
                by_section.setdefault(student.section, []).append(student.score)
        return [(name, len(scores), statistics.fmean(scores)) for name, scores in sorted(by_section.items())]

    def timing(self) -> dict[str, float | None]:
        """Grading time per student (all notebooks, seconds): median, 90th percentile, maximum."""
        seconds = sorted(s.seconds for s in self.students if s.seconds is not None)
        if not seconds:
            return {"median": None, "p90": None, "max": None}
        return {"median": statistics.median(seconds), "p90": seconds[min(len(seconds) - 1, int(0.9 * len(seconds)))], "max": seconds[-1]}

    @property
    def slowest(self) -> list[StudentLine]:
        return sorted((s for s in self.students if s.seconds is not None), key=lambda s: -s.seconds)[:5]

    def memory(self) -> dict[str, float | None]:
        """Peak memory per student (bytes; the heaviest of their notebooks' runs): median, 90th percentile, maximum."""
        return _spread(sorted(s.memory for s in self.students if s.memory is not None))

    @property
    def heaviest(self) -> list[StudentLine]:
        return sorted((s for s in self.students if s.memory is not None), key=lambda s: -s.memory)[:5]

    def usage(self) -> list[dict]:
        """Per question: the median and the largest time and peak memory of its cells, and whose they were."""
        rows = []
        for q in self.questions:
            if not q.seconds and not q.memory:
                continue
            seconds, memory = sorted(q.seconds), sorted(q.memory)
            rows.append({"question": q.label, "seconds": _spread([t for t, _ in seconds]), "slowest": seconds[-1][1] if seconds else "",
                         "memory": _spread([m for m, _ in memory]), "heaviest": memory[-1][1] if memory else ""})
        return rows

    def summary(self) -> dict[str, float | None]:
        values = self.totals
        return {
            "students": len(values),
            "mean": statistics.fmean(values) if values else None,
            "median": statistics.median(values) if values else None,
            "spread": statistics.pstdev(values) if len(values) > 1 else None,
            "min": min(values) if values else None,
            "max": max(values) if values else None,
        }


def _spread(ordered: list) -> dict[str, float | None]:
    if not ordered:
        return {"median": None, "p90": None, "max": None}
    return {"median": statistics.median(ordered), "p90": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], "max": ordered[-1]}


def class_report(gradebook, assignment, deadline=None, *, sections: dict[str, str] | None = None) -> ClassReport:
    """The statistics of ``assignment`` (an `Assignment`, or its name with an explicit ``deadline``);
    ``sections``: student id -> section, from a roster."""
    from autograder.results.feedback import safe_filename
    from autograder.results.item_analysis import analyse
    from autograder.results.totals import student_totals

    name = assignment if isinstance(assignment, str) else assignment.name
    if deadline is None and not isinstance(assignment, str):
        from autograder.course.late import deadline_for

        deadline = deadline_for(assignment)
    totals = student_totals(gradebook, name, deadline)
    questions: dict[tuple[str, str], QuestionStats] = {}
    statuses: dict[str, int] = {}
    for total in totals:
        for submission in total.submissions:
            statuses[submission.status] = statuses.get(submission.status, 0) + 1
            for result in submission.results:
                stats = questions.setdefault((submission.notebook, result.question),
                                             QuestionStats(submission.notebook, result.question, result.max_score))
                stats.max_score = max(stats.max_score, result.max_score)
                kind = category(result.status, result.score, result.max_score, submission.status)
                stats.categories[kind] = stats.categories.get(kind, 0) + 1
                if result.score is not None:
                    stats.scores.append(result.score)
                if getattr(result, "duration_s", None) is not None:
                    stats.seconds.append((result.duration_s, total.student_id))
                if getattr(result, "peak_memory_bytes", None) is not None:
                    stats.memory.append((result.peak_memory_bytes, total.student_id))
    lines = []
    for total in totals:
        durations = [s.duration_s for s in total.submissions if s.duration_s is not None]
        peaks = [s.peak_memory_bytes for s in total.submissions if getattr(s, "peak_memory_bytes", None) is not None]
        flags = [note for s in total.submissions for note in (s.notes or []) if str(note).startswith("flagged for review")]
        if total.penalty.flagged and not any("timestamp" in f for f in flags):
            flags.append(total.penalty.explanation.split("; due ")[0])
        lines.append(StudentLine(total.student_id, total.adjusted, total.score, total.max_score,
                                 f"{total.penalty.fraction * 100:g}%" if total.penalty.fraction else "",
                                 [str(s.status) for s in total.submissions], flags, sum(durations) if durations else None,
                                 (sections or {}).get(total.student_id, ""), f"{safe_filename(total.student_id)}.html",
                                 memory=max(peaks) if peaks else None,
                                 extended=deadline is not None and deadline.due_for(total.student_id)[1] is not None,
                                 waiting=sum(1 for s in total.submissions for r in s.results if r.status == QuestionStatus.NEEDS_MANUAL_GRADE)))
    several = len({notebook for notebook, _ in questions}) > 1
    ordered = list(questions.values())
    if several:
        for stats in ordered:
            stats.question = f"{stats.notebook}: {stats.question}"
    return ClassReport(
        assignment=name,
        totals=[t.adjusted for t in totals],
        raw_totals=[t.score for t in totals],
        max_score=max((t.max_score for t in totals), default=0.0),
        questions=ordered,
        late=sum(1 for t in totals if t.penalty.fraction > 0),
        late_submitted=sum(1 for t in totals if t.penalty.days_late > 0),
        extended=sum(1 for line in lines if line.extended),
        statuses=statuses,
        items=analyse([s for t in totals for s in t.submissions]),
        students=lines,
    )


# ------------------------------------------------------------------------------------------------ plots


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(width: float, height: float):
    from matplotlib.figure import Figure  # no pyplot: no global backend, no state shared with the caller

    return Figure(figsize=(width, height), layout="constrained")


def plot_distribution(report: ClassReport) -> str:
    figure = _figure(7, 3.2)
    axes = figure.add_subplot()
    top = report.max_score or 1.0
    bins = min(20, max(5, int(top) if float(top).is_integer() else 10))
    axes.hist(report.totals, bins=bins, range=(0, top), color="#0969da", edgecolor="white")
    if report.totals:
        mean = statistics.fmean(report.totals)
        axes.axvline(mean, color="#cf222e", linestyle="--", label=f"mean {mean:.3g}")
        axes.legend(frameon=False)
    axes.set_xlabel(f"score (out of {top:g}, after late penalties)")
    axes.set_ylabel("students")
    axes.set_title(f"{report.assignment}: score distribution")
    return _png(figure)


def error_bars(questions: list[QuestionStats]) -> tuple[list[float], list[float], list[float]]:
    """Per question with a mean: (mean %, length of the bar below, above): one standard deviation each way,
    cut at 0 % and 100 %, where no score lies beyond."""
    graded = [q for q in questions if q.mean_fraction is not None]
    means = [100 * q.mean_fraction for q in graded]
    spreads = [100 * (q.spread or 0.0) / q.max_score if q.max_score else 0.0 for q in graded]
    return means, [min(sd, mean) for sd, mean in zip(spreads, means)], [min(sd, 100.0 - mean) for sd, mean in zip(spreads, means)]


def plot_questions(report: ClassReport) -> str:
    graded = [q for q in report.questions if q.mean_fraction is not None]
    figure = _figure(7, 0.45 * max(len(graded), 2) + 1.2)
    axes = figure.add_subplot()
    labels = [f"{q.label} *" if q.waiting else q.label for q in graded]  # * : hand grades still waiting, as in the table
    means, below, above = error_bars(graded)
    positions = range(len(graded))
    axes.barh(list(positions), means, xerr=[below, above], color="#54aeff", ecolor="#57606a", capsize=3)
    axes.set_yticks(list(positions), labels)
    axes.invert_yaxis()
    axes.set_xlim(0, 105)
    axes.set_xlabel("mean score, % of the question's points (bar: one standard deviation)")
    axes.set_title("per question")
    return _png(figure)


def plot_categories(report: ClassReport) -> str:
    questions = report.questions
    figure = _figure(7, 0.45 * max(len(questions), 2) + 1.6)
    axes = figure.add_subplot()
    positions = list(range(len(questions)))
    left = [0] * len(questions)
    for name, colour in CATEGORIES:
        counts = [q.categories.get(name, 0) for q in questions]
        if not any(counts):
            continue
        axes.barh(positions, counts, left=left, color=colour, label=name)
        left = [a + b for a, b in zip(left, counts)]
    axes.set_yticks(positions, [q.label for q in questions])
    axes.invert_yaxis()
    axes.set_xlabel("answers")
    axes.set_title("why answers lost points")
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3, frameon=False, fontsize="small")
    return _png(figure)


def render_report(report: ClassReport, feedback: str | None = None) -> str:
    from markupsafe import Markup

    from autograder.results.item_analysis import POOR_DISCRIMINATION
    from autograder.results.pages import environment

    names = [name for name, _ in CATEGORIES if any(q.categories.get(name) for q in report.questions)]
    return environment().get_template("report.html.j2").render(
        report=report, summary=report.summary(), categories=names, css=Markup(""), feedback=feedback,
        poor=POOR_DISCRIMINATION, timing=report.timing(), memory=report.memory(), usage=report.usage(),
        plots={"distribution": plot_distribution(report), "questions": plot_questions(report), "categories": plot_categories(report)},
    )


def write_report(gradebook, assignment, output: Path, *, sections: dict[str, str] | None = None,
                 feedback: str | None = None) -> ClassReport:
    """The report as one HTML file; ``feedback``: where the feedback pages are, relative to the report, for the
    student table's links (`autograder feedback --output`)."""
    report = class_report(gradebook, assignment, sections=sections)
    if not report.totals:
        from autograder.course import CourseError

        raise CourseError(f"the gradebook has no graded submission of {report.assignment}; run `autograder grade {report.assignment} ...` first")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render_report(report, feedback), encoding="utf-8")
    return report
