"""Manual grading of written answers: the gradebook's semantics, and the web app in a real browser."""

import csv
import io
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import urlopen

import nbformat
import pytest

from selenium.webdriver.support.ui import WebDriverWait

from autograder.course import Course
from autograder.results.export import to_csv
from autograder.results.gradebook import GradeConflict, Gradebook, StaleAnswer
from autograder.grading.plan import build_plan
from autograder.course.submissions import discover
from autograder.grading.batch import grade_batch
from autograder.results.manual import ManualGrading, Server
from autograder.sandbox.limits import Limits
from browser import chromium, click_and_load, console_errors, full_page, replaced, save
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


@pytest.mark.slow  # grades the batch
def test_grading_in_the_browser_updates_the_gradebook_and_the_export(course):
    """One answer per page now (was: every answer on one page); a save goes on to the next ungraded answer."""
    grade(*course)
    with Gradebook(f"sqlite:///{course[0] / 'gradebook.db'}") as gradebook, chromium() as driver:
        server = Server(ManualGrading(gradebook, "toy", grader="ada"), port=0).start()
        try:
            driver.get(server.url)
            assert console_errors(driver) == []
            click_and_load(driver, driver.find_element("css selector", "a.question"))
            answer = driver.find_element("id", "answer-alice")
            assert answer.find_element("tag name", "em").text == "linear"  # Markdown rendered
            assert "<b>bold?</b>" in answer.text  # raw HTML shown as text
            assert driver.find_elements("id", "answer-bob") == []  # one answer at a time
            answer.find_element("name", "score").send_keys("1.5")
            answer.find_element("name", "comment").send_keys("right idea; say why it matters")
            click_and_load(driver, answer.find_element("css selector", "button[type=submit]"))
            assert driver.find_element("id", "progress").text.startswith("1 of 2")
            assert driver.find_element("id", "saved").is_displayed()
            assert driver.find_element("id", "answer-bob")  # the next ungraded answer
            assert console_errors(driver) == []
        finally:
            server.stop()
        row = rows(gradebook, "alice")
        assert (row["score"], row["status"], row["message"]) == ("1.5", "manually_graded", "right idea; say why it matters")
        assert gradebook.manual_grades("toy")[("alice", "toy.ipynb", "explain")].grader == "ada"
        assert rows(gradebook, "bob")["status"] == "needs_manual_grade"


def test_a_save_from_a_page_loaded_before_another_graders_save_is_refused_and_names_their_grade(course):
    grade(*course)
    with Gradebook(f"sqlite:///{course[0] / 'gradebook.db'}") as gradebook:
        first = gradebook.save_manual_grade("toy", "alice", "toy.ipynb", "explain", 2, "great", grader="ada", version=0)
        assert first.version == 1
        with pytest.raises(GradeConflict, match="ada saved a grade") as refused:
            gradebook.save_manual_grade("toy", "alice", "toy.ipynb", "explain", 0, "wrong", grader="bo", version=0)
        assert refused.value.current.score == 2
        assert rows(gradebook, "alice")["score"] == "2"  # not lost
        assert gradebook.save_manual_grade("toy", "alice", "toy.ipynb", "explain", 1, "", grader="bo", version=1).version == 2


def test_a_refused_score_withdraws_its_claim_on_the_next_version(course):
    grade(*course)
    with Gradebook(f"sqlite:///{course[0] / 'gradebook.db'}") as gradebook:
        with pytest.raises(ValueError, match="from 0 to 2"):
            gradebook.save_manual_grade("toy", "alice", "toy.ipynb", "explain", 7, version=0)
        assert gradebook.manual_grade_versions("toy") == {}
        assert gradebook.save_manual_grade("toy", "alice", "toy.ipynb", "explain", 2, version=0).version == 1


def test_next_ungraded_goes_on_in_the_question_then_wraps_round(course):
    grade(*course)
    with Gradebook(f"sqlite:///{course[0] / 'gradebook.db'}") as gradebook:
        app = ManualGrading(gradebook, "toy")
        assert app.next_ungraded().student_id == "alice"
        assert app.next_ungraded(("toy.ipynb", "explain", "alice")).student_id == "bob"
        assert app.next_ungraded(("toy.ipynb", "explain", "bob")).student_id == "alice"
        gradebook.set_manual_grade("toy", "alice", "toy.ipynb", "explain", 1)
        gradebook.set_manual_grade("toy", "bob", "toy.ipynb", "explain", 1)
        assert app.next_ungraded(("toy.ipynb", "explain", "bob")) is None


