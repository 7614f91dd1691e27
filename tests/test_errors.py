"""One family of errors a person can fix (`autograder.errors.UserError`), handled once by the CLI: one line, exit 2."""

import pytest

from autograder.cli import main
from autograder.course import CourseError
from autograder.errors import EXIT_USER_ERROR, UserError
from autograder.results.export import RosterError, read_roster
from autograder.student import StudentError


@pytest.mark.parametrize("family", [CourseError, StudentError, RosterError])
def test_every_layers_error_family_is_a_user_error(family):
    assert issubclass(family, UserError)


def test_an_unreadable_roster_is_a_user_error_naming_the_file(tmp_path):
    with pytest.raises(UserError, match="roster.csv: the roster lacks the column"):
        (tmp_path / "roster.csv").write_text("Name\nann\n")
        read_roster(tmp_path / "roster.csv")


def _one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert "Traceback" not in captured.err
    return lines[0]


def test_a_course_error_is_one_line_on_stderr_and_exit_2(tmp_path, capsys):
    assert main(["release", "--course", str(tmp_path)]) == EXIT_USER_ERROR == 2
    assert "has no source/ folder" in _one_error_line(capsys)


def test_a_students_error_is_one_line_on_stderr_and_exit_2_like_any_other(tmp_path, capsys):
    notebook = tmp_path / "hw.ipynb"
    notebook.write_text("{}")
    assert main(["submit", str(notebook), "--student", "ann", "--to", str(tmp_path / "in"), "--course", str(tmp_path)]) == 2
    assert "hw.ipynb: the file is JSON but not a Jupyter notebook" in _one_error_line(capsys)


def test_a_user_error_of_any_command_is_one_line_on_stderr_and_exit_2(capsys, monkeypatch):
    def refuses(args):
        raise UserError("--output: give a file name")

    monkeypatch.setattr("autograder.cli._release", refuses)
    assert main(["release"]) == 2
    assert _one_error_line(capsys) == "error: --output: give a file name"


# ------------------------------------------------------------------------- the gradebook, as a user names it

import importlib.util  # noqa: E402
from pathlib import Path  # noqa: E402

from autograder.results.gradebook import Gradebook, GradebookUnavailable  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("url, says, fix", [
    ("foo://", "--gradebook foo://: SQLAlchemy knows no database kind 'foo'", "give a URL like sqlite:////"),
    ("not a url", "--gradebook not a url is not a SQLAlchemy URL", "give one like sqlite:////"),
    # a dialect SQLAlchemy has, whose driver (pysqlcipher3) is not installed
    pytest.param("sqlite+pysqlcipher://:pw@/x.db", "the database driver 'pysqlcipher3' is not installed", "install it",
                 marks=pytest.mark.skipif(bool(importlib.util.find_spec("pysqlcipher3") or importlib.util.find_spec("sqlcipher3")),
                                          reason="a SQLCipher driver is installed here")),
])
def test_a_gradebook_url_that_cannot_be_used_is_one_line_naming_it(url, says, fix, capsys):
    assert main(["export", "deep_mlps", "--course", str(REPO), "--gradebook", url]) == 2
    line = _one_error_line(capsys)
    assert says in line and fix in line and ":pw@" not in line


def test_an_unreachable_server_is_one_line_naming_the_url_with_its_password_masked(capsys):
    url = "postgresql+psycopg://nobody:hunter2@127.0.0.1:1/course"
    assert main(["export", "deep_mlps", "--course", str(REPO), "--gradebook", url]) == 2
    line = _one_error_line(capsys)
    assert "postgresql+psycopg://nobody:***@127.0.0.1:1/course: cannot connect" in line
    assert "hunter2" not in line and "the server is running" in line


