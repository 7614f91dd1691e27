"""Killing the grader (SIGKILL, mid-batch) loses nothing, duplicates nothing and leaves nothing running.

The grader runs as `autograder grade` in a subprocess, as a grader would run it, and is killed with
SIGKILL once some submissions are in the gradebook; then the same command runs again to the end.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import psutil
import pytest

from autograder.sandbox import lifeline
from conftest import CORRECT, REPO, TOY_SOLUTIONS, hand_in, student_version, toy_notebook

STUDENTS = 10
PATIENCE_SECONDS = 180  # the machine may be shared; a grader that needs longer than this is a failure


def make_course(root: Path, students: int, answer_prefix: str) -> Path:
    """The toy course with ``students`` submissions whose answer cells start with ``answer_prefix``."""
    (root / "source" / "toy").mkdir(parents=True)
    (root / "solutions").mkdir()
    nbformat.write(toy_notebook(), root / "source" / "toy" / "toy.ipynb")
    (root / "solutions" / "toy.py").write_text(TOY_SOLUTIONS)
    from autograder.course import Course
    from autograder.prepare.publish import release_assignment

    release_assignment(Course.at(root).assignment("toy"))
    for number in range(students):
        answers = dict(CORRECT)
        if number % 3 == 1:
            answers["half"] = "answer_half = 0.4"  # a wrong answer, so scores differ between students
        answers["double"] = answer_prefix + answers["double"]
        hand_in(root / "submitted", f"student{number:02d}", student_version(root, answers))
    return root


def start_grader(course: Path, gradebook: Path, *extra: str, tmpdir: Path | None = None) -> subprocess.Popen:
    command = [sys.executable, "-m", "autograder", "grade", "toy", str(course / "submitted"), "--course", str(course),
               "--gradebook", f"sqlite:///{gradebook}", "--workers", "2", "--quiet", *extra]
    env = dict(os.environ, PYTHONPATH=str(REPO))  # this checkout, whatever is installed
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def finish(grader: subprocess.Popen) -> None:
    _, stderr = grader.communicate(timeout=PATIENCE_SECONDS)
    assert grader.returncode == 0, stderr.decode(errors="replace")


def stored_count(gradebook: Path) -> int:
    try:
        with sqlite3.connect(f"file:{gradebook}?mode=ro", uri=True) as db:
            return db.execute("SELECT count(*) FROM submissions").fetchone()[0]
    except sqlite3.Error:
        return 0  # not created yet


def table(gradebook: Path, query: str) -> list[tuple]:
    with sqlite3.connect(gradebook) as db:
        return db.execute(query).fetchall()


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + PATIENCE_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting until {what}"
        time.sleep(0.05)


def runs_in_progress(grader: subprocess.Popen) -> list[psutil.Process]:
    """Processes below the grader's children: the runs forked from warm workers."""
    try:
        tree = psutil.Process(grader.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return [process for process in tree if process.ppid() != grader.pid]


def runs_in(tmpdir: Path, grader: subprocess.Popen) -> list[psutil.Process]:
    """The grader's processes that work in a scratch directory under ``tmpdir``: the runs."""
    found = []
    for process in runs_in_progress(grader):
        with contextlib.suppress(psutil.Error):
            if Path(process.cwd()).is_relative_to(tmpdir):
                found.append(process)
    return found


def export(course: Path, gradebook: Path) -> list[dict]:
    from autograder.results.export import to_csv
    from autograder.results.gradebook import Gradebook

    with Gradebook(f"sqlite:///{gradebook}") as book:
        return list(csv.DictReader(io.StringIO(to_csv(book, "toy"))))


SUBMISSIONS_QUERY = "SELECT id, student_id, notebook, sha256, score, graded_at FROM submissions ORDER BY student_id"
RESULTS_QUERY = "SELECT s.student_id, r.question, r.score, r.status FROM results r JOIN submissions s ON s.id = r.submission_id ORDER BY 1, 2"


@pytest.fixture(scope="module")
def killed_and_resumed(tmp_path_factory):
    """One batch graded three ways: killed after some rows then resumed, and once cleanly for comparison."""
    course = make_course(tmp_path_factory.mktemp("resume") / "course", STUDENTS, "import time\ntime.sleep(0.5)\n")
    gradebook = course / "killed.db"
    grader = start_grader(course, gradebook)
    wait_until(lambda: stored_count(gradebook) >= 3 or grader.poll() is not None, "three submissions were stored")
    grader.send_signal(signal.SIGKILL)
    grader.wait()
    at_kill = {
        "submissions": table(gradebook, SUBMISSIONS_QUERY),
        "results": table(gradebook, RESULTS_QUERY),
    }
    resumed = start_grader(course, gradebook)
    finish(resumed)
    clean = course / "clean.db"
    finish(start_grader(course, clean))
    return course, gradebook, clean, at_kill


@pytest.mark.slow
def test_the_grader_was_killed_mid_batch(killed_and_resumed):
    _, _, _, at_kill = killed_and_resumed
    assert 3 <= len(at_kill["submissions"]) < STUDENTS, "the kill must land after some rows and before the last"


@pytest.mark.slow
def test_every_submission_stored_before_the_kill_is_complete(killed_and_resumed):
    _, _, _, at_kill = killed_and_resumed
    questions = {}
    for student, question, _score, _status in at_kill["results"]:
        questions.setdefault(student, set()).add(question)
    for _id, student, *_ in at_kill["submissions"]:
        assert questions.get(student) == {"double_test", "mean_rows_test", "half_test", "explain"}, student


@pytest.mark.slow
def test_a_kill_loses_nothing_already_stored_and_the_rerun_skips_it(killed_and_resumed):
    _, gradebook, _, at_kill = killed_and_resumed
    after = {row[1]: row for row in table(gradebook, SUBMISSIONS_QUERY)}
    for row in at_kill["submissions"]:
        # same row id and graded_at: the rerun neither lost nor regraded what the killed grader stored
        assert after[row[1]] == row


@pytest.mark.slow
def test_the_rerun_grades_everything_the_kill_left_undone(killed_and_resumed):
    _, gradebook, _, at_kill = killed_and_resumed
    students = {row[1] for row in table(gradebook, SUBMISSIONS_QUERY)}
    assert students == {f"student{number:02d}" for number in range(STUDENTS)}
    assert len(at_kill["submissions"]) < len(students)


@pytest.mark.slow
def test_a_killed_and_resumed_batch_stores_no_row_twice(killed_and_resumed):
    _, gradebook, _, _ = killed_and_resumed
    assert table(gradebook, "SELECT assignment, student_id, notebook, count(*) FROM submissions GROUP BY 1, 2, 3 HAVING count(*) > 1") == []
    assert table(gradebook, "SELECT submission_id, question, count(*) FROM results GROUP BY 1, 2 HAVING count(*) > 1") == []
    assert table(gradebook, "SELECT count(*) FROM results WHERE submission_id NOT IN (SELECT id FROM submissions)") == [(0,)]
    assert table(gradebook, "SELECT count(*) FROM results") == [(STUDENTS * 4,)]


@pytest.mark.slow
def test_a_killed_and_resumed_batch_exports_what_a_clean_run_exports(killed_and_resumed):
    course, gradebook, clean, _ = killed_and_resumed
    resumed_rows, clean_rows = export(course, gradebook), export(course, clean)
    assert len(clean_rows) == STUDENTS * 4
    assert resumed_rows == clean_rows
    assert {r["score"] for r in clean_rows if r["question"] == "half_test"} == {"0", "1"}


@pytest.fixture(scope="module")
def killed_during_long_runs(tmp_path_factory):
    """A grader killed while its runs sit in 60-second cells: its processes, and its $TMPDIR afterwards."""
    base = tmp_path_factory.mktemp("orphans")
    course = make_course(base / "course", 4, "import time\ntime.sleep(60)\n")
    tmpdir = base / "tmp"  # the grader's own $TMPDIR: what it leaves there is what this grader left
    tmpdir.mkdir()
    gradebook = course / "gradebook.db"
    grader = start_grader(course, gradebook, "--timeout", "120", tmpdir=tmpdir)
    # the gradebook is opened once the reference pass is done: from then on the runs are students'
    wait_until(lambda: gradebook.exists() and len(runs_in(tmpdir, grader)) >= 2 or grader.poll() is not None,
               "two submissions were running")
    time.sleep(2 * lifeline.POLL_SECONDS)  # what starts just before a kill may escape the watchdog (see lifeline)
    processes = psutil.Process(grader.pid).children(recursive=True)
    scratch = sorted(p.name for p in tmpdir.iterdir())
    grader.send_signal(signal.SIGKILL)
    grader.wait()
    return processes, tmpdir, scratch


def still_running(processes: list[psutil.Process]) -> list[psutil.Process]:
    return [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def scratch_left(tmpdir: Path) -> list[str]:
    return sorted(p.name for p in tmpdir.iterdir())


@pytest.mark.slow
def test_a_killed_grader_leaves_no_warm_worker_or_run_behind(killed_during_long_runs):
    processes, _, _ = killed_during_long_runs
    assert len(processes) >= 4, "warm workers and their runs were running when the grader was killed"
    deadline = time.monotonic() + 5  # the runs' own cells would sleep for another minute
    while still_running(processes) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert still_running(processes) == []


@pytest.mark.slow
def test_a_killed_grader_leaves_no_scratch_directory_behind(killed_during_long_runs):
    _, tmpdir, scratch = killed_during_long_runs
    assert any(name.startswith("autograder-scratch-") for name in scratch), scratch
    assert any(name.startswith("autograder-shim-") for name in scratch), scratch  # the package link the sandboxes see
    deadline = time.monotonic() + 5
    while scratch_left(tmpdir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert scratch_left(tmpdir) == []


def test_a_grader_that_finishes_leaves_nothing_in_its_temporary_directory(tmp_path):
    course = make_course(tmp_path / "course", 2, "")
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    finish(start_grader(course, course / "gradebook.db", tmpdir=tmpdir))
    assert stored_count(course / "gradebook.db") == 2
    assert scratch_left(tmpdir) == []
