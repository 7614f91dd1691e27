"""The check loop inside Jupyter: `ag.check(question)` and `ag.check_all()` run the visible tests in the
live namespace and print one line per check, never a traceback through the package."""

import sys

import nbformat
import numpy as np
import pytest

from autograder.sandbox.inside import checks as ag
from autograder.sandbox.inside.notebook import CheckFailed, _not_attempted, select, visible_tests
from conftest import student_version


@pytest.fixture
def student_folder(toy_course, tmp_path):
    """A student working in a folder of the course they were given (release/ above it), their notebook there."""
    folder = toy_course / "work"
    folder.mkdir()
    nbformat.write(student_version(toy_course, {}), folder / "toy.ipynb")
    return folder


@pytest.fixture(autouse=True)
def local_mode():
    ag._install("local", None)
    yield


def namespace(**answers):
    return {"np": np, "ag": ag, **answers}


def stub(*args):
    raise NotImplementedError()


def test_the_visible_tests_come_from_the_release_without_the_hidden_ones(student_folder):
    tests = visible_tests(student_folder)
    assert [(q, t) for q, t, _ in tests] == [("double", "double_test"), ("mean_rows", "mean_rows_test"), ("half", "half_test")]
    assert all("HIDDEN" not in source and "double.random" not in source for _, _, source in tests)


def test_a_question_is_named_by_its_answer_cell_its_test_cell_or_its_number(student_folder):
    tests = visible_tests(student_folder)
    assert select(tests, "double") == select(tests, "double_test") == select(tests, 1) == select(tests, "q1") == [tests[0]]
    assert select(tests, "Question 2") == [tests[1]] and select(tests, "nope") == []


def test_a_passing_question_prints_one_line_per_check(student_folder, capsys):
    assert bool(ag.check("double", directory=student_folder, namespace=namespace(double=lambda x: 2 * np.asarray(x, float)))) is True
    assert capsys.readouterr().out == "✓ double.small\n"


def test_a_failing_check_says_what_differed_in_one_line(student_folder, capsys):
    assert bool(ag.check("double", directory=student_folder, namespace=namespace(double=lambda x: 3 * np.asarray(x, float)))) is False
    out = capsys.readouterr().out
    assert out.startswith("✗ double.small: ") and out.count("\n") == 1 and "Traceback" not in out and "autograder" not in out


def test_an_unanswered_question_says_not_attempted_and_what_to_do(student_folder, capsys):
    assert bool(ag.check("double", directory=student_folder, namespace=namespace(double=stub))) is False
    out = capsys.readouterr().out
    assert "not attempted yet" in out and "raise NotImplementedError()" in out and out.count("\n") == 1


def test_an_error_in_the_students_code_is_one_line_naming_it(student_folder, capsys):
    def broken(x):
        return x.nope

    ag.check("double", directory=student_folder, namespace=namespace(double=broken))
    out = capsys.readouterr().out
    assert out.startswith("✗ double: AttributeError") and "in broken" in out and out.count("\n") == 1


def test_check_all_runs_every_question_and_sums_up(student_folder, capsys):
    ok = ag.check_all(directory=student_folder, namespace=namespace(double=lambda x: 2 * np.asarray(x, float), mean_rows=stub,
                                                                     answer_half=0.5))
    out = capsys.readouterr().out.splitlines()
    assert bool(ok) is False
    assert out[0] == "✓ double.small" and "not attempted yet" in out[1] and out[2].startswith("- half")
    assert out[-1] == "1 passed, 1 to fix; hidden tests run only when graded"


def test_an_unknown_question_lists_the_questions(student_folder, capsys):
    assert bool(ag.check("dobule", directory=student_folder, namespace=namespace())) is False
    assert "the questions are: double, mean_rows, half" in capsys.readouterr().out


def test_a_failed_check_run_by_hand_renders_as_one_line_in_ipython():
    with pytest.raises(CheckFailed) as raised:
        ag.check_close("double.small", np.array([3.0]), expected=np.array([2.0]))
    rendered = raised.value._render_traceback_()
    assert len(rendered) == 1 and "check 'double.small' failed" in rendered[0]
    assert isinstance(raised.value, AssertionError)  # code that catches AssertionError still does


