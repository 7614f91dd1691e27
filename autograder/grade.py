"""The batch: find the submissions, restore each against source/, run it, score it, store it.

Runs are parallel (one thread per worker, each watching one child process); the gradebook has a single
writer, this module's main thread, which stores each submission as soon as it is scored. Nothing a
submission contains can stop the batch: every failure becomes that submission's status and message.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import json
import queue
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import nbformat

from autograder.cells import Kind
from autograder.course import Assignment, CourseError
from autograder.feedback import student_view
from autograder.gradebook import Gradebook, StoredResult, StoredSubmission
from autograder.manifest import NotebookManifest, assignment_manifest
from autograder.reference import Expectations, compute_expectations, metric_lookup, stage_public_files
from autograder.sandbox import Limits, RunResult, WarmWorker, run_job
from autograder.sandbox.launch import child_environment, fresh_workdir, remove_workdir
from autograder.sandbox.pool import (  # noqa: F401 - re-exported
    LAZY_IMPORTS, WorkerPool, default_workers, heavy_imports, heavy_imports_of_sources, resolve_device)
from autograder.sanitize import NotThisAssignment, Sanitized, sanitize
from autograder.scoring import QuestionResult, score_notebook
from autograder.submissions import Submission, discover, file_hash  # noqa: F401 - re-exported
from autograder import lifeline, seeding

#: Larger notebook files are refused before they are parsed.
MAX_NOTEBOOK_BYTES = 50 * 1024 * 1024


@dataclass
class GradingPlan:
    """Everything the trusted side needs to grade one assignment, computed once per batch."""

    assignment: Assignment
    manifests: dict[str, NotebookManifest]
    expectations: dict[str, Expectations]
    limits: Limits

    def worker_pool(self, warm: bool = True) -> WorkerPool:
        return WorkerPool(heavy_imports(self.manifests.values()), self.assignment.course.root, warm)

    def __post_init__(self) -> None:
        self.gpus = GpuSlots(self.limits.device)


class GpuSlots:
    """One run per GPU at a time: a run takes a GPU index here and gives it back when it ends.

    The GPUs are counted at the first run (a coordinator that sends the batch to a cluster never counts,
    nor imports torch to do so).
    """

    def __init__(self, device: str):
        self.device = device
        self.slots: queue.Queue | None = None
        self._lock = threading.Lock()

    def _counted(self) -> queue.Queue:
        with self._lock:
            if self.slots is None:
                import torch

                self.slots = queue.Queue()
                for index in range(torch.cuda.device_count()):
                    self.slots.put(index)
            return self.slots

    @contextlib.contextmanager
    def hold(self):
        if self.device != "cuda":
            yield None
            return
        slots = self._counted()
        index = slots.get()
        try:
            yield index
        finally:
            slots.put(index)


@dataclass
class BatchSummary:
    graded: list[StoredSubmission] = field(default_factory=list)
    skipped: int = 0
    seconds: float = 0.0


def build_plan(assignment: Assignment, limits: Limits, use_cache: bool = True) -> GradingPlan:
    manifests, expectations = {}, {}
    for name in assignment.notebook_names:
        manifest = assignment_manifest(assignment, name)
        manifests[name] = manifest
        with lifeline.guard():  # the reference pass runs too: a kill now must not leave it behind
            found = compute_expectations(manifest, assignment, limits, use_cache=use_cache)
        if found.problems:
            lines = "\n  ".join(found.problems)
            raise CourseError(
                f"the tests of {assignment.name}/{name} do not run against solutions/ (run `autograder verify {assignment.name}`):\n  {lines}"
            )
        expectations[name] = found
    return GradingPlan(assignment, manifests, expectations, limits)


# ------------------------------------------------------------------------------------ one submission


class Invalid(Exception):
    """The file cannot be graded as this assignment's notebook; the message says why and what to do."""


