"""One grading run of an assignment, as `autograder grade` does it: what starts when, and what comes back.

`grade_assignment` owns the start-up order, because the order is what makes a small batch fast (see
docs/architecture.md, "Start-up of a batch"):

1. the submissions folder is read (cheap, and it says how many warm workers are worth starting);
2. the **warm workers start first**, in the background: importing IPython, torch and ``torch._dynamo`` is
   seconds of CPU per worker and most of a small batch's time;
3. meanwhile this thread imports SQLAlchemy (here, not at module import, for the same reason), opens the
   gradebook and selects what is **pending** (new, changed, or failed on by the grader before); if nothing
   is, the workers still starting are stopped where they are;
4. the **plan** (manifests and the reference's expected values, cached under ``.autograder/``);
5. the **batch** (`autograder.grading.batch.grade_batch`), each submission stored as soon as it is scored.

The whole run sits under one `lifeline.guard`: a grader killed at any step leaves no worker or run behind.
What a caller shows is its own business: it hears ``on_start`` once the plan is ready (what will be
graded, where, under which confinement) and ``on_progress`` after every stored submission, and gets the
batch's summary back. Nothing here prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from autograder.course import Assignment
from autograder.course.settings import runs_alone
from autograder.course.submissions import discover, not_on_roster
from autograder.errors import UserError
from autograder.sandbox import lifeline
from autograder.sandbox.limits import Limits
from autograder.sandbox.pool import WarmPool, default_workers, heavy_imports_of_sources

if TYPE_CHECKING:
    from autograder.grading.batch import BatchSummary
    from autograder.results.gradebook import Gradebook, StoredSubmission


@dataclass(frozen=True)
class BatchStart:
    """What a run is about to do, told once its plan is ready and before its first submission."""

    assignment: str
    found: int  # notebooks found in the submissions folder
    todo: int  # of which this run grades (the rest are unchanged since graded)
    skipped: int
    where: str  # "2 worker(s)" or "the Dask cluster at tcp://..."
    confinement: str  # one line: the sandbox this machine gives student code, or what is missing
    gradebook_url: str
    not_on_roster: list[str] = field(default_factory=list)  # students who handed in but are not on the roster


def grade_assignment(
    assignment: Assignment,
    submissions_dir: str | Path,
    limits: Limits,
    *,
    workers: int | None = None,
    gradebook_url: str | None = None,
    force: bool = False,
    scheduler: str | None = None,
    on_start: Callable[[BatchStart], None] | None = None,
    on_progress: Callable[[StoredSubmission], None] | None = None,
    roster: list | None = None,
) -> BatchSummary:
    """Grade ``submissions_dir`` for ``assignment`` into the gradebook and return the batch's summary.

    ``limits`` holds a resolved device ("cpu" or "cuda"), except with ``scheduler``, where "auto" is left
    for each Dask worker to decide. ``workers`` defaults to one per core; ``gradebook_url`` to the
    course's ``gradebook.db``; ``force`` regrades unchanged files; ``roster`` (`autograder.course.roster`):
    every student on it who handed in nothing gets a ``missing`` row (without it, only submitters get rows). An
    assignment with ``exclusive = true`` (`autograder.course.settings.runs_alone`) is graded on one thread, one
    submission at a time, whatever ``workers`` says: its timing-sensitive tests never share the machine with
    another run of the batch. Raises `autograder.course.CourseError`
    (a `UserError`) for a folder that is not one of submissions or a course that cannot be graded.
    """
    if workers is not None and workers < 1:
        raise UserError(f"--workers {workers}: give 1 or more parallel runs (default: one per core, {default_workers()} here)")
    submissions = discover(Path(submissions_dir), assignment, roster=roster)
    strangers = not_on_roster(submissions, roster) if roster is not None else []
    alone = runs_alone(assignment)
    workers = 1 if alone else (workers or default_workers())
    url = gradebook_url or assignment.course.gradebook_url
    with lifeline.guard(), WarmPool(heavy_imports_of_sources(assignment), assignment.course.root) as pool:
        if not scheduler:
            pool.prestart(min(workers, len(submissions)), limits)
        # Imported only now, while the workers start: SQLAlchemy and the plan's imports cost start-up time.
        from autograder.grading.batch import grade_batch, pending
        from autograder.grading.plan import build_plan
        from autograder.results.gradebook import Gradebook

        with Gradebook(url) as gradebook:
            selected = pending(assignment.name, submissions, gradebook, force)
            if not selected.todo:
                pool.close()
            plan = build_plan(assignment, limits)
            confinement = plan.limits.confinement().summary(plan.limits)  # --isolation bwrap without it: a UserError, here
            if on_start is not None:
                where = f"the Dask cluster at {scheduler}" if scheduler else f"{workers} worker(s)"
                if alone:
                    where += (f" (exclusive = true for {assignment.name} in autograder.toml: one run at a time)" if not scheduler else
                              " (exclusive = true is not enforced on a cluster: each Dask worker runs its own runs side by side)")
                on_start(BatchStart(assignment.name, len(submissions), len(selected.todo), selected.skipped, where, confinement, url,
                                    strangers))
            summary = grade_batch(plan, selected, gradebook, workers=workers, on_done=on_progress, scheduler=scheduler, pool=pool)
            summary.unchanged = _statuses_of(gradebook, assignment.name, selected.unchanged)
            return summary


def _statuses_of(gradebook: Gradebook, assignment: str, keys: list[tuple[str, str]]) -> dict[str, int]:
    """How many of the submissions ``keys`` (student, notebook) the gradebook holds under each status."""
    if not keys:
        return {}
    wanted, counts = set(keys), {}
    for row in gradebook.submissions(assignment, manual=False):
        if (row.student_id, row.notebook) in wanted:
            counts[row.status] = counts.get(row.status, 0) + 1
    return counts
