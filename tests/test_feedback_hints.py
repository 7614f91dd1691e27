"""Hints, root causes and error places end to end: a course whose checks carry ``hint=``, graded, then read back
through `autograder check`, the feedback page and Gradescope's results.json.

The course is the toy course of conftest with Markdown and LaTeX question prompts and a hint on the visible
and on a hidden check of ``double``; `tests/test_feedback_browser.py` renders the same pages in Chromium.
"""

from __future__ import annotations

import html as html_module
import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_markdown_cell

from autograder.course import Course
from autograder.course.submissions import discover
from autograder.grading.batch import grade_batch
from autograder.grading.plan import build_plan
from autograder.results.feedback import write_feedback
from autograder.results.gradebook import Gradebook
from autograder.sandbox.limits import Limits
from autograder.student.check import check_notebook
from conftest import CORRECT, TOY_SOLUTIONS, hand_in, student_version, toy_notebook

VISIBLE_HINT = "multiply each element by $2$; adding 2 is a different function"
HIDDEN_HINT = "try your function on negative numbers too"
COMMENT = "- **clear** statement of linearity (+1)\n- a worked example, $f(2x) = 2f(x)$ (+1)\n\nWell done."

#: bob: a wrong double (its hint), a mean_rows that uses it and raises on line 3 of its answer cell.
BOB = dict(CORRECT, double="def double(x):\n    return np.asarray(x, dtype=float) + 2",
           mean_rows="def mean_rows(a):\n    a = np.asarray(a, dtype=float)\n    return double(a).mean(axis=1) / scale",
           explain="Doubling is linear.")


