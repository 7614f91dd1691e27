"""Hostile strings (issue 12): text from a submission is made safe once, where a graded row leaves grading,
and then every sink takes it: both gradebooks, the feedback pages, the CSV, Gradescope and Canvas exports
and the tables printed on the grader's terminal.

Measured before the fix (same toy course): a notebook that raised ``Exception("\\ud800")`` made
`autograder grade` raise UnicodeEncodeError while storing it, the students after it were never graded, and
every rerun died on the same file; text without a surrogate was stored and then reached the terminal with
its escape sequences (``ESC ] 0;pwned BEL`` retitles the window) and the CSV and Canvas exports as formulas
(``=HYPERLINK(...)``, ``=cmd|...``).
"""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autograder.cli import main
from autograder.course import Course
from autograder.results.export import FORMULA_START, to_canvas, to_csv, write_gradescope
from autograder.results.feedback import write_feedback
from autograder.results.gradebook import Gradebook, StoredResult, StoredSubmission, safe_submission
from autograder.results.totals import student_totals
from autograder.wire.text import safe_text, safe_tree
from conftest import CORRECT, hand_in, student_version

try:  # the PostgreSQL server of tests/test_postgres.py, reused
    from test_postgres import postgres_server, postgres_url  # noqa: F401
except pytest.skip.Exception as skipped:  # psycopg missing: the PostgreSQL tests skip, the others run
    _why = str(skipped)

    @pytest.fixture
    def postgres_url():
        pytest.skip(_why)

try:  # the Dask cluster of tests/test_dask.py, reused
    from test_dask import cluster  # noqa: F401
except pytest.skip.Exception as skipped:
    _why_dask = str(skipped)

    @pytest.fixture
    def cluster():
        pytest.skip(_why_dask)


#: Pieces of text that broke or abused a sink before, mixed with arbitrary code points (surrogates included).
HOSTILE = [
    "\ud800", "\udfff", "\ud83d", "\ud83d\ude00", b"caf\xe9\xff".decode("utf-8", "surrogateescape"),
    "\x00", "\x07", "\x08", "\x0b", "\x0c", "\r", "\r\n", "\x7f", "\x85", "\x9b", "\x9d", "\x1b",
    "\x1b]0;pwned\x07", "\x1b]8;;http://evil/\x1b\\link\x1b]8;;\x1b\\", "\x1b[2J", "\x1b[31m", "\x1b[1;1H", "\x1bc",
    "\x9b31m", "\x9d0;title\x9c", "\x1bP+q\x1b\\",
    "=cmd|' /C calc'!A0", "+1+1", "-2", "@SUM(A1:A2)", "\t=1", "=HYPERLINK(\"http://x\")",
    "[bold red]markup[/]", "[/]", "\\", "<script>alert(1)</script>", "&amp;", "\ufffd", "é✓ 中", "\n", "\t", " ",
]
any_character = st.characters(exclude_categories=())  # surrogates (Cs) too
hostile_text = st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(any_character, max_size=4)), max_size=6).map("".join)

SGR = re.compile(r"\x1b\[[0-9;]*m")  # the colours rich itself writes on a terminal
UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def assert_safe(text: str) -> None:
    """Text every sink takes and no terminal interprets: encodable, no NUL, no control but \\n and \\t, no ESC."""
    text.encode("utf-8")  # strict: no lone surrogate
    assert not UNSAFE.search(text), repr(UNSAFE.search(text).group())


def strings_in(tree):
    if isinstance(tree, str):
        yield tree
    elif isinstance(tree, dict):
        for key, value in tree.items():
            yield from strings_in(key)
            yield from strings_in(value)
    elif isinstance(tree, (list, tuple)):
        for value in tree:
            yield from strings_in(value)


# ------------------------------------------------------------------------------------ safe_text itself


@given(hostile_text, st.one_of(st.none(), st.integers(0, 40)))
@settings(max_examples=400, deadline=None)
def test_safe_text_always_gives_text_every_sink_takes_and_is_idempotent(text, limit):
    safe = safe_text(text, limit)
    assert_safe(safe)
    assert safe_text(safe, limit) == safe
    if limit is not None:
        assert len(safe) <= limit


@given(st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=50))
@settings(max_examples=200, deadline=None)
def test_safe_text_leaves_ordinary_text_as_it_is(text):
    assert safe_text(text) == text
    assert safe_text(text + "\n\tx") == text + "\n\tx"


