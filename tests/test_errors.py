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
