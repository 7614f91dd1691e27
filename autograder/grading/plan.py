"""The grading plan: everything the trusted side needs to grade one assignment, computed once per batch
(the kept manifests, the reference's expected values, the limits, with the course's nbgrader_config.py
timeout), and the GPUs runs take turns on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import queue
import threading
from dataclasses import dataclass

from autograder.course import Assignment, CourseError
from autograder.grading.reference import Expectations, compute_expectations
from autograder.prepare.manifest import NotebookManifest, assignment_manifest
from autograder.sandbox import lifeline
from autograder.sandbox.limits import Limits
from autograder.sandbox.pool import WarmPool, heavy_imports


@dataclass
class GradingPlan:
    """Everything the trusted side needs to grade one assignment, computed once per batch."""

    assignment: Assignment
    manifests: dict[str, NotebookManifest]
    expectations: dict[str, Expectations]
    limits: Limits
    leaderboard: object | None = None  # this batch's `autograder.results.leaderboard.Allotment`, set by the batch

    def worker_pool(self, warm: bool = True) -> WarmPool:
        return WarmPool(heavy_imports(self.manifests.values()), self.assignment.course.root, warm)

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


def course_limits(assignment: Assignment, limits: Limits) -> Limits:
    """``limits`` with what the course's nbgrader_config.py sets that nbgrader would apply when grading: its
    per-cell timeout (``Execute.timeout``), where ``--timeout`` was left at its default (an explicit option
    wins; `autograder.course.nbgrader_config`)."""
    timeout = assignment.course.nbgrader_config.cell_timeout
    default = next(item.default for item in dataclasses.fields(Limits) if item.name == "cell_timeout")
    if timeout is None or limits.cell_timeout != default:
        return limits
    return dataclasses.replace(limits, cell_timeout=timeout)


def build_plan(assignment: Assignment, limits: Limits, use_cache: bool = True) -> GradingPlan:
    limits = course_limits(assignment, limits)
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