def test_safe_text_removes_escape_sequences_and_marks_what_it_replaces():
    assert safe_text("\x1b[31mred\x1b[0m") == "red"
    assert safe_text("a\x1b]0;pwned\x07b") == "ab"
    assert safe_text("a\x00b\x08c") == "a\ufffdb\ufffdc"
    assert safe_text("\ud800") == "\ufffd"
    assert safe_text("\ud83d\ude00") == "\U0001F600"  # a pair written as two code points is its character
    assert safe_text(b"caf\xe9") == "caf\ufffd"
    assert safe_text("progress 10%\rprogress 20%\r\n") == "progress 10%\nprogress 20%\n"
    assert safe_text("\x1b]0;never terminated") == "0;never terminated"  # its ESC gone, nothing is interpreted
    assert safe_text("x" * 10, 5) == "xxxx…"


@given(st.recursive(st.one_of(hostile_text, st.integers(), st.floats(allow_nan=False), st.none(), st.booleans()),
                    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(hostile_text, inner, max_size=3)),
                    max_leaves=12))
@settings(max_examples=150, deadline=None)
def test_safe_tree_makes_every_string_and_key_safe_and_keeps_the_rest(tree):
    safe = safe_tree(tree)
    for text in strings_in(safe):
        assert_safe(text)
    json.dumps(safe, ensure_ascii=False).encode("utf-8")
    assert safe_tree(safe) == safe


# ------------------------------------------------------------------------- every field through every sink


def hostile_submission(texts: list[str], index: int = 0) -> StoredSubmission:
    """A graded row whose every text field comes from the student (raw, before the boundary)."""
    t = lambda k: texts[k % len(texts)]  # noqa: E731
    checks = [{"name": t(1), "passed": False, "seed": 7, "message": t(2), t(3): t(4)}]
    view = {
        "version": 1,
        "cells": [
            {"cell_type": "code", "grade_id": "double", "kind": "answer", "origin": "student", "source": t(5), "status": "error",
             "outputs": [{"output_type": "stream", "name": "stdout", "text": t(6)},
                         {"output_type": "error", "ename": t(7), "evalue": t(8), "traceback": t(9)},
                         {"output_type": "execute_result", "data": {"text/plain": t(10)}}]},
            {"cell_type": "markdown", "grade_id": "explain", "kind": "manual", "origin": "source", "source": t(11)},
            {"cell_type": "code", "grade_id": None, "kind": "student", "origin": "student", "source": t(12), "status": "ok",
             "outputs": [], t(13): t(14)},
        ],
        "answers": {"explain": {"source": t(11), "sha256": "0" * 64, "cell_type": "markdown"}},
    }
    return StoredSubmission(
        assignment="toy", student_id=f"s{index}-{t(15)}", notebook="toy.ipynb", path=f"/submitted/{t(16)}/toy.ipynb",
        sha256="ab" * 32, status="error", message=t(17),
        results=[StoredResult("double_test", 0.0, 2.0, "error", t(18), checks),
                 StoredResult("half_test", 1.0, 1.0, "passed", t(19), []),
                 StoredResult("explain", None, 2.0, "needs_manual_grade", t(20))],
        duration_s=1.5, submitted_at=t(21), notes=[t(22), t(23)], student_view=view,
    )


def assert_stored_as_made_safe(gradebook: Gradebook, raw: StoredSubmission) -> None:
    safe = safe_submission(hostile_copy(raw))
    rows = {row.student_id: row for row in gradebook.submissions("toy", manual=False)}
    row = rows[safe.student_id]
    assert (row.status, row.message, row.path, row.submitted_at, row.notes) == (safe.status, safe.message[:4000], safe.path, safe.submitted_at, safe.notes)
    assert [(r.question, r.status, r.message, r.checks) for r in row.results] == \
        [(r.question, r.status, r.message[:4000], r.checks or []) for r in safe.results]
    view = gradebook.student_views("toy", safe.student_id)[(safe.student_id, "toy.ipynb")]
    assert view == safe.student_view
    for text in strings_in([row.student_id, row.message, row.path, row.submitted_at, row.notes, view,
                            [(r.question, r.message, r.checks) for r in row.results]]):
        assert_safe(text)


def hostile_copy(item: StoredSubmission) -> StoredSubmission:
    import copy

    return copy.deepcopy(item)


def assert_csv_cells_safe(text: str, numeric_columns: set[int]) -> None:
    for line, row in enumerate(csv.reader(io.StringIO(text))):
        for column, cell in enumerate(row):
            assert_safe(cell)
            if column not in numeric_columns or line == 0:
                assert not cell.startswith(FORMULA_START), f"a spreadsheet would evaluate {cell!r}"


