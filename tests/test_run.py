"""A grading run starts its warm workers first, then reads the gradebook, selects what is pending, builds the
plan and grades the batch (`autograder.grading.run`): the order that makes a small batch's start-up cheap."""

import autograder.grading.batch
import autograder.grading.plan
import autograder.results.gradebook
from autograder.course import Course
from autograder.grading.batch import BatchSummary
from autograder.grading.run import BatchStart, grade_assignment
from autograder.sandbox.limits import Limits
from autograder.sandbox.pool import WarmPool
from conftest import CORRECT, hand_in, student_version


def test_the_warm_workers_start_before_the_gradebook_the_pending_list_the_plan_and_the_batch(toy_course, tmp_path, monkeypatch):
    order = []
    hand_in(tmp_path / "in", "ann", student_version(toy_course, CORRECT))

    def recorded(name, real):
        def call(*args, **kwargs):
            order.append(name)
            return real(*args, **kwargs)
        return call

    monkeypatch.setattr(WarmPool, "prestart", lambda self, count, limits: order.append(f"workers x{count}"))
    monkeypatch.setattr(autograder.results.gradebook.Gradebook, "__enter__",
                        recorded("gradebook", autograder.results.gradebook.Gradebook.__enter__))
    monkeypatch.setattr(autograder.grading.batch, "pending", recorded("pending", autograder.grading.batch.pending))
    monkeypatch.setattr(autograder.grading.plan, "build_plan", recorded("plan", autograder.grading.plan.build_plan))
    monkeypatch.setattr(autograder.grading.batch, "grade_batch", lambda *a, **k: order.append("batch") or BatchSummary())
    started: list[BatchStart] = []

    summary = grade_assignment(Course.at(toy_course).assignment("toy"), tmp_path / "in", Limits(cell_timeout=10), workers=2,
                               gradebook_url=f"sqlite:///{tmp_path / 'g.db'}", on_start=started.append)
    assert order == ["workers x1", "gradebook", "pending", "plan", "batch"]
    assert isinstance(summary, BatchSummary) and summary.grader_errors == []
    assert (started[0].found, started[0].todo, started[0].skipped, started[0].where) == (1, 1, 0, "2 worker(s)")
