"""Streams behave as in a kernel: what a cell writes, however it got hold of the stream, is that cell's output.

In the child, ``sys.stdout`` and ``sys.stderr`` are one object each for the whole run, routing every write to
the cell running now (`autograder.sandbox.inside.runner.CellStream`, as ipykernel's ``OutStream``). A logging
handler made in cell 1 keeps the stream of its day; its records of cell 3 must show in cell 3, not in cell 1
(where nbgrader, running a kernel, shows them), and never vanish.
"""

import pytest

from autograder.sandbox.launch import run_job
from autograder.sandbox.limits import Limits
from autograder.sandbox.scratch import fresh_workdir, remove_workdir
from autograder.sandbox.warm import WarmInterpreter


@pytest.fixture(params=["spawned", "warm"])
def run(request, tmp_path):
    worker = WarmInterpreter([], course_root=tmp_path) if request.param == "warm" else None
    workdir = fresh_workdir()

    def execute(*sources):
        cells = [{"index": i, "source": s} for i, s in enumerate(sources)]
        return run_job({"mode": "record", "cells": cells}, workdir, Limits(cell_timeout=20), course_root=tmp_path, worker=worker)

    yield execute
    remove_workdir(workdir)
    if worker:
        worker.close()


def stream(run_result, index: int, name: str) -> str:
    return "".join(o["text"] for o in run_result.cells[index].outputs if o["output_type"] == "stream" and o["name"] == name)


def test_a_log_handler_made_in_one_cell_writes_into_the_cell_that_logs(run):
    result = run(
        "import logging\nlog = logging.getLogger('training')\nlog.addHandler(logging.StreamHandler())\nlog.setLevel(logging.INFO)",
        "x = 1",
        "log.warning('loss diverged at epoch 3')",
        "log.info('done')",
    )
    assert stream(result, 0, "stderr") == ""
    assert stream(result, 2, "stderr") == "loss diverged at epoch 3\n"
    assert stream(result, 3, "stderr") == "done\n"


def test_basic_config_in_the_first_cell_logs_into_later_cells(run):
    result = run("import logging\nlogging.basicConfig(format='%(levelname)s %(message)s')",
                 "logging.warning('learning rate too high')")
    assert stream(result, 1, "stderr") == "WARNING learning rate too high\n"


def test_a_warning_lands_in_the_cell_that_raised_it(run):
    result = run("import warnings", "warnings.warn('deprecated argument', UserWarning)", "print('clean')")
    assert "UserWarning: deprecated argument" in stream(result, 1, "stderr")
    assert stream(result, 2, "stderr") == "" and stream(result, 2, "stdout") == "clean\n"


def test_a_stream_kept_from_an_earlier_cell_prints_into_the_current_one(run):
    result = run("import sys\nout = sys.stdout\nprint('first')", "out.write('second\\n')")
    assert stream(result, 0, "stdout") == "first\n"
    assert stream(result, 1, "stdout") == "second\n"


def test_a_cell_that_replaces_or_closes_sys_stdout_does_not_silence_the_next_cells(run):
    result = run("import io, sys\nsys.stdout = io.StringIO()", "print('visible again')",
                 "sys.stdout.close()", "print('still visible')")
    assert stream(result, 1, "stdout") == "visible again\n"
    assert stream(result, 3, "stdout") == "still visible\n"
