"""Answer groups in manual grading: answers that are the same once case, punctuation and spacing (code: its
`ast` layout) are set aside are graded once, each member keeping a grade of its own.

The gradebook is filled directly (`Gradebook.store`, as grading writes it) rather than by grading a batch:
what a group does depends only on the stored answers, and a class of 40 stores in a second.
"""

import hashlib
import time

import pytest

from selenium.webdriver.support.ui import WebDriverWait

from autograder.results.gradebook import Gradebook, StoredResult, StoredSubmission
from autograder.results.manual import ManualGrading, Server, normalised_answer
from browser import chromium, console_errors, full_page, replaced, save

#: A class's answers to `explain` (2 points, graded by hand): four are the same answer written four ways.
ANSWERS = {
    "ann": "It is linear.",
    "ben": "it is  LINEAR!",
    "cat": "It is *linear*",
    "dan": "It's linear.",  # an apostrophe less is not the same words: "its" vs "it is" stay apart
    "eve": "Doubling is linear: f(a+b) = f(a) + f(b).",
    "fay": "Doubling is linear: f(a-b) = f(a) - f(b).",  # another operator: another answer
    "gus": "It is linear",
}


def store_answer(gradebook: Gradebook, student: str, text: str, cell_type: str = "markdown", question: str = "explain"):
    """One graded notebook whose answer to ``question`` waits for a hand grade, as `grade` stores it."""
    gradebook.store(StoredSubmission(
        "toy", student, "toy.ipynb", f"{student}/toy.ipynb", hashlib.sha256(text.encode()).hexdigest(), "ok", "",
        [StoredResult(question, None, 2.0, "needs_manual_grade")], duration_s=1.0,
        student_view={"cells": [], "answers": {question: {"source": text, "cell_type": cell_type,
                                                          "sha256": hashlib.sha256(text.encode()).hexdigest()}}}))


@pytest.fixture
def gradebook(tmp_path):
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as gradebook:
        for student, text in ANSWERS.items():
            store_answer(gradebook, student, text)
        yield gradebook


def members(group):
    return [a.student_id for a in group.members]


def form_of(app, group, score, comment="", **extra):
    return dict({"token": app.token, "notebook": "toy.ipynb", "question": "explain", "group": group.key,
                 "score": str(score), "comment": comment, "grader": "ada"}, **extra), \
        [f"{m.ref}:{m.sha256}:{m.version}" for m in group.members]


def test_written_answers_are_the_same_whatever_their_case_punctuation_emphasis_and_spacing():
    assert normalised_answer("It is linear.") == normalised_answer("it is  LINEAR!") == normalised_answer("It is *linear*\n")
    assert normalised_answer("f(a+b)") != normalised_answer("f(a-b)")  # operators are the answer
    assert normalised_answer("x = 2") != normalised_answer("x = 3")


def test_code_answers_are_the_same_whatever_their_layout_and_comments():
    a = "def f(x):\n    # doubles\n    return 2*x\n"
    b = "def f(x):\n    return (2 * x)  # the same"
    assert normalised_answer(a, "code") == normalised_answer(b, "code")
    assert normalised_answer(a, "code") != normalised_answer("def f(x):\n    return 3 * x", "code")
    assert normalised_answer("def (:", "code") == normalised_answer("def   (:\n", "code")  # does not parse: only spacing


def test_groups_are_listed_largest_first_with_their_members(gradebook):
    app = ManualGrading(gradebook, "toy")
    groups = app.groups("toy.ipynb", "explain")
    assert [sorted(members(g)) for g in groups] == [["ann", "ben", "cat", "gus"], ["dan"], ["eve"], ["fay"]]
    assert groups[0].size == groups[0].waiting == 4 and groups[0].variants == 4
    page = app.group_page("toy.ipynb", "explain")
    assert "4 answers like this" in page and "group 1 of 4" in page


def test_one_grade_applied_to_a_group_is_stored_for_each_member_with_the_grader_and_its_answer_hash(gradebook):
    app = ManualGrading(gradebook, "toy")
    group = app.groups("toy.ipynb", "explain")[0]
    form, listed = form_of(app, group, 1.5, "linear, but why?")
    outcome = app.save_group(form, listed)
    assert sorted(outcome.saved) == ["ann", "ben", "cat", "gus"] and not (outcome.kept or outcome.refused)
    grades = gradebook.manual_grades("toy")
    for member in group.members:
        grade = grades[(member.student_id, "toy.ipynb", "explain")]
        assert (grade.score, grade.grader, grade.comment, grade.answer_sha256) == (1.5, "ada", "linear, but why?", member.sha256)
    assert ("dan", "toy.ipynb", "explain") not in grades
    assert [h.version for h in gradebook.manual_grade_history("toy", "ann", "toy.ipynb", "explain")] == [1]


