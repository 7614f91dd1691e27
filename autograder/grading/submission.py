"""One submission: read it, restore it against the manifest, run it in the sandbox, score it.

`grade_submission` never raises for anything the file contains; `grade_safely` turns a grader bug into one
row (status ``grader_error``, retried by the next run) instead of a stopped batch. Both the local batch and
each Dask worker grade through these two.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import nbformat

from autograder.course.cells import Kind
from autograder.course.submissions import Submission, assignment_of_cells, file_hash
from autograder.grading.plan import GradingPlan
from autograder.grading.reference import metric_lookup, stage_public_files
from autograder.grading.sanitize import NotThisAssignment, Sanitized, sanitize
from autograder.grading.scoring import QuestionResult, score_notebook
from autograder.prepare.manifest import NotebookManifest
from autograder.results.disclosure import student_view
from autograder.results.gradebook import StoredResult, StoredSubmission, safe_submission
from autograder.results.status import QuestionStatus, SubmissionStatus
from autograder.sandbox.launch import RunResult, run_job
from autograder.sandbox.pool import WarmPool
from autograder.sandbox.scratch import child_environment, fresh_workdir, remove_workdir
from autograder.sandbox.warm import WarmInterpreter
from autograder.wire import seeding
from autograder.wire.protocol import Job, JobCell, Mode

#: Larger notebook files are refused before they are parsed.
MAX_NOTEBOOK_BYTES = 50 * 1024 * 1024


class Invalid(Exception):
    """The file cannot be graded as this assignment's notebook; the message says why and what to do."""


def read_notebook(path: Path) -> nbformat.NotebookNode:
    return read_notebook_and_bytes(path)[0]


def read_notebook_and_bytes(path: Path) -> tuple[nbformat.NotebookNode, bytes]:
    """The notebook and the exact bytes read: what runs is what was read, never the path read again (it may
    have become a link since)."""
    import os

    from autograder.course.submissions import NotAFile, open_handed_in, read_capped

    try:  # never through a link (for a path found by discover, in no component), never a FIFO or device
        descriptor = open_handed_in(path)
    except NotAFile as error:
        raise Invalid(f"{error.strerror}; hand in the notebook file itself") from None
    try:
        size = os.fstat(descriptor).st_size  # the size of what was opened, not of what the path names now
        if size == 0:
            raise Invalid("the file is empty")
        if size > MAX_NOTEBOOK_BYTES:
            raise Invalid(f"the file is {size / 1e6:.0f} MB, more than the {MAX_NOTEBOOK_BYTES / 1e6:.0f} MB limit; clear the outputs and hand it in again")
        raw = read_capped(descriptor, MAX_NOTEBOOK_BYTES + 1)
    finally:
        os.close(descriptor)
    if len(raw) > MAX_NOTEBOOK_BYTES:
        raise Invalid(f"the file grew past the {MAX_NOTEBOOK_BYTES / 1e6:.0f} MB limit while it was read; hand it in again")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise Invalid(f"the file is not UTF-8 text (byte {error.start}); save the notebook from Jupyter and hand it in again") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise Invalid(f"the file is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg}); it may be truncated") from None
    except RecursionError:  # the parser recurses once per level: no notebook nests a thousand deep
        raise Invalid("the file's JSON is nested too deeply to be a notebook; save the notebook from Jupyter and hand it in again") from None
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        raise Invalid("the file is JSON but not a Jupyter notebook (no cells)")
    try:
        notebook = nbformat.reads(text, as_version=4)
    except Exception as error:
        raise Invalid(f"the notebook cannot be read: {error}") from None
    if not isinstance(notebook.get("cells"), list):
        raise Invalid("the notebook has no list of cells")
    return notebook, raw


def build_job(sanitized: Sanitized, mode: Mode = Mode.RECORD) -> Job:
    """The run of a restored notebook: test cells through the harness, each under its own seed.

    ``mode`` is the checks' mode: `Mode.RECORD` while grading; `Mode.LOCAL` for `autograder check`, where
    the visible checks decide in the student's process as they do in Jupyter.
    """
    job_cells = []
    for index, cell in enumerate(sanitized.cells):
        if cell.cell_type != "code":
            continue
        is_test = cell.kind == Kind.TEST
        job_cells.append(JobCell(index, cell.source, cell.grade_id, cell.kind, is_test,
                                 seeding.stable_seed(cell.grade_id) if is_test else None))
    return Job(Mode(mode), tuple(job_cells))


