"""Grading on a Dask cluster gives the gradebook a local run gives.

The cluster is real: a `dask scheduler` and two `dask worker` processes on loopback, started here on free
ports (each worker importing this checkout) and stopped afterwards.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from autograder.cli import main
from autograder.course import CourseError
from autograder.results.gradebook import Gradebook
from autograder.sandbox.pool import resolve_device
from conftest import CORRECT, REPO, hand_in, student_version

distributed = pytest.importorskip("distributed", reason="dask[distributed] is a dependency of the package: pip install -e .")

START_SECONDS = 120


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def dask_command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "dask", *arguments]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """``tcp://127.0.0.1:PORT`` of a scheduler with two single-thread workers, each in its own process."""
    base = tmp_path_factory.mktemp("dask")
    address = f"tcp://127.0.0.1:{free_port()}"
    temporary = base / "tmp"  # the cluster's own TMPDIR: a test can see what its workers leave there
    temporary.mkdir()
    # the workers grade with this checkout, whatever is installed
    env = dict(os.environ, PYTHONPATH=str(REPO), TMPDIR=str(temporary))
    logs = []
    processes = []

    def start(name: str, command: list[str]) -> None:
        log = (base / f"{name}.log").open("wb")
        logs.append(log)
        processes.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=base))

    start("scheduler", dask_command("scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1], "--no-dashboard"))
    for number in (1, 2):
        start(f"worker{number}", dask_command(
            "worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny", "--no-dashboard",
            "--name", f"worker{number}", "--local-directory", str(base / f"worker{number}")))
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            assert all(p.poll() is None for p in processes), _tails(base)
            try:
                with distributed.Client(address, timeout=5) as client:
                    client.wait_for_workers(2, timeout=max(1, deadline - time.monotonic()))
                    break
            except (OSError, TimeoutError):
                assert time.monotonic() < deadline, "the Dask cluster did not start:\n" + _tails(base)
                time.sleep(0.5)
        yield address
    finally:
        # Workers first, as a cluster is shut down: a worker whose scheduler went first can hang on SIGTERM.
        for process in reversed(processes):
            process.terminate()
        for process in reversed(processes):
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in logs:
            log.close()


def _tails(base: Path) -> str:
    return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-2000:]}" for log in sorted(base.glob("*.log")))


def export(course: Path, url: str, output: Path) -> str:
    assert main(["export", "toy", "--course", str(course), "--gradebook", url, "--format", "csv", "--output", str(output)]) == 0
    return output.read_text()


def by_student(url: str) -> dict:
    with Gradebook(url) as gradebook:
        return {s.student_id: s for s in gradebook.submissions("toy")}


@pytest.fixture
def varied_batch(toy_course, tmp_path) -> Path:
    submissions = tmp_path / "submitted"
    hand_in(submissions, "correct", student_version(toy_course, CORRECT))
    hand_in(submissions, "untouched", student_version(toy_course, {}))
    hand_in(submissions, "wrong_axis", student_version(toy_course, dict(CORRECT, mean_rows="def mean_rows(a):\n    return np.mean(a, axis=0)")))
    hand_in(submissions, "raises", student_version(toy_course, dict(CORRECT, double="def double(x):\n    raise RuntimeError('oops')")))
    hand_in(submissions, "broken_answer", student_version(toy_course, dict(CORRECT, mean_rows="1 / 0")))
    hand_in(submissions, "half_wrong", student_version(toy_course, dict(CORRECT, half="answer_half = 0.4")))
    hand_in(submissions, "corrupt", b'{"cells": [')
    hand_in(submissions, "empty", b"")
    (submissions / "nobody").mkdir()
    return submissions


@pytest.mark.slow
def test_a_batch_graded_on_a_dask_cluster_exports_what_a_local_run_exports(cluster, toy_course, varied_batch, tmp_path):
    local, remote = f"sqlite:///{tmp_path / 'local.db'}", f"sqlite:///{tmp_path / 'dask.db'}"
    common = ["grade", "toy", str(varied_batch), "--course", str(toy_course), "--quiet"]
    assert main([*common, "--gradebook", local, "--workers", "2"]) == 0
    assert main([*common, "--gradebook", remote, "--scheduler", cluster]) == 0
    local_csv, remote_csv = export(toy_course, local, tmp_path / "local.csv"), export(toy_course, remote, tmp_path / "dask.csv")
    assert local_csv.count("\n") == 1 + 8 * 4  # nine folders; "nobody" handed in nothing: no row without a roster
    assert remote_csv == local_csv
    assert by_student(remote)["correct"].path == str(varied_batch / "correct" / "toy.ipynb"), "the gradebook names the coordinator's file"


@pytest.mark.slow
def test_a_dask_batch_resumes_like_a_local_one(cluster, toy_course, varied_batch, tmp_path):
    from autograder.course import Course
    from autograder.grading.plan import build_plan
    from autograder.course.submissions import discover
    from autograder.grading.batch import grade_batch
    from autograder.sandbox.limits import Limits

    assignment = Course.at(toy_course).assignment("toy")
    plan = build_plan(assignment, Limits(cell_timeout=10))
    with Gradebook(f"sqlite:///{tmp_path / 'dask.db'}") as gradebook:
        first = grade_batch(plan, discover(varied_batch, assignment, roster=["nobody"]), gradebook, scheduler=cluster)
        again = grade_batch(plan, discover(varied_batch, assignment, roster=["nobody"]), gradebook, scheduler=cluster)
    assert len(first.graded) == 9
    assert again.skipped == 9 - 1 and [s.student_id for s in again.graded] == ["nobody"]


