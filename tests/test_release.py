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


# ------------------------------------------------------------------ the course's nbgrader_config.py (issue 16)

from autograder.course.cells import NO_TASK_WORK, task_work  # noqa: E402
from autograder.course.nbgrader_config import load, warn_ignored  # noqa: E402
from autograder.prepare.release import instructor_notebook  # noqa: E402


def config_course(tmp_path, text: str):
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n" + text)
    return load(tmp_path)


def task_cell(source: str, grade_id: str = "task1", points=3, cell_type: str = "markdown"):
    meta = {"grade": False, "solution": False, "locked": True, "task": True, "grade_id": grade_id, "schema_version": 3}
    if points is not None:
        meta["points"] = points
    make = nbformat.v4.new_markdown_cell if cell_type == "markdown" else nbformat.v4.new_code_cell
    return make(source, metadata={"nbgrader": meta})


def test_without_nbgrader_config_release_uses_nbgraders_defaults(tmp_path):
    config = load(tmp_path)
    assert config.path is None and config.ignored() == [] and config.cell_timeout is None
    assert by_id(release_notebook(toy_notebook(), config=config))["double"].source == "def double(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()"


def test_the_code_and_text_stubs_of_the_config_replace_solutions(tmp_path):
    config = config_course(tmp_path, 'c.ClearSolutions.code_stub = {"python": "# TODO\\npass"}\n'
                                     'c.ClearSolutions.text_stub = "Write here."\n')
    released = by_id(release_notebook(toy_notebook(), config=config))
    assert released["double"].source == "def double(x):\n    # TODO\n    pass"
    assert released["explain"].source == "Write here."


def test_a_code_stub_without_the_notebooks_language_is_refused_naming_the_notebook(tmp_path):
    config = config_course(tmp_path, 'c.ClearSolutions.code_stub = {"R": "fail()"}\n')
    with pytest.raises(CourseError, match=r"toy.ipynb: language 'python' has not been specified in ClearSolutions.code_stub"):
        release_notebook(toy_notebook(), "toy.ipynb", config)


def test_the_solution_and_hidden_test_delimiters_of_the_config_are_nbgraders_spelling(tmp_path):
    config = config_course(tmp_path, 'c.ClearSolutions.begin_solution_delimeter = "BEGIN ANSWER"\n'
                                     'c.ClearSolutions.end_solution_delimeter = "END ANSWER"\n'
                                     'c.ClearHiddenTests.begin_test_delimeter = "BEGIN SECRET"\n'
                                     'c.ClearHiddenTests.end_test_delimeter = "END SECRET"\n')
    notebook = new_notebook_of(
        nbgrader_cell("answer", "def f():\n    ### BEGIN ANSWER\n    return 1\n    ### END ANSWER", "f"),
        nbgrader_cell("test", "assert f() == 1\n### BEGIN SECRET\nassert f() + 1 == 2\n### END SECRET", "f_test", points=1),
    )
    released = by_id(release_notebook(notebook, config=config))
    assert "return 1" not in released["f"].source and "raise NotImplementedError()" in released["f"].source
    assert released["f_test"].source == "assert f() == 1"


def new_notebook_of(*cells_):
    notebook = nbformat.v4.new_notebook(cells=list(cells_))
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


def test_lock_cells_options_are_honoured(tmp_path):
    config = config_course(tmp_path, "c.LockCells.lock_all_cells = True\nc.LockCells.lock_grade_cells = False\n")
    released = release_notebook(toy_notebook(), config=config)
    plain, test = released.cells[0], by_id(released)["double_test"]
    assert plain.metadata["editable"] is False and plain.metadata["deletable"] is False  # lock_all_cells
    assert test.metadata["editable"] is False  # a test cell is also read-only: lock_readonly_cells (it is `locked`)


def test_a_step_disabled_in_the_config_is_skipped(tmp_path):
    config = config_course(tmp_path, "c.ClearOutput.enabled = False\n")
    notebook = toy_notebook()
    notebook.cells[0] = nbformat.v4.new_code_cell("print(1)", outputs=[nbformat.v4.new_output("stream", text="1\n")])
    assert release_notebook(notebook, config=config).cells[0].outputs[0]["text"] == "1\n"


def test_header_and_footer_notebooks_surround_the_source_as_nbgraders_include_header_footer(tmp_path):
    (tmp_path / "source").mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("HEAD")]), tmp_path / "source" / "header.ipynb")
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("FOOT")]), tmp_path / "source" / "footer.ipynb")
    config = config_course(tmp_path, 'c.IncludeHeaderFooter.header = "source/header.ipynb"\n'
                                     'c.IncludeHeaderFooter.footer = "source/footer.ipynb"\n')
    source = toy_notebook()
    full = instructor_notebook(source, config)
    assert [full.cells[0].source, full.cells[-1].source] == ["HEAD", "FOOT"]
    assert len(full.cells) == len(source.cells) + 2 and source.cells[0].source == "# Toy assignment"  # a copy


def test_a_missing_header_notebook_is_an_error_naming_the_setting(tmp_path):
    config = config_course(tmp_path, 'c.IncludeHeaderFooter.header = "source/header.ipynb"\n')
    with pytest.raises(CourseError, match=r"nbgrader_config.py: IncludeHeaderFooter.header = 'source/header.ipynb': no such notebook"):
        instructor_notebook(toy_notebook(), config)


