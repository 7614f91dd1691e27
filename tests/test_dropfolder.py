"""A hostile drop folder: links, huge and garbled files, undecodable names; and submit keeps every version.

One batch grades every hostile entry next to two honest students: it must finish, give each hostile entry
one row saying why (or cap what it reads), and grade the honest students as usual.
"""

import csv
import io
import json
import os
from datetime import datetime, timezone
from pathlib import Path

import nbformat
import pytest

from autograder.course import Course
from autograder.course.late import load_deadlines
from autograder.course.submissions import MAX_TIMESTAMP_BYTES, ProblemKind, discover, file_hash, read_timestamp
from autograder.grading.batch import grade_batch
from autograder.grading.plan import build_plan
from autograder.grading.submission import Invalid, read_notebook
from autograder.results.export import gradescope_results, to_csv
from autograder.results.gradebook import Gradebook
from autograder.results.totals import student_totals
from autograder.sandbox.limits import Limits
from autograder.student.submit import submit_notebook
from conftest import CORRECT, build_toy_course, hand_in, student_version

UNDECODABLE = b"caf\xe9"  # Latin-1 "café": not UTF-8
GIB = 1024 ** 3
CONFIG = ('[late]\npolicy = "per_day"\npercent_per_day = 10\nmax_percent = 50\n'
          '[assignments.toy]\ndue = 2026-12-01T23:59:00Z\n')


