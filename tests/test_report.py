"""The class report: statistics from the gradebook, failure categories, plots that render."""

import pytest

from autograder.results.gradebook import Gradebook, StoredResult, StoredSubmission
from autograder.results.report import category, class_report, error_bars, render_report, write_report
from browser import chromium, console_errors, full_page, ink, save


def stored(student, results, status="ok"):
    return StoredSubmission("toy", student, "toy.ipynb", "", None, status, "",
                            [r if isinstance(r, StoredResult) else StoredResult(*r) for r in results])


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
    """With every section filled: time and memory per question, sections, flags, a long student id."""
    long = stored("a_student_with_a_rather_long_identifier_from_the_registrar", [
        StoredResult("q1", 2.0, 2.0, "passed", duration_s=12.5, peak_memory_bytes=3 * 2**30),
        StoredResult("q2", 1.0, 1.0, "passed", duration_s=0.01, peak_memory_bytes=2**20),
        StoredResult("essay", 1.0, 2.0, "manually_graded")])
    long.duration_s, long.peak_memory_bytes, long.notes = 14.0, 3 * 2**30, ["flagged for review: " + "x" * 300]
    gradebook.store(long)
    page = tmp_path / "report.html"
    write_report(gradebook, "toy", page, sections={"ann": "Section A (Tuesday)"}, feedback="feedback")
    with chromium(width=1400, height=900) as driver:
        driver.get(page.as_uri())
        assert console_errors(driver) == []
        assert driver.execute_script("return document.documentElement.scrollWidth") <= 1400
        save(full_page(driver), "report-1400.png")


def test_late_hand_ins_and_extensions_are_counted_by_the_courses_policy(gradebook, tmp_path):
    from datetime import datetime, timezone

    from autograder.course.late import Deadline, Extension, LatePolicy

    due = datetime(2026, 12, 1, 23, 59, tzinfo=timezone.utc)
    deadline = Deadline("toy", due, LatePolicy("per_day", 10), extensions={
        "ann": Extension("ann", datetime(2026, 12, 5, tzinfo=timezone.utc), "test"),
        "ben": Extension("ben", datetime(2026, 12, 5, tzinfo=timezone.utc), "test")})
    for student, when in (("ann", "2026-12-03T10:00:00+00:00"),  # late, but within her extension
                          ("ben", "2026-12-06T10:00:00+00:00"),  # late even after his
                          ("cat", "2026-12-02T10:00:00+00:00"),  # one day late
                          ("dan", "2026-12-01T10:00:00+00:00")):
        row = next(s for s in gradebook.submissions("toy", manual=False) if s.student_id == student)
        gradebook.store(StoredSubmission("toy", student, "toy.ipynb", "", None, row.status, "",
                                         [StoredResult(r.question, r.score, r.max_score, r.status) for r in row.results], submitted_at=when))
    report = class_report(gradebook, "toy", deadline=deadline)
    assert (report.late_submitted, report.late, report.extended) == (2, 2, 2)
    assert [s.student_id for s in report.students if s.extended] == ["ann", "ben"]
    assert report.waiting_students == 2  # ann and cat have an essay waiting
    page = tmp_path / "report.html"
    page.write_text(render_report(report))
    html = page.read_text()
    assert 'id="late-count">2<' in html and 'id="extension-count">2<' in html and 'id="waiting-count">2<' in html


def test_time_and_memory_are_shown_per_student_and_per_question_the_heaviest_named(tmp_path):
    mib = 2**20
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as book:
        for student, seconds, memory in (("ann", 0.5, 40 * mib), ("ben", 2.0, 900 * mib), ("cat", None, None)):
            results = [StoredResult("q1", 1.0, 1.0, "passed", duration_s=seconds, peak_memory_bytes=memory),
                       StoredResult("q2", 1.0, 1.0, "passed", duration_s=0.1 if seconds else None, peak_memory_bytes=20 * mib if memory else None)]
            book.store(StoredSubmission("toy", student, "toy.ipynb", "", None, "ok", "", results, duration_s=seconds and seconds + 1,
                                        peak_memory_bytes=memory))
        report = class_report(book, "toy", deadline=None)
        page = tmp_path / "report.html"
        write_report(book, "toy", page)
    assert [s.student_id for s in report.heaviest] == ["ben", "ann"] and report.memory()["max"] == 900 * mib
    q1, q2 = report.usage()
    assert (q1["question"], q1["slowest"], q1["heaviest"], q1["memory"]["max"]) == ("q1", "ben", "ben", 900 * mib)
    assert q2["memory"]["median"] == 20 * mib
    html = page.read_text()
    assert 'id="usage"' in html and "ben 900 MiB" in html and "900 MiB" in html.split('id="students"')[1]


def test_a_report_of_runs_without_memory_says_it_was_not_measured(gradebook, tmp_path):
    page = tmp_path / "report.html"
    write_report(gradebook, "toy", page)
    assert "not measured" in page.read_text().split('id="memory"')[1][:200]


@pytest.mark.slow  # grades two notebooks
def test_a_question_that_holds_300_mib_is_the_heaviest_of_its_run_and_of_the_report(toy_course, tmp_path):
    """Measured, not declared: the run's cgroup peak, read at each cell's end (`autograder.sandbox.launch.PeakMemory`)."""
    from autograder.course import Course
    from autograder.course.submissions import discover
    from autograder.grading.batch import grade_batch
    from autograder.grading.plan import build_plan
    from autograder.sandbox.confine import Confinement
    from autograder.sandbox.limits import Limits
    from conftest import CORRECT, hand_in, student_version

    if "memory" not in Confinement.detect().cgroup_roots:
        pytest.skip("no memory cgroup may be created here: peak memory is not measured")
    submissions = tmp_path / "submitted"
    hand_in(submissions, "light", student_version(toy_course, CORRECT))
    heavy = "import numpy as np\n_kept = np.ones(300 * 2**20 // 8)\nanswer_half = 0.5"
    hand_in(submissions, "heavy", student_version(toy_course, dict(CORRECT, half=heavy)))
    assignment = Course.at(toy_course).assignment("toy")
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as book:
        grade_batch(build_plan(assignment, Limits(cell_timeout=20)), discover(submissions, assignment), book, workers=1)
        rows = {s.student_id: s for s in book.submissions("toy")}
        report = class_report(book, "toy", deadline=None)
    mib = 2**20
    heavy_row, light_row = rows["heavy"], rows["light"]
    by_question = {r.question: r.peak_memory_bytes for r in heavy_row.results}
    assert by_question["half_test"] >= 300 * mib > by_question["double_test"]  # the cells before it did not hold it
    assert heavy_row.peak_memory_bytes >= 300 * mib > light_row.peak_memory_bytes
    assert by_question["explain"] is None  # a written answer runs no cell of its own
    assert all(r.duration_s is not None for r in light_row.results if r.question != "explain")
    assert report.heaviest[0].student_id == "heavy"


def test_error_bars_stop_at_0_and_100_percent_where_no_score_lies_beyond(gradebook):
    gradebook.store(stored("fay", [("q1", 2.0, 2.0, "passed"), ("q2", 1.0, 1.0, "passed"), ("essay", 0.0, 2.0, "not_attempted")]))
    report = class_report(gradebook, "toy", deadline=None)
    means, below, above = error_bars(report.questions)
    assert all(0.0 <= m - b and m + a <= 100.0 for m, b, a in zip(means, below, above))
    q1 = next(q for q in report.questions if q.question == "q1")
    assert q1.mean_fraction * 100 + q1.spread / q1.max_score * 100 > 100 or q1.mean_fraction * 100 - q1.spread / q1.max_score * 100 < 0
