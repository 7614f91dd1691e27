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


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_prompts_live_outside_the_answer_cells(name):
    """A student overwrites an answer cell, so no question or "Think" prompt may live in one (issue 15): a
    hand-graded answer releases as the bare stub, with its prompt in the markdown cell before it, and no
    released answer cell asks a question."""
    import re

    import nbformat

    from autograder.course import cells

    assignment = COURSE.assignment(name)
    for notebook in assignment.notebook_names:
        released = nbformat.read(assignment.release_dir / notebook, as_version=4)
        for index, cell in enumerate(released.cells):
            kind = cells.kind(cell)
            if kind not in (cells.Kind.ANSWER, cells.Kind.MANUAL):
                continue
            where = f"{name}/{notebook}, answer cell {cells.grade_id(cell)!r}"
            if kind is cells.Kind.MANUAL:
                assert cell.source.strip() == "YOUR ANSWER HERE", f"{where}: text besides the answer's stub"
                before = released.cells[index - 1] if index else None
                assert before is not None and before.cell_type == "markdown" and before.source.strip(), \
                    f"{where}: no markdown prompt right before the answer cell"
            asking = [line for line in cell.source.splitlines()
                      if re.search(r"\bthink\b", line, re.IGNORECASE) or line.rstrip().endswith("?")]
            assert not asking, f"{where}: a prompt inside the answer cell: {asking}"
