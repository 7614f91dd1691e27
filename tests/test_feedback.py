"""Feedback pages: what the grader keeps of a graded notebook, and what a student's page shows and never shows."""

import base64
import html as html_module
import re

import nbformat
import pytest

from autograder.course import Course
from autograder.results.disclosure import WITHHELD_AFTER, WITHHELD_HIDDEN, released_test
from autograder.results.feedback import write_feedback
from autograder.grading.plan import build_plan
from autograder.course.submissions import discover
from autograder.grading.batch import grade_batch
from autograder.results.gradebook import Gradebook
from autograder.sandbox.limits import Limits
from browser import chromium, console_errors, full_page, ink, save
from conftest import CORRECT, hand_in, student_version

PNG_CELL = (
    "import io, matplotlib\nmatplotlib.use('Agg')\nfrom matplotlib.figure import Figure\nfrom IPython.display import Image, display\n"
    "figure = Figure(figsize=(3, 2)); figure.add_subplot().plot([1, 3, 2], linewidth=4)\n"
    "buffer = io.BytesIO(); figure.savefig(buffer, format='png'); display(Image(data=buffer.getvalue()))\n"
    "print('my plot of', 3, 'points')"
)


@pytest.fixture(scope="module")
def toy_course(tmp_path_factory):
    """The toy course of conftest, built once for this module (grading it takes seconds)."""
    from conftest import build_toy_course

    return build_toy_course(tmp_path_factory.mktemp("feedback") / "course")


@pytest.fixture(scope="module")
def graded(toy_course, tmp_path_factory):
    """alice: a plot and a print before any test, a wrong mean_rows that prints its (hidden) input, a
    later cell printing a global a hidden test set; bob: the released notebook; carol: a broken file."""
    submissions = tmp_path_factory.mktemp("submitted")
    answers = dict(CORRECT, mean_rows="def mean_rows(a):\n    print('called with', a.tolist())\n    return np.mean(a, axis=0)",
                   explain="Doubling is **linear**. <script>document.title = 'pwned'</script>")
    alice = student_version(toy_course, answers)
    alice.cells.insert(3, nbformat.v4.new_code_cell(PNG_CELL))
    alice.cells.append(nbformat.v4.new_code_cell("print('hidden x was', x)"))
    hand_in(submissions, "alice", alice)
    hand_in(submissions, "bob", student_version(toy_course, {}))
    hand_in(submissions, "carol", b'{"cells": [')
    assignment = Course.at(toy_course).assignment("toy")
    url = f"sqlite:///{toy_course / 'gradebook.db'}"
    with Gradebook(url) as gradebook:
        grade_batch(build_plan(assignment, Limits(cell_timeout=10)), discover(submissions, assignment), gradebook, workers=2)
    return assignment, url


def text(page: str) -> str:
    return html_module.unescape(re.sub(r"<[^>]+>", "", page))


def pages(graded, tmp_path):
    assignment, url = graded
    with Gradebook(url) as gradebook:
        written = write_feedback(assignment, gradebook, tmp_path / "feedback")
    return {page.student_id: page.path.read_text() for page in written}, written


def test_grading_stores_the_notebook_with_test_cells_as_released(graded):
    assignment, url = graded
    with Gradebook(url) as gradebook:
        view = gradebook.student_views("toy")[("alice", "toy.ipynb")]
    test = next(c for c in view["cells"] if c["grade_id"] == "double_test")
    assert test["source"] == "ag.check_close('double.small', double([1, 2]), expected=np.array([2.0, 4.0]))"
    assert test["hidden_tests"] is True
    assert "HIDDEN" not in str(view) and "double.random" not in str(view)


def test_outputs_before_the_first_hidden_test_are_kept(graded):
    _, url = graded
    with Gradebook(url) as gradebook:
        view = gradebook.student_views("toy")[("alice", "toy.ipynb")]
    plot = next(c for c in view["cells"] if "my plot of" in c["source"])
    kinds = [o["output_type"] for o in plot["outputs"]]
    assert kinds == ["stream", "display_data"] and plot["outputs"][0]["text"] == "my plot of 3 points\n"
    assert base64.b64decode(plot["outputs"][1]["data"]["image/png"]).startswith(b"\x89PNG")


def test_outputs_after_hidden_tests_ran_are_withheld(graded):
    _, url = graded
    with Gradebook(url) as gradebook:
        view = gradebook.student_views("toy")[("alice", "toy.ipynb")]
    printing = next(c for c in view["cells"] if c["source"].startswith("print('hidden x was'"))
    assert printing["outputs"] == [] and printing["withheld"] == WITHHELD_AFTER
    mean_rows_test = next(c for c in view["cells"] if c["grade_id"] == "mean_rows_test")
    assert mean_rows_test["outputs"] == [] and mean_rows_test["withheld"] == WITHHELD_HIDDEN
    outputs = str([c.get("outputs") for c in view["cells"]])
    assert "called with" not in outputs and "hidden x was" not in outputs


def test_a_page_per_student_with_scores_check_messages_and_seeds_for_the_instructor(graded, tmp_path):
    html, written = pages(graded, tmp_path)
    assert sorted(html) == ["alice", "bob", "carol"]
    alice = html["alice"]
    assert re.search(r"score <strong>3</strong> / 6", alice)
    assert "expected (3,), got (4,)" in alice  # a visible check: what differed
    assert "[seed " not in text(alice) and 'title="seed ' in alice  # the seed: in the check's tooltip, not in the text
    assert "mean_rows.random" in alice and "shape differs" in alice  # a hidden check's message is fine
    assert "def mean_rows(a):\n    print('called with', a.tolist())" in text(alice)
    assert "my plot of 3 points" in alice and "data:image/png;base64," in alice
    assert "not valid JSON" in html["carol"]


