"""What student code can reach while it runs: not the references, not the grader's environment."""

import json
import os
import random
from pathlib import Path

import pytest

from autograder.sandbox.limits import Limits

from autograder.sandbox.warm import WarmInterpreter

from autograder.sandbox.launch import run_job
from autograder.sandbox.confine import Confinement
from autograder.sandbox.scratch import fresh_workdir, remove_workdir

CONFINEMENT = Confinement.detect()
BWRAP = pytest.mark.skipif(CONFINEMENT.bwrap is None, reason="bubblewrap is not usable here: " + "; ".join(CONFINEMENT.why_not))


@pytest.fixture(params=["spawned", "warm"])
def run(request, tmp_path):
    worker = WarmInterpreter(["numpy"], course_root=tmp_path) if request.param == "warm" else None
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
    return [o for o in end.outputs if o["output_type"] in ("execute_result", "error")][0]


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
    assert outcome.cells[0].status == "timeout"
    assert result_of(outcome, 1)["data"]["text/plain"] == "2"


def test_a_cell_that_swallows_the_timeout_is_killed_from_outside_and_the_rest_runs_in_a_fresh_process(run):
    source = "import time\nwhile True:\n    try:\n        time.sleep(10)\n    except BaseException:\n        pass"
    outcome = run("x = 41", source, "x + 1", limits=Limits(cell_timeout=1))
    assert outcome.status == "timeout" and outcome.cells[1].status == "timeout"
    assert outcome.resumed == 1 and outcome.finished
    assert result_of(outcome, 2)["data"]["text/plain"] == "42", "the earlier cell was replayed before the rest"


def test_a_process_that_dies_is_reported_with_its_cell_and_the_rest_still_runs(run):
    outcome = run("x = 1", "import os\nos._exit(7)", "x")
    assert outcome.status == "crashed" and "exited with code 7" in outcome.message
    assert outcome.cells[1].status == "crashed"
    assert result_of(outcome, 2)["data"]["text/plain"] == "1"


def _processes_mentioning(token: str) -> list[str]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, UnicodeDecodeError):
            continue
        if token in command and "pytest" not in command:
            found.append(command)
    return found


def test_background_processes_do_not_outlive_the_run(run):
    token = str(random.randrange(10**8, 10**9))
    outcome = run(f"import subprocess\nsubprocess.Popen(['sleep', '{token}'])\n"
                  f"subprocess.Popen(['setsid', 'sh', '-c', '(sleep {int(token) + 1} &); exit'], start_new_session=True)\n'started'")
    assert outcome.finished and result_of(outcome)["data"]["text/plain"] == "'started'"
    assert _processes_mentioning(token) == [] and _processes_mentioning(str(int(token) + 1)) == []


def test_a_memory_hog_is_stopped_and_the_rest_still_runs(run):
    outcome = run("import numpy as np\nhog = np.ones(2**30)", "1 + 1", limits=Limits(cell_timeout=30, memory=2**30))
    assert outcome.cells[0].status in ("crashed", "error")
    assert "memory" in outcome.message or "MemoryError" in json.dumps(outcome.cells[0].to_json())
    assert result_of(outcome, 1)["data"]["text/plain"] == "2"


def test_a_fork_storm_is_bounded(run):
    outcome = run("import os\nwhile True:\n    os.fork()", "'still here'", limits=Limits(cell_timeout=20, processes=32))
    assert outcome.cells[0].status == "error" and "BlockingIOError" in json.dumps(outcome.cells[0].to_json())
    assert result_of(outcome, 1)["data"]["text/plain"] == "'still here'"


def test_a_file_larger_than_the_limit_cannot_be_written(run):
    outcome = run("open('big', 'wb').write(b'0' * 2**22)", limits=Limits(cell_timeout=5, file_size=2**20))
    assert result_of(outcome)["ename"] == "OSError" and "File too large" in result_of(outcome)["evalue"]


@pytest.mark.skipif(not CONFINEMENT.separate_uid, reason="runs keep the grader's uid here: " + "; ".join(CONFINEMENT.why_not))
def test_student_code_does_not_run_as_root(run):
    outcome = run("import os\n(os.getuid(), os.geteuid())")
    uid, euid = eval(result_of(outcome)["data"]["text/plain"])
    assert uid != 0 and euid != 0