@pytest.mark.parametrize("command", [
    ["export", "deep_mlps"], ["report", "deep_mlps", "--output", "r.html"], ["feedback", "deep_mlps", "--output", "fb"],
    ["similarity", "deep_mlps", "--output", "s.html"], ["manual", "deep_mlps"], ["leaderboard", "deep_mlps", "--output", "l.html"],
])
def test_a_command_that_reads_grades_never_creates_an_empty_gradebook(command, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "none.db"
    assert main(command + ["--course", str(REPO), "--gradebook", f"sqlite:///{missing}"]) == 2
    assert _one_error_line(capsys) == f"error: no gradebook at {missing}: run `autograder grade` first, or give --gradebook the URL that `grade` wrote to"
    assert list(tmp_path.iterdir()) == []


def test_a_database_without_grades_is_refused_by_the_readers_and_left_as_it_was(tmp_path):
    import sqlite3

    sqlite3.connect(tmp_path / "other.db").close()  # an empty SQLite file: somebody else's, or a typo's
    with pytest.raises(GradebookUnavailable, match="holds no grades"):
        Gradebook(f"sqlite:///{tmp_path / 'other.db'}", create=False)
    assert sqlite3.connect(tmp_path / "other.db").execute("select name from sqlite_master").fetchall() == []


def test_grade_creates_its_gradebook_and_the_readers_then_open_it(tmp_path):
    Gradebook(f"sqlite:///{tmp_path / 'g.db'}").close()
    Gradebook(f"sqlite:///{tmp_path / 'g.db'}", create=False).close()


# ------------------------------------------------------------------------- options and submissions folders


@pytest.mark.parametrize("workers", ["-1", "0", "two"])
def test_a_number_of_workers_below_one_is_one_line_and_exit_2(workers, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["grade", "deep_mlps", "anywhere", "--workers", workers])
    assert stopped.value.code == 2
    line = _one_error_line(capsys)
    assert "--workers" in line and "give 1 or more" in line


def test_an_empty_submissions_folder_is_an_error_naming_the_expected_layouts(tmp_path, capsys):
    assert main(["grade", "deep_mlps", str(tmp_path), "--course", str(REPO)]) == 2
    line = _one_error_line(capsys)
    assert f"{tmp_path} is empty: no submission of deep_mlps" in line
    assert "<student_id>/deep_mlps.ipynb, <student_id>/deep_mlps/deep_mlps.ipynb" in line


def test_a_folder_one_level_above_the_submissions_says_where_they_are(tmp_path, capsys):
    (tmp_path / "deep_mlps" / "ann").mkdir(parents=True)
    (tmp_path / "deep_mlps" / "ann" / "deep_mlps.ipynb").write_text("{}")
    assert main(["grade", "deep_mlps", str(tmp_path), "--course", str(REPO)]) == 2
    line = _one_error_line(capsys)
    assert "holds no submission of deep_mlps (it holds deep_mlps)" in line
    assert f"if the students' folders are in {tmp_path / 'deep_mlps'}, grade that folder" in line


def test_a_notebook_of_another_assignment_is_an_invalid_row_saying_which():
    from autograder.course import Course
    from autograder.course.submissions import ProblemKind, discover

    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "ann").mkdir()
        (Path(folder) / "ann" / "svm.ipynb").write_text("{}")
        [row] = discover(Path(folder), Course.at(REPO).assignment("deep_mlps"))
    assert row.kind is ProblemKind.INVALID and row.path is None
    assert row.problem.endswith("ann/svm.ipynb is the notebook of assignment svm, not deep_mlps: hand in deep_mlps.ipynb for deep_mlps")


def test_another_assignments_notebook_under_this_ones_name_is_refused_and_named():
    """svm's notebook handed in as deep_mlps.ipynb shares only the setup cell's grade_id with deep_mlps: it is not
    graded as a deep_mlps notebook full of NameErrors, and the assignment it belongs to is named."""
    import json

    import nbformat

    from autograder.course import Course
    from autograder.course.submissions import assignment_of_cells
    from autograder.grading.sanitize import NotThisAssignment, sanitize
    from autograder.prepare.manifest import assignment_manifest

    course = Course.at(REPO)
    deep_mlps = course.assignment("deep_mlps")
    svm = nbformat.read(REPO / "release" / "svm" / "svm.ipynb", as_version=4)
    with pytest.raises(NotThisAssignment, match="none of the answer or test cells of deep_mlps/deep_mlps.ipynb"):
        sanitize(svm, assignment_manifest(deep_mlps, "deep_mlps.ipynb"))
    assert assignment_of_cells(deep_mlps, json.loads(nbformat.writes(svm))) == ("svm", "svm.ipynb")
    assert assignment_of_cells(deep_mlps, {"cells": []}) is None
