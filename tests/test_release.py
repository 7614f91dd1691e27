"""Release: the student version of a solution notebook."""

import nbformat
import pytest

from autograder.course.cells import Kind, kind
from autograder.course import Course, CourseError
from autograder.prepare.release import release_notebook
from autograder.prepare.publish import release_assignment
from conftest import nbgrader_cell, toy_notebook


@pytest.fixture
def released():
    return release_notebook(toy_notebook())


def by_id(notebook):
    return {cell.metadata.get("nbgrader", {}).get("grade_id"): cell for cell in notebook.cells}


def test_solutions_become_stubs(released):
    assert "raise NotImplementedError()" in by_id(released)["double"].source
    assert "2 * np.asarray" not in by_id(released)["double"].source
    assert by_id(released)["explain"].source == "YOUR ANSWER HERE"


def test_hidden_tests_are_removed_and_visible_tests_kept(released):
    test = by_id(released)["double_test"].source
    assert "double.small" in test
    assert "double.random" not in test and "HIDDEN" not in test


def test_test_cells_are_locked_and_checksummed(released):
    cell = by_id(released)["double_test"]
    assert cell.metadata["editable"] is False and cell.metadata["deletable"] is False
    assert cell.metadata["nbgrader"]["locked"] is True
    assert len(cell.metadata["nbgrader"]["checksum"]) == 32


def test_outputs_are_cleared():
    notebook = toy_notebook()
    notebook.cells[1].outputs = [nbformat.v4.new_output("stream", text="leak")]
    notebook.cells[1].execution_count = 4
    cell = release_notebook(notebook).cells[1]
    assert cell.outputs == [] and cell.execution_count is None


def test_the_source_is_not_modified():
    notebook = toy_notebook()
    release_notebook(notebook)
    assert "BEGIN SOLUTION" in by_id(notebook)["double"].source


def test_duplicate_grade_ids_are_refused_with_the_cell_named():
    notebook = toy_notebook()
    notebook.cells.append(nbgrader_cell("test", "pass", "double_test", points=1))
    with pytest.raises(CourseError, match="grade_id 'double_test' is also used by cell 4"):
        release_notebook(notebook, "toy.ipynb")


def test_graded_cells_need_points():
    notebook = toy_notebook()
    notebook.cells.append(nbgrader_cell("test", "pass", "no_points"))
    with pytest.raises(CourseError, match="needs 'points'"):
        release_notebook(notebook)


def test_a_solution_region_outside_a_solution_cell_is_refused():
    notebook = toy_notebook()
    notebook.cells.append(nbformat.v4.new_code_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION"))
    with pytest.raises(CourseError, match="Solution region detected in a non-solution cell"):
        release_notebook(notebook)


def test_release_check_detects_a_stale_release(toy_course):
    assignment = Course.at(toy_course).assignment("toy")
    assert release_assignment(assignment, check=True).stale == []
    path = toy_course / "release" / "toy" / "toy.ipynb"
    path.write_text(path.read_text().replace("double.small", "double.tiny"))
    assert release_assignment(assignment, check=True).stale == ["release/toy/toy.ipynb is out of date"]
    release_assignment(assignment)
    assert release_assignment(assignment, check=True).stale == []


def test_public_files_are_copied_and_removed_files_deleted(toy_course):
    assignment = Course.at(toy_course).assignment("toy")
    (assignment.source_dir / "data").mkdir()
    (assignment.source_dir / "data" / "points.csv").write_text("x\n1\n")
    release_assignment(assignment)
    assert (toy_course / "release" / "toy" / "data" / "points.csv").read_text() == "x\n1\n"
    (assignment.source_dir / "data" / "points.csv").unlink()
    assert "no longer" not in " ".join(release_assignment(assignment, check=True).stale)
    assert release_assignment(assignment, check=True).stale == ["release/toy/data/points.csv is not produced by source/ any more"]


def test_cell_kinds_follow_nbgrader_metadata(released):
    kinds = [kind(cell) for cell in released.cells]
    assert kinds[:4] == [Kind.PLAIN, Kind.LOCKED, Kind.ANSWER, Kind.TEST]
    assert kinds[-1] is Kind.MANUAL


def test_release_keeps_the_grading_manifest_and_grading_uses_it_until_the_source_changes(toy_course):
    """Like nbgrader's generate_assignment, release keeps what grading needs of source/; a batch reads it
    back instead of running the release pipeline again, and never reads a manifest of another source."""
    from autograder.prepare.manifest import assignment_manifest, build_manifest

    assignment = Course.at(toy_course).assignment("toy")
    kept = list((toy_course / ".autograder" / "manifests").glob("toy--toy.ipynb--*.json"))
    assert len(kept) == 1
    fresh = build_manifest("toy", "toy.ipynb", assignment.read_source("toy.ipynb"), "toy.ipynb")
    assert assignment_manifest(assignment, "toy.ipynb").to_json() == fresh.to_json()

    source = assignment.read_source("toy.ipynb")
    test_cell = next(cell for cell in source.cells if kind(cell) is Kind.TEST)
    test_cell.source += "\nassert True  # changed after the release"
    nbformat.write(source, assignment.source_notebook_path("toy.ipynb"))
    changed = assignment_manifest(assignment, "toy.ipynb")
    assert any("changed after the release" in cell.source for cell in changed.cells)


def test_a_kept_manifest_that_cannot_be_read_is_built_again(toy_course):
    from autograder.prepare.manifest import assignment_manifest, build_manifest

    assignment = Course.at(toy_course).assignment("toy")
    [kept] = (toy_course / ".autograder" / "manifests").glob("*.json")
    kept.write_text('{"cells": [tru')  # e.g. a disk that filled up mid-write elsewhere
    fresh = build_manifest("toy", "toy.ipynb", assignment.read_source("toy.ipynb"), "toy.ipynb")
    assert assignment_manifest(assignment, "toy.ipynb").to_json() == fresh.to_json()
    assert kept.read_text().startswith('{"assignment"')  # and kept again, whole