def stamp(folder: Path, text: str = "2026-12-01T10:00:00+00:00") -> None:
    (folder / "timestamp.txt").write_text(text + "\n")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The course, the drop folder and the gradebook after one batch over every hostile entry."""
    base = tmp_path_factory.mktemp("dropfolder")
    course = build_toy_course(base / "course")
    (course / "autograder.toml").write_text(CONFIG)
    inbox = base / "submitted"
    right = student_version(course, CORRECT)
    wrong = student_version(course, {})

    alice = hand_in(inbox, "alice", right)  # honest, full marks
    stamp(alice.parent)
    hand_in(inbox, "bob", wrong)  # honest, no answers
    stamp(inbox / "bob")

    (inbox / "eve").mkdir()
    (inbox / "eve" / "toy.ipynb").symlink_to(alice)  # alice's work
    stamp(inbox / "eve")
    (inbox / "mallory").mkdir()
    (inbox / "mallory" / "toy.ipynb").symlink_to(course / "source" / "toy" / "toy.ipynb")  # the solutions
    (inbox / "trudy").symlink_to(inbox / "alice", target_is_directory=True)  # the whole folder
    (inbox / "walter.ipynb").symlink_to(alice)  # single-file layout
    hand_in(inbox, "oscar", right)
    (inbox / "oscar" / "timestamp.txt").symlink_to(alice.parent / "timestamp.txt")
    hand_in(inbox, "peggy", right)
    with open(inbox / "peggy" / "timestamp.txt", "wb") as sparse:
        sparse.truncate(3 * GIB)  # 3 GiB that take no disk: reading it whole costs 3 GiB of memory
    hand_in(inbox, "gina", right)
    stamp(inbox / "gina", "the day before the deadline, honest")
    os.mkdir(os.fsencode(inbox) + b"/" + UNDECODABLE)
    nbformat.write(right, os.fsdecode(os.fsencode(inbox) + b"/" + UNDECODABLE + b"/toy.ipynb"))

    assignment = Course.at(course).assignment("toy")
    found = discover(inbox, assignment)
    with Gradebook(f"sqlite:///{base / 'gradebook.db'}") as gradebook:
        grade_batch(build_plan(assignment, Limits(cell_timeout=10)), found, gradebook, workers=2)
        rows = {s.student_id: s for s in gradebook.submissions("toy")}
        totals = {t.student_id: t for t in student_totals(gradebook, "toy", load_deadlines(course)["toy"])}
        exported = list(csv.DictReader(io.StringIO(to_csv(gradebook, "toy"))))
        views = {student: json.dumps(view) for (student, _notebook), view in gradebook.student_views("toy").items()}
    return {"found": found, "rows": rows, "totals": totals, "csv": exported, "views": views, "course": course}


def test_the_batch_finishes_and_the_honest_students_are_graded_as_usual(graded):
    rows = graded["rows"]
    assert (rows["alice"].status, rows["alice"].score) == ("ok", 4.0)
    assert (rows["bob"].status, rows["bob"].score) == ("ok", 0.0)
    assert len(rows) == 10


def test_a_notebook_linked_to_another_students_file_is_one_invalid_row_without_her_score_or_answers(graded):
    eve = graded["rows"]["eve"]
    assert (eve.status, eve.score) == ("invalid", 0.0)
    assert "eve/toy.ipynb is a symbolic link; hand in the notebook file itself" in eve.message
    assert "dtype=float) * 2" in graded["views"]["alice"]  # alice's answer, on her own page
    assert "dtype=float) * 2" not in graded["views"].get("eve", "")
    assert [r["student_id"] for r in graded["csv"]].count("eve") == 4  # one row per question, all invalid
    assert {r["status"] for r in graded["csv"] if r["student_id"] == "eve"} == {"invalid"}


def test_a_notebook_linked_to_source_gets_no_marks_and_shows_no_solution(graded):
    mallory = graded["rows"]["mallory"]
    assert (mallory.status, mallory.score) == ("invalid", 0.0)
    assert "is a symbolic link" in mallory.message
    assert "BEGIN SOLUTION" not in graded["views"].get("mallory", "")
    assert "dtype=float).mean(axis=1)" not in graded["views"].get("mallory", "")


def test_a_linked_student_folder_and_a_linked_single_file_are_invalid(graded):
    rows = graded["rows"]
    assert (rows["trudy"].status, rows["trudy"].score) == ("invalid", 0.0)
    assert "submitted/trudy is a symbolic link; hand in the folder itself" in rows["trudy"].message
    assert (rows["walter"].status, rows["walter"].score) == ("invalid", 0.0)
    assert "walter.ipynb is a symbolic link" in rows["walter"].message


def test_a_linked_timestamp_is_one_invalid_row(graded):
    oscar = graded["rows"]["oscar"]
    assert (oscar.status, oscar.score) == ("invalid", 0.0)
    assert "oscar/timestamp.txt is a symbolic link" in oscar.message


def test_a_3_gib_sparse_timestamp_is_not_read_and_is_flagged_at_the_maximum_penalty(graded):
    peggy = graded["rows"]["peggy"]
    assert (peggy.status, peggy.score) == ("ok", 4.0)  # graded; the time is what is wrong
    assert peggy.submitted_at.startswith("unreadable timestamp.txt: 3221225472 bytes")
    penalty = graded["totals"]["peggy"].penalty
    assert penalty.flagged and penalty.fraction == 0.5
    assert penalty.explanation.startswith("flagged for review: timestamp.txt unreadable")


def test_a_garbage_timestamp_is_flagged_and_the_flag_reaches_results_json(graded):
    total = graded["totals"]["gina"]
    assert total.penalty.flagged and total.penalty.fraction == 0.5 and total.adjusted == 2.0
    results = gradescope_results(total)
    assert results["score"] == 2.0
    assert results["output"].startswith("flagged for review: timestamp.txt unreadable")
    assert any(t["name"] == "late penalty" and "flagged for review" in t["output"] for t in results["tests"])
    honest = graded["totals"]["alice"].penalty
    assert not honest.flagged and honest.fraction == 0.0


def test_a_garbage_timestamp_is_a_note_on_the_row_for_the_grader(graded):
    assert any(note.startswith("flagged for review: timestamp.txt unreadable") for note in graded["rows"]["gina"].notes)
    assert not any("flagged" in note for note in graded["rows"]["alice"].notes or [])


def test_a_folder_whose_name_is_not_utf8_gets_a_printable_id_and_one_invalid_row(graded):
    row = graded["rows"]["caf\\xe9"]
    assert (row.status, row.score) == ("invalid", 0.0)
    assert "not valid UTF-8" in row.message
    assert "caf\\xe9" in {r["student_id"] for r in graded["csv"]}
    assert all(s.student_id.isprintable() for s in graded["found"])


def test_discovery_marks_missing_and_invalid_by_kind(toy_course, tmp_path):
    inbox = tmp_path / "in"
    (inbox / "nobody").mkdir(parents=True)
    (inbox / "dir.ipynb").mkdir()
    os.mkfifo(inbox / "pipe.ipynb")  # opening a FIFO for reading would wait forever
    found = {s.student_id: s for s in discover(inbox, Course.at(toy_course).assignment("toy"), roster=["nobody"])}
    assert found["nobody"].kind is ProblemKind.MISSING
    assert found["dir"].kind is ProblemKind.INVALID
    assert found["pipe"].kind is ProblemKind.INVALID and "not a regular file" in found["pipe"].problem


def test_a_folder_swapped_for_a_link_after_discovery_is_refused_when_read(toy_course, tmp_path):
    inbox = tmp_path / "in"
    alice = hand_in(inbox, "alice", student_version(toy_course, CORRECT))
    hand_in(inbox, "eve", student_version(toy_course, {}))
    [_, eve] = discover(inbox, Course.at(toy_course).assignment("toy"))
    (inbox / "eve").rename(inbox / "eve.old")
    (inbox / "eve").symlink_to(alice.parent, target_is_directory=True)
    with pytest.raises(Invalid, match="symbolic link"):
        read_notebook(eve.path)
    assert file_hash(eve.path) is None


def test_a_huge_timestamp_is_capped_and_never_read(tmp_path):
    with open(tmp_path / "timestamp.txt", "wb") as sparse:
        sparse.truncate(3 * GIB)
    assert read_timestamp(tmp_path) == f"unreadable timestamp.txt: {3 * GIB} bytes, over {MAX_TIMESTAMP_BYTES}"
    (tmp_path / "timestamp.txt").write_bytes(b"\xff\xfe2026")
    assert read_timestamp(tmp_path) == "unreadable timestamp.txt: not UTF-8 text"


# ------------------------------------------------------------------------------------------ submit


@pytest.fixture
def student_course(toy_course, tmp_path):
    import shutil

    root = tmp_path / "student"
    shutil.copytree(toy_course / "release", root / "release")
    return root


def test_two_submits_keep_both_versions_and_grade_finds_the_latest(toy_course, student_course, tmp_path):
    first = tmp_path / "first.ipynb"
    nbformat.write(student_version(toy_course, {}), first)
    second = tmp_path / "second.ipynb"
    nbformat.write(student_version(toy_course, CORRECT), second)
    inbox = tmp_path / "in"
    one = submit_notebook(first, "bob", inbox, student_course, now=datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc))
    two = submit_notebook(second, "bob", inbox, student_course, now=datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc))
    assert (one.version, two.version, one.replaced, two.replaced) == (1, 2, False, True)
    assert one.version_path.read_bytes() == first.read_bytes()  # never destroyed
    assert two.version_path.read_bytes() == second.read_bytes()
    assert (one.version_path.parent / "timestamp.txt").read_text().strip() == "2026-12-01T09:00:00+00:00"
    assert "version 2" in two.describe()
    assert sorted(p.name for p in (inbox / "bob" / "toy" / "versions").iterdir()) == [
        "20261201T090000.000000Z", "20261201T100000.000000Z"]
    [found] = discover(inbox, Course.at(toy_course).assignment("toy"))
    assert found.path == two.path and found.path.read_bytes() == second.read_bytes()
    assert found.submitted_at == "2026-12-01T10:00:00+00:00"


def test_two_submits_in_the_same_microsecond_keep_both(toy_course, student_course, tmp_path):
    path = tmp_path / "toy.ipynb"
    nbformat.write(student_version(toy_course, CORRECT), path)
    at = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
    receipts = [submit_notebook(path, "bob", tmp_path / "in", student_course, now=at) for _ in range(2)]
    assert [r.version for r in receipts] == [1, 2]
    assert receipts[0].version_path != receipts[1].version_path and receipts[0].version_path.exists()


def test_submit_does_not_write_through_a_linked_student_folder(toy_course, student_course, tmp_path):
    from autograder.student import StudentError

    path = tmp_path / "toy.ipynb"
    nbformat.write(student_version(toy_course, {}), path)
    inbox, elsewhere = tmp_path / "in", tmp_path / "elsewhere"
    inbox.mkdir()
    elsewhere.mkdir()
    (inbox / "bob").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(StudentError, match="symbolic link"):
        submit_notebook(path, "bob", inbox, student_course)
    assert list(elsewhere.iterdir()) == []
