"""Issue 12, classes 8 and 10: no decision left to the student's process, and tamper evidence.

Every attack is a real submission graded end to end. Each one's own answers are wrong, so it must score
exactly what the same wrong answers score without the trick (0), and its row must carry a note
"flagged for review: ..." that says what it did. The honest submissions (right, wrong, NumPy-style right
answers, the bundled samples) must never be flagged. docs/security.md has the before/after table.
"""

from __future__ import annotations

import csv
import io
import shutil

import nbformat
import pytest
from nbformat.v4 import new_notebook

from autograder.course import Course
from autograder.course.submissions import discover
from autograder.grading.batch import grade_batch
from autograder.grading.plan import build_plan
from autograder.prepare.publish import release_assignment
from autograder.results.export import to_csv
from autograder.results.gradebook import Gradebook
from autograder.sandbox.limits import Limits
from conftest import REPO, hand_in, nbgrader_cell, student_version

pytestmark = pytest.mark.slow  # each module fixture grades a whole batch once

LIMITS = Limits(cell_timeout=20, total_timeout=180, memory=3 * 2**30, processes=64, file_size=8 * 2**20)
FLAG = "flagged for review"


def plain_notebook():
    """An nbgrader course: three one-point questions whose test cells are plain asserts."""
    return new_notebook(cells=[
        nbgrader_cell("locked", "import math\nimport numpy as np", "setup"),
        nbgrader_cell("answer", "def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION", "add"),
        nbgrader_cell("test", "assert add(1, 2) == 3\nassert add(5, 7) == 12\nassert add(0, 0) == 0", "add_test", points=1),
        nbgrader_cell("answer", "def scale(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION", "scale"),
        nbgrader_cell("test", "y = scale(np.array([1.0, 2.0]))\nassert np.allclose(y, [2.0, 4.0])", "scale_test", points=1),
        nbgrader_cell("answer", "def area(r):\n    ### BEGIN SOLUTION\n    return math.pi * r ** 2\n    ### END SOLUTION", "area"),
        nbgrader_cell("test", "a = area(1.0)\nassert math.isclose(a, math.pi)\nassert isinstance(area(2.0), float)", "area_test", points=1),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})


WRONG = {
    "add": "def add(a, b):\n    return a - b",
    "scale": "def scale(x):\n    return 3 * x",
    "area": "def area(r):\n    return 3 * r ** 2",
}
#: Right answers in other styles than the solution's: NumPy scalars, a float32 array, an int subclass of the
#: standard library (bool), a list; each must still pass.
RIGHT_IN_OTHER_STYLES = {
    "add": "def add(a, b):\n    return np.int64(a) + np.int64(b)",
    "scale": "def scale(x):\n    return np.asarray([2 * v for v in x], dtype=np.float32)",
    "area": "def area(r):\n    return float(np.float64(np.pi) * r * r)",
}


def with_prefix(prefix: str, answers: dict[str, str]) -> dict[str, str]:
    first, *_ = answers
    return {**answers, first: prefix + "\n" + answers[first]}


