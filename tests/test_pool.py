"""Warm workers started ahead of a batch: they import what the course imports, they are the ones the
grading threads use, and closing the pool leaves none behind, not even one still starting."""

import threading

import pytest

from autograder.course import Course
from autograder.prepare.manifest import build_manifest
from autograder.sandbox.limits import Limits
from autograder.sandbox.launch import run_job
from autograder.sandbox.scratch import Shim, fresh_workdir, remove_workdir
from autograder.sandbox.pool import WarmPool, heavy_imports, heavy_imports_of_sources
from conftest import REPO
from test_isolation import _processes_mentioning

COURSE = Course.at(REPO)
JOB = {"mode": "record", "cells": [{"index": 0, "source": "import os\nos.getppid()"}]}


@pytest.mark.parametrize("name", COURSE.assignment_names())
def test_the_preload_read_from_the_source_json_covers_what_the_manifests_import(name):
    """Workers start before the plan exists, from the notebooks' raw JSON: they must not miss a library."""
    assignment = COURSE.assignment(name)
    manifests = [build_manifest(name, nb, assignment.read_source(nb), nb) for nb in assignment.notebook_names]
    early = heavy_imports_of_sources(assignment)
    assert set(heavy_imports(manifests)) <= set(early)
    if "torch" in early:
        assert "torch._dynamo" in early  # what torch's first optimizer would otherwise import in every run


def test_a_notebook_that_cannot_be_read_adds_nothing_to_the_preload(toy_course):
    assignment = Course.at(toy_course).assignment("toy")
    assignment.source_notebook_path("toy.ipynb").write_text("{ not json")
    assert heavy_imports_of_sources(assignment) == []


def test_a_prestarted_worker_serves_the_runs_and_outlives_the_thread_that_started_it(tmp_path):
    """bubblewrap's --die-with-parent follows the thread that started it: a starting thread that ended
    would take its worker down, and every batch would start its workers twice."""
    limits = Limits(cell_timeout=10)
    with WarmPool(["numpy"], tmp_path) as pool:
        pool.prestart(1, limits)
        handed_out = []
        grading_thread = threading.Thread(target=lambda: handed_out.append(pool.current()))
        grading_thread.start()
        grading_thread.join()
        worker = handed_out[0]
        assert worker.alive()
        first_process = worker.process
        for _ in range(2):
            workdir = fresh_workdir()
            try:
                outcome = run_job(JOB, workdir, limits, worker=worker)
            finally:
                remove_workdir(workdir)
            assert outcome.finished and outcome.cells[0].status == "ok"
            assert worker.process is first_process and worker.alive()


def test_closing_the_pool_stops_workers_that_are_still_starting(tmp_path):
    marker = tmp_path / "marker-course"  # in the warm interpreters' command line: finds them in /proc
    marker.mkdir()
    pool = WarmPool(["numpy", "torch", "torch._dynamo"], marker)
    pool.prestart(2, Limits())
    pool.close()  # a batch that found nothing to grade: the workers are seconds from ready
    assert _processes_mentioning(str(marker)) == []


def test_the_last_pool_to_close_removes_the_scratch_root_and_the_package_shim(tmp_path):
    """A process that lives on after its batches (a Dask worker) keeps nothing of them in TMPDIR, and may
    never run its atexit handlers; a pool still open keeps both, as does a run still working there."""
    first, second = WarmPool(["numpy"], tmp_path), WarmPool(["numpy"], tmp_path)
    try:
        for pool in (first, second):
            pool.prestart(1, Limits(cell_timeout=10))
            assert pool.current().alive()
        scratch, shim = first.current().scratch, Shim.path()
        first.close()
        assert scratch.is_dir() and shim.is_dir()  # the second pool's worker still works there
        running = fresh_workdir()  # and a run (a reference, a fresh interpreter) that works there
        second.close()
        assert scratch.is_dir() and shim.is_dir()
        remove_workdir(running)
        WarmPool([], tmp_path).close()
        left = sorted(p.name for p in scratch.iterdir()) if scratch.exists() else []
        assert not scratch.exists() and not shim.exists(), f"left in the scratch root (by an earlier test?): {left}"
    finally:
        first.close()
        second.close()