def test_an_unanswered_stub_run_by_hand_is_one_line_in_ipython(capsys):
    def count_parameters(model):
        raise NotImplementedError()

    try:
        count_parameters(None)
    except NotImplementedError:
        _not_attempted(None, *sys.exc_info())
    out = capsys.readouterr().out
    assert "`count_parameters` still raises NotImplementedError" in out and out.count("\n") == 1


def test_a_failing_check_shows_its_hint_on_the_next_line_and_a_passing_one_never(capsys):
    from autograder.sandbox.inside.notebook import run_tests

    tests = [("q", "q_test", "ag.check_equal('q.one', answer, expected=1, hint='count from one')")]
    (wrong,) = run_tests(tests, namespace(answer=0), ag.collecting)
    assert str(wrong) == "✗ q.one: expected 1, got 0\n  hint: count from one"
    (right,) = run_tests(tests, namespace(answer=1), ag.collecting)
    assert str(right) == "✓ q.one"


THROUGH_DOUBLE = {"double": "def double(x):\n    return 3 * np.asarray(x, dtype=float)",
                  "mean_rows": "def mean_rows(a):\n    return double(np.asarray(a, dtype=float).mean(axis=1))[:2]"}


def through_double(toy_course, answers):
    """A student folder whose notebook holds ``answers``, and the namespace that running it leaves."""
    folder = toy_course / "work-causes"
    folder.mkdir(exist_ok=True)
    nbformat.write(student_version(toy_course, answers), folder / "toy.ipynb")
    scope = namespace(answer_half=0.5)
    for source in answers.values():
        exec(source, scope)
    return folder, scope


def test_check_all_says_once_that_a_question_failed_through_another_answer(toy_course, capsys):
    """mean_rows calls the student's own (wrong) double: its line says so, and to fix double first."""
    folder, scope = through_double(toy_course, THROUGH_DOUBLE)
    assert bool(ag.check_all(directory=folder, namespace=scope)) is False
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("✗ double.small") and out[1].startswith("✗ mean_rows.shape")
    assert out[3] == ("→ mean_rows: this used your `double` (question double), which fails its own check: fix that first")
    assert out[-1] == "0 passed, 2 to fix; hidden tests run only when graded"


def test_check_of_one_question_runs_the_questions_it_used_quietly_and_names_the_failing_one(toy_course, capsys):
    folder, scope = through_double(toy_course, THROUGH_DOUBLE)
    assert bool(ag.check("mean_rows", directory=folder, namespace=scope)) is False
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("✗ mean_rows.shape") and not any("double.small" in line for line in out)
    assert out[1:] == ["→ mean_rows: this used your `double` (question double), which fails its own check: fix that first"]


def test_check_of_one_question_names_no_cause_when_what_it_used_passes(toy_course, capsys):
    answers = dict(THROUGH_DOUBLE, double="def double(x):\n    return 2 * np.asarray(x, dtype=float)")
    folder, scope = through_double(toy_course, answers)
    assert bool(ag.check("mean_rows", directory=folder, namespace=scope)) is False
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("✗ mean_rows.shape")


def test_in_a_real_kernel_check_prints_its_lines_and_nothing_after_them(student_folder):
    """The cell ``ag.check("double")`` shows the check's lines, and no ``True``/``False`` below them (what it returns
    is still true or false for a script: ``if ag.check(...)``)."""
    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell, new_notebook

    notebook = new_notebook(cells=[
        new_code_cell("import numpy as np\nfrom autograder import checks as ag\n"
                      "def double(x):\n    return 2 * np.asarray(x, dtype=float)"),
        new_code_cell(f"ag.check('double', directory={str(student_folder)!r})"),
        new_code_cell(f"def double(x):\n    return 3 * np.asarray(x, dtype=float)\nag.check('double', directory={str(student_folder)!r})"),
        new_code_cell(f"'yes' if ag.check('double', directory={str(student_folder)!r}) else 'no'"),
    ])
    NotebookClient(notebook, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(student_folder)}}).execute()
    passing, failing, used = (cell.outputs for cell in notebook.cells[1:])
    assert [o.output_type for o in passing] == ["stream"] and passing[0].text == "✓ double.small\n"
    assert [o.output_type for o in failing] == ["stream"] and failing[0].text.startswith("✗ double.small")
    assert used[-1].output_type == "execute_result" and used[-1].data["text/plain"] == "'no'"