def test_the_anonymous_mode_shows_students_by_a_stable_number_not_their_id(course):
    grade(*course)
    with Gradebook(f"sqlite:///{course[0] / 'gradebook.db'}") as gradebook:
        app = ManualGrading(gradebook, "toy", anonymous=True)
        assert [a.label for a in app.answers()] == ["Student 1", "Student 2"]
        page = app.question_page("toy.ipynb", "explain", "Student-2")
        assert "Student 2" in page and ">bob<" not in page and "student=bob" not in page and 'id="answer-Student-2"' in page
        assert app.next_ungraded(("toy.ipynb", "explain", "alice")).ref == "Student-2"  # how the save's redirect names bob


def test_the_flagged_filter_lists_answers_whose_comment_starts_with_flagged_for_review(course):
    grade(*course)
    with Gradebook(f"sqlite:///{course[0] / 'gradebook.db'}") as gradebook:
        gradebook.set_manual_grade("toy", "bob", "toy.ipynb", "explain", 1, "Flagged for review: copied?")
        app = ManualGrading(gradebook, "toy")
        assert [a.student_id for a in app.answers() if app.shown(a, "flagged")] == ["bob"]
        assert [a.student_id for a in app.answers() if app.shown(a, "ungraded")] == ["alice"]
        assert app.questions()[0]["flagged"] == 1


def test_changing_a_rubric_items_points_recomputes_every_grade_that_applies_it_and_keeps_the_history(course):
    grade(*course)
    with Gradebook(f"sqlite:///{course[0] / 'gradebook.db'}") as gradebook:
        names = gradebook.set_rubric_item("toy", "toy.ipynb", "explain", 1, "names linearity", changed_by="ada")
        example = gradebook.set_rubric_item("toy", "toy.ipynb", "explain", 1, "gives an example: $f(2)=4$", changed_by="ada")
        gradebook.save_manual_grade("toy", "alice", "toy.ipynb", "explain", 2, "nice", grader="ada", rubric=[names.id, example.id])
        gradebook.save_manual_grade("toy", "bob", "toy.ipynb", "explain", 1, "", grader="ada", rubric=[names.id])
        assert gradebook.manual_grades("toy")[("alice", "toy.ipynb", "explain")].comment == (
            "- names linearity (+1)\n- gives an example: $f(2)=4$ (+1)\n\nnice")  # what the feedback page renders
        gradebook.set_rubric_item("toy", "toy.ipynb", "explain", 0.5, "gives an example: $f(2)=4$", item_id=example.id, changed_by="bo")
        assert rows(gradebook, "alice")["score"] == "1.5" and rows(gradebook, "bob")["score"] == "1"  # bob did not use it
        history = gradebook.manual_grade_history("toy", "alice", "toy.ipynb", "explain")
        assert [(e.version, e.score, e.grader) for e in history] == [(1, 2.0, "ada"), (2, 1.5, "bo")]
        assert "+1 -> +0.5" in history[-1].note
        answer = next(a for a in ManualGrading(gradebook, "toy").answers() if a.student_id == "alice")
        assert answer.comment == "nice" and answer.rubric == [names.id, example.id] and answer.version == 2
        with pytest.raises(GradeConflict):  # a page loaded before the change is refused too
            gradebook.save_manual_grade("toy", "alice", "toy.ipynb", "explain", 2, "", version=1)
        with pytest.raises(ValueError, match="needs a comment"):
            gradebook.set_rubric_item("toy", "toy.ipynb", "explain", 1, "  ")


