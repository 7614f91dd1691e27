"""Grading where courses already are: nbgrader's exchange, a roster of who should have handed in.

Discovery only (no runs): nbgrader's ``inbound/`` layout with several hand-ins per student, ``submitted/``
from ``nbgrader collect``, who gets a row without and with a roster, and the roster's columns.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from autograder.course import Course, CourseError
from autograder.course.roster import read_roster
from autograder.course.submissions import ProblemKind, discover, exchange_name, not_on_roster

from conftest import CORRECT, hand_in, student_version


def exchange_hand_in(inbound: Path, student: str, assignment: str, stamp: str, notebook, random: str | None = "a1b2",
                     timestamp_txt: bool = True, name: str = "toy.ipynb") -> Path:
    """What ``nbgrader submit`` writes: ``<id>+<assignment>+<timestamp>+<random>/`` with the notebook and timestamp.txt."""
    folder = inbound / "+".join([student, assignment, stamp] + ([random] if random else []))
    folder.mkdir(parents=True)
    nbformat.write(notebook, folder / name)
    if timestamp_txt:
        (folder / "timestamp.txt").write_text(stamp)
    return folder


@pytest.fixture
def exchange(toy_course, tmp_path) -> Path:
    """``<exchange>/<course_id>/`` with inbound/ (several hand-ins per student, another assignment's) and outbound/."""
    course_dir = tmp_path / "exchange" / "ml101"
    inbound = course_dir / "inbound"
    (course_dir / "outbound" / "toy").mkdir(parents=True)
    right, wrong = student_version(toy_course, CORRECT), student_version(toy_course, {})
    exchange_hand_in(inbound, "alice", "toy", "2026-12-01 09:00:00.000000 UTC", wrong)
    exchange_hand_in(inbound, "alice", "toy", "2026-12-01 11:30:00.250000 UTC", right, random="ff00")
    exchange_hand_in(inbound, "alice", "toy", "2026-12-01 10:00:00.000000 UTC", wrong)
    exchange_hand_in(inbound, "bob", "toy", "2026-12-02 08:00:00.000000 UTC", wrong, random=None, timestamp_txt=False)
    exchange_hand_in(inbound, "bob", "other", "2026-12-03 08:00:00.000000 UTC", right)  # another assignment
    exchange_hand_in(inbound, "a+b", "toy", "2026-12-01 12:00:00.000000 UTC", right)  # submit refuses + in an id; collect splits from the right, so do we
    (inbound / "stray.txt").write_text("not a hand-in")
    return course_dir


def test_an_exchange_folder_name_is_split_from_the_right_as_nbgrader_collect_does():
    assert exchange_name("alice+toy+2026-12-01 09:00:00.000000 UTC+a1b2") == ("alice", "toy", "2026-12-01 09:00:00.000000 UTC")
    assert exchange_name("alice+toy+2026-12-01 09:00:00.000000 UTC") == ("alice", "toy", "2026-12-01 09:00:00.000000 UTC")
    assert exchange_name("a+b+toy+2026-12-01 09:00:00 UTC+r") == ("a+b", "toy", "2026-12-01 09:00:00 UTC")
    assert exchange_name("alice") is None and exchange_name("alice+toy+yesterday+r") is None


@pytest.mark.parametrize("given", ["course", "inbound"])
def test_in_nbgrader_s_exchange_each_student_s_latest_hand_in_counts_with_its_time(exchange, toy_course, given):
    where = exchange if given == "course" else exchange / "inbound"
    found = {s.student_id: s for s in discover(where, Course.at(toy_course).assignment("toy"))}
    assert sorted(found) == ["a+b", "alice", "bob"]  # bob's hand-in of `other` and stray.txt are not rows
    alice = found["alice"]
    assert alice.path is not None and alice.path.parent.name == "alice+toy+2026-12-01 11:30:00.250000 UTC+ff00"
    assert alice.submitted_at == "2026-12-01 11:30:00.250000 UTC"  # its timestamp.txt
    assert found["bob"].submitted_at == "2026-12-02 08:00:00.000000 UTC"  # no timestamp.txt: the folder name's


def test_the_exchange_s_submission_time_counts_for_the_late_penalty(exchange, toy_course):
    from autograder.course.late import parse_submission_time

    [bob] = [s for s in discover(exchange, Course.at(toy_course).assignment("toy")) if s.student_id == "bob"]
    assert parse_submission_time(bob.submitted_at).isoformat() == "2026-12-02T08:00:00+00:00"


def test_a_link_as_the_latest_exchange_hand_in_is_an_invalid_row(exchange, toy_course, tmp_path):
    inbound = exchange / "inbound"
    (inbound / "bob+toy+2026-12-09 00:00:00.000000 UTC+zz").symlink_to(inbound / "alice+toy+2026-12-01 11:30:00.250000 UTC+ff00")
    [bob] = [s for s in discover(exchange, Course.at(toy_course).assignment("toy")) if s.student_id == "bob"]
    assert bob.path is None and bob.kind is ProblemKind.INVALID and "symbolic link" in bob.problem


def test_nbgrader_collect_s_submitted_folder_is_still_read_with_its_timestamp(toy_course, tmp_path):
    submitted = tmp_path / "submitted"
    folder = submitted / "carol" / "toy"
    folder.mkdir(parents=True)
    nbformat.write(student_version(toy_course, CORRECT), folder / "toy.ipynb")
    (folder / "timestamp.txt").write_text("2026-12-01 10:00:00.000000 UTC")
    (submitted / "dave" / "ps2").mkdir(parents=True)  # dave handed in only another assignment
    found = discover(submitted, Course.at(toy_course).assignment("toy"))
    assert [(s.student_id, s.path.name, s.submitted_at) for s in found] == [("carol", "toy.ipynb", "2026-12-01 10:00:00.000000 UTC")]


def test_without_a_roster_a_folder_with_nothing_handed_in_is_not_a_row(toy_course, tmp_path):
    inbox = tmp_path / "in"
    hand_in(inbox, "alice", student_version(toy_course, CORRECT))
    (inbox / "nobody").mkdir()
    (inbox / "notes_only").mkdir()
    (inbox / "notes_only" / "README.txt").write_text("I will hand in tomorrow")
    assert [s.student_id for s in discover(inbox, Course.at(toy_course).assignment("toy"))] == ["alice"]


def test_a_folder_with_a_wrongly_named_notebook_is_an_invalid_row_naming_the_expected_file(toy_course, tmp_path):
    inbox = tmp_path / "in"
    hand_in(inbox, "two", student_version(toy_course, CORRECT), name="draft.ipynb")
    hand_in(inbox, "two", student_version(toy_course, CORRECT), name="final.ipynb")  # which one? not guessed
    (inbox / "script").mkdir()
    (inbox / "script" / "toy.py").write_text("def double(x): ...")
    hand_in(inbox, "renamed", student_version(toy_course, CORRECT), name="toy (1).ipynb")  # one notebook: graded as it
    found = {s.student_id: s for s in discover(inbox, Course.at(toy_course).assignment("toy"))}
    assert found["two"].kind is ProblemKind.INVALID
    assert "no toy.ipynb" in found["two"].problem and "draft.ipynb, final.ipynb" in found["two"].problem
    assert "name the notebook toy.ipynb" in found["two"].problem
    assert found["script"].kind is ProblemKind.INVALID and "toy.py" in found["script"].problem
    assert found["renamed"].path is not None


def test_with_a_roster_a_student_who_handed_in_nothing_gets_a_missing_row(toy_course, tmp_path):
    inbox = tmp_path / "in"
    hand_in(inbox, "alice", student_version(toy_course, CORRECT))
    (inbox / "nobody").mkdir()
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name\nalice,Alice\nnobody,No Body\nzoe,Zoe\n")
    students = read_roster(roster)
    found = {s.student_id: s for s in discover(inbox, Course.at(toy_course).assignment("toy"), roster=students)}
    assert sorted(found) == ["alice", "nobody", "zoe"]
    assert found["zoe"].kind is ProblemKind.MISSING and found["zoe"].path is None
    assert "nothing handed in" in found["zoe"].problem and found["nobody"].kind is ProblemKind.MISSING
    assert found["alice"].path is not None


def test_canvas_s_gradebook_export_is_a_roster_matched_by_sis_login_id_or_id(toy_course, tmp_path):
    roster = tmp_path / "canvas.csv"
    roster.write_text("Student,ID,SIS User ID,SIS Login ID,Section,Toy (1)\n"
                      "    Points Possible,,,,,4\n"
                      '"Lovelace, Ada",101,S1,ada,Sec A,\n'
                      '"Babbage, Charles",102,S2,,Sec A,\n'
                      '"Hopper, Grace",103,S3,grace,Sec B,\n')
    students = read_roster(roster)
    assert [s.student_id for s in students] == ["ada", "S2", "grace"]
    inbox = tmp_path / "in"
    hand_in(inbox, "ada", student_version(toy_course, CORRECT))
    hand_in(inbox, "102", student_version(toy_course, CORRECT))  # Charles's folder named by his Canvas ID
    hand_in(inbox, "eve", student_version(toy_course, CORRECT))  # not on the roster: graded, and named by not_on_roster
    found = discover(inbox, Course.at(toy_course).assignment("toy"), roster=students)
    assert sorted((s.student_id, s.kind) for s in found) == [("102", None), ("ada", None), ("eve", None),
                                                             ("grace", ProblemKind.MISSING)]
    assert not_on_roster(found, students) == ["eve"]


def test_a_roster_without_an_id_column_is_refused_with_the_columns_it_needs(tmp_path):
    roster = tmp_path / "names.csv"
    roster.write_text("name,email\nAda,ada@example.org\n")
    with pytest.raises(CourseError, match="student_id.*SIS Login ID"):
        read_roster(roster)


def nbgrader_submit(exchange: Path, home: Path, student: str, notebook) -> None:
    """A student's ``nbgrader submit toy --course ml101`` (what the lab extension's Submit button runs)."""
    import subprocess
    import sys

    (home / "toy").mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, home / "toy" / "toy.ipynb")
    done = subprocess.run([sys.executable, "-m", "nbgrader", "submit", "toy", "--course", "ml101", f"--Exchange.root={exchange}",
                           f"--CourseDirectory.student_id={student}"], cwd=home, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_grade_reads_what_nbgrader_submit_left_in_the_exchange_latest_hand_in_and_roster_included(toy_course, tmp_path):
    from autograder.cli import main
    from autograder.results.gradebook import Gradebook

    exchange = tmp_path / "exchange"
    (exchange / "ml101" / "inbound").mkdir(parents=True)
    (exchange / "ml101" / "outbound" / "toy").mkdir(parents=True)
    (exchange / "ml101" / "inbound").chmod(0o1777)  # as nbgrader's docs set it up: every student writes there
    nbgrader_submit(exchange, tmp_path / "alice", "alice", student_version(toy_course, {}))  # first, untouched
    nbgrader_submit(exchange, tmp_path / "alice", "alice", student_version(toy_course, CORRECT))  # then right: this counts
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id\nalice\nbob\n")
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    assert main(["grade", "toy", str(exchange / "ml101"), "--course", str(toy_course), "--gradebook", url, "--roster", str(roster),
                 "--quiet", "--workers", "1"]) == 0
    with Gradebook(url) as gradebook:
        rows = {s.student_id: s for s in gradebook.submissions("toy")}
    assert sorted(rows) == ["alice", "bob"]
    assert rows["alice"].status == "ok" and sum(r.score or 0 for r in rows["alice"].results) == 4
    assert rows["alice"].submitted_at.endswith(" UTC") and "+" in rows["alice"].path  # the exchange folder's time and path
    assert rows["bob"].status == "missing"
    # nbgrader collect copies the same latest hand-in to submitted/<student>/toy/, which grade reads as well
    import subprocess
    import sys

    collected = tmp_path / "instructor"
    collected.mkdir()
    done = subprocess.run([sys.executable, "-m", "nbgrader", "collect", "toy", "--course", "ml101", f"--Exchange.root={exchange}",
                           f"--CourseDirectory.root={collected}"], cwd=collected, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    [alice] = discover(collected / "submitted", Course.at(toy_course).assignment("toy"))
    assert (alice.student_id, alice.submitted_at) == ("alice", rows["alice"].submitted_at)
    assert alice.path.read_bytes() == Path(rows["alice"].path).read_bytes()


def test_the_exchange_root_itself_is_refused_with_the_course_folder_to_give(exchange, toy_course):
    with pytest.raises(CourseError, match="nbgrader's exchange root.*ml101"):
        discover(exchange.parent, Course.at(toy_course).assignment("toy"))


def test_a_drop_folder_with_a_student_called_inbound_is_not_taken_for_the_exchange(toy_course, tmp_path):
    inbox = tmp_path / "in"
    hand_in(inbox, "inbound", student_version(toy_course, CORRECT))
    hand_in(inbox, "alice", student_version(toy_course, CORRECT))
    assert sorted(s.student_id for s in discover(inbox, Course.at(toy_course).assignment("toy"))) == ["alice", "inbound"]
