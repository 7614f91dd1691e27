"""The batch: what to grade, graded here on grading threads or on a Dask cluster, each stored as it finishes.

Runs are parallel (one grading thread per warm interpreter, each watching one child process); the gradebook
has a single writer, this module's calling thread, which stores each submission as soon as it is scored.
Nothing a submission contains can stop the batch: every failure becomes that submission's status and message.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from autograder.course.submissions import Submission, file_hash
from autograder.grading.plan import GradingPlan
from autograder.grading.submission import grade_safely
from autograder.results.gradebook import Gradebook, StoredSubmission
from autograder.results.status import SubmissionStatus
from autograder.sandbox import lifeline
from autograder.sandbox.pool import WarmPool, default_workers
from autograder.wire.text import safe_text


@dataclass
class BatchSummary:
    graded: list[StoredSubmission] = field(default_factory=list)
    skipped: int = 0
    seconds: float = 0.0

    @property
    def grader_errors(self) -> list[StoredSubmission]:
        """The submissions the grader itself failed on (status ``grader_error``): the next run grades them again."""
        return [item for item in self.graded if item.status == SubmissionStatus.GRADER_ERROR]


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
        key = (safe_text(submission.student_id), safe_text(submission.notebook))  # as stored (`safe_submission`)
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
    pool: WarmPool | None = None,
) -> BatchSummary:
    """Grade what is new or changed (everything with ``force``) and store each submission as it finishes.

    ``submissions`` may be what `pending` already selected. Runs locally on ``workers`` threads, or on
    the Dask cluster at ``scheduler`` (``tcp://HOST:PORT``, see `autograder.grading.cluster`); either way
    this thread is the gradebook's only writer. Locally the warm workers come from ``pool`` when given
    (the caller closes it; see `WarmPool.prestart`).
    """
    started = time.monotonic()
    selected = submissions if isinstance(submissions, Pending) else pending(plan.assignment.name, submissions, gradebook, force)
    todo = selected.todo
    summary = BatchSummary(skipped=selected.skipped)
    with lifeline.guard():  # a grader killed mid-batch leaves no warm worker or run behind
        if scheduler:
            from autograder.grading.cluster import grade_on_cluster

            finished = grade_on_cluster(plan, todo, scheduler)
        else:
            finished = _grade_locally(plan, todo, workers or default_workers(), warm, pool)
        with contextlib.closing(finished):
            for stored in finished:
                stored = gradebook.store(stored)  # what the gradebook took: this row, or its grader_error row
                summary.graded.append(stored)
                if on_done is not None:
                    on_done(stored)
                stored.student_view = None  # it is in the gradebook now; the summary keeps scores, not every cell's output
    summary.seconds = time.monotonic() - started
    return summary


def _grade_locally(plan: GradingPlan, todo: list[Submission], workers: int, warm: bool,
                   given: WarmPool | None = None) -> Iterator[StoredSubmission]:
    """Each submission graded on a thread with its warm worker, yielded as soon as it is scored.

    Only two submissions per worker are handed to the pool at a time: a future holds its result until it
    is dropped, so submitting the whole batch at once made memory grow with the batch, and an
    interrupted batch would have waited for every queued submission before stopping.
    """
    waiting = iter(todo)
    owned = contextlib.nullcontext(given) if given is not None else plan.worker_pool(warm)
    with owned as workers_pool, concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        running = {pool.submit(grade_safely, plan, s, workers_pool) for s in itertools.islice(waiting, 2 * workers)}
        while running:
            done, running = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
            running |= {pool.submit(grade_safely, plan, s, workers_pool) for s in itertools.islice(waiting, len(done))}
            for future in done:
                yield future.result()
