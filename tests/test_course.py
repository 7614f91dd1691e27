"""The bundled course: every exercise set is released in sync with source/ and proves its tests right.

`autograder verify` runs the solution (full marks), the released stub (zero), the visible tests and every
mutant of tests/mutants/<assignment>.toml (each loses points on the questions it names and only there).
"""

import pytest

from autograder.course import Course
from autograder.sandbox.pool import default_workers
from autograder.prepare.publish import release_assignment
from autograder.sandbox.limits import Limits
from autograder.grading.verify import load_mutants, verify_assignment
from conftest import REPO

COURSE = Course.at(REPO)
ASSIGNMENTS = COURSE.assignment_names()


def test_the_course_has_its_exercise_sets():
    assert "deep_mlps" in ASSIGNMENTS


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_release_is_in_sync_with_source(name):
    assert release_assignment(COURSE.assignment(name), check=True).stale == []


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_every_autograded_question_has_at_least_three_mutants(name):
    from autograder.prepare.manifest import build_manifest

    assignment = COURSE.assignment(name)
    targets = {}
    for mutant in load_mutants(assignment):
        for question in mutant.loses:
            targets[question] = targets.get(question, 0) + 1
    for notebook in assignment.notebook_names:
        manifest = build_manifest(name, notebook, assignment.read_source(notebook), notebook)
        tests = [cell.grade_id for cell in manifest.graded_cells if cell.kind == "test"]
        assert len(tests) >= 5, f"{name}/{notebook} has {len(tests)} autograded questions"
        assert any(cell.kind == "manual" for cell in manifest.graded_cells), f"{name} has no hand-graded answer"
        thin = {question: targets.get(question, 0) for question in tests if targets.get(question, 0) < 3}
        assert not thin, f"{name}: questions with fewer than three mutants: {thin}"


@pytest.mark.slow
@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_verify_passes(name):
    report = verify_assignment(COURSE.assignment(name), Limits(cell_timeout=120), workers=default_workers())
    failures = [f"{f.what}: {f.detail}" for f in report.findings if not f.ok]
    assert not failures, "\n".join(failures)