def read_notebook(path: Path) -> nbformat.NotebookNode:
    size = path.stat().st_size
    if size == 0:
        raise Invalid("the file is empty")
    if size > MAX_NOTEBOOK_BYTES:
        raise Invalid(f"the file is {size / 1e6:.0f} MB, more than the {MAX_NOTEBOOK_BYTES / 1e6:.0f} MB limit; clear the outputs and hand it in again")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise Invalid(f"the file is not UTF-8 text (byte {error.start}); save the notebook from Jupyter and hand it in again") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise Invalid(f"the file is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg}); it may be truncated") from None
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        raise Invalid("the file is JSON but not a Jupyter notebook (no cells)")
    try:
        notebook = nbformat.reads(text, as_version=4)
    except Exception as error:
        raise Invalid(f"the notebook cannot be read: {error}") from None
    if not isinstance(notebook.get("cells"), list):
        raise Invalid("the notebook has no list of cells")
    return notebook


def build_job(sanitized: Sanitized, mode: str = "record") -> dict:
    """The run of a restored notebook: test cells through the harness, each under its own seed.

    ``mode`` is the checks' mode: "record" while grading; "local" for `autograder check`, where the
    visible checks decide in the student's process as they do in Jupyter.
    """
    job_cells = []
    for index, cell in enumerate(sanitized.cells):
        if cell.cell_type != "code":
            continue
        is_test = cell.kind == Kind.TEST
        job_cells.append(
            {
                "index": index,
                "source": cell.source,
                "grade_id": cell.grade_id,
                "kind": cell.kind,
                "harness_exec": is_test,
                "seed": seeding.stable_seed(cell.grade_id) if is_test else None,
            }
        )
    return {"mode": mode, "cells": job_cells}


def _zero_results(manifest: NotebookManifest, status: str, message: str) -> list[StoredResult]:
    return [StoredResult(c.grade_id, 0.0, c.points, status, message) for c in manifest.graded_cells]


def _run_status(sanitized: Sanitized, run: RunResult) -> tuple[str, str]:
    """"ok" when the notebook ran to the end and no answer or setup cell raised. What goes wrong inside a
    test cell belongs to its question (reported there); NotImplementedError is an unanswered question."""
    if run.status != "ok":
        return run.status, run.message
    problems = []
    for index, cell in enumerate(sanitized.cells):
        end = run.cells.get(index)
        if end is None or end.get("status") == "ok":
            continue
        error = next((o for o in end.get("outputs", []) if o.get("output_type") == "error"), {})
        if error.get("ename") == "NotImplementedError" or cell.kind == Kind.TEST:
            continue
        where = f"{'answer' if cell.kind in (Kind.ANSWER, Kind.MANUAL) else 'read-only'} cell {cell.grade_id!r}" if cell.grade_id \
            else f"cell {index + 1} of the graded notebook"
        problems.append(f"{where} raised {error.get('ename', 'an error')}: {error.get('evalue', '')}".rstrip(": "))
    if problems:
        return "error", "; ".join(problems[:3]) + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else "")
    return "ok", ""


def grade_submission(plan: GradingPlan, submission: Submission, worker: WarmWorker | None = None) -> StoredSubmission:
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
    )
    if submission.path is None:
        stored.status = "missing" if not submission.problem or "no " in submission.problem[:3] else "invalid"
        stored.message = submission.problem
        stored.results = _zero_results(manifest, stored.status, submission.problem)
        return stored
    try:
        notebook = read_notebook(submission.path)
        sanitized = sanitize(notebook, manifest)
    except (Invalid, NotThisAssignment) as error:
        stored.status, stored.message = "invalid", f"{submission.path.name}: {error}"
        stored.results = _zero_results(manifest, "invalid", str(error))
        return stored
    except OSError as error:
        stored.status, stored.message = "invalid", f"{submission.path}: cannot be read ({error.strerror or error})"
        stored.results = _zero_results(manifest, "invalid", stored.message)
        return stored
    workdir = fresh_workdir()
    try:
        stage_public_files(assignment, workdir)
        shutil.copyfile(submission.path, workdir / submission.notebook)
        with plan.gpus.hold() as gpu:
            env = child_environment(workdir, plan.limits.device, gpu)
            run = run_job(build_job(sanitized), workdir, plan.limits, course_root=assignment.course.root, worker=worker, env=env)
    finally:
        remove_workdir(workdir)
    questions: list[QuestionResult] = score_notebook(
        manifest, sanitized, run, plan.expectations[submission.notebook], metric_lookup(assignment)
    )
    stored.results = [StoredResult(q.question, q.score, q.max_score, q.status, q.message, q.checks) for q in questions]
    stored.status, stored.message = _run_status(sanitized, run)
    stored.notes = sanitized.notes
    stored.student_view = student_view(manifest, sanitized, run)  # what feedback pages and manual grading show
    if sanitized.notes and stored.status == "ok":
        stored.message = "; ".join(sanitized.notes)
    stored.duration_s = round(time.monotonic() - started, 3)
    return stored


