"""Grading on a Dask distributed cluster: ``autograder grade ... --scheduler tcp://HOST:PORT``.

The coordinator (the machine that runs ``autograder grade``) builds the grading plan once, as it does for
a local batch: the manifests and the reference's expected values. It ships them to every Dask worker as
plain data in a worker plugin, with the files of the assignment a worker needs to grade
(``source/<assignment>/``: notebooks and public data files; the assignment's module or package in
``solutions/``, which scoring's ``check_metric`` calls on the trusted side). Each worker writes those
files into its own directory (a course of one assignment) and keeps one warm worker per Dask thread for
the whole batch. No shared filesystem is needed: each task carries the bytes of one submission file and
returns that submission's grades as plain data. The coordinator stays the gradebook's only writer and
stores each result as soon as it arrives.

A Dask worker is on the trusted side, like the grader's own machine: it holds the hidden tests and
solutions/ (never inside a run's sandbox, exactly as on the coordinator). See docs/cluster.md.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from distributed import Client, WorkerPlugin, as_completed, get_worker

from autograder.sandbox import lifeline
from autograder.course import Assignment, Course, CourseError
from autograder.course.submissions import Submission
from autograder.grading.plan import GradingPlan
from autograder.grading.submission import MAX_NOTEBOOK_BYTES, grade_safely, grade_submission, grader_error_row
from autograder.results.gradebook import StoredResult, StoredSubmission, safe_submission
from autograder.prepare.manifest import NotebookManifest
from autograder.grading.reference import Expectations
from autograder.sandbox.limits import Limits
from autograder.sandbox.pool import resolve_device

#: Seconds to wait for the scheduler to answer, and for a first worker to join it.
CONNECT_TIMEOUT_SECONDS = 30
WORKERS_TIMEOUT_SECONDS = 120
#: Submissions in flight per Dask worker thread: enough to keep every thread busy, few enough that
#: the coordinator and the scheduler hold a bounded number of submission files at any time.
IN_FLIGHT_PER_THREAD = 2


@dataclass
class ShippedPlan:
    """A `GradingPlan` as plain data, with the course files a worker needs; sent once per worker."""

    assignment: str
    manifests: dict[str, dict]  # notebook -> NotebookManifest.to_json()
    expectations: dict[str, dict]  # notebook -> Expectations.to_json()
    limits: dict  # Limits as a dict
    files: dict[str, bytes]  # course-relative path -> content

    @property
    def digest(self) -> str:
        hashed = hashlib.sha256()
        hashed.update(json.dumps([self.assignment, self.manifests, self.expectations, self.limits], sort_keys=True, default=str).encode())
        for path in sorted(self.files):
            hashed.update(path.encode() + b"\0" + hashlib.sha256(self.files[path]).digest())
        return hashed.hexdigest()[:16]


def ship(plan) -> ShippedPlan:
    """The plain-data form of a `autograder.grading.plan.GradingPlan`."""
    assignment = plan.assignment
    root = assignment.course.root
    paths = [p for p in sorted(assignment.source_dir.rglob("*")) if p.is_file() and not _hidden(p.relative_to(assignment.source_dir))]
    solutions = assignment.solutions_path
    if solutions is not None:
        paths += [solutions] if solutions.name != "__init__.py" else [p for p in sorted(solutions.parent.rglob("*.py"))]
    return ShippedPlan(
        assignment=assignment.name,
        manifests={name: manifest.to_json() for name, manifest in plan.manifests.items()},
        expectations={name: found.to_json() for name, found in plan.expectations.items()},
        limits=dataclasses.asdict(plan.limits),
        files={str(p.relative_to(root)): p.read_bytes() for p in paths},
    )


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") or part in ("__pycache__", ".ipynb_checkpoints") for part in relative.parts)


def unpack(shipped: ShippedPlan, directory: Path, device: str | None = None):
    """The shipped plan as a `GradingPlan` over a course written into ``directory`` (on a worker), grading
    on ``device`` (default: the shipped one)."""
    root = directory / shipped.digest
    if not (root / ".complete").is_file():
        staging = Path(tempfile.mkdtemp(prefix="course-", dir=directory))
        for relative, content in shipped.files.items():
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        (staging / ".complete").write_text(shipped.digest)
        try:
            staging.rename(root)
        except OSError:  # another worker process on this machine got there first
            shutil.rmtree(staging, ignore_errors=True)
    assignment = Assignment(Course(root), shipped.assignment)
    return GradingPlan(
        assignment,
        {name: NotebookManifest.from_json(data) for name, data in shipped.manifests.items()},
        {name: Expectations.from_json(data) for name, data in shipped.expectations.items()},
        Limits(**dict(shipped.limits, device=device or shipped.limits["device"])),
    )


# ----------------------------------------------------------------------------------------- the worker


class GradingPlugin(WorkerPlugin):
    """Installed on every Dask worker for one batch: the unpacked plan and one warm worker per thread.

    Registered by the coordinator at the start of a batch (workers that join later get it too) and
    removed at its end, which closes the warm workers.
    """

    def __init__(self, shipped: ShippedPlan):
        self.shipped = shipped
        self.name = f"autograder-{shipped.digest}"

    def setup(self, worker) -> None:
        self._lifeline = lifeline.guard()
        self._lifeline.__enter__()  # this worker killed: its warm workers and runs go with it
        self.directory = Path(worker.local_directory) / "autograder"
        self.directory.mkdir(parents=True, exist_ok=True)
        # `auto` and `cuda` are decided here, against this worker's hardware. A worker that cannot grade
        # as asked fails its tasks with the reason (one `failed` row each; a rerun retries them).
        self.unusable: str | None = None
        try:
            device = resolve_device(self.shipped.limits["device"])
        except CourseError as error:
            device, self.unusable = "cpu", f"the Dask worker {worker.name} cannot grade: {error}"
        self.plan = unpack(self.shipped, self.directory, device)
        self.pool = self.plan.worker_pool(warm=True)
        self.incoming = Path(tempfile.mkdtemp(prefix="incoming-", dir=self.directory))
        self._count = 0
        self._lock = threading.Lock()

    def teardown(self, worker) -> None:
        self.pool.close()
        shutil.rmtree(self.incoming, ignore_errors=True)
        self._lifeline.__exit__(None, None, None)

    def grade(self, student_id: str, notebook: str, file_name: str, content: bytes, submitted_at: str | None) -> dict:
        if self.unusable:
            raise RuntimeError(self.unusable)
        with self._lock:
            self._count += 1
            folder = self.incoming / str(self._count)
        folder.mkdir()
        try:
            path = folder / file_name  # the student's file name: messages name it
            path.write_bytes(content)
            stored = grade_safely(self.plan, Submission(student_id, notebook, path, submitted_at=submitted_at), self.pool)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return dataclasses.asdict(stored)


def _grade_on_worker(plugin_name: str, student_id: str, notebook: str, file_name: str, content: bytes, submitted_at: str | None) -> dict:
    return get_worker().plugins[plugin_name].grade(student_id, notebook, file_name, content, submitted_at)


def stored_from_json(data: dict) -> StoredSubmission:
    data = dict(data)
    data["results"] = [StoredResult(**result) for result in data["results"]]
    return StoredSubmission(**data)


# ------------------------------------------------------------------------------------ the coordinator


def grade_on_cluster(plan, todo: Iterable, scheduler: str) -> Iterator[StoredSubmission]:
    """Each submission graded on the cluster at ``scheduler``, yielded as soon as its grades come back.

    Entries with no file to run (missing, a directory, too large) are graded here, as locally: they
    never reach a sandbox.
    """
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT_SECONDS, set_as_default=False)
    except (OSError, TimeoutError) as error:
        raise CourseError(
            f"cannot reach the Dask scheduler at {scheduler} ({error}); start one with `dask scheduler` and "
            "workers with `dask worker SCHEDULER_ADDRESS` (see docs/cluster.md), or leave out --scheduler to grade here"
        ) from None
    with client:
        try:
            client.wait_for_workers(1, timeout=WORKERS_TIMEOUT_SECONDS)
        except TimeoutError:
            raise CourseError(f"the Dask scheduler at {scheduler} has no workers (waited {WORKERS_TIMEOUT_SECONDS} s); "
                              "start some with `dask worker " + scheduler + "`") from None
        plugin = GradingPlugin(ship(plan))
        client.register_plugin(plugin, name=plugin.name)
        try:
            threads = sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values())
            window = max(4, IN_FLIGHT_PER_THREAD * threads)
            waiting = iter(todo)
            sent: dict = {}  # future -> submission
            local: list = []  # entries with nothing to run, graded here

            def send_next():
                for submission in waiting:
                    path: Path | None = submission.path
                    if path is None or not path.is_file() or path.stat().st_size > MAX_NOTEBOOK_BYTES:
                        local.append(submission)
                        continue
                    future = client.submit(_grade_on_worker, plugin.name, submission.student_id, submission.notebook,
                                           path.name, path.read_bytes(), submission.submitted_at, pure=False)
                    sent[future] = submission
                    return future
                return None

            first = [future for future in (send_next() for _ in range(window)) if future is not None]
            yield from (safe_submission(grade_submission(plan, submission)) for submission in local)
            local.clear()
            if not first:
                return
            running = as_completed(first, loop=client.loop)
            for future in running:
                submission = sent.pop(future)
                try:
                    stored = stored_from_json(future.result())
                    stored.path = str(submission.path)  # the coordinator's path, not the worker's copy
                    if submission.note:  # which version was graded: known here, not on the worker
                        stored.notes = [submission.note, *(stored.notes or [])]
                    stored = safe_submission(stored)  # what came back over the wire is text from a submission too
                except Exception as error:  # a worker lost or a grader bug: one row, not the batch
                    stored = grader_error_row(plan, submission, "the grader failed on this submission on the cluster: "
                                              f"{type(error).__name__}: {error}")
                future.release()
                yield stored
                following = send_next()
                if following is not None:
                    running.add(following)
                yield from (safe_submission(grade_submission(plan, submission)) for submission in local)
                local.clear()
        finally:
            client.unregister_worker_plugin(plugin.name)
