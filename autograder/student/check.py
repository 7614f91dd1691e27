"""`autograder check`: the visible tests, run as the grader runs them, and what would cost points.

A student has the released course, not the instructor's: ``release/<assignment>/<notebook>.ipynb`` and
the public files next to it. Everything here works from ``release/`` alone. ``source/`` and ``solutions/``
are never read, so hidden tests can neither run nor be revealed, even on an instructor's machine.

``check`` rebuilds the notebook against the released one with the grader's own `sanitize` (locked and
test cells restored, deleted cells put back, cells in released order), runs it top to bottom in the
grader's sandbox (`autograder.sandbox`, a fresh process in a scratch directory) with the visible checks
deciding in that process as they do in Jupyter, and says per question what happened. It also warns about
what would cost points at grading and cannot be seen from the visible tests alone: the repairs `sanitize`
made (an edited locked cell, a deleted test cell), cells that depend on state the notebook does not
create (run out of order, names used before they are defined), and imports the grading environment lacks.
"""


from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from autograder.course.cells import Kind
from autograder.grading.sanitize import Sanitized, sanitize
from autograder.grading.submission import build_job
from autograder.prepare.manifest import ManifestCell
from autograder.wire.causes import cause_sentence, causes
from autograder.sandbox.launch import RunResult, run_job
from autograder.sandbox.limits import Limits
from autograder.sandbox.scratch import fresh_workdir, remove_workdir
from autograder.student.lint import (
    execution_order_warnings,
    hidden_state_warnings,
    import_warnings,
)
from autograder.student.places import Places
from autograder.wire.protocol import CellStatus, CheckRecord, LocalVerdict, Mode
from autograder.sandbox.inside.checks import with_hint
from autograder.student.released import (
    ReleasedCourse,
    ReleasedNotebook,
    identify,
    read_student_notebook,
)


@dataclass
class QuestionLine:
    question: str  # grade_id of the test cell (or hand-graded answer)
    status: str  # passed | failed | not_attempted | error | not_run | hand_graded
    points: float
    message: str = ""


@dataclass
class CheckReport:
    path: Path
    assignment: str
    notebook: str
    questions: list[QuestionLine] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def tests(self) -> list[QuestionLine]:
        return [q for q in self.questions if q.status != "hand_graded"]

    @property
    def ok(self) -> bool:
        """Every visible test passes."""
        return all(q.status == "passed" for q in self.tests)


def _answers_before(sanitized: Sanitized, index: int) -> list:
    """The answer cells between the previous test cell and this one: what the test exercises."""
    found = []
    for cell in reversed(sanitized.cells[:index]):
        if cell.kind == Kind.TEST.value:
            break
        if cell.kind == Kind.ANSWER.value:
            found.append(cell)
    return found


def _question(item: ManifestCell, index: int, sanitized: Sanitized, run: RunResult, places: Places) -> QuestionLine:
    if item.kind == Kind.TASK.value:
        return QuestionLine(item.grade_id, "hand_graded", item.points, "a task graded by hand (your cells after it)")
    if item.kind == Kind.MANUAL.value:
        answered = not sanitized.cells[index].checksum_matches_release
        return QuestionLine(item.grade_id, "hand_graded", item.points,
                            "answered; graded by hand" if answered else "not answered yet (still as released); graded by hand")
    end = run.cells.get(index)
    if end is None:
        return QuestionLine(item.grade_id, "not_run", item.points, f"the test cell did not run: {run.message or 'the notebook stopped before it'}")
    if end.ok:
        stderr = end.stream("stderr").strip()
        if stderr:  # the grader scores a plain test cell that writes to stderr as failed (nbgrader's rule)
            return QuestionLine(item.grade_id, "failed", item.points, f"the test cell wrote to stderr: {stderr[:300]}")
        # what each check decided, as the checks reported it (not read back from what they printed)
        decided = [record.local for record in _records_of(run, index)]
        passed = decided.count(LocalVerdict.PASSED)
        later = decided.count(LocalVerdict.WHEN_GRADED)
        message = f"{passed} visible check(s) passed" if passed or later else "the test cell ran without an error"
        if later:
            message += f"; {later} more decided only when graded"
        return QuestionLine(item.grade_id, "passed", item.points, message)
    error = end.error
    name, value = (error.ename, error.evalue.strip()) if error else ("Error", "")
    where = places.where(error)
    if end.status is CellStatus.TIMEOUT:
        return QuestionLine(item.grade_id, "error", item.points, f"{value or 'the cell ran out of time'} {where}".strip())
    if error is not None and error.unanswered:
        frames = places.frames(error)
        raiser = f"{places.label(frames[-1][0])} (line {frames[-1][1]})" if frames else "the answer"
        return QuestionLine(item.grade_id, "not_attempted", item.points, f"{raiser} still raises NotImplementedError")
    answers = _answers_before(sanitized, index)
    if answers and all(cell.checksum_matches_release for cell in answers):
        return QuestionLine(item.grade_id, "not_attempted", item.points, f"the answer cell above is still as released ({name}: {value})")
    failed = [record for record in _records_of(run, index) if record.local is LocalVerdict.FAILED]
    if failed:  # the check's own explanation, from what it reported, and the instructor's hint after it
        first = failed[0]
        return QuestionLine(item.grade_id, "failed", item.points, with_hint(f"check {first.name!r} failed: {first.message}", first.hint))
    if name in ("AssertionError", "CheckFailed"):
        return QuestionLine(item.grade_id, "failed", item.points, f"AssertionError{': ' + value if value else ''} {where}".strip())
    return QuestionLine(item.grade_id, "error", item.points, f"{name}: {value} {where}".strip())


