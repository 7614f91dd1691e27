"""The class report: statistics from the gradebook, failure categories, plots that render."""

import pytest

from autograder.results.gradebook import Gradebook, StoredResult, StoredSubmission
from autograder.results.report import category, class_report, write_report
from browser import chromium, console_errors, full_page, ink, save


def stored(student, results, status="ok"):
    return StoredSubmission("toy", student, "toy.ipynb", "", None, status, "", [StoredResult(*r) for r in results])


@pytest.fixture
def gradebook(tmp_path):
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as book:
        book.store(stored("ann", [("q1", 2.0, 2.0, "passed"), ("q2", 1.0, 1.0, "passed"), ("essay", None, 2.0, "needs_manual_grade")]))
        book.store(stored("ben", [("q1", 1.0, 2.0, "partial"), ("q2", 0.0, 1.0, "failed"), ("essay", 0.0, 2.0, "not_attempted")]))
        book.store(stored("cat", [("q1", 0.0, 2.0, "error", "NameError: name 'x' is not defined"), ("q2", 0.0, 1.0, "timeout"),
                                  ("essay", None, 2.0, "needs_manual_grade")]))
        book.store(stored("dan", [("q1", 0.0, 2.0, "not_attempted", "NotImplementedError"), ("q2", 0.0, 1.0, "not_run"),
                                  ("essay", 0.0, 2.0, "not_attempted")]))
        book.store(stored("eve", [("q1", 0.0, 2.0, "invalid"), ("q2", 0.0, 1.0, "invalid"), ("essay", 0.0, 2.0, "invalid")], status="invalid"))
        yield book


def test_per_question_mean_and_spread_leave_out_answers_waiting_for_a_hand_grade(gradebook):
    report = class_report(gradebook, "toy", deadline=None)
    q1, q2, essay = report.questions
    assert (q1.mean, q1.spread, q1.full_fraction) == (pytest.approx(0.6), pytest.approx(0.8), pytest.approx(0.2))
    assert q2.mean == pytest.approx(0.2)
    assert essay.scores == [0.0, 0.0, 0.0] and essay.categories["awaiting hand grade"] == 2


def test_the_hardest_questions_come_first_and_one_waiting_for_hand_grades_is_not_ranked(gradebook):
    report = class_report(gradebook, "toy", deadline=None)
    assert [q.question for q in report.hardest] == ["q2", "q1"]  # essay: 2 answers wait for a hand grade


def test_failure_categories_tell_wrong_values_errors_timeouts_and_unanswered_apart(gradebook):
    report = class_report(gradebook, "toy", deadline=None)
    q1, q2, _ = report.questions
    assert q1.categories == {"full marks": 1, "partly right": 1, "error": 1, "not attempted": 1, "no gradable notebook": 1}
    assert q2.categories == {"full marks": 1, "wrong value": 1, "timeout": 1, "did not run": 1, "no gradable notebook": 1}


def test_a_stub_left_as_released_is_not_attempted_by_its_status_alone():
    assert category("not_attempted", 0.0, 2.0, "ok") == "not attempted"
    assert category("error", 0.0, 2.0, "ok") == "error"


def test_a_submission_the_grader_failed_on_is_its_own_category_ours_not_the_students():
    assert category("grader_error", 0.0, 2.0, "grader_error") == "grader error (ours)"
    assert category("failed", 0.0, 2.0, "failed") == "grader error (ours)"  # rows older than grader_error
    assert category("invalid", 0.0, 2.0, "invalid") == "no gradable notebook"


def test_the_score_distribution_is_per_student(gradebook):
    report = class_report(gradebook, "toy", deadline=None)
    assert sorted(report.totals) == [0.0, 0.0, 0.0, 1.0, 3.0] and report.max_score == 5.0
    assert report.summary()["mean"] == pytest.approx(0.8)


def test_the_report_page_embeds_three_plots(gradebook, tmp_path):
    page = tmp_path / "report.html"
    write_report(gradebook, "toy", page)
    html = page.read_text()
    assert html.count('src="data:image/png;base64,') == 3 and "<script" not in html


def test_the_cli_refuses_an_assignment_nobody_handed_in(toy_course, tmp_path, capsys):
    from autograder.cli import main

    assert main(["report", "toy", "--course", str(toy_course), "--output", str(tmp_path / "r.html")]) == 2
    # no gradebook yet (issue 16: the report does not create an empty one to say so)
    assert "no gradebook at" in (err := capsys.readouterr().err) and "run `autograder grade` first" in err
    assert not (toy_course / "gradebook.db").exists()


def test_the_report_loads_in_chromium_and_every_plot_is_drawn(gradebook, tmp_path):
    page = tmp_path / "report.html"
    write_report(gradebook, "toy", page)
    with chromium() as driver:
        driver.get(page.as_uri())
        assert console_errors(driver) == []
        plots = driver.find_elements("css selector", "figure img")
        assert len(plots) == 3
        for plot in plots:
            assert driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", plot) > 300
            assert ink(plot.screenshot_as_png) > 0.03, plot.get_attribute("alt")
        save(full_page(driver), "report.png")


def test_the_report_has_item_analysis_a_student_table_linked_to_feedback_and_flags(gradebook, tmp_path):
    book = gradebook
    flagged = stored("fay", [("q1", 2.0, 2.0, "passed"), ("q2", 1.0, 1.0, "passed"), ("essay", 1.0, 2.0, "manually_graded")])
    flagged.notes = ["flagged for review: timestamp.txt unreadable (no time in it)"]
    book.store(flagged)
    page = tmp_path / "report.html"
    report = write_report(book, "toy", page, sections={"ann": "A", "fay": "B"}, feedback="feedback")
    html = page.read_text()
    assert 'href="feedback/ann.html"' in html and 'id="items"' in html and 'id="checks"' in html
    assert [s.student_id for s in report.flagged] == ["fay"] and "flagged for review: timestamp.txt unreadable" in html
    assert [name for name, _, _ in report.sections()] == ["A", "B"]
    items = {item.question: item for item in report.items.items}
    assert items["essay"].pending == 2 and items["q1"].difficulty is not None


def test_the_page_fits_1400_pixels_without_a_console_error(gradebook, tmp_path):
    page = tmp_path / "report.html"
    write_report(gradebook, "toy", page)
    with chromium(width=1400, height=900) as driver:
        driver.get(page.as_uri())
        assert console_errors(driver) == []
        assert driver.execute_script("return document.documentElement.scrollWidth") <= 1400