@BWRAP
def test_in_bubblewrap_the_course_and_the_repository_are_not_visible(run, tmp_path):
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "secret.py").write_text("ANSWER = 42\n")
    repository = Path(__file__).resolve().parent.parent
    outcome = run(f"import os\n(os.path.exists({str(tmp_path)!r}), os.path.exists({str(repository / 'solutions')!r}), "
                  f"os.path.exists({str(repository / 'source')!r}), os.listdir({str(repository)!r}), os.path.exists('/root/.ssh'))")
    # of the repository only the package itself is there, read-only (the child imports it)
    assert result_of(outcome)["data"]["text/plain"] == "(False, False, False, ['autograder'], False)"


@BWRAP
def test_in_bubblewrap_there_is_no_network(run):
    outcome = run("import socket\ns = socket.socket()\ns.settimeout(2)\ns.connect(('1.1.1.1', 80))")
    assert result_of(outcome)["ename"] == "OSError" and "unreachable" in result_of(outcome)["evalue"]


@BWRAP
def test_in_bubblewrap_nothing_a_run_leaves_in_tmp_reaches_the_next_run(run):
    run("open('/tmp/answers.txt', 'w').write('x')\nopen('/dev/shm/answers', 'w').write('x')")
    outcome = run("import os\n(os.path.exists('/tmp/answers.txt'), os.path.exists('/dev/shm/answers'))")
    assert result_of(outcome)["data"]["text/plain"] == "(False, False)"


def test_huge_output_keeps_only_head_and_tail(run):
    outcome = run("print('x' * 5_000_000)\nprint('END')", limits=Limits(cell_timeout=10, output_limit=1000))
    text = outcome.cells[0].outputs[0]["text"]
    assert len(text) < 2000 and "characters of output dropped" in text and text.rstrip().endswith("END")


def test_the_working_directory_holds_only_what_the_grader_put_there(run):
    outcome = run("import os\nsorted(os.listdir('.'))")
    assert result_of(outcome)["data"]["text/plain"] == "['.home']"


def test_grading_threads_starting_together_share_one_scratch_root(monkeypatch):
    """A warm worker's sandbox sees the scratch root it started with: two roots would hide one thread's runs."""
    import threading

    from autograder.sandbox import scratch

    monkeypatch.setattr(scratch, "_scratch_root", None)
    barrier, roots = threading.Barrier(8), []

    def start():
        barrier.wait()
        roots.append(scratch.scratch_root())

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(roots)) == 1


CGROUPS = pytest.mark.skipif(not CONFINEMENT.cgroup_roots, reason="no cgroup this process may create groups in")


@CGROUPS
def test_a_warm_workers_runs_are_born_in_its_cgroups_and_are_the_first_the_oom_killer_takes(tmp_path):
    """The warm process joins its worker's cgroups once, after its imports (so what it holds is not charged
    to the runs); every run it forks starts inside them, with no migration of its own."""
    worker = WarmInterpreter(["numpy"], course_root=tmp_path)
    workdir = fresh_workdir()
    try:
        outcome = run_job({"mode": "record", "cells": [
            {"index": 0, "source": "[line.split(':')[2].strip() for line in open('/proc/self/cgroup') if ':memory:' in line or ':pids:' in line]"},
            {"index": 1, "source": "int(open('/proc/self/oom_score_adj').read())"}]}, workdir, Limits(cell_timeout=10), worker=worker)
        assert worker.in_cgroup
        groups = eval(result_of(outcome, 0)["data"]["text/plain"])
        assert len(groups) == len(worker.cgroup.directories()) and all(g.endswith(worker.cgroup.directories()[0].name) for g in groups)
        assert result_of(outcome, 1)["data"]["text/plain"] == "500"
        assert int((worker.cgroup.memory / "memory.usage_in_bytes").read_text()) < 64 * 2**20 if worker.cgroup.memory else True
    finally:
        remove_workdir(workdir)
        worker.close()


