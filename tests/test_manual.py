"""Manual grading of written answers: the gradebook's semantics, and the web app in a real browser."""

import csv
import io
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import urlopen

import pytest

from autograder.course import Course
from autograder.results.export import to_csv
from autograder.results.gradebook import Gradebook, StaleAnswer
from autograder.grading.plan import build_plan
from autograder.course.submissions import discover
from autograder.grading.batch import grade_batch
from autograder.results.manual import ManualGrading, Server
from autograder.sandbox.limits import Limits
from browser import chromium, click_and_load, console_errors, full_page, save
from conftest import CORRECT, hand_in, student_version

ESSAY = "Doubling is *linear*:\n\n- f(a + b) = f(a) + f(b)\n- <b>bold?</b>"


@pytest.fixture
def course(toy_course, tmp_path):
    """alice and bob wrote an answer to `explain` (2 points, graded by hand); carl left it as released."""
    submissions = tmp_path / "submitted"
    hand_in(submissions, "alice", student_version(toy_course, dict(CORRECT, explain=ESSAY)))
    hand_in(submissions, "bob", student_version(toy_course, dict(CORRECT, explain="It is linear.")))
    hand_in(submissions, "carl", student_version(toy_course, CORRECT))
    return toy_course, submissions


def grade(course_root, submissions, force=False):
    assignment = Course.at(course_root).assignment("toy")
    with Gradebook(f"sqlite:///{course_root / 'gradebook.db'}") as gradebook:
        grade_batch(build_plan(assignment, Limits(cell_timeout=10)), discover(submissions, assignment), gradebook, workers=2, force=force)


def rows(gradebook, student, question="explain"):
    return next(r for r in csv.DictReader(io.StringIO(to_csv(gradebook, "toy"))) if r["student_id"] == student and r["question"] == question)


def sha(gradebook, student):
    return gradebook.student_views("toy", student, with_cells=False)[(student, "toy.ipynb")]["answers"]["explain"]["sha256"]


def test_only_written_answers_that_were_answered_wait_for_a_hand_grade(course):
    grade(*course)
    with Gradebook(f"sqlite:///{course[0] / 'gradebook.db'}") as gradebook:
        app = ManualGrading(gradebook, "toy")
        assert [(a.student_id, a.status, a.max_score) for a in app.answers()] == [
            ("alice", "needs_manual_grade", 2.0), ("bob", "needs_manual_grade", 2.0)]
        assert app.answers()[0].source == ESSAY


def test_a_manual_grade_is_combined_into_the_totals_and_the_export(course):
    grade(*course)
    with Gradebook(f"sqlite:///{course[0] / 'gradebook.db'}") as gradebook:
        gradebook.set_manual_grade("toy", "alice", "toy.ipynb", "explain", 1.5, "clear, but no example")
        row = rows(gradebook, "alice")
        assert (row["score"], row["status"], row["message"]) == ("1.5", "manually_graded", "clear, but no example")
        alice = next(s for s in gradebook.submissions("toy") if s.student_id == "alice")
        assert alice.score == 5.5
        raw = next(s for s in gradebook.submissions("toy", manual=False) if s.student_id == "alice")
        assert raw.score == 4.0 and raw.results[-1].score is None


@pytest.mark.slow  # grades the batch (twice for a regrade)
def test_regrading_an_unchanged_answer_keeps_its_manual_grade(course):
    grade(*course)
    with Gradebook(f"sqlite:///{course[0] / 'gradebook.db'}") as gradebook:
        gradebook.set_manual_grade("toy", "alice", "toy.ipynb", "explain", 2, "")
    grade(*course, force=True)
    with Gradebook(f"sqlite:///{course[0] / 'gradebook.db'}") as gradebook:
        assert rows(gradebook, "alice")["score"] == "2" and rows(gradebook, "alice")["status"] == "manually_graded"


@pytest.mark.slow  # grades the batch (twice for a regrade)
def test_a_changed_answer_waits_for_a_new_grade(course):
    course_root, submissions = course
    grade(course_root, submissions)
    with Gradebook(f"sqlite:///{course_root / 'gradebook.db'}") as gradebook:
        old = sha(gradebook, "alice")
        gradebook.set_manual_grade("toy", "alice", "toy.ipynb", "explain", 2, "good")
    hand_in(submissions, "alice", student_version(course_root, dict(CORRECT, explain="A different answer.")))
    grade(course_root, submissions)
    with Gradebook(f"sqlite:///{course_root / 'gradebook.db'}") as gradebook:
        row = rows(gradebook, "alice")
        assert row["score"] == "" and row["status"] == "needs_manual_grade" and "changed after it was graded" in row["message"]
        with pytest.raises(StaleAnswer):
            gradebook.set_manual_grade("toy", "alice", "toy.ipynb", "explain", 1, "", answer_sha256=old)
        assert "earlier answer" in ManualGrading(gradebook, "toy").answers()[0].previous


def test_scores_outside_the_points_and_answers_not_waiting_are_refused(course):
    grade(*course)
    with Gradebook(f"sqlite:///{course[0] / 'gradebook.db'}") as gradebook:
        with pytest.raises(ValueError, match="from 0 to 2"):
            gradebook.set_manual_grade("toy", "alice", "toy.ipynb", "explain", 3)
        with pytest.raises(KeyError):
            gradebook.set_manual_grade("toy", "carl", "toy.ipynb", "explain", 1)  # left as released
        with pytest.raises(KeyError):
            gradebook.set_manual_grade("toy", "alice", "toy.ipynb", "double_test", 1)  # autograded


def test_a_post_without_the_servers_token_is_refused(course):
    grade(*course)
    with Gradebook(f"sqlite:///{course[0] / 'gradebook.db'}") as gradebook:
        server = Server(ManualGrading(gradebook, "toy"), port=0).start()
        try:
            body = urlencode({"notebook": "toy.ipynb", "question": "explain", "student": "bob", "score": "2", "token": "guess"}).encode()
            with pytest.raises(HTTPError) as refused:
                urlopen(server.url + "grade", data=body, timeout=10)
            assert refused.value.code == 403
        finally:
            server.stop()
        assert rows(gradebook, "bob")["status"] == "needs_manual_grade"


@pytest.mark.slow  # grades the batch (twice for a regrade)
def test_grading_in_the_browser_updates_the_gradebook_and_the_export(course):
    grade(*course)
    with Gradebook(f"sqlite:///{course[0] / 'gradebook.db'}") as gradebook, chromium() as driver:
        server = Server(ManualGrading(gradebook, "toy"), port=0).start()
        try:
            driver.get(server.url)
            assert console_errors(driver) == []
            click_and_load(driver, driver.find_element("css selector", "a.question"))
            answer = driver.find_element("id", "answer-alice")
            assert answer.find_element("tag name", "em").text == "linear"  # Markdown rendered
            assert "<b>bold?</b>" in answer.text  # raw HTML shown as text
            answer.find_element("name", "score").send_keys("1.5")
            answer.find_element("name", "comment").send_keys("right idea; say why it matters")
            click_and_load(driver, answer.find_element("css selector", "button[type=submit]"))
            assert driver.find_element("id", "progress").text.startswith("1 of 2")
            assert "saved" in driver.find_element("id", "answer-alice").text
            assert console_errors(driver) == []
            save(full_page(driver), "manual_question.png")
        finally:
            server.stop()
        row = rows(gradebook, "alice")
        assert (row["score"], row["status"], row["message"]) == ("1.5", "manually_graded", "right idea; say why it matters")
        assert rows(gradebook, "bob")["status"] == "needs_manual_grade"
