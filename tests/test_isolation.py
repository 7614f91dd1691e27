"""What student code can reach while it runs: not the references, not the grader's environment."""

import os
from pathlib import Path

import pytest

from autograder.sandbox import Limits, WarmWorker, run_job
from autograder.sandbox.launch import fresh_workdir, remove_workdir


@pytest.fixture(params=["spawned", "warm"])
def run(request, tmp_path):
    worker = WarmWorker(["numpy"], course_root=tmp_path) if request.param == "warm" else None
    workdir = fresh_workdir()

    def execute(*sources, limits=Limits(cell_timeout=5)):
        cells = [{"index": i, "source": s} for i, s in enumerate(sources)]
        return run_job({"mode": "record", "cells": cells}, workdir, limits, course_root=tmp_path, worker=worker)

    yield execute
    remove_workdir(workdir)
    if worker:
        worker.close()


def result_of(run_result, index=0):
    end = run_result.cells[index]
    return [o for o in end["outputs"] if o["output_type"] in ("execute_result", "error")][0]


def test_the_solutions_package_cannot_be_imported(run, tmp_path):
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "secret.py").write_text("ANSWER = 42\n")
    outcome = run("import solutions.secret")
    assert result_of(outcome)["ename"] == "ModuleNotFoundError"


def test_the_grader_environment_does_not_leak(run, monkeypatch):
    os.environ["GRADEBOOK_PASSWORD"] = "hunter2"
    try:
        outcome = run("import os\n'GRADEBOOK_PASSWORD' in os.environ")
    finally:
        del os.environ["GRADEBOOK_PASSWORD"]
    assert result_of(outcome)["data"]["text/plain"] == "False"


def test_each_run_starts_from_a_clean_interpreter(run):
    run("import builtins\nbuiltins.leaked = 1\nimport numpy\nnumpy.allclose = lambda *a, **k: True")
    outcome = run("import builtins, numpy\n(hasattr(builtins, 'leaked'), numpy.allclose(0, 1))")
    assert result_of(outcome)["data"]["text/plain"] == "(False, False)"


def test_a_cell_that_runs_too_long_is_stopped_and_the_next_cell_still_runs(run):
    outcome = run("import time\ntime.sleep(30)", "1 + 1", limits=Limits(cell_timeout=1))
    assert outcome.cells[0]["status"] == "timeout"
    assert result_of(outcome, 1)["data"]["text/plain"] == "2"


def test_a_cell_that_swallows_the_timeout_is_killed_from_outside(run):
    source = "import time\nwhile True:\n    try:\n        time.sleep(10)\n    except BaseException:\n        pass"
    outcome = run(source, "1", limits=Limits(cell_timeout=1))
    assert outcome.status == "timeout" and outcome.cells[0]["status"] == "timeout"
    assert 1 not in outcome.cells


def test_a_process_that_dies_is_reported_with_its_cell(run):
    outcome = run("x = 1", "import os\nos._exit(7)", "x")
    assert outcome.status == "crashed" and "exited with code 7" in outcome.message
    assert outcome.cells[1]["status"] == "crashed"


def test_background_processes_do_not_outlive_the_run(run, tmp_path):
    marker = tmp_path / "still-alive"
    outcome = run(f"import subprocess\nsubprocess.Popen(['sh', '-c', 'sleep 3; touch {marker}'])\n'started'")
    assert outcome.finished
    import time

    time.sleep(4)
    assert not marker.exists()


def test_huge_output_keeps_only_head_and_tail(run):
    outcome = run("print('x' * 5_000_000)\nprint('END')", limits=Limits(cell_timeout=10, output_limit=1000))
    text = outcome.cells[0]["outputs"][0]["text"]
    assert len(text) < 2000 and "characters of output dropped" in text and text.rstrip().endswith("END")


def test_the_working_directory_holds_only_what_the_grader_put_there(run):
    outcome = run("import os\nsorted(os.listdir('.'))")
    assert result_of(outcome)["data"]["text/plain"] == "['.home']"
