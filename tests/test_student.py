"""`autograder check` and `autograder submit`: what a student runs before and when handing in."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from autograder.cli import main
from autograder.course import Course
from autograder.course.submissions import discover
from autograder.student import StudentError
from autograder.student.check import check_notebook
from autograder.student.submit import submit_notebook
from conftest import CORRECT, student_version


@pytest.fixture
def student_course(toy_course: Path, tmp_path: Path) -> Path:
    """What a student has: release/ only (no source/, no solutions/)."""
    root = tmp_path / "student"
    shutil.copytree(toy_course / "release", root / "release")
    return root


def write(notebook, path: Path) -> Path:
    nbformat.write(notebook, path)
    return path


def by_question(report) -> dict[str, tuple[str, str]]:
    return {q.question: (q.status, q.message) for q in report.questions}


def test_check_passes_a_correct_notebook_with_release_only_and_exits_zero(toy_course, student_course, tmp_path, capsys):
    path = write(student_version(toy_course, CORRECT), tmp_path / "mine.ipynb")
    assert main(["check", str(path), "--course", str(student_course)]) == 0
    out = capsys.readouterr().out
    assert "all 3 visible test(s) pass" in out
    for question in ("double_test", "mean_rows_test", "half_test"):
        assert question in out


def test_check_reports_a_failed_visible_check_with_its_message_and_exits_one(toy_course, student_course, tmp_path):
    answers = dict(CORRECT, mean_rows="def mean_rows(a):\n    return np.mean(a, axis=0)")
    path = write(student_version(toy_course, answers), tmp_path / "mine.ipynb")
    report = check_notebook(path, student_course)
    status, message = by_question(report)["mean_rows_test"]
    assert status == "failed"
    assert "mean_rows.shape" in message and "(3,)" in message and "(4,)" in message
    assert not report.ok
    assert main(["check", str(path), "--course", str(student_course)]) == 1


def test_check_calls_a_question_left_as_released_not_attempted(toy_course, student_course, tmp_path):
    answers = {k: v for k, v in CORRECT.items() if k != "half"}
    report = check_notebook(write(student_version(toy_course, answers), tmp_path / "mine.ipynb"), student_course)
    assert by_question(report)["half_test"][0] == "not_attempted"
    assert by_question(report)["double_test"][0] == "passed"
    assert by_question(report)["explain"][0] == "hand_graded"


def test_check_names_the_cell_and_line_where_an_error_happened(toy_course, student_course, tmp_path):
    answers = dict(CORRECT, double="def double(x):\n    y = np.asarray(x, dtype=float)\n    return y / undefined_scale")
    report = check_notebook(write(student_version(toy_course, answers), tmp_path / "mine.ipynb"), student_course)
    status, message = by_question(report)["double_test"]
    assert status == "error"
    assert "NameError" in message
    assert "answer cell 'double', line 3" in message
    assert "called from test cell 'double_test', line 1" in message


def test_check_never_runs_or_reveals_the_hidden_tests(toy_course, student_course, tmp_path, capsys):
    # Right on the visible input (two elements), wrong on every hidden one (random, empty).
    answers = dict(CORRECT, double="def double(x):\n    return np.array([2.0, 4.0])")
    path = write(student_version(toy_course, answers), tmp_path / "mine.ipynb")
    report = check_notebook(path, student_course)
    assert by_question(report)["double_test"] == ("passed", "1 visible check(s) passed")
    main(["check", str(path), "--course", str(student_course)])
    out = capsys.readouterr().out
    assert "double.random" not in out and "double.empty" not in out and "HIDDEN" not in out


def test_check_does_not_read_source_even_when_the_course_has_it(toy_course, tmp_path):
    answers = dict(CORRECT, double="def double(x):\n    return np.array([2.0, 4.0])")
    path = write(student_version(toy_course, answers), tmp_path / "mine.ipynb")
    (toy_course / "source" / "toy" / "toy.ipynb").write_text("not a notebook")  # would fail if it were read
    assert by_question(check_notebook(path, toy_course))["double_test"][0] == "passed"


def test_check_warns_about_an_edited_test_cell_and_a_deleted_one(toy_course, student_course, tmp_path):
    notebook = student_version(toy_course, CORRECT)
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "double_test":
            cell.source = "pass  # the test was in my way"
    notebook.cells = [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "half_test"]
    report = check_notebook(write(notebook, tmp_path / "mine.ipynb"), student_course)
    warnings = "\n".join(report.warnings)
    assert "test cell 'double_test' was edited" in warnings
    assert "test cell 'half_test' was deleted" in warnings
    # ...and the visible tests still run as the grader runs them: restored.
    assert by_question(report)["double_test"] == ("passed", "1 visible check(s) passed")
    assert by_question(report)["half_test"][0] == "passed"


def test_check_warns_about_cells_run_out_of_order(toy_course, student_course, tmp_path):
    notebook = student_version(toy_course, CORRECT)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    for count, cell in enumerate(code, start=1):
        cell.execution_count = count
    code[1].execution_count = 9  # run again after the cells below it
    report = check_notebook(write(notebook, tmp_path / "mine.ipynb"), student_course)
    assert any("run out of order" in w and "cell 4 [In 3] ran before cell 3 above it [In 9]" in w for w in report.warnings)


def test_check_warns_about_a_name_used_before_the_cell_that_defines_it(toy_course, student_course, tmp_path):
    notebook = student_version(toy_course, CORRECT)
    notebook.cells.insert(3, new_code_cell("scaled = factor * 2"))
    notebook.cells.append(new_code_cell("factor = 3"))
    report = check_notebook(write(notebook, tmp_path / "mine.ipynb"), student_course)
    assert any("cell 4, line 1, uses `factor` before cell" in w for w in report.warnings)


def test_check_warns_about_a_name_no_cell_defines(toy_course, student_course, tmp_path):
    notebook = student_version(toy_course, CORRECT)
    notebook.cells.append(new_code_cell("print(result_from_a_deleted_cell)"))
    report = check_notebook(write(notebook, tmp_path / "mine.ipynb"), student_course)
    assert any("`result_from_a_deleted_cell`, which no cell of the notebook defines" in w for w in report.warnings)


def test_check_warns_about_an_import_the_grading_environment_cannot_import(toy_course, student_course, tmp_path):
    notebook = student_version(toy_course, CORRECT)
    notebook.cells.append(new_code_cell("import surely_not_installed_anywhere as s"))
    report = check_notebook(write(notebook, tmp_path / "mine.ipynb"), student_course)
    assert any("imports `surely_not_installed_anywhere`, which the grading environment cannot import" in w for w in report.warnings)


def test_check_warns_about_an_import_that_is_installed_but_not_a_course_dependency(toy_course, student_course, tmp_path):
    # The course declares its grading environment; pytest is installed here but not declared.
    (student_course / "pyproject.toml").write_text('[project]\nname = "toy-course"\ndependencies = ["numpy"]\n')
    notebook = student_version(toy_course, CORRECT)
    notebook.cells.append(new_code_cell("import numpy\nimport json\nimport pytest"))
    report = check_notebook(write(notebook, tmp_path / "mine.ipynb"), student_course)
    flagged = [w for w in report.warnings if "not among the course's dependencies" in w]
    assert len(flagged) == 1 and "`pytest`" in flagged[0]


def test_check_finds_the_course_above_the_notebook_without_course_option(toy_course, student_course, monkeypatch):
    path = write(student_version(toy_course, CORRECT), student_course / "release" / "toy" / "work.ipynb")
    monkeypatch.chdir(path.parent.parent)  # release/, which has no release/ of its own
    report = check_notebook(path)
    assert (report.assignment, report.notebook) == ("toy", "toy.ipynb")


def test_check_refuses_when_the_only_release_is_a_worked_copy(toy_course, student_course, tmp_path):
    released = student_course / "release" / "toy" / "toy.ipynb"
    write(student_version(toy_course, CORRECT), released)  # answered in place: no pristine release left
    path = write(student_version(toy_course, CORRECT), tmp_path / "mine.ipynb")
    with pytest.raises(StudentError, match="is not as released any more"):
        check_notebook(path, student_course)


def test_check_refuses_a_notebook_of_no_assignment_with_a_clear_message(student_course, tmp_path, capsys):
    path = write(nbformat.v4.new_notebook(cells=[new_code_cell("x = 1")]), tmp_path / "other.ipynb")
    assert main(["check", str(path), "--course", str(student_course)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "other.ipynb" in err and "none of its cells belongs to an assignment" in err


def test_check_refuses_a_course_folder_without_release(tmp_path):
    path = write(nbformat.v4.new_notebook(), tmp_path / "x.ipynb")
    with pytest.raises(StudentError, match="has no release/ folder"):
        check_notebook(path, tmp_path)


# ------------------------------------------------------------------------------------------ submit


def test_submit_places_the_notebook_where_grade_finds_it_with_its_time(toy_course, student_course, tmp_path):
    path = write(student_version(toy_course, CORRECT), tmp_path / "my homework.ipynb")
    inbox = tmp_path / "submitted"
    at = datetime(2026, 12, 1, 22, 30, tzinfo=timezone.utc)
    receipt = submit_notebook(path, "ada", inbox, student_course, now=at)
    assert receipt.path == inbox / "ada" / "toy" / "toy.ipynb"
    assert receipt.path.read_bytes() == path.read_bytes()
    found = discover(inbox, Course.at(toy_course).assignment("toy"))
    assert [(s.student_id, s.notebook, s.path, s.submitted_at) for s in found] == [
        ("ada", "toy.ipynb", receipt.path, "2026-12-01T22:30:00+00:00")]


def test_submit_stamps_the_time_in_utc_with_its_offset(toy_course, student_course, tmp_path):
    path = write(student_version(toy_course, CORRECT), tmp_path / "toy.ipynb")
    before = datetime.now(timezone.utc)
    receipt = submit_notebook(path, "ada", tmp_path / "in", student_course)
    stamped = datetime.fromisoformat((receipt.path.parent / "timestamp.txt").read_text().strip())
    assert stamped.utcoffset().total_seconds() == 0
    assert before <= stamped <= datetime.now(timezone.utc)


def test_submit_replaces_the_latest_copy_and_keeps_the_earlier_version(toy_course, student_course, tmp_path, capsys):
    first = write(student_version(toy_course, {}), tmp_path / "first.ipynb")
    second = write(student_version(toy_course, CORRECT), tmp_path / "second.ipynb")
    inbox = tmp_path / "in"
    assert main(["submit", str(first), "--student", "ada", "--to", str(inbox), "--course", str(student_course)]) == 0
    assert main(["submit", str(second), "--student", "ada", "--to", str(inbox), "--course", str(student_course)]) == 0
    out = capsys.readouterr().out
    assert "version 2" in out and "the 1 earlier one(s) are kept" in out
    assert (inbox / "ada" / "toy" / "toy.ipynb").read_bytes() == second.read_bytes()
    assert sorted(p.name for p in (inbox / "ada" / "toy").iterdir()) == ["timestamp.txt", "toy.ipynb", "versions"]
    kept = sorted((inbox / "ada" / "toy" / "versions").iterdir())
    assert [(v / "toy.ipynb").read_bytes() for v in kept] == [first.read_bytes(), second.read_bytes()]


@pytest.mark.parametrize(
    "content, why",
    [
        (b"", "the file is empty"),
        (b"\xff\xfe{not utf-8", "not UTF-8"),
        (b'{"cells": [', "not valid JSON"),
        (b'{"hello": 1}', "not a Jupyter notebook"),
    ],
)
def test_submit_refuses_a_broken_file_naming_it(student_course, tmp_path, capsys, content, why):
    path = tmp_path / "broken.ipynb"
    path.write_bytes(content)
    assert main(["submit", str(path), "--student", "ada", "--to", str(tmp_path / "in"), "--course", str(student_course)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "broken.ipynb" in err and why in err
    assert not (tmp_path / "in").exists()


def test_submit_refuses_a_notebook_of_another_course(student_course, tmp_path):
    path = write(nbformat.v4.new_notebook(cells=[new_code_cell("x = 1")]), tmp_path / "toy.ipynb")
    with pytest.raises(StudentError, match="none of its cells belongs to an assignment"):
        submit_notebook(path, "ada", tmp_path / "in", student_course)


@pytest.mark.parametrize("student_id", ["", "../eve", "a/b", ".hidden", "two words"])
def test_submit_refuses_a_student_id_that_is_not_a_folder_name(toy_course, student_course, tmp_path, student_id):
    path = write(student_version(toy_course, CORRECT), tmp_path / "toy.ipynb")
    with pytest.raises(StudentError, match="not a usable id"):
        submit_notebook(path, student_id, tmp_path / "in", student_course)


def test_submitted_notebook_is_graded_with_its_timestamp(toy_course, student_course, tmp_path):
    from autograder.results.gradebook import Gradebook
    from autograder.grading.plan import build_plan
    from autograder.grading.batch import grade_batch
    from autograder.sandbox.limits import Limits

    inbox = tmp_path / "in"
    submit_notebook(write(student_version(toy_course, CORRECT), tmp_path / "toy.ipynb"), "ada", inbox, student_course,
                    now=datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc))
    assignment = Course.at(toy_course).assignment("toy")
    with Gradebook(f"sqlite:///{tmp_path / 'gb.db'}") as gradebook:
        grade_batch(build_plan(assignment, Limits()), discover(inbox, assignment), gradebook, workers=1, warm=False)
        [row] = gradebook.submissions("toy")
    assert (row.student_id, row.submitted_at, row.score) == ("ada", "2026-12-01T09:00:00+00:00", 4.0)
    assert json.loads((inbox / "ada" / "toy" / "toy.ipynb").read_text())["cells"]


def test_check_says_which_answer_cell_still_raises_not_implemented(toy_course, student_course, tmp_path):
    answers = {k: v for k, v in CORRECT.items() if k != "double"}
    report = check_notebook(write(student_version(toy_course, answers), tmp_path / "mine.ipynb"), student_course)
    assert by_question(report)["double_test"] == ("not_attempted", "answer cell 'double' (line 3) still raises NotImplementedError")


@pytest.mark.slow
@pytest.mark.parametrize("assignment", Course.at(Path(__file__).resolve().parent.parent).assignment_names())
def test_every_solution_notebook_passes_check_without_warnings_beyond_its_hidden_tests(assignment):
    """The course's own solutions pass `check`; the only warnings are the hidden tests it does not have."""
    course = Path(__file__).resolve().parent.parent
    for notebook in sorted((course / "source" / assignment).glob("*.ipynb")):
        report = check_notebook(notebook, course)
        assert report.ok, [q for q in report.tests if q.status != "passed"]
        assert all(w.startswith("at grading: test cell") and w.endswith("restored from source/") for w in report.warnings), report.warnings