def _say_causes(questions: list[QuestionLine], sanitized: Sanitized) -> None:
    """A question that fails while using the student's answer to another failing question says so
    (`autograder.wire.causes`): fix that one first."""
    lost = {q.question for q in questions if q.status in ("failed", "error", "not_attempted", "not_run")}
    cells = [{"kind": str(getattr(c.kind, "value", c.kind)), "source": c.source, "grade_id": c.grade_id, "cell_type": c.cell_type}
             for c in sanitized.cells]
    found = causes(cells, lost)
    not_attempted = {q.question for q in questions if q.status == "not_attempted"}
    for question in questions:
        if question.question in found:
            question.message += f" ({cause_sentence(found[question.question], not_attempted=not_attempted)}: fix that first)"


def _records_of(run: RunResult, index: int) -> list[CheckRecord]:
    return [record for cell_index, record in run.checks if cell_index == index and record.local is not None]


def check_notebook(path: str | Path, course: str | Path | None = None, limits: Limits | None = None) -> CheckReport:
    """Run ``path`` with the visible tests, as the grader would run it; see the module docstring."""
    path = Path(path)
    student = read_student_notebook(path)
    released_course = ReleasedCourse.locate(course, path)
    released = identify(student, path, released_course)
    sanitized = sanitize(student, released.manifest)
    job = build_job(sanitized, mode=Mode.LOCAL)
    limits = limits or Limits()
    workdir = fresh_workdir("autograder-check-")
    try:
        _stage_release_files(released, workdir)
        shutil.copyfile(path, workdir / released.notebook)
        run = run_job(job, workdir, limits, course_root=released_course.root)
    finally:
        remove_workdir(workdir)
    places = Places(sanitized, student, job)
    report = CheckReport(path, released.assignment, released.notebook, seconds=round(run.duration, 2))
    for item in released.manifest.graded_cells:
        index = sanitized.index_of(item.grade_id)
        report.questions.append(_question(item, index, sanitized, run, places))
    _say_causes(report.questions, sanitized)
    report.warnings.extend(f"at grading: {note}" for note in sanitized.notes)
    if run.status != "ok":
        report.warnings.append(f"the run stopped: {run.message}")
    report.warnings.extend(_cell_errors(sanitized, run, places))
    report.warnings.extend(execution_order_warnings(student))
    report.warnings.extend(hidden_state_warnings(sanitized, places))
    report.warnings.extend(import_warnings(sanitized, released_course.root, places))
    return report


def _stage_release_files(released: ReleasedNotebook, workdir: Path) -> None:
    """The public files the student received next to the notebook (data/ ...), as the grader stages them."""
    for item in sorted(released.folder.rglob("*")):
        relative = item.relative_to(released.folder)
        if item.is_dir() or item.suffix == ".ipynb" or any(part.startswith(".") for part in relative.parts):
            continue
        target = workdir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(item, target)


def _cell_errors(sanitized: Sanitized, run: RunResult, places: Places) -> list[str]:
    """Errors outside the test cells: the grader runs these cells too, and what fails there fails the questions after."""
    found = []
    for index, cell in enumerate(sanitized.cells):
        end = run.cells.get(index)
        if cell.kind == Kind.TEST.value or end is None or end.ok:
            continue
        error = end.error
        if error is not None and error.unanswered:
            continue
        label = places.label(index)
        where = places.where(error)
        where = where.replace(f"at {label}, ", "at ", 1) if where.startswith(f"at {label}, ") else where
        found.append(f"{label} raised {error.ename if error else 'Error'}: {error.evalue.strip() if error else ''}"
                     f"{' (' + where + ')' if where else ''}; the grader runs it too")
    return found