@pytest.mark.slow  # grades the batch; a real browser
def test_a_grading_pass_by_keyboard_alone_takes_two_keys_per_answer(course):
    """A digit (the score) and Ctrl+Enter (save, then the next ungraded answer): 2 key presses per answer,
    4 with a comment (c, the text, Esc is not needed: Ctrl+Enter saves from the comment)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    grade(*course)
    with Gradebook(f"sqlite:///{course[0] / 'gradebook.db'}") as gradebook, chromium() as driver:
        server = Server(ManualGrading(gradebook, "toy", grader="ada"), port=0).start()
        try:
            driver.get(server.url)
            click_and_load(driver, driver.find_element("id", "start"))
            keys = 0

            def press(*chord):
                nonlocal keys
                keys += 1
                actions = ActionChains(driver)
                if len(chord) == 2:
                    actions.key_down(chord[0]).send_keys(chord[1]).key_up(chord[0])
                else:
                    actions.send_keys(chord[0])
                actions.perform()

            assert driver.find_element("id", "answer-alice")
            press("2")
            press("c")
            driver.switch_to.active_element.send_keys("good: $f(a+b)$")  # the comment's text is not counted
            old = driver.find_element("tag name", "html")
            press(Keys.CONTROL, Keys.ENTER)
            WebDriverWait(driver, 10).until(lambda d: replaced(old))
            assert driver.find_element("id", "answer-bob")
            press("1")
            old = driver.find_element("tag name", "html")
            press(Keys.CONTROL, Keys.ENTER)
            WebDriverWait(driver, 10).until(lambda d: replaced(old))
            assert "Every answer is graded" in driver.find_element("id", "message").text
            assert keys == 5 and console_errors(driver) == []
        finally:
            server.stop()
        assert rows(gradebook, "alice")["score"] == "2" and rows(gradebook, "bob")["score"] == "1"
        assert rows(gradebook, "alice")["message"] == "good: $f(a+b)$"


@pytest.mark.slow  # grades the batch; a real browser
def test_rubric_items_are_applied_by_key_and_the_views_are_screenshotted(course):
    """Screenshots for docs/screenshots/: the grading view with its rubric, the rubric editor, the student view."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    grade(*course)
    with Gradebook(f"sqlite:///{course[0] / 'gradebook.db'}") as gradebook, chromium(1200, 1000) as driver:
        app = ManualGrading(gradebook, "toy", grader="ada", source_dir=course[0] / "source" / "toy")
        assert app.model_answer("toy.ipynb", "explain")  # the solution region of the source cell
        server = Server(app, port=0).start()
        try:
            driver.get(server.url + "question?notebook=toy.ipynb&question=explain&student=alice")
            assert driver.find_element("id", "model").is_displayed()
            assert not driver.find_element("css selector", "#others .cell").is_displayed()  # collapsed until asked
            for points, text in (("1", "names linearity: $f(a+b)=f(a)+f(b)$"), ("1", "gives an example"),
                                 ("-0.5", "no reason why it matters")):
                form = driver.find_element("id", "new-item")
                form.find_element("name", "points").send_keys(points)
                form.find_element("name", "text").send_keys(text)
                click_and_load(driver, form.find_element("css selector", "button"))
            save(full_page(driver), "manual-rubric.png")
            driver.execute_script("document.activeElement.blur()")  # as after a page load: nothing focused
            ActionChains(driver).send_keys("1").send_keys("3").perform()
            assert driver.find_element("name", "score").get_attribute("value") == "0.5"
            ActionChains(driver).send_keys("?").perform()
            assert driver.find_element("id", "help").is_displayed()
            assert driver.find_elements("css selector", "fieldset.rubric math")  # LaTeX rendered as MathML
            save(full_page(driver), "manual-grading.png")
            old = driver.find_element("tag name", "html")
            ActionChains(driver).key_down(Keys.CONTROL).send_keys(Keys.ENTER).key_up(Keys.CONTROL).perform()
            WebDriverWait(driver, 10).until(lambda d: replaced(old))
            assert driver.find_element("id", "answer-bob") and console_errors(driver) == []
            driver.get(server.url + "student?student=alice")
            assert "graded by ada" in driver.find_element("css selector", ".who").text
            save(full_page(driver), "manual-student.png")
        finally:
            server.stop()
        assert rows(gradebook, "alice")["score"] == "0.5"
        assert rows(gradebook, "alice")["message"].startswith("'- names linearity")  # a leading - is neutralised in the CSV (a spreadsheet formula otherwise)


