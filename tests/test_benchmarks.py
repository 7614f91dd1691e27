"""The benchmark course (benchmarks/torch_course.py) stays a fair course: every answer is handed in, the
solution scores full marks and the released notebook zero. The timings themselves are not tested here:
they are printed by the benchmark commands (README, "Benchmarks")."""

import nbformat
import pytest

from autograder.cli import main
from autograder.course import Course
from autograder.results.gradebook import Gradebook
from autograder.prepare.publish import release_assignment
from benchmarks import torch_course
from benchmarks.torch_course import ASSIGNMENT, NOTEBOOK, QUESTIONS


def test_every_answer_of_every_question_is_handed_in_by_24_students():
    plans = torch_course.answer_plan(24)
    assert len(plans) == 24
    for question in QUESTIONS:
        assert {plan[question.grade_id] for plan in plans} == set(question.answers)


@pytest.mark.slow
def test_the_solution_scores_full_marks_and_the_untouched_release_zero(tmp_path):
    root = tmp_path / "course"
    (root / "source" / ASSIGNMENT).mkdir(parents=True)
    nbformat.write(torch_course.solution_notebook(), root / "source" / ASSIGNMENT / NOTEBOOK)
    release_assignment(Course.at(root).assignment(ASSIGNMENT))
    released = nbformat.read(root / "release" / ASSIGNMENT / NOTEBOOK, as_version=4)
    for index, plan in enumerate(torch_course.answer_plan(2)):
        folder = tmp_path / "submitted" / torch_course.student_id(index)
        folder.mkdir(parents=True)
        nbformat.write(torch_course.submission(released, plan, scratch_cell=True), folder / NOTEBOOK)

    assert main(["grade", ASSIGNMENT, str(tmp_path / "submitted"), "--course", str(root), "--workers", "1", "--quiet"]) == 0

    with Gradebook(Course.at(root).gradebook_url) as gradebook:
        totals = {row.student_id: row.score for row in gradebook.submissions(ASSIGNMENT)}
    assert totals == {"student000": sum(q.points for q in QUESTIONS), "student001": 0.0}