def test_a_member_graded_differently_is_listed_and_kept_unless_the_grader_ticks_it(gradebook):
    gradebook.save_manual_grade("toy", "ben", "toy.ipynb", "explain", 2, "full marks", grader="bo")
    app = ManualGrading(gradebook, "toy")
    group = app.groups("toy.ipynb", "explain")[0]
    page = app.group_page("toy.ipynb", "explain", group.key)
    assert 'id="graded-apart"' in page and 'name="overwrite" value="ben"' in page and "by bo" in page
    form, listed = form_of(app, group, 1)
    outcome = app.save_group(form, listed)
    assert outcome.kept == ["ben"] and "ben" not in outcome.saved and "graded differently kept (ben" in outcome.summary("1")
    assert gradebook.manual_grades("toy")[("ben", "toy.ipynb", "explain")].score == 2  # not overwritten
    again = ManualGrading(gradebook, "toy").groups("toy.ipynb", "explain")[0]
    form, listed = form_of(app, again, 1)
    outcome = app.save_group(form, listed, overwrite=["ben"])
    assert outcome.saved == ["ben"] and sorted(outcome.unchanged) == ["ann", "cat", "gus"]  # they had 1 already
    assert gradebook.manual_grades("toy")[("ben", "toy.ipynb", "explain")].score == 1


def test_a_member_whose_answer_changed_since_the_page_was_loaded_is_refused_and_still_waits(gradebook):
    app = ManualGrading(gradebook, "toy")
    group = app.groups("toy.ipynb", "explain")[0]
    form, listed = form_of(app, group, 2)
    store_answer(gradebook, "cat", "It is linear, and here is why: ...")  # cat resubmitted; the page still shows the old one
    outcome = app.save_group(form, listed)
    assert [r.split(":")[0] for r in outcome.refused] == ["cat"] and "changed since the page was loaded" in outcome.refused[0]
    assert ("cat", "toy.ipynb", "explain") not in gradebook.manual_grades("toy")
    assert next(a for a in app.answers() if a.student_id == "cat").status == "needs_manual_grade"
    outcome = app.save_group(form, ["cat::1", "nobody:" + "0" * 64 + ":0"])  # no hash; not an answer to this question
    assert outcome.saved == [] and "did not say which version" in outcome.refused[0] and "no such answer" in outcome.refused[1]
    assert ("cat", "toy.ipynb", "explain") not in gradebook.manual_grades("toy")


def test_overwriting_a_member_another_grader_saved_since_the_page_was_loaded_is_refused_not_lost(gradebook):
    gradebook.save_manual_grade("toy", "ben", "toy.ipynb", "explain", 2, "", grader="bo", version=0)
    app = ManualGrading(gradebook, "toy")
    group = app.groups("toy.ipynb", "explain")[0]
    form, listed = form_of(app, group, 1)
    gradebook.save_manual_grade("toy", "ben", "toy.ipynb", "explain", 0.5, "", grader="bo", version=1)  # meanwhile
    outcome = app.save_group(form, listed, overwrite=["ben"])
    assert sorted(outcome.saved) == ["ann", "cat", "gus"] and "bo saved a grade" in outcome.refused[0]
    assert gradebook.manual_grades("toy")[("ben", "toy.ipynb", "explain")].score == 0.5
    form["token"] = "guess"
    with pytest.raises(PermissionError):
        app.save_group(form, listed)


def test_the_anonymous_group_page_names_no_student(gradebook):
    app = ManualGrading(gradebook, "toy", anonymous=True)
    page = app.group_page("toy.ipynb", "explain")
    assert "Student 1" in page and not any(f">{s}<" in page or f'"{s}:' in page or f"student={s}" in page for s in ANSWERS)
    group = app.groups("toy.ipynb", "explain")[0]
    form, listed = form_of(app, group, 2)
    assert sorted(app.save_group(form, listed).saved) == ["Student 1", "Student 2", "Student 3", "Student 7"]