@pytest.mark.slow  # grades the batch; two real browsers
def test_two_graders_in_two_browsers_the_second_save_of_one_answer_is_refused_not_lost(course):
    grade(*course)
    with Gradebook(f"sqlite:///{course[0] / 'gradebook.db'}") as gradebook, chromium() as ada, chromium() as bo:
        server = Server(ManualGrading(gradebook, "toy"), port=0).start()
        try:
            for driver in (ada, bo):
                driver.get(server.url + "question?notebook=toy.ipynb&question=explain&student=alice")
            for driver, name, score in ((ada, "ada", "2"), (bo, "bo", "0")):
                grader = driver.find_element("name", "grader")
                grader.clear()
                grader.send_keys(name)
                driver.find_element("name", "score").send_keys(score)
                click_and_load(driver, driver.find_element("css selector", "button[type=submit]"))
            assert "409" in bo.title and "ada saved a grade" in bo.find_element("id", "message").text
            theirs = bo.find_element("id", "theirs").text
            assert " 2 " in f" {theirs} " and theirs.endswith("ada") and "bo" in bo.find_element("id", "mine").text
            save(full_page(bo), "manual-conflict.png")
            ada.get(server.url + "question?notebook=toy.ipynb&question=explain&student=alice")
            assert "graded by ada" in ada.find_element("css selector", ".who").text
        finally:
            server.stop()
        assert rows(gradebook, "alice")["score"] == "2"


# ---------------------------------------------------------------------- who may reach the pages (issue 12)

def _request(server, method="GET", path="/", host=None, headers=None, body=None):
    """A plain HTTP request to the server's socket, with whatever Host header the caller forges."""
    import http.client

    port = server.gate.port
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest(method, path, skip_host=True)
        if host is not None:
            connection.putheader("Host", host)
        for key, value in (headers or {}).items():
            connection.putheader(key, value)
        if body is not None:
            connection.putheader("Content-Type", "application/x-www-form-urlencoded")
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode("utf-8", "replace")
    finally:
        connection.close()


@pytest.fixture
def empty_app(tmp_path):
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as gradebook:
        yield ManualGrading(gradebook, "toy")


def test_a_loopback_server_refuses_a_host_header_that_does_not_name_it(empty_app):
    """DNS rebinding: a page of evil.example whose name now points at 127.0.0.1 sends Host: evil.example."""
    server = Server(empty_app, port=0).start()
    port = server.gate.port
    try:
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", f"LOCALHOST:{port}"):
            assert _request(server, host=host)[0] == 200, host
        for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1.evil.example:{port}", f"localhost:{port + 1}",
                     "localhost", None):
            status, _, body = _request(server, host=host)
            assert status == 421 and empty_app.token not in body, host
        body = urlencode({"notebook": "toy.ipynb", "question": "explain", "student": "bob", "score": "2",
                          "token": empty_app.token}).encode()
        assert _request(server, "POST", "/grade", host=f"evil.example:{port}", body=body)[0] == 421
    finally:
        server.stop()
    assert server.warnings == [] and "token=" not in server.url


def test_beyond_loopback_every_request_needs_the_token_printed_in_the_url(empty_app):
    server = Server(empty_app, host="0.0.0.0", port=0).start()
    port = server.gate.port
    host = f"127.0.0.1:{port}"
    try:
        assert server.warnings and "every interface" in server.warnings[0]
        token = server.url.split("?token=", 1)[1]
        assert len(token) >= 32
        assert _request(server, host=host)[0] == 403  # no token
        assert _request(server, host=host, path="/?token=guess")[0] == 403
        assert _request(server, host=host, headers={"Cookie": "autograder_manual=guess"})[0] == 403
        assert _request(server, host=f"evil.example:{port}", path=f"/?token={token}")[0] == 421
        body = urlencode({"notebook": "toy.ipynb", "question": "explain", "student": "bob", "score": "2",
                          "token": empty_app.token}).encode()
        assert _request(server, "POST", "/grade", host=host, body=body)[0] == 403
        status, headers, _ = _request(server, host=host, path=f"/question?notebook=n&token={token}")
        assert status == 303 and headers["Location"] == "/question?notebook=n"  # the token leaves the address bar
        cookie = headers["Set-Cookie"]
        assert f"autograder_manual={token}" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert _request(server, host=host, headers={"Cookie": f"autograder_manual={token}"})[0] == 200
    finally:
        server.stop()