YES = "lambda *a, **k: True"
ATTACKS = {
    # a trace hook that jumps over the line of the harness that runs the test (blank answers scored full marks)
    "settrace_skips_the_test": with_prefix(
        "import sys, linecache\n"
        "def _jump(frame, event, arg):\n"
        "    if frame.f_code.co_name != 'exec_test_cell':\n"
        "        return None\n"
        "    if event == 'line' and '_exec(_compile(' in linecache.getline(frame.f_code.co_filename, frame.f_lineno):\n"
        "        frame.f_lineno += 1\n"
        "    return _jump\n"
        "sys.settrace(_jump)", WRONG),
    # a hook set from inside the student's function, while the test runs: right for add(1, 2) and add(0, 0),
    # wrong for add(5, 7), whose assertion (line 2 of the test) it jumps over
    "settrace_from_inside_the_test": {
        **WRONG, "add": "import sys\n"
                        "def add(a, b):\n"
                        "    if (a, b) != (1, 2):\n        return 0 if (a, b) == (0, 0) else a - b\n"
                        "    frame = sys._getframe(1)\n"
                        "    def _skip(f, event, arg):\n"
                        "        if event == 'line' and f is frame and f.f_lineno == 2:\n            f.f_lineno = 3\n"
                        "        return _skip\n"
                        "    frame.f_trace = _skip\n    sys.settrace(_skip)\n"
                        "    return 3"},
    # a profile hook re-patches the comparisons at the first call the test makes
    "setprofile_repatches": with_prefix(
        "import sys\n"
        f"def _patch(frame, event, arg):\n    np.allclose = {YES}\n    math.isclose = {YES}\n"
        "sys.setprofile(_patch)", WRONG),
    # a thread re-patches the comparisons every millisecond, also while the test cell runs
    "thread_repatches": with_prefix(
        "import threading, time\n"
        "def _loop():\n    while True:\n"
        f"        np.allclose = {YES}\n        math.isclose = {YES}\n        time.sleep(0.0005)\n"
        "threading.Thread(target=_loop, daemon=True).start()\n"
        "time.sleep(0.01)", {**WRONG, "scale": "import time\ndef scale(x):\n    time.sleep(0.01)\n    return 3 * x",
                             "area": "import time\ndef area(r):\n    time.sleep(0.01)\n    return 3 * r ** 2"}),
    # an int whose == always says yes (nbgrader gives the point)
    "lying_int": {**WRONG, "add": "class Yes(int):\n    __eq__ = lambda self, other: True\n    __hash__ = int.__hash__\n"
                                  "def add(a, b):\n    return Yes(a - b)"},
    # the harness patched: the guard that restores numpy/math before each test cell does nothing
    "patches_the_harness": with_prefix(
        "import autograder.sandbox.inside.runner as r\n"
        "r.Guard.restore = lambda self, namespace: []\n"
        f"np.allclose = {YES}\nmath.isclose = {YES}", WRONG),
    # the watch itself silenced (its class's methods replaced), then a profile hook re-patches the comparisons
    "silences_the_watch": with_prefix(
        "import sys\nimport autograder.sandbox.inside.tamper as t\n"
        "t.TamperWatch.after_test = lambda self, end: end\nt.TamperWatch._found = lambda *a, **k: None\n"
        f"def _patch(frame, event, arg):\n    np.allclose = {YES}\n    math.isclose = {YES}\n"
        "sys.setprofile(_patch)", WRONG),
    # the check API and the harness's code replaced in place (identity kept)
    "patches_the_check_api": with_prefix(
        "import autograder.sandbox.inside.checks as c\nimport autograder.sandbox.inside.runner as r\n"
        "c.check_close = lambda *a, **k: None\nr._describe_error.__code__ = (lambda error: None).__code__", WRONG),
}
#: What each attack's row must say (a part of its "flagged for review: ..." note).
EVIDENCE = {
    "settrace_skips_the_test": "sys.settrace",
    "settrace_from_inside_the_test": "sys.settrace",
    "setprofile_repatches": "sys.setprofile",
    "thread_repatches": "a thread started by the notebook was running during test cell",
    "lying_int": "its own class Yes (a int)",
    "patches_the_harness": "Guard.restore",
    "patches_the_check_api": "checks.check_close",
    "silences_the_watch": "TamperWatch.after_test",
}


def _grade(root, assignment_name: str, submissions) -> dict:
    assignment = Course.at(root).assignment(assignment_name)
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        summary = grade_batch(build_plan(assignment, LIMITS), discover(submissions, assignment), gradebook, workers=2)
        csv_rows = list(csv.DictReader(io.StringIO(to_csv(gradebook, assignment_name))))
    return {s.student_id: s for s in summary.graded}, csv_rows


@pytest.fixture(scope="module")
def plain_batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("tamper") / "course"
    (root / "source" / "plain").mkdir(parents=True)
    nbformat.write(plain_notebook(), root / "source" / "plain" / "plain.ipynb")
    release_assignment(Course.at(root).assignment("plain"))
    submissions = root.parent / "submitted"
    for name, answers in {**ATTACKS, "wrong": WRONG, "right_in_other_styles": RIGHT_IN_OTHER_STYLES}.items():
        hand_in(submissions, name, student_version(root, answers, "plain", "plain.ipynb"), "plain.ipynb")
    hand_in(submissions, "correct", nbformat.read(root / "source" / "plain" / "plain.ipynb", as_version=4), "plain.ipynb")
    return _grade(root, "plain", submissions)


def total(graded, student) -> float:
    return sum(r.score or 0 for r in graded[student].results)


def flags(graded, student) -> list[str]:
    return [note for note in graded[student].notes or [] if note.startswith(FLAG)]


def test_honest_plain_submissions_score_as_before_and_are_never_flagged(plain_batch):
    graded, _ = plain_batch
    assert (total(graded, "correct"), total(graded, "wrong"), total(graded, "right_in_other_styles")) == (3, 0, 3), \
        {s: [(r.question, r.score, r.message) for r in graded[s].results] for s in ("correct", "right_in_other_styles")}
    assert flags(graded, "correct") == flags(graded, "wrong") == flags(graded, "right_in_other_styles") == []