@pytest.fixture
def toy_assignment(toy_course):
    return Course.at(toy_course).assignment("toy")


@given(st.lists(hostile_text, min_size=24, max_size=24))
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_hostile_text_in_every_field_passes_every_sink_after_the_boundary(toy_assignment, texts):
    raw = hostile_submission(texts)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        with Gradebook(f"sqlite:///{folder / 'gradebook.db'}") as gradebook:
            stored = gradebook.store(safe_submission(hostile_copy(raw)))
            assert stored.status == "error", "a row made safe is stored as it is, not as a grader_error row"
            assert_stored_as_made_safe(gradebook, raw)

            pages = write_feedback(toy_assignment, gradebook, folder / "feedback")
            html = pages[0].path.read_bytes().decode("utf-8")  # strict
            assert_safe(html.replace("\r", ""))
            assert pages[0].path.parent == folder / "feedback"

            exported = to_csv(gradebook, "toy")
            assert_csv_cells_safe(exported, numeric_columns={3, 4, 8, 9})

            totals = student_totals(gradebook, "toy")
            written = write_gradescope(totals, folder / "gradescope")
            assert [path.parent.parent for path in written] == [folder / "gradescope"], "the results stay inside the output"
            for text in strings_in(json.loads(written[0].read_bytes().decode("utf-8"))):
                assert_safe(text)

            canvas = to_canvas({"toy": totals}).text
            assert_csv_cells_safe(canvas, numeric_columns={5})


@given(st.lists(hostile_text, min_size=24, max_size=24))
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_hostile_text_in_every_field_is_stored_in_postgresql_as_in_sqlite(postgres_url, texts):
    raw = hostile_submission(texts)
    with Gradebook(postgres_url) as gradebook:
        stored = gradebook.store(safe_submission(hostile_copy(raw)))
        assert stored.status == "error"
        assert_stored_as_made_safe(gradebook, raw)


@pytest.mark.parametrize("where", ["sqlite", "postgresql"])
def test_a_row_the_database_refuses_becomes_that_submissions_grader_error_row(where, request, tmp_path):
    """Defence in depth: a row that did not go through the boundary and cannot be stored costs its own row."""
    url = request.getfixturevalue("postgres_url") if where == "postgresql" else f"sqlite:///{tmp_path / 'gradebook.db'}"
    raw = hostile_submission(["\ud800\x00\x1b]0;pwned\x07"])
    with Gradebook(url) as gradebook:
        stored = gradebook.store(raw)
        assert stored.status == "grader_error"
        assert "the gradebook could not store this submission's grades: " in stored.message
        after = gradebook.store(StoredSubmission("toy", "after", "toy.ipynb", "", None, "ok", "", [StoredResult("half_test", 1.0, 1.0, "passed")]))
        assert after.status == "ok"
        rows = {row.student_id: row for row in gradebook.submissions("toy")}
        assert rows["after"].score == 1.0
        poisoned = rows[safe_text(raw.student_id)]
        assert poisoned.status == "grader_error" and {r.status for r in poisoned.results} == {"grader_error"}
        assert_safe(poisoned.message)
        assert gradebook.graded_hashes("toy").get((poisoned.student_id, "toy.ipynb")) is None, "the next run grades it again"


# ----------------------------------------------------------------------------------------- the terminal


@given(st.lists(hostile_text, min_size=24, max_size=24))
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_the_grade_table_on_a_terminal_shows_student_text_without_escapes_or_markup(toy_course, tmp_path_factory, monkeypatch, texts):
    """The rows as `grade_batch` returns them (made safe, or not), printed by `autograder grade` on a terminal."""
    import autograder.cli
    import autograder.grading.batch
    import autograder.grading.run
    from rich.console import Console

    rows = [safe_submission(hostile_submission(texts, 0)), hostile_submission(texts, 1),
            StoredSubmission("toy", "[bold red]x[/]", "toy.ipynb", "", None, "ok", "[link=http://evil]y[/link]", [])]

    def graded(plan, selected, gradebook, **kwargs):
        return autograder.grading.batch.BatchSummary(graded=[hostile_copy(row) for row in rows])

    monkeypatch.setattr(autograder.grading.batch, "grade_batch", graded)
    terminal = Console(file=io.StringIO(), force_terminal=True, color_system="standard", width=100)
    monkeypatch.setattr(autograder.cli, "console", terminal)
    # the folder's contents do not matter here (grade_batch is replaced), and an empty folder is an error (issue 16)
    monkeypatch.setattr(autograder.grading.run, "discover", lambda *args, **kwargs: [])
    submissions = tmp_path_factory.mktemp("none")
    assert main(["grade", "toy", str(submissions), "--course", str(toy_course), "--workers", "1"]) == 0
    printed = terminal.file.getvalue()
    table = printed[printed.index("toy: 3 graded"):]  # the progress bar before it moves the cursor itself
    assert_safe(SGR.sub("", table).replace("\r", ""))
    assert "[bold red]x[/]" in table and "[link=http://evil]y[/link]" in table, "student text is never rich markup"


