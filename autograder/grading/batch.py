"""The batch: what to grade, graded here on grading threads or on a Dask cluster, each stored as it finishes.

Runs are parallel (one grading thread per warm interpreter, each watching one child process); the gradebook
has a single writer, this module's calling thread, which stores each submission as soon as it is scored.
Nothing a submission contains can stop the batch: every failure becomes that submission's status and message.

Under ``counts = "best"`` (`autograder.course.submissions`) a submission stands for all its versions: each is
graded as a run of its own (here or on the cluster), held until the last of them finishes, and only the
best one is stored, as the one row of that (student, notebook), with a note naming the version and with the
hash of all the versions as its resume key. "Best" is the highest total after the late penalty as the policy
stands when grading (ties: the later version); a version the grader itself failed on makes the row a
``grader_error`` (retried next run), never a silent choice among the others.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from autograder.course.submissions import Submission
from autograder.errors import UserError
from autograder.grading.plan import GradingPlan
from autograder.grading.submission import grade_safely
from autograder.results.gradebook import Gradebook, StoredSubmission
from autograder.results.status import RETRIED, SubmissionStatus
from autograder.sandbox import lifeline
from autograder.sandbox.pool import WarmPool, default_workers
from autograder.wire.text import safe_text


@dataclass
class BatchSummary:
    graded: list[StoredSubmission] = field(default_factory=list)
    skipped: int = 0
    seconds: float = 0.0
    #: The stored status of each submission skipped as unchanged: ``{"ok": 5, "invalid": 1}`` (filled by
    #: `autograder.grading.run.grade_assignment`), so a run that graded nothing new still says what it holds.
    unchanged: dict[str, int] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Submissions per status, those graded now and those skipped unchanged together."""
        counted = dict(self.unchanged)
        for item in self.graded:
            counted[str(item.status)] = counted.get(str(item.status), 0) + 1
        return counted

    @property
    def grader_errors(self) -> list[StoredSubmission]:
        """The submissions the grader itself failed on (status ``grader_error``): the next run grades them again."""
        return [item for item in self.graded if item.status == SubmissionStatus.GRADER_ERROR]


@dataclass
class Pending:
    """What a batch has to grade: the new or changed submissions, and how many were skipped unchanged."""

    todo: list[Submission]
    skipped: int = 0
    unchanged: list[tuple[str, str]] = field(default_factory=list)  # (student_id, notebook) as stored, of the skipped


def pending(assignment_name: str, submissions: Iterable[Submission], gradebook: Gradebook, force: bool = False) -> Pending:
    """The submissions not yet graded, or whose file changed since (all of them with ``force``)."""
    done_before = {} if force else gradebook.graded_hashes(assignment_name)
    selected = Pending([])
    for submission in submissions:
        key = (safe_text(submission.student_id), safe_text(submission.notebook))  # as stored (`safe_submission`)
        if key in done_before and done_before[key] is not None and done_before[key] == submission.resume_key():
            selected.skipped += 1
            selected.unchanged.append(key)
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
    if workers is not None and workers < 1:
        raise UserError(f"--workers {workers}: give 1 or more parallel runs (default: one per core, {default_workers()} here)")
    started = time.monotonic()
    selected = submissions if isinstance(submissions, Pending) else pending(plan.assignment.name, submissions, gradebook, force)
    todo, best = _expand_versions(plan, selected.todo)
    plan.leaderboard = _leaderboard(plan, todo, gradebook, scheduler)
    summary = BatchSummary(skipped=selected.skipped)
    with lifeline.guard():  # a grader killed mid-batch leaves no warm worker or run behind
        if scheduler:
            from autograder.grading.cluster import grade_on_cluster

            finished = grade_on_cluster(plan, todo, scheduler)
        else:
            finished = _grade_locally(plan, todo, workers or default_workers(), warm, pool)
        with contextlib.closing(finished):
            for stored in finished:
                if stored.leaderboard is not None and stored.status not in RETRIED:
                    gradebook.record_leaderboard_entry(stored)  # every graded version, before "best" keeps one
                stored = best.settle(stored) if best else stored
                if stored is None:
                    continue  # a version of a "best" submission whose other versions are still running
                stored = gradebook.store(stored)  # what the gradebook took: this row, or its grader_error row
                summary.graded.append(stored)
                if on_done is not None:
                    on_done(stored)
                stored.student_view = None  # it is in the gradebook now; the summary keeps scores, not every cell's output
    summary.seconds = time.monotonic() - started
    return summary


def _leaderboard(plan: GradingPlan, todo: list[Submission], gradebook: Gradebook, scheduler: str | None):
    """Which versions a leaderboard evaluates (`autograder.grading.held_out.leaderboard_allotment`); None without one."""
    from autograder.grading.held_out import leaderboard_allotment

    allotment = leaderboard_allotment(plan, todo, gradebook)
    if allotment is not None and scheduler:
        from autograder.errors import UserError

        raise UserError(f"{plan.assignment.name} has a leaderboard, which is graded on this machine only: grade without --scheduler")
    return allotment


class _BestOf:
    """Holds the graded versions of each ``counts = "best"`` submission until all are in, then gives the best."""

    def __init__(self, plan: GradingPlan):
        from autograder.course.late import deadline_for

        self.deadline = deadline_for(plan.assignment)
        self.waiting: dict[tuple[str, str], tuple[int, str | None, list[StoredSubmission]]] = {}
        self.number: dict[str, int] = {}  # a version's path -> its number (1 = the first handed in)

    def expect(self, submission: Submission) -> None:
        self.waiting[(submission.student_id, submission.notebook)] = (len(submission.candidates), submission.resume_key(), [])
        self.number.update((str(c.path), c.version.number if c.version else 0) for c in submission.candidates)

    def settle(self, stored: StoredSubmission) -> StoredSubmission | None:
        key = (stored.student_id, stored.notebook)
        if key not in self.waiting:
            return stored
        expected, resume_key, graded = self.waiting[key]
        graded.append(stored)
        if len(graded) < expected:
            return None
        del self.waiting[key]
        chosen = self.choose(graded)
        chosen.sha256 = resume_key  # the next run skips this submission while no version changed
        return chosen

    def adjusted(self, stored: StoredSubmission) -> float:
        from autograder.course.late import late_penalty

        total = sum(r.score or 0.0 for r in stored.results)
        return total * (1 - late_penalty(self.deadline, stored.submitted_at, "timestamp.txt", stored.student_id).fraction)

    def choose(self, graded: list[StoredSubmission]) -> StoredSubmission:
        failed = [s for s in graded if s.status in RETRIED]
        if failed:
            return failed[0]
        in_order = sorted(graded, key=lambda s: self.number.get(s.path, 0))  # oldest first
        return max(reversed(in_order), key=self.adjusted)  # max keeps the first of equals: the later version


def _expand_versions(plan: GradingPlan, todo: list[Submission]) -> tuple[list[Submission], _BestOf | None]:
    """Every version of a ``best`` submission as a run of its own; the rest as they are."""
    if not any(s.candidates for s in todo):
        return todo, None
    best = _BestOf(plan)
    runs: list[Submission] = []
    for submission in todo:
        if submission.candidates:
            best.expect(submission)
            runs.extend(submission.candidates)
        else:
            runs.append(submission)
    return runs, best


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