def test_a_config_file_that_fails_is_an_error_naming_the_file(tmp_path):
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\nc.ClearSolutions.text_stub = undefined_name\n")
    with pytest.raises(CourseError, match=r"nbgrader_config.py: cannot be read as nbgrader reads it \(NameError"):
        load(tmp_path)


def test_the_execute_timeout_is_read_nbgraders_own_section_first(tmp_path):
    assert config_course(tmp_path, "c.ExecutePreprocessor.timeout = 12\n").cell_timeout == 12.0
    assert config_course(tmp_path, "c.ExecutePreprocessor.timeout = 12\nc.Execute.timeout = 5\n").cell_timeout == 5.0
    assert config_course(tmp_path, "c.Execute.timeout = None\n").cell_timeout is None


def test_settings_we_ignore_are_warned_about_once_each_naming_the_setting(tmp_path, capsys):
    config = config_course(tmp_path, "c.Execute.allow_errors = False\nc.Execute.timeout = -1\nc.ClearSolutions.code_stubs = {}\n"
                                     "c.CourseDirectory.source_directory = 'src'\nc.ClearSolutions.text_stub = 'x'\n"
                                     "c.Exchange.root = '/srv/exchange'\nc.CourseDirectory.course_id = 'ml101'\n")
    lines = config.ignored()
    assert [line.split(": ", 1)[1].split(" is ignored")[0] for line in lines] == [
        "ClearSolutions.code_stubs", "CourseDirectory.source_directory", "Execute.allow_errors", "Execute.timeout = -1"]
    assert all(line.startswith(f"{tmp_path / 'nbgrader_config.py'}: ") for line in lines)
    assert "always runs every cell after an error" in lines[2]
    assert warn_ignored(config) == lines and warn_ignored(config) == []  # once per process
    assert capsys.readouterr().err.count("warning: ") == 4


def test_task_cells_are_hand_graded_questions_with_their_points_and_no_mark_scheme():
    from autograder.prepare.manifest import build_manifest

    notebook = toy_notebook()
    notebook.cells.append(task_cell("## Task (3 points)\nExplain.\n=== BEGIN MARK SCHEME ===\n1 point per idea\n=== END MARK SCHEME ==="))
    released = by_id(release_notebook(notebook))["task1"]
    assert released.source == "## Task (3 points)\nExplain."
    assert released.metadata["editable"] is False and len(released.metadata["nbgrader"]["checksum"]) == 32
    manifest = build_manifest("toy", "toy.ipynb", notebook, "toy.ipynb")
    task = manifest.by_id()["task1"]
    assert task.graded and task.points == 3 and task.kind == Kind.TASK
    assert "MARK SCHEME" not in task.source and "1 point per idea" in task.solution_source
    assert manifest.max_score == build_manifest("toy", "toy.ipynb", toy_notebook(), "toy.ipynb").max_score + 3


def test_a_task_cell_needs_points_and_markdown():
    with pytest.raises(CourseError, match=r"cell 10 \(task1\): a graded cell needs 'points'"):
        release_notebook(new_notebook_of(*toy_notebook().cells, task_cell("Do it", points=None)))
    with pytest.raises(CourseError, match=r"\(task1\): a task cell must be a Markdown cell"):
        release_notebook(new_notebook_of(task_cell("x = 1", cell_type="code")))


def test_nbgraders_autotests_are_refused_naming_the_cell():
    notebook = new_notebook_of(nbgrader_cell("test", "AUTOTEST squares(3)", "auto", points=1))
    with pytest.raises(CourseError, match=r"cell 1 \(auto\): nbgrader's autotests \(AUTOTEST lines\) are not supported"):
        release_notebook(notebook, "hw.ipynb")


class _Cell:
    def __init__(self, cell_type, source, grade_id=None):
        self.cell_type, self.source, self.grade_id = cell_type, source, grade_id


def test_a_tasks_work_is_the_students_cells_after_it_up_to_the_next_nbgrader_cell():
    work = task_work([_Cell("markdown", "The sum is $n(n+1)/2$."), _Cell("code", "print(sum(range(11)))\n"),
                      _Cell("code", "   "), _Cell("code", "x = 1", "next_answer"), _Cell("markdown", "later")])
    assert work == "The sum is $n(n+1)/2$.\n\n```python\nprint(sum(range(11)))\n```"
    assert task_work([_Cell("code", "s = '```'")]) == "````python\ns = '```'\n````"  # a fence the code cannot close
    assert task_work([]) == NO_TASK_WORK


def test_hidden_tests_under_the_courses_own_delimiters_are_redacted_from_messages(tmp_path):
    from autograder.prepare.manifest import build_manifest
    from autograder.results.disclosure import Redactor

    config = config_course(tmp_path, 'c.ClearHiddenTests.begin_test_delimeter = "BEGIN SECRET"\n'
                                     'c.ClearHiddenTests.end_test_delimeter = "END SECRET"\n')
    notebook = new_notebook_of(
        nbgrader_cell("answer", "def f(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION", "f"),
        nbgrader_cell("test", "assert f(1) == 2\n### BEGIN SECRET\nassert f(41) == 42, 'secret input'\n### END SECRET", "f_test", points=1),
    )
    redact = Redactor.for_manifests([build_manifest("hw", "hw.ipynb", notebook, "hw.ipynb", config)])
    message = "AssertionError at assert f(41) == 42, 'secret input'; assert f(1) == 2 passed"
    assert redact(message) == "AssertionError at [hidden test code]; assert f(1) == 2 passed"
