"""`release` runs the cheap checks `verify` would catch, in the second it takes to release: each problem named with
its notebook, cell and line, every one at once, and nothing written."""

import nbformat
import pytest

from autograder.course import Course, CourseError
from autograder.prepare.preflight import preflight
from autograder.prepare.publish import release_assignment


def course(tmp_path, answer: str, tests: list[str], solutions: str | None = "def double(x):\n    return 2 * x\n"):
    root = tmp_path / "course"
    (root / "source" / "toy").mkdir(parents=True)
    cells = [nbformat.v4.new_code_cell("from autograder import checks as ag")]
    cells[0].metadata["nbgrader"] = {"grade_id": "setup", "locked": True, "solution": False, "grade": False}
    answer_cell = nbformat.v4.new_code_cell(answer)
    answer_cell.metadata["nbgrader"] = {"grade_id": "double", "solution": True, "grade": False, "locked": False}
    cells.append(answer_cell)
    for number, source in enumerate(tests):
        test = nbformat.v4.new_code_cell(source)
        test.metadata["nbgrader"] = {"grade_id": f"double_test{number}", "grade": True, "solution": False, "locked": True, "points": 1}
        cells.append(test)
    nbformat.write(nbformat.v4.new_notebook(cells=cells), root / "source" / "toy" / "toy.ipynb")
    if solutions is not None:
        (root / "solutions").mkdir()
        (root / "solutions" / "toy.py").write_text(solutions, encoding="utf-8")
    return Course.at(root).assignment("toy")


ANSWER = "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n"


def test_a_clean_assignment_has_no_problem(tmp_path):
    assert preflight(course(tmp_path, ANSWER, ['ag.check_equal("double.two", double(1), expected=2)',
                                               'ag.check_equal("double.zero", double(0))'])) == []


def test_a_check_name_used_twice_is_named_with_both_places(tmp_path):
    problems = preflight(course(tmp_path, ANSWER, ['ag.check_equal("double.two", double(1), expected=2)',
                                                   'x = 1\nag.check_close("double.two", double(1.0))']))
    assert len(problems) == 1
    assert "source/toy/toy.ipynb: test cell 'double_test1', line 2: the check name 'double.two' is also used in test cell 'double_test0', line 1" in problems[0]


def test_a_name_the_tests_read_that_solutions_lacks_is_named(tmp_path):
    answer = ANSWER + "\ndef triple(x):\n    return 3 * x\n"
    problems = preflight(course(tmp_path, answer, ['ag.check_equal("triple.one", triple(1), expected=3)']))
    assert len(problems) == 1
    assert "reads 'triple', which answer cell 'double' defines but solutions/toy.py does not" in problems[0]


def test_names_from_setup_cells_and_courses_without_solutions_are_not_problems(tmp_path):
    # `ag` comes from the setup cell; without solutions/ (an nbgrader course) there is no reference to compare with
    assert preflight(course(tmp_path, ANSWER + "\nhelper = 1\n", ['assert double(helper) == 2'], solutions=None)) == []


def test_release_refuses_listing_every_problem_and_writes_nothing(tmp_path):
    assignment = course(tmp_path, ANSWER + "\ndef triple(x):\n    return 3 * x\n",
                        ['ag.check_equal("double.two", double(1), expected=2)',
                         'ag.check_equal("double.two", triple(1), expected=3)'])
    with pytest.raises(CourseError) as raised:
        release_assignment(assignment)
    assert "toy: 2 problem(s) to fix before release" in str(raised.value)
    assert not (assignment.course.root / "release").exists()


def test_every_bundled_set_passes_the_preflight():
    from pathlib import Path

    repo = Course.at(Path(__file__).resolve().parents[1])
    for name in repo.assignment_names():
        assert preflight(repo.assignment(name)) == [], name
