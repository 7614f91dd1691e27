"""`verify` on a course written for nbgrader: no solutions/, test cells that are plain asserts.

Nothing is checked "against solutions/" there, and the rule "the released notebook scores zero" allows
*free-point* test cells (a test cell that reads no name any answer cell defines: it cannot depend on the
student's work), never a test cell that uses the student's code and still passes on the blank notebook.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_notebook

from autograder.cli import main
from autograder.course import Course
from autograder.grading.verify import verify_assignment
from autograder.prepare.publish import release_assignment
from autograder.sandbox.limits import Limits
from conftest import build_toy_course, nbgrader_cell

SQUARES = "def squares(n):\n    ### BEGIN SOLUTION\n    return [i * i for i in range(1, n + 1)]\n    ### END SOLUTION"


def _nbgrader_course(root: Path, *extra_tests) -> Path:
    notebook = new_notebook(cells=[
        nbgrader_cell("answer", SQUARES, "squares"),
        nbgrader_cell("test", "assert squares(2) == [1, 4]\nassert squares(3) == [1, 4, 9]", "correct_squares", points=1),
        *extra_tests,
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    (root / "source" / "ps1").mkdir(parents=True)
    nbformat.write(notebook, root / "source" / "ps1" / "problem1.ipynb")
    release_assignment(Course.at(root).assignment("ps1"))
    return root


FREE = nbgrader_cell("test", '"""One point for handing the notebook in."""\nassert True', "handed_in", points=1)
#: reads the student's squares, yet passes on the blank notebook (the stub raises NotImplementedError)
HOLLOW = nbgrader_cell("test", "try:\n    squares(0)\nexcept NotImplementedError:\n    pass", "squares_zero", points=1)


def _verify(root: Path, assignment: str):
    return verify_assignment(Course.at(root).assignment(assignment), Limits(cell_timeout=60), workers=2)


def test_without_solutions_nothing_is_claimed_against_solutions(tmp_path, capsys):
    root = _nbgrader_course(tmp_path / "course")
    assert main(["verify", "--course", str(root), "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert "verify passed" in out and "solutions/" not in out.replace("mutation testing needs solutions/", "")


def test_a_free_point_test_cell_is_allowed_without_solutions_and_said_so(tmp_path):
    report = _verify(_nbgrader_course(tmp_path / "course", FREE), "ps1")
    assert report.ok, [f"{f.what}: {f.detail}" for f in report.findings if not f.ok]
    zero = next(f for f in report.findings if "released notebook gets zero" in f.what)
    assert "free-point test cells aside" in zero.what and "handed_in: 1.0 / 1.0 (free points" in zero.detail
    # the course has no tests/mutants/ps1.toml: said, as a warning that does not fail verify
    bank = next(f for f in report.findings if f.warning)
    assert bank.what == "no hand-written wrong answers: tests/mutants/ps1.toml does not exist" and bank.ok


def test_a_test_cell_that_uses_the_answer_and_passes_on_the_blank_notebook_still_fails(tmp_path):
    report = _verify(_nbgrader_course(tmp_path / "course", FREE, HOLLOW), "ps1")
    zero = next(f for f in report.findings if "released notebook gets zero" in f.what)
    assert not zero.ok and zero.detail == "squares_zero: 1.0 / 1.0"


def test_with_solutions_a_free_point_cell_is_a_failure(tmp_path):
    root = build_toy_course(tmp_path / "course")
    path = root / "source" / "toy" / "toy.ipynb"
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "half_test":
            cell.source = "ag.check_close('half', answer_half, expected=0.5)"
    notebook.cells.append(nbgrader_cell("test", "ag.check_true('handed_in', True)", "handed_in", points=1))
    nbformat.write(notebook, path)
    release_assignment(Course.at(root).assignment("toy"))
    report = _verify(root, "toy")
    assert any(f.what == "the tests run against solutions/" and f.ok for f in report.findings)
    zero = next(f for f in report.findings if "released notebook gets zero" in f.what)
    assert not zero.ok and "handed_in: 1.0 / 1.0" in zero.detail
