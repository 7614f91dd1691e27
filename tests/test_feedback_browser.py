"""Feedback pages in headless Chromium: LaTeX laid out as math, no console errors, and the three screenshots the
README links (``docs/screenshots/feedback-*.png``): all correct with a hand-graded comment, a mix with an error,
a hint and a failure caused by another answer, and an answer waiting for its hand grade.

Set ``AUTOGRADER_SCREENSHOTS=docs/screenshots`` to write the committed screenshots; otherwise they go to
``out/screenshots/`` (tests/browser.py) for a person to look at.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from browser import chromium, console_errors, full_page, ink, save
from test_feedback_hints import build_hinted_course, feedback_pages, hinted_graded  # noqa: F401 - the fixture

#: student -> (screenshot, what it shows)
PAGES = {
    "carol": "feedback-all-correct.png",
    "bob": "feedback-mix-error-hint.png",
    "dave": "feedback-pending-hand-grade.png",
}


@pytest.fixture(scope="module")
def hinted_course(tmp_path_factory):
    return build_hinted_course(tmp_path_factory.mktemp("hinted-browser") / "course")


def keep(png: bytes, name: str) -> Path:
    folder = os.environ.get("AUTOGRADER_SCREENSHOTS")
    if folder:
        path = Path(folder) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
        return path
    return save(png, name)


def math_boxes(driver) -> list[tuple[float, float]]:
    return driver.execute_script(
        "return [...document.querySelectorAll('math')].map(m => { const r = m.getBoundingClientRect(); return [r.width, r.height]; })")


@pytest.mark.parametrize("student", sorted(PAGES))
def test_the_page_renders_its_latex_as_math_with_no_console_errors(hinted_graded, tmp_path, student):  # noqa: F811
    pages = feedback_pages(hinted_graded, tmp_path)
    with chromium(width=1100) as driver:
        driver.get(pages[student].as_uri())
        assert console_errors(driver) == []
        boxes = math_boxes(driver)
        # the four question prompts hold at least five formulas; each is laid out (a box with width and height)
        assert len(boxes) >= 5 and all(width > 5 and height > 8 for width, height in boxes)
        fractions = driver.execute_script(
            "return [...document.querySelectorAll('mfrac')].map(f => { const [a, b] = f.children;"
            " return [a.getBoundingClientRect().bottom, b.getBoundingClientRect().top]; })")
        assert fractions and all(top <= bottom + 1 for top, bottom in fractions)  # stacked, not side by side
        assert driver.find_element("id", "student").text == student
        for details in driver.find_elements("css selector", "details.checks-of"):  # open every check table for the picture
            driver.execute_script("arguments[0].open = true", details)
        assert ink(keep(full_page(driver), PAGES[student]).read_bytes()) > 0.02


def test_the_mixed_page_shows_the_hint_the_cause_and_the_error_place(hinted_graded, tmp_path):  # noqa: F811
    bob = feedback_pages(hinted_graded, tmp_path)["bob"]
    with chromium(width=1100) as driver:
        driver.get(bob.as_uri())
        fix = driver.find_element("css selector", ".fix-first")
        assert "Hint: multiply each element by" in fix.text and fix.find_elements("css selector", ".hint math")
        assert "Fixing it may fix these too, which use it: Question 2: row means" in fix.text
        driver.execute_script("document.querySelectorAll('details').forEach(d => d.open = true)")
        cause = driver.find_element("css selector", "#checks-toy\\.ipynb-mean_rows_test .cause")
        assert cause.text == "This used your double (Question 1: doubling), which fails its own check: fix Question 1: doubling first."
        where = driver.find_element("css selector", "#checks-toy\\.ipynb-mean_rows_test .where a")
        assert where.text == "at answer cell 'mean_rows', line 3, in mean_rows"
        where.click()  # the link lands on the answer cell
        assert driver.execute_script("return location.hash") == "#cell-toy.ipynb-mean_rows"
        assert console_errors(driver) == []


def test_the_hand_grading_comment_is_rendered_markdown_with_math(hinted_graded, tmp_path):  # noqa: F811
    carol = feedback_pages(hinted_graded, tmp_path)["carol"]
    with chromium(width=1100) as driver:
        driver.get(carol.as_uri())
        comment = driver.find_element("css selector", "details.checks-of .comment")
        assert comment.find_element("css selector", "li strong").text == "clear"
        assert comment.find_elements("css selector", "math")
        assert console_errors(driver) == []


def test_raw_html_in_a_graders_comment_is_shown_as_text_and_never_runs(hinted_graded, tmp_path):  # noqa: F811
    eve = feedback_pages(hinted_graded, tmp_path)["eve"]
    with chromium(width=1100) as driver:
        driver.get(eve.as_uri())
        comment = driver.find_element("css selector", "details.checks-of .comment")
        assert "<script>alert(1)</script>" in comment.text and not comment.find_elements("css selector", "img, script")
        assert driver.title == "toy: feedback for eve" and console_errors(driver) == []
