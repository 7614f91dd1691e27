"""Nothing a run creates outlives it: IPC objects, shared-memory files, memory charged to the worker's cgroup.

A System V segment is not freed when the process that made it exits; made in a warm worker's run, it stayed
charged to the worker's memory cgroup, and every student graded after it on that worker was killed for
"using more than 1 GiB" (issue 12). These tests make the leftovers for real (600 MB of touched System V
shared memory, a POSIX shared-memory file, a detached semaphore set) and grade honest submissions after
them on the same warm worker, under a 1 GiB limit.
"""

from __future__ import annotations

import pytest

from autograder.course import Course
from autograder.course.submissions import discover
from autograder.grading.batch import grade_batch
from autograder.grading.plan import build_plan
from autograder.results.gradebook import Gradebook
from autograder.sandbox.confine import Confinement
from autograder.sandbox.launch import run_job
from autograder.sandbox.limits import Limits
from autograder.sandbox.scratch import fresh_workdir, remove_workdir
from autograder.sandbox.warm import MEMORY_TOLERANCE_BYTES, WarmInterpreter
from conftest import CORRECT, build_toy_course, hand_in, student_version

CONFINEMENT = Confinement.detect()
MEMORY_CGROUP = pytest.mark.skipif("memory" not in CONFINEMENT.cgroup_roots,
                                   reason="no memory cgroup here: the 1 GiB limit would be an rlimit per process")
BWRAP = pytest.mark.skipif(CONFINEMENT.bwrap is None, reason="POSIX shared memory is the machine's without bubblewrap: "
                           + "; ".join(CONFINEMENT.why_not))

#: 600 MB of System V shared memory, every page touched, detached but never removed.
SYSV_SEGMENT = (
    "import ctypes\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "libc.shmat.restype = ctypes.c_void_p\n"
    "size = 600 * 2**20\n"
    "segment = libc.shmget(0, ctypes.c_size_t(size), 0o1000 | 0o600)  # IPC_PRIVATE, IPC_CREAT\n"
    "address = libc.shmat(segment, None, 0)\n"
    "ctypes.memset(address, 1, size)\n"
    "libc.shmdt(ctypes.c_void_p(address))\n"
    "segment >= 0"
)
#: A 200 MB POSIX shared-memory file, a semaphore set nobody removes, a file in /tmp.
POSIX_SHM_AND_SEMAPHORE = (
    "import ctypes, mmap, os\n"
    "fd = os.open('/dev/shm/leftover', os.O_CREAT | os.O_RDWR, 0o600)\n"
    "os.ftruncate(fd, 200 * 2**20)\n"
    "mmap.mmap(fd, 200 * 2**20).write(b'x' * (200 * 2**20))\n"
    "semaphores = ctypes.CDLL(None, use_errno=True).semget(0, 1, 0o1000 | 0o600)\n"
    "open('/tmp/leftover', 'w').write('x')\n"
    "semaphores >= 0"
)
#: What an honest run sees of earlier runs.
LOOK = ("import os\n(len(open('/proc/sysvipc/shm').read().splitlines()) - 1, len(open('/proc/sysvipc/sem').read().splitlines()) - 1,"
        " os.listdir('/dev/shm'), os.path.exists('/tmp/leftover'))")
#: An honest cell that needs half of the 1 GiB limit for a moment.
HONEST = "import numpy as np\nbig = np.ones(60 * 2**20)  # 480 MiB, every page written\nfloat(big[::4096].sum())"


def result_of(outcome, index=0):
    end = outcome.cells[index]
    return [o for o in end.outputs if o["output_type"] in ("execute_result", "error")][0]


@pytest.fixture
def warm(tmp_path):
    worker = WarmInterpreter(["numpy"], course_root=tmp_path)
    workdir = fresh_workdir()

    def execute(source, limits=Limits(cell_timeout=60, memory=2**30)):
        return run_job({"mode": "record", "cells": [{"index": 0, "source": source}]}, workdir, limits, worker=worker)

    yield worker, execute
    remove_workdir(workdir)
    worker.close()