def zero_results(manifest: NotebookManifest, status: str, message: str) -> list[StoredResult]:
    return [StoredResult(c.grade_id, 0.0, c.points, status, message) for c in manifest.graded_cells]


def run_status(sanitized: Sanitized, run: RunResult) -> tuple[str, str]:
    """"ok" when the notebook ran to the end and no answer or setup cell raised. What goes wrong inside a
    test cell belongs to its question (reported there); NotImplementedError is an unanswered question."""
    if run.status != "ok":
        return run.status, run.message
    problems = []
    for index, cell in enumerate(sanitized.cells):
        end = run.cells.get(index)
        if end is None or end.ok:
            continue
        error = end.error
        if (error is not None and error.unanswered) or cell.kind == Kind.TEST:
            continue
        where = f"{'answer' if cell.kind in (Kind.ANSWER, Kind.MANUAL) else 'read-only'} cell {cell.grade_id!r}" if cell.grade_id \
            else f"cell {index + 1} of the graded notebook"
        problems.append(f"{where} raised {error.ename if error else 'an error'}: {error.evalue if error else ''}".rstrip(": "))
    if problems:
        return "error", "; ".join(problems[:3]) + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else "")
    return "ok", ""


def grade_submission(plan: GradingPlan, submission: Submission, worker: WarmInterpreter | None = None) -> StoredSubmission:
    """Grade one notebook file; never raises for anything the file contains."""
    assignment = plan.assignment
    manifest = plan.manifests[submission.notebook]
    started = time.monotonic()
    stored = StoredSubmission(
        assignment=assignment.name,
        student_id=submission.student_id,
        notebook=submission.notebook,
        path=str(submission.path or ""),
        sha256=file_hash(submission.path),
        status="ok",
        message="",
        results=[],
        submitted_at=submission.submitted_at,
        notes=[submission.note] if submission.note else [],  # which version was graded, and why that one
    )
    if submission.path is None:
        stored.status = submission.kind.value  # ProblemKind, set by discovery: "missing" or "invalid"
        stored.message = submission.problem
        stored.results = zero_results(manifest, stored.status, submission.problem)
        return stored
    try:
        notebook, raw = read_notebook_and_bytes(submission.path)
        sanitized = sanitize(notebook, manifest)
    except (Invalid, NotThisAssignment) as error:
        whose = assignment_of_cells(assignment, notebook) if isinstance(error, NotThisAssignment) else None
        if whose is not None:  # issue 16: say whose notebook it is
            error = f"this is the notebook of assignment {whose[0]} ({whose[1]}), not of {assignment.name}: hand in {submission.notebook}"
        stored.status, stored.message = "invalid", f"{submission.path.name}: {error}"
        stored.results = zero_results(manifest, "invalid", str(error))
        return stored
    except OSError as error:
        stored.status, stored.message = "invalid", f"{submission.path}: cannot be read ({error.strerror or error})"
        stored.results = zero_results(manifest, "invalid", stored.message)
        return stored
    run = _run(plan, submission, sanitized, raw, worker)
    if worker is not None and worker.hurt:
        # Killed for memory an earlier run had left charged to the worker: not the student's doing. Once
        # more, on a fresh interpreter; if that happens again it is the grader's failure, never the student's.
        first, worker.hurt = worker.hurt, None
        worker.close()
        run = _run(plan, submission, sanitized, raw, worker)
        if worker.hurt:
            why, worker.hurt = worker.hurt, None
            worker.close()
            return grader_error_row(plan, submission, f"the grader's own environment stopped this run twice ({first}; then {why})")
    metrics = metric_lookup(assignment)
    evaluation = plan.leaderboard.evaluation(submission) if plan.leaderboard is not None else None
    if evaluation is not None:  # the leaderboard's check is scored on the private part, both parts recorded
        from autograder.grading.held_out import LeaderboardMetrics

        metrics = LeaderboardMetrics(metrics, evaluation)
    questions: list[QuestionResult] = score_notebook(
        manifest, sanitized, run, plan.expectations[submission.notebook], metrics, plan.limits.device
    )
    stored.results = [StoredResult(q.question, q.score, q.max_score, q.status, q.message, q.checks) for q in questions]
    stored.status, stored.message = run_status(sanitized, run)
    stored.notes.extend(sanitized.notes)
    stored.notes.extend(flag for q in questions for flag in q.flags)
    stored.notes.extend(_time_flags(assignment, submission))
    if evaluation is not None:
        stored.leaderboard = evaluation.outcome()
        if not evaluation.allowed:
            stored.notes.append(evaluation.refusal)
    stored.student_view = student_view(manifest, sanitized, run)  # what feedback pages and manual grading show
    if stored.notes and stored.status == "ok":
        stored.message = "; ".join(stored.notes)
    stored.duration_s = round(time.monotonic() - started, 3)
    stored.peak_memory_bytes = run.peak_memory_bytes
    _usage_per_question(stored.results, sanitized, run)
    return stored