def hinted_notebook():
    notebook = toy_notebook()
    cells = notebook.cells
    cells[0] = new_markdown_cell("# Toy assignment\n\nThree small functions, checked against a reference.")
    for cell in cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "double_test":
            cell.source = (cell.source
                           .replace("expected=np.array([2.0, 4.0]))", f"expected=np.array([2.0, 4.0]), hint={VISIBLE_HINT!r})")
                           .replace("double(x))", f"double(x), hint={HIDDEN_HINT!r})"))
    prompts = {"double": "## Question 1: doubling\n\nWrite $f(x) = 2x$, elementwise, so that $$\\sum_{i=1}^{n} f(x)_i = 2 \\sum_{i=1}^{n} x_i.$$",
               "mean_rows": "## Question 2: row means\n\nReturn $\\bar{a}_i = \\frac{1}{m} \\sum_{j} a_{ij}$ for every row $i$.",
               "half": "## Question 3: a half\n\nSet `answer_half` to $\\frac{1}{2}$.",
               "explain": "## Question 4: why is doubling linear?\n\nExplain in one or two sentences why $f(x) = 2x$ is linear."}
    for grade_id, prompt in prompts.items():
        at = next(i for i, c in enumerate(cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
        cells.insert(at, new_markdown_cell(prompt))
    return notebook


def build_hinted_course(root: Path) -> Path:
    (root / "source" / "toy").mkdir(parents=True)
    (root / "solutions").mkdir()
    nbformat.write(hinted_notebook(), root / "source" / "toy" / "toy.ipynb")
    (root / "solutions" / "toy.py").write_text(TOY_SOLUTIONS)
    from autograder.prepare.publish import release_assignment

    release_assignment(Course.at(root).assignment("toy"))
    return root


@pytest.fixture(scope="module")
def hinted_course(tmp_path_factory):
    return build_hinted_course(tmp_path_factory.mktemp("hinted") / "course")


@pytest.fixture(scope="module")
def hinted_graded(hinted_course, tmp_path_factory):
    """carol: all correct, her written answer graded by hand; bob: the mix above; dave: all correct, written
    answer waiting for its hand grade; eve: a grader's comment with raw HTML in it."""
    submissions = tmp_path_factory.mktemp("hinted-submitted")
    hand_in(submissions, "carol", student_version(hinted_course, dict(CORRECT, explain="Doubling is **linear**: $2(x + y) = 2x + 2y$.")))
    hand_in(submissions, "bob", student_version(hinted_course, BOB))
    hand_in(submissions, "dave", student_version(hinted_course, dict(CORRECT, explain="It scales.")))
    hand_in(submissions, "eve", student_version(hinted_course, dict(CORRECT, explain="It is.")))
    assignment = Course.at(hinted_course).assignment("toy")
    url = f"sqlite:///{hinted_course / 'gradebook.db'}"
    with Gradebook(url) as gradebook:
        grade_batch(build_plan(assignment, Limits(cell_timeout=20)), discover(submissions, assignment), gradebook, workers=2)
        gradebook.set_manual_grade("toy", "carol", "toy.ipynb", "explain", 2, COMMENT)
        gradebook.set_manual_grade("toy", "eve", "toy.ipynb", "explain", 1, "<script>alert(1)</script> **why** <img src=x onerror=alert(2)>")
    return assignment, url


def feedback_pages(hinted_graded, output: Path) -> dict[str, Path]:
    assignment, url = hinted_graded
    with Gradebook(url) as gradebook:
        return {page.student_id: page.path for page in write_feedback(assignment, gradebook, output)}


def text(page: str) -> str:
    return html_module.unescape(re.sub(r"<[^>]+>", "", page))


def test_check_shows_the_hint_after_the_failure_and_the_cause_of_a_failure_through_another_answer(hinted_course, tmp_path):
    student = tmp_path / "student"
    shutil.copytree(hinted_course / "release", student / "release")
    path = tmp_path / "mine.ipynb"
    nbformat.write(student_version(hinted_course, BOB), path)
    lines = {q.question: q for q in check_notebook(path, student).questions}
    double, mean_rows = lines["double_test"], lines["mean_rows_test"]
    assert double.status == "failed" and double.message.endswith(f"\n  hint: {VISIBLE_HINT}")
    assert "[seed" not in double.message
    assert mean_rows.status == "error" and "answer cell 'mean_rows', line 3" in mean_rows.message
    assert mean_rows.message.endswith("(this used your `double` (question double_test), which fails its own check: fix that first)")
    assert "hint" not in lines["half_test"].message


def test_the_page_shows_hints_on_failures_only_and_the_hidden_checks_hint_too(hinted_graded, tmp_path):
    pages = feedback_pages(hinted_graded, tmp_path)
    bob, carol = pages["bob"].read_text(), pages["carol"].read_text()
    # what to fix first, the failed check's row, and the test cell's own code (as released)
    assert text(bob).count("multiply each element by") == 3
    assert "<math" in bob[bob.index("multiply each element by") - 200:bob.index("adding 2 is")]  # the hint's $2$ is math
    assert HIDDEN_HINT in text(bob)  # a hidden check's hint: the instructor wrote it for students
    assert 'class="small hint"' in bob and 'class="hint"' in bob
    assert "hint\"" not in carol and "Hint:" not in carol  # all passed: no hint shown (only the test's code has hint=)


def test_the_page_says_once_that_mean_rows_failed_through_double_and_points_at_the_line(hinted_graded, tmp_path):
    bob = feedback_pages(hinted_graded, tmp_path)["bob"].read_text()
    fix = bob[bob.index("What to fix first"):bob.index('<table class="questions">')]
    assert "Question 1: doubling" in fix and "Fixing it may fix these too" in fix and "Question 2: row means" in fix
    assert fix.count("<li>") == 1, "mean_rows is listed under double, not beside it"
    shown = text(bob)
    assert "This used your double (Question 1: doubling), which fails its own check: fix Question 1: doubling first." in shown
    assert "The error was raised at answer cell 'mean_rows', line 3, in mean_rows: return double(a).mean(axis=1) / scale" in shown
    assert 'href="#cell-toy.ipynb-mean_rows"' in bob and 'id="cell-toy.ipynb-mean_rows"' in bob


def test_a_hand_grading_comment_renders_as_markdown_and_never_as_raw_html(hinted_graded, tmp_path):
    pages = feedback_pages(hinted_graded, tmp_path)
    carol, eve = pages["carol"].read_text(), pages["eve"].read_text()
    comment = carol[carol.index('<div class="comment">'):]
    comment = comment[:comment.index("</div>")]
    assert "<li><strong>clear</strong> statement of linearity (+1)</li>" in comment and "<math" in comment
    assert "<script>alert" not in eve and "&lt;script&gt;alert(1)&lt;/script&gt;" in eve and "<strong>why</strong>" in eve
    assert "<img" not in eve.replace('<img alt="output image"', "")


def test_gradescope_shows_each_failed_checks_hint_and_no_seed(hinted_graded):
    from autograder.results.disclosure import hidden_code_redactor
    from autograder.results.export import gradescope_results
    from autograder.results.totals import student_totals

    assignment, url = hinted_graded
    with Gradebook(url) as gradebook:
        totals = {t.student_id: t for t in student_totals(gradebook, "toy")}
    results = gradescope_results(totals["bob"], redact=hidden_code_redactor(assignment))
    double = next(test for test in results["tests"] if test["name"] == "double_test")
    assert f"hint (double.small): {VISIBLE_HINT}" in double["output"] and f"hint (double.random): {HIDDEN_HINT}" in double["output"]
    assert "[seed" not in json.dumps(results)
    carol = gradescope_results(totals["carol"], redact=hidden_code_redactor(assignment))
    assert "hint" not in json.dumps(carol["tests"])