@pytest.mark.parametrize("student", sorted(ATTACKS))
def test_an_attack_earns_what_its_wrong_answers_earn_and_is_flagged(plain_batch, student):
    graded, _ = plain_batch
    assert total(graded, student) == total(graded, "wrong") == 0, [(r.question, r.score, r.message) for r in graded[student].results]
    assert any(EVIDENCE[student] in note for note in flags(graded, student)), graded[student].notes


@pytest.mark.parametrize("student", sorted(ATTACKS))
def test_the_csv_says_who_is_flagged(plain_batch, student):
    _, rows = plain_batch
    mine = [row for row in rows if row["student_id"] == student]
    assert mine and all(row["flagged"].startswith(FLAG) and EVIDENCE[student] in row["flagged"] for row in mine)
    assert all(row["flagged"] == "" for row in rows if row["student_id"] in ("correct", "wrong", "right_in_other_styles"))


# ------------------------------------------------------------------------------- check_true, check mode

PROPS_SOLUTIONS = "def is_even(n):\n    return n % 2 == 0\n"


def props_notebook():
    return new_notebook(cells=[
        nbgrader_cell("locked", "import numpy as np\nfrom autograder import checks as ag", "setup"),
        nbgrader_cell("answer", "def is_even(n):\n    ### BEGIN SOLUTION\n    return n % 2 == 0\n    ### END SOLUTION", "is_even"),
        nbgrader_cell("test", "ag.check_true('is_even.four', is_even(4))\nag.check_true('is_even.ten', is_even(10))", "is_even_test", points=1),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})


PROPS = {
    "correct": "def is_even(n):\n    return n % 2 == 0",
    "correct_numpy_bool": "def is_even(n):\n    return np.int64(n) % 2 == 0",
    "wrong": "def is_even(n):\n    return n % 2 == 1",
    "lying_bool": "class Yes:\n    def __bool__(self):\n        return True\ndef is_even(n):\n    return Yes()",
    "lying_bool_claims_to_be_bool": "class Yes:\n    __class__ = property(lambda self: bool)\n    def __bool__(self):\n        return True\n"
                                    "def is_even(n):\n    return Yes()",
}


@pytest.fixture(scope="module")
def props_batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("props") / "course"
    (root / "source" / "props").mkdir(parents=True)
    (root / "solutions").mkdir()
    (root / "solutions" / "props.py").write_text(PROPS_SOLUTIONS)
    nbformat.write(props_notebook(), root / "source" / "props" / "props.ipynb")
    release_assignment(Course.at(root).assignment("props"))
    submissions = root.parent / "submitted"
    for name, answer in PROPS.items():
        hand_in(submissions, name, student_version(root, {"is_even": answer}, "props", "props.ipynb"), "props.ipynb")
    return _grade(root, "props", submissions)


def test_check_true_is_decided_by_the_grader(props_batch):
    graded, _ = props_batch
    scores = {student: total(graded, student) for student in PROPS}
    assert scores == {"correct": 1, "correct_numpy_bool": 1, "wrong": 0, "lying_bool": 0, "lying_bool_claims_to_be_bool": 0}
    assert "condition is not a plain bool (got Yes)" in graded["lying_bool"].results[0].message
    assert any("object of type Yes as its condition" in note for note in flags(graded, "lying_bool"))
    assert flags(graded, "correct") == flags(graded, "correct_numpy_bool") == flags(graded, "wrong") == []


# ---------------------------------------------------------------------------- honest course samples


def test_the_bundled_samples_are_never_flagged(tmp_path):
    """Three of samples/deep_mlps (right, partly right, resumed after a crash), graded on the real course."""
    submitted = tmp_path / "submitted"
    for student in ("ada_lovelace", "grace_hopper", "katherine_johnson"):
        shutil.copytree(REPO / "samples" / "deep_mlps" / student, submitted / student)
    assignment = Course.at(REPO).assignment("deep_mlps")
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as gradebook:
        summary = grade_batch(build_plan(assignment, LIMITS), discover(submitted, assignment), gradebook, workers=2)
    assert len(summary.graded) == 3
    assert {s.student_id: flags({s.student_id: s}, s.student_id) for s in summary.graded} == {s: [] for s in
                                                                                               ("ada_lovelace", "grace_hopper", "katherine_johnson")}


# -------------------------------------------------------------------- the assert rewriting, in-process


class _NoGuard:
    trusted_classes: dict = {}

    def original(self, module, name):
        return None


