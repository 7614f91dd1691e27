"""A submission is restored against source/ before it runs: structure tampering is undone."""

import copy

import pytest

from autograder.prepare.manifest import build_manifest
from autograder.prepare.release import release_notebook
from autograder.grading.sanitize import NotThisAssignment, sanitize
from conftest import toy_notebook


@pytest.fixture
def manifest():
    return build_manifest("toy", "toy.ipynb", toy_notebook(), "toy.ipynb")


@pytest.fixture
def released():
    return release_notebook(toy_notebook())


def ids(sanitized):
    return [cell.grade_id for cell in sanitized.cells]


def cell(notebook, grade_id):
    return next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def test_an_untouched_release_gets_the_hidden_tests_back(manifest, released):
    result = sanitize(released, manifest)
    restored = result.cells[result.index_of("double_test")]
    assert "double.random" in restored.source and restored.origin == "source"
    assert result.notes == []


def test_an_edited_test_cell_is_restored(manifest, released):
    cell(released, "double_test").source = "pass"
    result = sanitize(released, manifest)
    assert "double.random" in result.cells[result.index_of("double_test")].source
    assert result.notes == ["test cell 'double_test' was edited; it was restored from source/"]


def test_a_deleted_test_cell_is_put_back_in_place(manifest, released):
    released.cells.remove(cell(released, "mean_rows_test"))
    result = sanitize(released, manifest)
    assert ids(result).index("mean_rows_test") == ids(result).index("mean_rows") + 1
    assert "test cell 'mean_rows_test' was deleted; it was restored from source/" in result.notes


def test_a_deleted_answer_cell_comes_back_as_the_stub(manifest, released):
    released.cells.remove(cell(released, "double"))
    result = sanitize(released, manifest)
    assert "raise NotImplementedError()" in result.cells[result.index_of("double")].source


def test_duplicated_cells_count_once(manifest, released):
    released.cells.append(copy.deepcopy(cell(released, "half_test")))
    result = sanitize(released, manifest)
    assert ids(result).count("half_test") == 1
    assert "cell 'half_test' appeared more than once; only the first copy was kept" in result.notes


def test_reordered_cells_run_in_source_order_with_student_cells_kept_in_place(manifest, released):
    import nbformat

    helper = nbformat.v4.new_code_cell("helper = 1")
    test = cell(released, "double_test")
    released.cells.remove(test)
    released.cells.insert(0, test)
    position = released.cells.index(cell(released, "mean_rows"))
    released.cells.insert(position + 1, helper)
    result = sanitize(released, manifest)
    order = ids(result)
    assert order.index("double_test") == order.index("double") + 1
    assert result.cells[order.index("mean_rows") + 1].source == "helper = 1"
    assert any("moved" in note for note in result.notes)


def test_inflated_points_and_changed_types_are_undone(manifest, released):
    test = cell(released, "half_test")
    test.metadata["nbgrader"]["points"] = 100
    answer = cell(released, "double")
    answer.cell_type = "markdown"
    result = sanitize(released, manifest)
    assert result.cells[result.index_of("double")].cell_type == "code"
    assert any("metadata changed" in note for note in result.notes)
    assert manifest.by_id()["half_test"].points == 1


def test_a_student_cell_posing_as_a_grade_cell_runs_as_an_ordinary_cell(manifest, released):
    import nbformat

    fake = nbformat.v4.new_code_cell("x = 1", metadata={"nbgrader": {"grade": True, "grade_id": "bonus", "points": 50}})
    released.cells.append(fake)
    result = sanitize(released, manifest)
    assert "bonus" not in ids(result)
    assert any("does not have" in note for note in result.notes)


def test_a_notebook_of_another_assignment_is_refused(manifest):
    import nbformat

    with pytest.raises(NotThisAssignment, match="another assignment"):
        sanitize(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]), manifest)


def test_unchanged_and_edited_cells_are_told_apart_as_nbgrader_checksums_tell_them(manifest, released):
    """Comparing with the released source (the manifest keeps it) decides what nbgrader's checksum decides;
    a manifest without it (written by an older version) falls back to the checksum itself."""
    from autograder.grading.sanitize import _as_released, _checksum

    for item in manifest.cells:
        if item.checksum is None:
            continue
        released_source = cell(released, item.grade_id).source
        for source in (released_source, released_source + "\n# edited", ""):
            by_checksum = _checksum(item.cell_type, source, item.metadata) == item.checksum
            assert _as_released(item, source) == by_checksum, (item.grade_id, source)
            older = copy.copy(item)
            older.released_source = ""
            assert _as_released(older, source) == by_checksum, (item.grade_id, source)


def test_grading_with_the_manifest_kept_at_release_does_not_import_nbgrader(toy_course, tmp_path):
    import subprocess
    import sys

    from conftest import hand_in, student_version

    hand_in(tmp_path / "in", "ada", student_version(toy_course, {}))
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from autograder.course import Course\n"
        "from autograder.grading.plan import build_plan\nfrom autograder.grading.submission import grade_submission\n"
        "from autograder.sandbox.limits import Limits\n"
        "from autograder.course.submissions import discover\n"
        f"assignment = Course.at({str(toy_course)!r}).assignment('toy')\n"
        "plan = build_plan(assignment, Limits(cell_timeout=10))\n"
        f"[submission] = discover(Path({str(tmp_path / 'in')!r}), assignment)\n"
        "stored = grade_submission(plan, submission)\n"
        "print(stored.status, 'nbgrader' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["ok", "False"], done.stdout + done.stderr