@pytest.mark.slow  # a real browser
def test_a_group_is_graded_by_keyboard_and_every_member_gets_the_grade(gradebook, capsys):
    """Two keys grade a whole group: a rubric item's digit and Ctrl+Enter; then the next group with answers
    waiting shows. Also times Ctrl+Enter to the next page loaded, for one answer and for the group."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    gradebook.save_manual_grade("toy", "gus", "toy.ipynb", "explain", 1, "", grader="bo")  # graded differently: kept
    names = gradebook.set_rubric_item("toy", "toy.ipynb", "explain", 2, "names linearity: $f(a+b)=f(a)+f(b)$")
    gradebook.set_rubric_item("toy", "toy.ipynb", "explain", -0.5, "no reason why it matters")
    with chromium(1200, 900) as driver:
        server = Server(ManualGrading(gradebook, "toy", grader="ada"), port=0).start()
        try:
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

            def save_and_wait() -> float:
                old, started = driver.find_element("tag name", "html"), time.perf_counter()
                press(Keys.CONTROL, Keys.ENTER)
                WebDriverWait(driver, 10).until(lambda d: replaced(old))
                WebDriverWait(driver, 10).until(lambda d: d.execute_script("return document.readyState") == "complete")
                return time.perf_counter() - started

            driver.get(server.url + "question?notebook=toy.ipynb&question=explain&student=dan")
            press("a")  # to the answer groups
            WebDriverWait(driver, 10).until(lambda d: d.find_elements("id", "group-size"))
            assert driver.find_element("id", "group-size").text == "4 answers like this"
            assert "gus" in driver.find_element("id", "graded-apart").text
            press("?")
            assert driver.find_element("id", "help").is_displayed() and "every" in driver.find_element("id", "help").text
            save(full_page(driver), "manual-groups.png")
            keys = 0
            press("1")  # rubric item 1: +2, the score follows
            assert driver.find_element("name", "score").get_attribute("value") == "2"
            group_seconds = save_and_wait()
            assert keys == 2
            assert "2 point(s) applied to 3 answer(s)" in driver.find_element("id", "done").text
            assert "graded differently kept (gus" in driver.find_element("id", "done").text
            assert driver.find_element("id", "group-size").text == "1 answer like this"  # the next group waiting
            keys = 0
            driver.get(server.url + "question?notebook=toy.ipynb&question=explain&student=dan")
            press("g")  # a rubric exists: digits toggle items, g types the score
            press("1")
            one_seconds = save_and_wait()
            assert keys == 3 and console_errors(driver) == []
        finally:
            server.stop()
    grades = gradebook.manual_grades("toy")
    assert {s: grades[(s, "toy.ipynb", "explain")].score for s in ("ann", "ben", "cat", "gus", "dan")} == {
        "ann": 2, "ben": 2, "cat": 2, "gus": 1, "dan": 1}
    assert {grades[(s, "toy.ipynb", "explain")].grader for s in ("ann", "ben", "cat")} == {"ada"}
    versions = gradebook.manual_grade_versions("toy")
    assert all(versions[(s, "toy.ipynb", "explain")].rubric == [names.id] for s in ("ann", "ben", "cat"))
    assert grades[("ann", "toy.ipynb", "explain")].comment.startswith("- names linearity")  # what the student reads
    with capsys.disabled():
        print(f"\nkeyboard: 3 keys grade one answer by a typed score (g, 1, Ctrl+Enter; {one_seconds * 1000:.0f} ms from "
              f"Ctrl+Enter to the next page) and 2 keys a group of 3 waiting by a rubric item (1, Ctrl+Enter; {group_seconds * 1000:.0f} ms)")


def measure(n: int, singles: int = 5) -> None:
    """Keys and wall time (key press to the next page loaded, headless Chromium on this machine) to grade one
    answer, and a group of ``n``: ``PYTHONPATH=. python tests/test_manual_groups.py N``."""
    import statistics
    import tempfile
    from pathlib import Path

    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    spellings = ("It is linear.", "it is LINEAR", "It is *linear*!", "It  is linear")
    with tempfile.TemporaryDirectory() as folder, Gradebook(f"sqlite:///{Path(folder) / 'g.db'}") as book:
        for i in range(n):
            store_answer(book, f"s{i:04d}", spellings[i % len(spellings)])
        for i in range(singles):
            store_answer(book, f"z{i:02d}", f"A different answer, number {i}.")
        server = Server(ManualGrading(book, "toy", grader="ada"), port=0).start()
        try:
            with chromium(1200, 900) as driver:
                def keyed(*keys) -> float:
                    old, started = driver.find_element("tag name", "html"), time.perf_counter()
                    for key in keys:
                        if key == "save":
                            ActionChains(driver).key_down(Keys.CONTROL).send_keys(Keys.ENTER).key_up(Keys.CONTROL).perform()
                        else:
                            ActionChains(driver).send_keys(key).perform()
                    WebDriverWait(driver, 30).until(lambda d: replaced(old))
                    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")
                    return time.perf_counter() - started

                driver.get(server.url + "group?notebook=toy.ipynb&question=explain")
                assert driver.find_element("id", "group-size").text == f"{n} answers like this"
                group = keyed("2", "save")
                saved = sum(1 for (s, _, _) in book.manual_grades("toy") if s.startswith("s"))
                driver.get(server.url + "question?notebook=toy.ipynb&question=explain&student=z00")
                one = [keyed("1", "save") for _ in range(singles)]
        finally:
            server.stop()
    print(f"one answer: 2 keys, median {statistics.median(one) * 1000:.0f} ms from the first key to the next answer "
          f"loaded ({singles} answers); a group of {n}: 2 keys, {group * 1000:.0f} ms ({saved} grades saved)")


if __name__ == "__main__":
    import sys

    measure(int(sys.argv[1]) if len(sys.argv) > 1 else 50)


def test_a_hostile_answer_and_a_forged_message_are_shown_as_text_on_the_group_page(tmp_path):
    with Gradebook(f"sqlite:///{tmp_path / 'g.db'}") as book:
        store_answer(book, "mallory", '<script>alert(1)</script> "><img src=x onerror=alert(2)> is linear')
        page = ManualGrading(book, "toy").group_page("toy.ipynb", "explain", done="<b>all saved</b>")
    assert "<script>alert" not in page and "<img src=x" not in page and "&lt;b&gt;all saved" in page
