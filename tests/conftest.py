"""Shared fixtures: a small course built on the fly, and the bundled courses of the repository; the test tiers.

The **unit tier** (``python -m pytest -m unit``, under a minute) is the pure rules: comparison and
tolerances, values and checks across the wire, limits, late policy, release transforms, sanitizing,
exports and totals from a gradebook, statuses, user errors. Its tests start no process: no sandbox, no warm
interpreter, no reference run. The tier is chosen here by file (`UNIT_FILES`), less the tests that grade
(`GRADING_FIXTURES`, `NOT_UNIT`); `tests/test_tiers.py` fails when a unit file imports what starts a run,
and the guard below fails any unit test that starts a process anyway.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

REPO = Path(__file__).resolve().parent.parent

#: Files of the unit tier: pure rules, no process started (see the module's docstring).
UNIT_FILES = frozenset({
    "test_compare.py", "test_values.py", "test_checks.py", "test_metric.py", "test_limits.py", "test_late.py",
    "test_release.py", "test_sanitize.py", "test_export.py", "test_merge.py", "test_status.py", "test_errors.py", "test_tiers.py",
    "test_item_analysis.py", "test_feedback_causes.py", "test_preflight.py",
})
#: Fixtures that grade a batch: a test using one is not in the unit tier, whatever its file.
GRADING_FIXTURES = frozenset({"graded_course"})
#: Tests of unit files that start a process of their own.
NOT_UNIT = frozenset({
    "test_grading_with_the_manifest_kept_at_release_does_not_import_nbgrader",
    # check_metric on a model: evaluated in its own limited process (autograder.grading.held_out)
    "test_a_metric_decides_against_its_bound", "test_the_lying_model_is_evaluated_on_its_real_shapes_in_a_small_process",
    "test_a_compute_heavy_model_costs_only_its_check_with_a_clear_message",
    "test_what_a_metric_prints_does_not_reach_the_grader_as_a_reply",
    "test_a_model_that_needs_too_much_memory_costs_only_its_check_with_a_clear_message",
})


def is_unit(item) -> bool:
    return (item.path.name in UNIT_FILES and item.originalname not in NOT_UNIT
            and not GRADING_FIXTURES & set(getattr(item, "fixturenames", ())))


def pytest_ignore_collect(collection_path, config):
    """``-m unit`` does not even import the other files (Dask, Selenium, torch...): seconds of the tier's minute."""
    if config.getoption("markexpr") == "unit" and collection_path.suffix == ".py" and collection_path.name.startswith("test_"):
        return collection_path.name not in UNIT_FILES or None
    return None


def pytest_collection_modifyitems(config, items):
    for item in items:
        if is_unit(item):
            item.add_marker(pytest.mark.unit)


class _NoProcessInTheUnitTier(subprocess.Popen):
    def __init__(self, args, *rest, **options):
        raise AssertionError(f"a unit-tier test started a process ({args!r}): it belongs outside the unit tier "
                             "(tests/conftest.py: UNIT_FILES, GRADING_FIXTURES, NOT_UNIT)")


@pytest.fixture(autouse=True)
def _unit_tests_start_no_process(request, monkeypatch):
    """A unit-tier test that starts a process (a sandbox, a warm interpreter, a reference run) fails."""
    if request.node.get_closest_marker("unit"):
        monkeypatch.setattr(subprocess, "Popen", _NoProcessInTheUnitTier)
    yield
PEERS = REPO.parent / "shared" / "peers" / "nbgrader-docs-ps1"


def nbgrader_cell(kind: str, source: str, grade_id: str, points: float | None = None, cell_type: str = "code"):
    """A cell with nbgrader metadata; kind is answer | manual | test | locked."""
    flags = {
        "answer": dict(solution=True, grade=False, locked=False),
        "manual": dict(solution=True, grade=True, locked=False),
        "test": dict(solution=False, grade=True, locked=True),
        "locked": dict(solution=False, grade=False, locked=True),
    }[kind]
    meta = {"grade_id": grade_id, "schema_version": 3, **flags}
    if points is not None:
        meta["points"] = points
    make = new_code_cell if cell_type == "code" else new_markdown_cell
    return make(source, metadata={"nbgrader": meta})