@pytest.mark.slow
def test_a_dask_worker_keeps_nothing_in_its_temporary_directory_after_a_batch(cluster, toy_course, varied_batch, tmp_path):
    """A Dask worker outlives its batches, and its own shutdown may end in a SIGKILL that skips atexit: the
    sandbox's scratch root and package shim go when the batch ends, not when the worker process exits."""
    url = f"sqlite:///{tmp_path / 'dask.db'}"
    assert main(["grade", "toy", str(varied_batch), "--course", str(toy_course), "--quiet", "--gradebook", url, "--scheduler", cluster]) == 0
    with distributed.Client(cluster, timeout=5) as client:
        left = client.run(lambda: sorted(name for name in os.listdir(tempfile.gettempdir()) if name.startswith("autograder-")))
    assert len(left) == 2 and all(entries == [] for entries in left.values()), left


@pytest.mark.skipif(resolve_device("auto") != "cpu", reason="the cluster's workers have a GPU here")
def test_each_dask_worker_decides_the_device_for_itself(cluster, toy_course, varied_batch, tmp_path):
    """`--device` is checked by each worker against its own hardware, not by the coordinator: a coordinator
    without a GPU can send `--device cuda` to GPU workers. A worker without one fails its tasks, saying
    why, one row each, and a rerun with `--device auto` grades them there on the CPU."""
    url = f"sqlite:///{tmp_path / 'dask.db'}"
    (tmp_path / "roster.csv").write_text("student_id\nnobody\n")  # nobody handed in nothing: a `missing` row
    common = ["grade", "toy", str(varied_batch), "--course", str(toy_course), "--quiet", "--gradebook", url, "--scheduler", cluster,
              "--roster", str(tmp_path / "roster.csv")]
    assert main([*common, "--device", "cuda"]) == 1  # rows the grader could not grade: exit 1
    rows = by_student(url)
    assert rows["correct"].status == "grader_error" and "no CUDA device is visible" in rows["correct"].message
    assert rows["nobody"].status == "missing"  # judged on the coordinator: nothing to send to a worker
    assert main([*common, "--device", "auto"]) == 0
    rows = by_student(url)
    assert rows["correct"].status == "ok" and rows["correct"].score == 4


def test_an_unreachable_scheduler_is_a_clear_error(toy_course, tmp_path, monkeypatch):
    import autograder.grading.cluster as remote
    from autograder.course import Course
    from autograder.grading.plan import build_plan
    from autograder.course.submissions import discover
    from autograder.grading.batch import grade_batch
    from autograder.sandbox.limits import Limits

    hand_in(tmp_path / "submitted", "correct", student_version(toy_course, CORRECT))
    assignment = Course.at(toy_course).assignment("toy")
    plan = build_plan(assignment, Limits(cell_timeout=10))
    monkeypatch.setattr(remote, "CONNECT_TIMEOUT_SECONDS", 2)
    nowhere = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    with Gradebook(f"sqlite:///{tmp_path / 'g.db'}") as gradebook, pytest.raises(CourseError, match="cannot reach the Dask scheduler"):
        grade_batch(plan, discover(tmp_path / "submitted", assignment), gradebook, scheduler=nowhere)


@pytest.mark.slow
def test_the_sample_submissions_grade_the_same_on_a_dask_cluster(cluster, tmp_path):
    local, remote = f"sqlite:///{tmp_path / 'local.db'}", f"sqlite:///{tmp_path / 'dask.db'}"
    common = ["grade", "deep_mlps", str(REPO / "samples" / "deep_mlps"), "--course", str(REPO), "--quiet"]
    assert main([*common, "--gradebook", local]) == 0
    assert main([*common, "--gradebook", remote, "--scheduler", cluster]) == 0
    outputs = []
    for url, name in ((local, "local.csv"), (remote, "dask.csv")):
        assert main(["export", "deep_mlps", "--course", str(REPO), "--gradebook", url, "--format", "csv", "--output", str(tmp_path / name)]) == 0
        outputs.append((tmp_path / name).read_text())
    assert outputs[0].count("\n") > 8
    assert outputs[1] == outputs[0]


@pytest.mark.slow
def test_a_best_of_versions_batch_on_a_dask_cluster_keeps_the_version_a_local_run_keeps(cluster, toy_course, tmp_path):
    """Issue 17: under counts = "best" every version is a run of its own on the cluster; the coordinator keeps
    one row with the note naming the version (a worker never sees the note)."""
    from datetime import datetime, timezone

    import nbformat

    from autograder.student.submit import submit_notebook

    (toy_course / "autograder.toml").write_text('[assignments.toy]\ncounts = "best"\n')
    inbox = tmp_path / "in"
    for hour, answers in ((9, CORRECT), (10, {})):
        path = tmp_path / f"v{hour}.ipynb"
        nbformat.write(student_version(toy_course, answers), path)
        submit_notebook(path, "ada", inbox, toy_course, now=datetime(2026, 12, 1, hour, tzinfo=timezone.utc))
    local, remote = f"sqlite:///{tmp_path / 'local.db'}", f"sqlite:///{tmp_path / 'dask.db'}"
    common = ["grade", "toy", str(inbox), "--course", str(toy_course), "--quiet"]
    assert main([*common, "--gradebook", local, "--workers", "1"]) == 0
    assert main([*common, "--gradebook", remote, "--scheduler", cluster]) == 0
    kept = {url: by_student(url)["ada"] for url in (local, remote)}
    for row in kept.values():
        assert row.score == 4.0 and row.notes[0].startswith("graded version 1 of 2 (submitted 2026-12-01T09:00:00+00:00)")
    assert kept[local].path == kept[remote].path and kept[local].sha256 == kept[remote].sha256