# ------------------------------------------------------------------------------------------- end to end

POISONED = dict(CORRECT, double='def double(x):\n    print("\\x00\\x1b]0;pwned\\x07")\n    raise Exception("\\ud800")')


@pytest.fixture
def poisoned_batch(toy_course, tmp_path):
    """One student whose code prints NUL and an OSC sequence and raises Exception("\\ud800"), one graded after it."""
    submissions = tmp_path / "submitted"
    hand_in(submissions, "a_poisoned", student_version(toy_course, POISONED))
    hand_in(submissions, "b_after", student_version(toy_course, CORRECT))
    return submissions


def grade_poisoned(course: Path, submissions: Path, url: str, capsys, *extra: str) -> dict:
    assert main(["grade", "toy", str(submissions), "--course", str(course), "--gradebook", url, "--workers", "1", *extra]) == 0
    printed = capsys.readouterr()
    for text in (printed.out, printed.err):
        assert_safe(SGR.sub("", text).replace("\r", ""))
    with Gradebook(url) as gradebook:
        rows = {row.student_id: row for row in gradebook.submissions("toy")}
        views = gradebook.student_views("toy")
    assert set(rows) == {"a_poisoned", "b_after"}
    assert rows["b_after"].status == "ok" and rows["b_after"].score == 4.0, "the student after the poisoned one is graded"
    poisoned = rows["a_poisoned"]
    assert poisoned.status == "ok" and poisoned.score == 2.0  # mean_rows and half are right; double raised
    double = next(r for r in poisoned.results if r.question == "double_test")
    assert double.status == "error" and "Exception: \ufffd" in double.message
    for text in strings_in([poisoned.message, [(r.message, r.checks) for r in poisoned.results], views]):
        assert_safe(text)
    return rows


@pytest.mark.slow
def test_a_student_whose_exception_cannot_be_encoded_costs_nobody_else_their_grade(toy_course, poisoned_batch, tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    first = grade_poisoned(toy_course, poisoned_batch, url, capsys)
    assert main(["grade", "toy", str(poisoned_batch), "--course", str(toy_course), "--gradebook", url, "--quiet"]) == 0
    with Gradebook(url) as gradebook:
        again = {row.student_id: row.graded_at for row in gradebook.submissions("toy")}
    assert again == {student: row.graded_at for student, row in first.items()}, "a rerun skips both: nothing is left to retry"


@pytest.mark.slow
def test_the_poisoned_batch_is_stored_in_postgresql_too(toy_course, poisoned_batch, postgres_url, capsys):
    grade_poisoned(toy_course, poisoned_batch, postgres_url, capsys)


@pytest.mark.slow
def test_the_poisoned_batch_graded_on_a_dask_cluster_is_stored_as_locally(cluster, toy_course, poisoned_batch, tmp_path, capsys):
    """The worker makes its rows safe in grade_safely; the coordinator makes what comes back as JSON safe again."""
    grade_poisoned(toy_course, poisoned_batch, f"sqlite:///{tmp_path / 'gradebook.db'}", capsys, "--scheduler", cluster)


@pytest.mark.slow
def test_a_lone_surrogate_in_a_written_answer_of_the_file_is_graded(toy_course, tmp_path):
    submissions = tmp_path / "submitted"
    notebook = student_version(toy_course, dict(CORRECT, explain="my answer \ud800"))
    hand_in(submissions, "surrogate_in_file", json.dumps(notebook, ensure_ascii=True).encode())
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    assert main(["grade", "toy", str(submissions), "--course", str(toy_course), "--gradebook", url, "--quiet"]) == 0
    with Gradebook(url) as gradebook:
        (row,) = gradebook.submissions("toy")
    assert row.status == "ok"