TOY_SOLUTIONS = '''
import numpy as np

def double(x):
    return 2 * np.asarray(x, dtype=float)

def mean_rows(a):
    return np.asarray(a, dtype=float).mean(axis=1)

answer_half = 0.5
'''


def toy_notebook():
    """A three-question notebook graded by checks against solutions/toy.py, plus a hand-graded answer."""
    return new_notebook(
        cells=[
            new_markdown_cell("# Toy assignment"),
            nbgrader_cell("locked", "import numpy as np\nfrom autograder import checks as ag", "setup"),
            nbgrader_cell("answer", "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * np.asarray(x, dtype=float)\n    ### END SOLUTION", "double"),
            nbgrader_cell(
                "test",
                "ag.check_close('double.small', double([1, 2]), expected=np.array([2.0, 4.0]))\n"
                "### BEGIN HIDDEN TESTS\n"
                "with ag.seeded(1):\n    x = np.random.randn(5)\n"
                "ag.check_close('double.random', double(x))\n"
                "ag.check_close('double.empty', double([]))\n"
                "### END HIDDEN TESTS",
                "double_test",
                points=2,
            ),
            nbgrader_cell("answer", "def mean_rows(a):\n    ### BEGIN SOLUTION\n    return np.asarray(a, dtype=float).mean(axis=1)\n    ### END SOLUTION", "mean_rows"),
            nbgrader_cell(
                "test",
                "ag.check_equal('mean_rows.shape', mean_rows(np.ones((3, 4))).shape, expected=(3,))\n"
                "### BEGIN HIDDEN TESTS\n"
                "with ag.seeded(2):\n    a = np.random.randn(4, 6)\n"
                "ag.check_close('mean_rows.random', mean_rows(a))\n"
                "### END HIDDEN TESTS",
                "mean_rows_test",
                points=1,
            ),
            nbgrader_cell("answer", "### BEGIN SOLUTION\nanswer_half = 0.5\n### END SOLUTION", "half"),
            nbgrader_cell("test", "ag.check_close('half', answer_half)", "half_test", points=1),
            nbgrader_cell("manual", "### BEGIN SOLUTION\nDoubling is linear.\n### END SOLUTION", "explain", points=2, cell_type="markdown"),
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )


def build_toy_course(root: Path) -> Path:
    """Write a course directory with one assignment, `toy`, at ``root``, and release it."""
    (root / "source" / "toy").mkdir(parents=True)
    (root / "solutions").mkdir()
    nbformat.write(toy_notebook(), root / "source" / "toy" / "toy.ipynb")
    (root / "solutions" / "toy.py").write_text(TOY_SOLUTIONS)
    from autograder.course import Course
    from autograder.prepare.publish import release_assignment

    release_assignment(Course.at(root).assignment("toy"))
    return root


@pytest.fixture
def toy_course(tmp_path: Path) -> Path:
    """A course directory with one assignment, `toy`, released."""
    return build_toy_course(tmp_path / "course")


def student_version(course: Path, answers: dict[str, str], assignment: str = "toy", notebook: str = "toy.ipynb"):
    """The released notebook with some answer cells filled in, as a student would hand it in."""
    released = nbformat.read(course / "release" / assignment / notebook, as_version=4)
    for cell in released.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    return released


def hand_in(submissions: Path, student: str, notebook, name: str = "toy.ipynb") -> Path:
    folder = submissions / student
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if isinstance(notebook, (bytes, str)):
        path.write_bytes(notebook if isinstance(notebook, bytes) else notebook.encode())
    else:
        nbformat.write(notebook, path)
    return path


CORRECT = {
    "double": "def double(x):\n    return np.asarray(x, dtype=float) * 2",
    "mean_rows": "def mean_rows(a):\n    return np.mean(a, axis=1)",
    "half": "answer_half = 1 / 2",
}


@pytest.fixture
def peers_course(tmp_path: Path) -> Path:
    """nbgrader's documentation course (ps1), copied so the test can write its gradebook."""
    if not PEERS.is_dir():
        pytest.skip(f"nbgrader's docs course is not at {PEERS}")
    root = tmp_path / "peers"
    shutil.copytree(PEERS / "source", root / "source")
    shutil.copytree(PEERS / "submitted", root / "submitted")
    return root