def _usage_per_question(results: list[StoredResult], sanitized: Sanitized, run: RunResult) -> None:
    """Each question's time and memory: those of its own cell and of the cells since the previous question's
    (its answer cells, a test cell's setup); time summed, memory the most charged while one of them ran
    (`autograder.sandbox.launch.PeakMemory`, which includes what earlier cells left). None where none ran."""
    by_question, since = {}, []
    for index, cell in enumerate(sanitized.cells):
        since.append(index)
        if cell.grade_id and cell.kind in (Kind.TEST, Kind.MANUAL):
            by_question[cell.grade_id], since = since, []
    for result in results:
        ran = [run.cells[i] for i in by_question.get(result.question, []) if i in run.cells and run.cells[i].duration is not None]
        peaks = [run.cell_memory[i] for i in by_question.get(result.question, []) if i in run.cell_memory]
        result.duration_s = round(sum(end.duration for end in ran), 6) if ran else None
        result.peak_memory_bytes = max(peaks) if peaks else None


def _time_flags(assignment, submission: Submission) -> list[str]:
    """A note for the grader when the submission time cannot be read (late.py counts it late by the maximum)."""
    from autograder.course.late import deadline_for, late_penalty

    if submission.submitted_at is None:
        return []
    try:
        penalty = late_penalty(deadline_for(assignment), submission.submitted_at)
    except Exception:  # the course's policy itself is broken: export and feedback say so; grading goes on
        return []
    return [penalty.explanation.split("; due ")[0]] if penalty.flagged else []


def _run(plan: GradingPlan, submission: Submission, sanitized: Sanitized, raw: bytes, worker: WarmInterpreter | None) -> RunResult:
    """One run of the restored notebook in a fresh working directory."""
    assignment = plan.assignment
    if worker is not None:
        worker.hurt = None
    workdir = fresh_workdir()
    try:
        stage_public_files(assignment, workdir)
        (workdir / submission.notebook).write_bytes(raw)  # the bytes read, not the path again (it may be a link now)
        with plan.gpus.hold() as gpu:
            env = child_environment(workdir, plan.limits.device, gpu)
            return run_job(build_job(sanitized), workdir, plan.limits, course_root=assignment.course.root, worker=worker, env=env)
    finally:
        remove_workdir(workdir)


def grade_safely(plan: GradingPlan, submission: Submission, pool: WarmPool) -> StoredSubmission:
    """`grade_submission` that never raises, its row's text made safe for every sink (the trust boundary:
    `autograder.results.gradebook.safe_submission`, once, here)."""
    try:
        return safe_submission(grade_submission(plan, submission, pool.current()))
    except Exception as error:  # a grader bug must cost one row, not the batch
        return grader_error_row(plan, submission, f"the grader failed on this submission: {type(error).__name__}: {error}")


def grader_error_row(plan: GradingPlan, submission: Submission, message: str) -> StoredSubmission:
    """The row of a submission the grader itself failed on: zero for now, labelled as ours, retried next run."""
    manifest = plan.manifests[submission.notebook]
    return safe_submission(StoredSubmission(plan.assignment.name, submission.student_id, submission.notebook, str(submission.path or ""),
                            file_hash(submission.path), SubmissionStatus.GRADER_ERROR, message,
                            zero_results(manifest, QuestionStatus.GRADER_ERROR, message), submitted_at=submission.submitted_at,
                            notes=[submission.note] if submission.note else []))