def test_a_page_never_shows_hidden_test_code_or_the_reference(graded, tmp_path):
    html, _ = pages(graded, tmp_path)
    solutions = (Course.at(graded[0].course.root).root / "solutions" / "toy.py").read_text()
    for page in html.values():
        shown = text(page)
        assert "HIDDEN TESTS" not in shown and "np.random.randn" not in shown and "double([])" not in shown
        assert "mean(axis=1)" not in shown and "2 * np.asarray" not in shown
        for line in solutions.splitlines():
            if line.startswith("    return"):  # the reference's bodies (its imports are public)
                assert line.strip() not in shown


def test_student_markup_is_escaped_not_run(graded, tmp_path):
    html, _ = pages(graded, tmp_path)
    assert "<script>" not in html["alice"] and "&lt;script&gt;" in html["alice"]
    assert "<strong>linear</strong>" in html["alice"]


def test_hidden_lines_in_messages_are_redacted(toy_course):
    from autograder.results.disclosure import Redactor
    from autograder.prepare.manifest import build_manifest

    assignment = Course.at(toy_course).assignment("toy")
    manifest = build_manifest("toy", "toy.ipynb", assignment.read_source("toy.ipynb"), "toy.ipynb")
    redact = Redactor.for_manifests([manifest])
    assert redact("AssertionError in `ag.check_close('double.random', double(x))`") == "AssertionError in `[hidden test code]`"
    assert redact("expected (3,), got (4,)") == "expected (3,), got (4,)"


def test_released_test_source_is_what_release_writes(toy_course):
    released = nbformat.read(toy_course / "release" / "toy" / "toy.ipynb", as_version=4)
    source = nbformat.read(toy_course / "source" / "toy" / "toy.ipynb", as_version=4)
    for kept, full in zip(released.cells, source.cells):
        if full.metadata.get("nbgrader", {}).get("grade") and not full.metadata["nbgrader"].get("solution"):
            assert released_test(full.source)[0] == kept.source


def test_late_penalties_are_shown_on_the_page(graded, tmp_path):
    assignment, url = graded
    root = assignment.course.root
    config = root / "autograder.toml"
    config.write_text('[assignments.toy]\ndue = 2000-01-01T00:00:00+00:00\nlate = { policy = "per_day", percent_per_day = 10, max_percent = 50 }\n')
    try:
        html, written = pages(graded, tmp_path)
    finally:
        config.unlink()
    alice = next(p for p in written if p.student_id == "alice")
    assert alice.adjusted == pytest.approx(1.5) and "50% off" in html["alice"] and "before the late penalty" in html["alice"]


def test_the_cli_writes_the_pages(graded, tmp_path):
    from autograder.cli import main

    assignment, _ = graded
    out = tmp_path / "cli-feedback"
    assert main(["feedback", "toy", "--course", str(assignment.course.root), "--output", str(out), "--quiet"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["alice.html", "bob.html", "carol.html"]


def test_the_page_loads_in_chromium_without_console_errors_and_shows_the_plot(graded, tmp_path):
    _, written = pages(graded, tmp_path)
    alice = next(p for p in written if p.student_id == "alice")
    with chromium() as driver:
        driver.get(alice.path.as_uri())
        assert console_errors(driver) == []
        assert driver.find_element("id", "student").text == "alice"
        assert driver.title == "toy: feedback for alice"  # the student's <script> did not run
        image = driver.find_element("css selector", ".output img")
        assert image.size["width"] > 100 and driver.execute_script("return arguments[0].naturalWidth", image) > 0
        assert ink(image.screenshot_as_png) > 0.01
        assert ink(save(full_page(driver), "feedback_alice.png").read_bytes()) > 0.02


def test_the_top_of_the_page_says_what_to_fix_first_most_points_lost_first(graded, tmp_path):
    html, _ = pages(graded, tmp_path)
    alice = html["alice"]
    fix = alice[alice.index("What to fix first"):alice.index('<table class="questions">')]
    assert "mean_rows_test" in fix and "double_test" not in fix  # only what lost points
    assert "mean_rows.shape: expected (3,), got (4,)" in fix  # the first failed check says what differed


def test_questions_carry_the_title_of_their_heading_and_points_are_rounded_one_way():
    import nbformat

    from autograder.course.cells import question_titles
    from autograder.results.pages import points_text
    from conftest import nbgrader_cell

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell("## Question 1: **a configurable MLP** (3 points)\n\nBuild it."),
                      nbgrader_cell("answer", "x = 1", "net"), nbgrader_cell("test", "pass", "net_test", 3),
                      nbformat.v4.new_markdown_cell("Explain in two sentences."),
                      nbgrader_cell("manual", "YOUR ANSWER HERE", "why", 2, cell_type="markdown")]
    assert question_titles(notebook) == {"net_test": "Question 1: a configurable MLP", "why": "Question 1: a configurable MLP"}
    assert [points_text(v) for v in (12.0021, 10.02, 0.36363, 3.0, 0.5, -0.0001, None)] == ["12", "10.02", "0.36", "3", "0.5", "0", ""]


def test_an_answer_waiting_for_a_hand_grade_is_shown_as_pending_never_as_zero(graded, tmp_path):
    html, _ = pages(graded, tmp_path)
    page = text(html["alice"])
    assert "pending" in page and "wait for a hand grade and are not counted yet" in page