@MEMORY_CGROUP
def test_a_system_v_segment_does_not_outlive_its_run_nor_cost_the_next_ones(warm):
    worker, execute = warm
    assert result_of(execute(SYSV_SEGMENT))["data"]["text/plain"] == "True"
    assert worker.memory_excess_bytes() <= MEMORY_TOLERANCE_BYTES
    for _ in range(2):
        honest = execute(HONEST)
        assert honest.status == "ok", honest.message
        assert result_of(honest)["data"]["text/plain"] == str(float(60 * 2**20 // 4096))
    assert eval(result_of(execute(LOOK))["data"]["text/plain"])[0] == 0


@MEMORY_CGROUP
@BWRAP
def test_posix_shared_memory_a_semaphore_and_tmp_files_do_not_outlive_their_run(warm):
    worker, execute = warm
    assert result_of(execute(POSIX_SHM_AND_SEMAPHORE))["data"]["text/plain"] == "True"
    assert eval(result_of(execute(LOOK))["data"]["text/plain"]) == (0, 0, [], False)
    assert execute(HONEST).status == "ok"


@MEMORY_CGROUP
def test_a_worker_whose_cgroup_stays_charged_is_recycled_before_the_next_run(warm, monkeypatch):
    """The net under the cleanup: with the cleanup off, the segment stays, and the worker restarts itself."""
    worker, execute = warm
    monkeypatch.setattr(WarmInterpreter, "clean_leftovers", False)
    execute(SYSV_SEGMENT)
    assert worker.recycled == 1 and not worker.alive()
    honest = execute(HONEST)
    assert honest.status == "ok" and worker.memory_excess_bytes() <= MEMORY_TOLERANCE_BYTES


def test_tempfile_works_in_a_warm_run(tmp_path):
    """The warm interpreter's own TMPDIR is not the run's: tempfile must not keep what it found there
    (torch._dynamo, preloaded for every torch course, asks tempfile for its directory at import)."""
    pytest.importorskip("torch")
    worker = WarmInterpreter(["numpy", "torch", "torch._dynamo"], course_root=tmp_path)
    workdir = fresh_workdir()
    try:
        outcome = run_job({"mode": "record", "cells": [{"index": 0, "source": TEMPFILE}]}, workdir, Limits(cell_timeout=60), worker=worker)
    finally:
        remove_workdir(workdir)
        worker.close()
    assert outcome.status == "ok", outcome.message
    assert result_of(outcome)["data"]["text/plain"] == "(True, True, True)", outcome.cells[0].outputs


TEMPFILE = ("import tempfile, os\nwith tempfile.NamedTemporaryFile() as f:\n    f.write(b'x')\n"
                      "d = tempfile.mkdtemp()\n(os.path.isdir(d), d.startswith(os.environ['TMPDIR']), tempfile.gettempdir() == os.environ['TMPDIR'])")


def test_a_run_cannot_make_a_posix_message_queue(warm):
    """mq_open'ed queues outlive their run and cannot be listed to be removed: a run may make none."""
    _, execute = warm
    outcome = execute("import ctypes\nrt = ctypes.CDLL('librt.so.1', use_errno=True)\n"
                      "q = rt.mq_open(b'/leftover', 0o100 | 0o2, 0o600, None)\n(q, ctypes.get_errno() != 0)")
    assert result_of(outcome)["data"]["text/plain"] == "(-1, True)"


# ------------------------------------------------------------------------------------- graded end to end

HOSTILE = {
    "a_sysv_segment": SYSV_SEGMENT,
    "b_posix_shm_and_semaphore": POSIX_SHM_AND_SEMAPHORE,
}
HONEST_STUDENTS = ("c_honest", "d_honest", "e_honest")
FULL = {"double_test": 2, "mean_rows_test": 1, "half_test": 1, "explain": 0}


def _grade(tmp_path, hostile: dict[str, str]):
    root = build_toy_course(tmp_path / "course")
    submissions = tmp_path / "submitted"
    for student, attack in hostile.items():
        hand_in(submissions, student, student_version(root, {**CORRECT, "double": attack + "\n" + CORRECT["double"]}))
    for student in HONEST_STUDENTS:
        hand_in(submissions, student, student_version(root, {**CORRECT, "double": HONEST + "\ndel big\n" + CORRECT["double"]}))
    assignment = Course.at(root).assignment("toy")
    plan = build_plan(assignment, Limits(cell_timeout=60, total_timeout=300, memory=2**30))
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        summary = grade_batch(plan, discover(submissions, assignment), gradebook, workers=1)  # one warm worker for all
    return {s.student_id: s for s in summary.graded}


@MEMORY_CGROUP
def test_honest_students_graded_after_leftovers_on_the_same_worker_score_full_marks(tmp_path):
    hostile = dict(HOSTILE) if CONFINEMENT.bwrap else {"a_sysv_segment": SYSV_SEGMENT}
    graded = _grade(tmp_path, hostile)
    for student in [*hostile, *HONEST_STUDENTS]:
        assert {r.question: r.score for r in graded[student].results} == FULL, (student, graded[student].message)
        assert graded[student].status == "ok", (student, graded[student].message)


@MEMORY_CGROUP
def test_a_student_killed_for_memory_an_earlier_run_left_is_graded_again_on_a_fresh_interpreter(tmp_path, monkeypatch):
    """The last net: no cleanup, no recycling; the honest student after the segment is killed for memory,
    and graded again on a fresh interpreter, and never reported as having crashed."""
    from autograder.grading import submission as grading

    monkeypatch.setattr(WarmInterpreter, "clean_leftovers", False)
    monkeypatch.setattr(WarmInterpreter, "recycle_when_dirty", False)
    runs = []
    run = grading._run
    monkeypatch.setattr(grading, "_run", lambda plan, sub, *rest: runs.append(sub.student_id) or run(plan, sub, *rest))
    graded = _grade(tmp_path, {"a_sysv_segment": SYSV_SEGMENT})
    for student in HONEST_STUDENTS:
        assert {r.question: r.score for r in graded[student].results} == FULL, (student, graded[student].message)
        assert graded[student].status == "ok", (student, graded[student].message)
    if CONFINEMENT.bwrap:  # outside bubblewrap a run has an IPC namespace of its own: it leaves nothing to be hurt by
        assert runs == ["a_sysv_segment", "c_honest", "c_honest", "d_honest", "e_honest"]