@CGROUPS
def test_many_small_memory_hogs_are_killed_before_the_warm_worker_they_share_a_cgroup_with(tmp_path):
    """A warm worker holding torch is larger than each of many small processes of a run; the kernel would
    take it first, were the runs not marked to go first."""
    worker = WarmInterpreter(["numpy", "torch"], course_root=tmp_path)
    workdir = fresh_workdir()
    hogs = ("import os, time\nkids = []\nfor _ in range(24):\n    pid = os.fork()\n    if pid == 0:\n"
            "        block = b'x' * (48 * 2**20)\n        time.sleep(3)\n        os._exit(0)\n    kids.append(pid)\n"
            "codes = [os.waitstatus_to_exitcode(os.waitpid(k, 0)[1]) for k in kids]\ncodes.count(-9)")
    try:
        limits = Limits(cell_timeout=30, memory=512 * 2**20)
        outcome = run_job({"mode": "record", "cells": [{"index": 0, "source": "import numpy"}, {"index": 1, "source": hogs}]},
                          workdir, limits, worker=worker)
        first = worker.process
        killed = int(result_of(outcome, 1)["data"]["text/plain"])
        assert killed > 0  # 24 x 48 MiB do not fit in 512 MiB: the kernel killed some of them...
        again = run_job({"mode": "record", "cells": [{"index": 0, "source": "'still here'"}]}, workdir, limits, worker=worker)
        assert again.finished and worker.process is first and worker.alive()  # ...and not the warm worker
    finally:
        remove_workdir(workdir)
        worker.close()


def test_a_run_has_the_garbage_collector_on(run):
    """The warm worker imports with the collector off (and freezes what it imported); its runs must not notice."""
    outcome = run("import gc\ngc.isenabled(), gc.get_threshold()[0] > 0")
    assert result_of(outcome)["data"]["text/plain"] == "(True, True)"


def test_a_run_cannot_read_the_course_path_from_its_command_line_or_its_import_path(run, tmp_path):
    """The course's location tells a run where solutions/ is: it is in neither its argv nor sys.path."""
    outcome = run("import sys\nprint(open('/proc/self/cmdline', 'rb').read().decode(errors='replace'))\n"
                  "print(' '.join(sys.orig_argv))\nprint(sys.path)")
    text = "".join(o.get("text", "") for o in outcome.cells[0].outputs if o.get("output_type") == "stream")
    assert text and str(tmp_path) not in text and str(tmp_path.resolve()) not in text


#: An honest big model: a 60 MB value recorded by a check (a state_dict in check_metric is this size).
BIG_VALUE_MB = 60


def test_a_60_mb_value_recorded_by_a_check_arrives_intact_without_costing_the_cell_its_time(tmp_path):
    import numpy as np

    from autograder.wire import values

    elements = BIG_VALUE_MB * 10**6 // 4
    build = f"import numpy as np\nbig = (np.arange({elements}, dtype=np.float32) * np.float32(0.5))"
    record = "from autograder import checks as ag\nag.check_close('model.weights', big)"
    cells = [{"index": 0, "source": build}, {"index": 1, "source": record, "harness_exec": True, "kind": "test", "seed": 0}]
    worker = WarmInterpreter(["numpy"], course_root=tmp_path)
    workdir = fresh_workdir()
    try:
        # a cell limit the transfer alone would exceed on a slow, loaded machine if it were charged to the cell
        outcome = run_job({"mode": "record", "cells": cells}, workdir, Limits(cell_timeout=5, total_timeout=120, memory=4 * 2**30),
                          worker=worker)
    finally:
        remove_workdir(workdir)
        worker.close()
    assert outcome.finished and outcome.cells[1].ok, (outcome.message, outcome.cells[1].error)
    ((index, record),) = outcome.checks
    received = values.decode(record.value).data
    assert index == 1 and received.dtype == np.float32 and received.shape == (elements,)
    assert np.array_equal(received, np.arange(elements, dtype=np.float32) * np.float32(0.5))


def test_the_grader_reassembles_events_and_their_binary_frames_from_any_chunking():
    import json as json_module

    from autograder.sandbox.launch import Framer
    from autograder.wire.protocol import CheckEvent, CheckRecord

    frame = bytes(range(256)) * 1000
    good = CheckEvent(2, CheckRecord("w", value={"$": "ndarray", "npy": {"$blob": 0}}, blobs=(frame,)))
    stream = (json_module.dumps(good.to_json()) + "\n").encode() + frame + b'{"event": "cell_end", "index": 2, "status": "ok"}\n'
    for size in (1, 7, 4096, len(stream)):
        framer, events = Framer(), []
        for start in range(0, len(stream), size):
            events += [event for _, event, _ in framer.feed(stream[start:start + size], 0.0)]
        check, end = events
        assert check.record.value["npy"] == frame and end.index == 2
    lying = {**good.to_json(), "blobs": [len(frame), 3]}  # a frame the value never names: the event is malformed
    (_, event, _), = Framer().feed((json_module.dumps(lying) + "\n").encode() + frame + b"abc", 0.0)
    assert event is None