def _run_test_cell(notebook_code: str, test_code: str, instructor_code: str = "") -> list[str]:
    """Run ``test_code`` rewritten as the runner rewrites it, after ``notebook_code`` compiled as a notebook
    cell (and ``instructor_code`` as a read-only cell, whose classes the guard notes as trusted)."""
    import ast

    from autograder.sandbox.inside.asserts import HELPER_NAME, Assertions

    noted: list[str] = []
    guard = _NoGuard()
    guard.trusted_classes = {}
    namespace = {"__name__": "__main__", HELPER_NAME: Assertions(guard, noted.append)}
    exec(compile(instructor_code, "<ipython-input-1-0>", "exec"), namespace)
    guard.trusted_classes.update({v: {k: f for k, f in vars(v).items() if callable(f)} for v in namespace.values() if isinstance(v, type)})
    exec(compile(notebook_code, "<ipython-input-2-0>", "exec"), namespace)
    tree = Assertions(_NoGuard()).rewrite(ast.parse(test_code))
    exec(compile(tree, "<test cell 1>", "exec"), namespace)
    return noted


HONEST_ASSERTS = [
    "assert np.float32(2.0) == 2 and np.int64(3) == 3",
    "assert torch.tensor([1.5, 2.5]).sum().item() == 4.0",
    "assert [0.5, 0.25] == [0.5, 0.25] and (1, 'a') == (1, 'a') and {'k': [1]} == {'k': [1]}",
    "assert np.allclose(np.array([0.1 + 0.2]), [0.3]) and math.isclose(0.1 + 0.2, 0.3)",
    "assert (np.arange(3) == [0, 1, 2]).all() and torch.equal(torch.ones(2), torch.ones(2))",
    "assert 'b' in 'abc' and 4 not in [1, 2] and 1 < 2 <= 2 < 3 and not (3 < 2)",
    "assert isinstance(3, int) and isinstance(np.float64(1), float) and type(3) == int",
    "assert np.ones((2, 3)).shape == (2, 3) and len([1, 2]) == 2 and None is None",
    "assert pd.Series([1, 2]).equals(pd.Series([1, 2])) and (pd.Series([1, 2]) == [1, 2]).all()",
    "assert re.match('a+', 'aaa')",
]


@pytest.mark.parametrize("test_code", HONEST_ASSERTS)
def test_rewritten_asserts_pass_right_answers_in_ordinary_styles(test_code):
    setup = "import math, re\nimport numpy as np\nimport pandas as pd\nimport torch"
    assert _run_test_cell(setup, test_code) == []


LIARS = {
    "class Yes(int):\n    __eq__ = lambda self, other: True\nvalue = Yes(0)": "assert value == 3",
    "class Yes(float):\n    __lt__ = lambda self, other: True\nvalue = Yes(9.0)": "assert value < 1",
    "class Yes(str):\n    __eq__ = lambda self, other: True\nvalue = Yes('no')": "assert value == 'yes'",
    "class Yes(list):\n    __eq__ = lambda self, other: True\nvalue = Yes([0])": "assert value == [1]",
    "import numpy as np\nclass Yes(np.ndarray):\n    __eq__ = lambda self, other: np.ones(self.shape, bool)\nvalue = np.zeros(2).view(Yes)":
        "assert (value == [1.0, 1.0]).all()",
    "class Yes:\n    __bool__ = lambda self: True\nvalue = Yes()": "assert value",
    "class Yes:\n    __eq__ = lambda self, other: True\nvalue = Yes()": "assert value == 3",
    "class Yes:\n    __class__ = property(lambda self: int)\nvalue = Yes()": "assert isinstance(value, int)",
}


@pytest.mark.parametrize("notebook_code", sorted(LIARS))
def test_rewritten_asserts_fail_a_value_that_lies_about_itself(notebook_code):
    with pytest.raises(AssertionError):
        _run_test_cell(notebook_code, LIARS[notebook_code])


INSTRUCTOR_POINT = "class Point:\n    def __init__(self, x):\n        self.x = x\n    def __eq__(self, other):\n        return self.x == other.x"


def test_a_class_of_a_read_only_cell_compares_with_its_own_eq():
    assert _run_test_cell("def make(x):\n    return Point(x)", "assert make(2) == Point(2)", INSTRUCTOR_POINT) == []
    with pytest.raises(AssertionError):
        _run_test_cell("def make(x):\n    return Point(x)", "assert make(3) == Point(2)", INSTRUCTOR_POINT)


def test_a_class_of_a_read_only_cell_patched_by_the_notebook_is_the_notebooks():
    with pytest.raises(AssertionError, match="class the notebook defined"):
        _run_test_cell("Point.__eq__ = lambda self, other: True\ndef make(x):\n    return Point(x)", "assert make(3) == Point(2)",
                       INSTRUCTOR_POINT)