def _grade_safely(plan: GradingPlan, submission: Submission, pool: WorkerPool) -> StoredSubmission:
    try:
        return grade_submission(plan, submission, pool.current())
    except Exception as error:  # a grader bug must cost one row, not the batch
        manifest = plan.manifests[submission.notebook]
        message = f"the grader failed on this submission: {type(error).__name__}: {error}"
        return StoredSubmission(plan.assignment.name, submission.student_id, submission.notebook, str(submission.path or ""),
                                file_hash(submission.path), "failed", message, _zero_results(manifest, "failed", message))


# ------------------------------------------------------------------------------------------- the batch


@dataclass
class Pending:
    """What a batch has to grade: the new or changed submissions, and how many were skipped unchanged."""

    todo: list[Submission]
    skipped: int = 0


def pending(assignment_name: str, submissions: Iterable[Submission], gradebook: Gradebook, force: bool = False) -> Pending:
    """The submissions not yet graded, or whose file changed since (all of them with ``force``)."""
    done_before = {} if force else gradebook.graded_hashes(assignment_name)
    selected = Pending([])
    for submission in submissions:
        key = (submission.student_id, submission.notebook)
        if key in done_before and done_before[key] is not None and done_before[key] == file_hash(submission.path):
            selected.skipped += 1
            continue
        selected.todo.append(submission)
    return selected


def grade_batch(
    plan: GradingPlan,
    submissions: Iterable[Submission] | Pending,
    gradebook: Gradebook,
    *,
    workers: int | None = None,
    force: bool = False,
    warm: bool = True,
    on_done: Callable[[StoredSubmission], None] | None = None,
    scheduler: str | None = None,
    pool: WorkerPool | None = None,
) -> BatchSummary:
    """Grade what is new or changed (everything with ``force``) and store each submission as it finishes.

    ``submissions`` may be what `pending` already selected. Runs locally on ``workers`` threads, or on
    the Dask cluster at ``scheduler`` (``tcp://HOST:PORT``, see `autograder.distributed`); either way
    this thread is the gradebook's only writer. Locally the warm workers come from ``pool`` when given
    (the caller closes it; see `WorkerPool.prestart`).
    """
    started = time.monotonic()
    selected = submissions if isinstance(submissions, Pending) else pending(plan.assignment.name, submissions, gradebook, force)
    todo = selected.todo
    summary = BatchSummary(skipped=selected.skipped)
    with lifeline.guard():  # a grader killed mid-batch leaves no warm worker or run behind
        if scheduler:
            from autograder.distributed import grade_on_cluster

            finished = grade_on_cluster(plan, todo, scheduler)
        else:
            finished = _grade_locally(plan, todo, workers or default_workers(), warm, pool)
        with contextlib.closing(finished):
            for stored in finished:
                gradebook.store(stored)
                summary.graded.append(stored)
                if on_done is not None:
                    on_done(stored)
                stored.student_view = None  # it is in the gradebook now; the summary keeps scores, not every cell's output
    summary.seconds = time.monotonic() - started
    return summary


def _grade_locally(plan: GradingPlan, todo: list[Submission], workers: int, warm: bool,
                   given: WorkerPool | None = None) -> Iterator[StoredSubmission]:
    """Each submission graded on a thread with its warm worker, yielded as soon as it is scored.

    Only two submissions per worker are handed to the pool at a time: a future holds its result until it
    is dropped, so submitting the whole batch at once made memory grow with the batch, and an
    interrupted batch would have waited for every queued submission before stopping.
    """
    waiting = iter(todo)
    owned = contextlib.nullcontext(given) if given is not None else plan.worker_pool(warm)
    with owned as workers_pool, concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        running = {pool.submit(_grade_safely, plan, s, workers_pool) for s in itertools.islice(waiting, 2 * workers)}
        while running:
            done, running = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
            running |= {pool.submit(_grade_safely, plan, s, workers_pool) for s in itertools.islice(waiting, len(done))}
            for future in done:
                yield future.result()