def _a_non_loopback_address() -> str | None:
    import socket

    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # no packet leaves: only picks the interface a route would use
        address = probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") else address


def test_a_server_bound_to_one_outside_address_answers_only_to_it_and_only_with_the_token(empty_app):
    import http.client

    address = _a_non_loopback_address()
    if address is None:
        pytest.skip("this machine has no address beyond loopback")
    server = Server(empty_app, host=address, port=0).start()
    port = server.gate.port
    try:
        assert server.url.startswith(f"http://{address}:{port}/?token=") and server.warnings
        token = server.url.split("?token=", 1)[1]

        def get(host, cookie=None):
            connection = http.client.HTTPConnection(address, port, timeout=10)
            connection.putrequest("GET", "/", skip_host=True)
            connection.putheader("Host", host)
            if cookie:
                connection.putheader("Cookie", cookie)
            connection.endheaders()
            status = connection.getresponse().status
            connection.close()
            return status

        assert get(f"{address}:{port}") == 403
        assert get(f"localhost:{port}", f"autograder_manual={token}") == 421  # not bound there
        assert get(f"{address}:{port}", f"autograder_manual={token}") == 200
    finally:
        server.stop()


# ---------------------------------------------------------------------- several graders at once (issue 14)

from test_postgres import postgres_server, postgres_url  # noqa: E402,F401 - the fixtures, for the PostgreSQL case


def _race(url, course_root, submissions):
    """Six graders who all loaded version 0 save the same answer at the same moment: one wins, five are refused."""
    import threading

    assert main_grade(course_root, submissions, url)
    barrier, outcomes = threading.Barrier(6), []

    def grader(n):
        with Gradebook(url) as gradebook:
            barrier.wait()
            try:
                gradebook.save_manual_grade("toy", "alice", "toy.ipynb", "explain", n % 3, f"by g{n}", grader=f"g{n}", version=0)
                outcomes.append(("saved", n))
            except GradeConflict as refused:
                outcomes.append(("refused", refused.current.grader))

    threads = [threading.Thread(target=grader, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [n for what, n in outcomes if what == "saved"]
    assert len(winners) == 1 and len(outcomes) == 6, outcomes
    with Gradebook(url) as gradebook:
        history = gradebook.manual_grade_history("toy", "alice", "toy.ipynb", "explain")
        assert [(e.version, e.grader) for e in history] == [(1, f"g{winners[0]}")]
        assert gradebook.manual_grades("toy")[("alice", "toy.ipynb", "explain")].comment == f"by g{winners[0]}"  # the winner's, not lost


def main_grade(course_root, submissions, url) -> bool:
    from autograder.cli import main

    return main(["grade", "toy", str(submissions), "--course", str(course_root), "--gradebook", url, "--workers", "2", "--quiet"]) == 0


@pytest.mark.slow  # grades the batch
def test_graders_racing_on_one_answer_in_sqlite_lose_no_update(course):
    _race(f"sqlite:///{course[0] / 'gradebook.db'}", *course)


@pytest.mark.slow  # grades the batch; starts PostgreSQL
def test_graders_racing_on_one_answer_in_postgresql_lose_no_update(course, postgres_url):  # noqa: F811 - the fixture imported above
    _race(postgres_url, *course)


def test_the_model_answer_honours_the_courses_own_solution_delimiters(tmp_path):
    """A course whose nbgrader_config.py names other markers: the model answer is what lies between them."""
    source = tmp_path / "source" / "toy"
    source.mkdir(parents=True)
    cell = nbformat.v4.new_markdown_cell("Intro kept out.\n%% SOLUTION START\nLinearity: f(a+b) = f(a) + f(b).\n%% SOLUTION END")
    cell.metadata["nbgrader"] = {"grade_id": "explain", "solution": True, "grade": True, "points": 2}
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), source / "toy.ipynb")
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as gradebook:
        custom = ManualGrading(gradebook, "toy", source_dir=source, solution_delimiters=("SOLUTION START", "SOLUTION END"))
        assert custom.model_answer("toy.ipynb", "explain") == "Linearity: f(a+b) = f(a) + f(b)."
        default = ManualGrading(gradebook, "toy", source_dir=source)
        assert "SOLUTION START" in default.model_answer("toy.ipynb", "explain")  # unknown markers: the whole cell
