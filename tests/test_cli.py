"""The `autograder` command as a person and a script meet it: help, version, defaults from autograder.toml,
`grade`'s summary, exit statuses and `--json`, tables unwrapped in a pipe, `exclusive = true`."""

import json
import threading
import time
from pathlib import Path

import pytest

import autograder.cli as cli
from autograder.cli import EXAMPLES, build_parser, main
from autograder.course.settings import runs_alone
from autograder.grading.batch import BatchSummary
from autograder.results.gradebook import StoredResult, StoredSubmission

REPO = Path(__file__).resolve().parent.parent


def test_a_bare_autograder_prints_the_commands_and_exits_0(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: autograder") and "grade" in out and "--version" in out


def test_version(capsys):
    from autograder import __version__

    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0 and capsys.readouterr().out.strip() == f"autograder {__version__}"


@pytest.mark.parametrize("command", sorted(EXAMPLES))
def test_every_commands_help_has_a_description_and_an_example(command):
    text = build_parser().commands[command].format_help()
    description = text.split("\n\n")[1]
    assert not description.startswith(("positional", "options")), text
    assert f"examples:\n  autograder {command}" in text


def test_every_command_has_examples():
    assert set(build_parser().commands) == set(EXAMPLES)


def test_grade_help_says_what_each_exit_status_means():
    text = " ".join(build_parser().commands["grade"].format_help().split())
    for code in ("0 every submission found has its row", "1 the grader itself failed", "2 an error you can fix", "3 with --fail-on"):
        assert code in text


# --------------------------------------------------------------------------- defaults from autograder.toml


def _parsed(course: Path, *flags: str):
    parser = build_parser()
    argv = ["grade", "toy", "in", "--course", str(course), *flags]
    return cli._with_course_defaults(parser, parser.parse_args(argv), argv)


def test_grade_defaults_come_from_autograder_toml_and_a_flag_wins(tmp_path):
    (tmp_path / "autograder.toml").write_text('[grade]\nworkers = 3\nmemory = "2G"\ntimeout = 90\n'
                                              'gradebook = "sqlite:////srv/course.db"\nfail_on = ["invalid"]\n')
    args = _parsed(tmp_path)
    assert (args.workers, args.memory, args.cell_timeout, args.gradebook, args.fail_on) == (3, 2 * 2**30, 90.0, "sqlite:////srv/course.db", ("invalid",))
    flagged = _parsed(tmp_path, "--workers", "1", "--memory", "1G", "--fail-on", "error")
    assert (flagged.workers, flagged.memory, flagged.fail_on) == (1, 2**30, ("error",))


def test_without_a_grade_table_the_built_in_defaults_hold(tmp_path):
    args = _parsed(tmp_path)
    assert args.workers is None and args.gradebook is None and args.fail_on == ()


@pytest.mark.parametrize("table, says", [
    ("workers = 0", "[grade] workers = 0: '0' is not a number of parallel runs"),
    ('isolation = "docker"', "[grade] isolation = 'docker'; use one of auto, bwrap, none"),
    ('fail_on = ["late"]', "[grade] fail_on = ['late']: late: not a status --fail-on takes"),
    ("wrokers = 2", "[grade] has unknown key(s) wrokers; allowed: gradebook, workers"),
])
def test_a_wrong_default_is_one_line_naming_the_file_and_the_key(tmp_path, table, says, capsys):
    (tmp_path / "autograder.toml").write_text(f"[grade]\n{table}\n")
    assert main(["grade", "toy", "in", "--course", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{tmp_path / 'autograder.toml'}: {says}" in err


def test_exclusive_is_read_per_assignment_and_needs_no_due_date(tmp_path):
    from autograder.course import Course
    from autograder.course.late import load_deadlines

    (tmp_path / "autograder.toml").write_text("[assignments.toy]\nexclusive = true\n")
    assignment = type("A", (), {"name": "toy", "course": Course(tmp_path)})()
    assert runs_alone(assignment) is True
    assert load_deadlines(tmp_path)["toy"].due is None
    (tmp_path / "autograder.toml").write_text('[assignments.toy]\nexclusive = "yes"\n')
    with pytest.raises(Exception, match="exclusive = 'yes'; write true or false"):
        runs_alone(assignment)


# --------------------------------------------------------------------------- grade's summary and exit status


def _stored(student: str, status: str, score: float = 1.0) -> StoredSubmission:
    return StoredSubmission("deep_mlps", student, "deep_mlps.ipynb", "", None, status, f"{status} message",
                            [StoredResult("net", score, 3.0, "passed", "")] if status != "invalid" else [])


def _grade_with(monkeypatch, rows, unchanged=None, grader_rows=()):
    def fake(assignment, submissions, limits, **options):
        return BatchSummary(graded=list(rows) + list(grader_rows), skipped=sum((unchanged or {}).values()), unchanged=unchanged or {})

    monkeypatch.setattr("autograder.grading.run.grade_assignment", fake)


ROWS = [_stored("ada", "ok", 3), _stored("kat", "error", 2), _stored("marie", "invalid", 0)]


def test_a_students_error_or_invalid_file_is_a_grade_exit_0_with_a_summary_by_status(monkeypatch, capsys, tmp_path):
    _grade_with(monkeypatch, ROWS, unchanged={"ok": 4})
    assert main(["grade", "deep_mlps", str(tmp_path), "--course", str(REPO), "--quiet", "--device", "cpu"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("deep_mlps: graded 3, skipped 4 unchanged (ok 5, error 1, invalid 1),")


def test_fail_on_makes_the_named_statuses_exit_3(monkeypatch, capsys, tmp_path):
    _grade_with(monkeypatch, ROWS)
    assert main(["grade", "deep_mlps", str(tmp_path), "--course", str(REPO), "--quiet", "--device", "cpu", "--fail-on", "invalid"]) == 3
    assert "1 invalid (--fail-on invalid): exit 3" in capsys.readouterr().err
    assert main(["grade", "deep_mlps", str(tmp_path), "--course", str(REPO), "--quiet", "--device", "cpu", "--fail-on", "timeout"]) == 0


def test_a_grader_error_exits_1_even_with_fail_on(monkeypatch, capsys, tmp_path):
    _grade_with(monkeypatch, ROWS, grader_rows=[_stored("bob", "grader_error", 0)])
    assert main(["grade", "deep_mlps", str(tmp_path), "--course", str(REPO), "--quiet", "--device", "cpu", "--fail-on", "invalid"]) == 1
    assert "1 submission(s) the grader failed on" in capsys.readouterr().err


def test_json_is_the_only_thing_on_standard_output(monkeypatch, capsys, tmp_path):
    _grade_with(monkeypatch, ROWS, unchanged={"ok": 2})
    assert main(["grade", "deep_mlps", str(tmp_path), "--course", str(REPO), "--json", "--device", "cpu", "--fail-on", "error"]) == 3
    report = json.loads(capsys.readouterr().out)
    assert report["counts"] == {"error": 1, "invalid": 1, "ok": 3} and report["exit_code"] == 3
    assert (report["graded"], report["skipped_unchanged"]) == (3, 2)
    assert report["rows"][0] == {"student_id": "ada", "notebook": "deep_mlps.ipynb", "status": "ok", "score": 3.0,
                                 "max_score": 3.0, "message": "ok message"}


def test_in_a_pipe_the_table_does_not_wrap_a_long_student_id(monkeypatch, capsys, tmp_path):
    long_id = "student_" + "x" * 150
    _grade_with(monkeypatch, [_stored(long_id, "ok", 3)])
    assert main(["grade", "deep_mlps", str(tmp_path), "--course", str(REPO), "--device", "cpu"]) == 0
    assert any(long_id in line for line in capsys.readouterr().out.splitlines())


# --------------------------------------------------------------------------- exclusive = true: one run at a time


@pytest.mark.slow  # grades a batch
def test_an_exclusive_assignment_never_runs_two_submissions_at_once(toy_course, tmp_path, monkeypatch):
    """With 2 workers, a run-alone assignment's submissions never overlap; without `exclusive` they do."""
    import autograder.grading.batch as batch
    from conftest import CORRECT, hand_in, student_version

    slow = dict(CORRECT, half="import time\ntime.sleep(1.5)\nanswer_half = 1 / 2")
    for student in ("ann", "bob", "cy"):
        hand_in(tmp_path / "in", student, student_version(toy_course, slow))
    active, most, lock = [0], [0], threading.Lock()
    real = batch.grade_safely

    def counted(*args, **kwargs):
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
        try:
            return real(*args, **kwargs)
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr(batch, "grade_safely", counted)
    grade = ["grade", "toy", str(tmp_path / "in"), "--course", str(toy_course), "--workers", "2", "--quiet", "--device", "cpu",
             "--force", "--gradebook", f"sqlite:///{tmp_path / 'g.db'}"]
    assert main(grade) == 0
    assert most[0] == 2  # the control: without exclusive, two run side by side
    (toy_course / "autograder.toml").write_text("[assignments.toy]\nexclusive = true\n")
    most[0] = 0
    started = time.monotonic()
    assert main(grade + ["--json"]) == 0
    assert most[0] == 1, "an exclusive assignment ran two submissions at once"
    assert time.monotonic() - started >= 3 * 1.5


def test_report_json_is_the_statistics_as_one_object(monkeypatch, capsys, tmp_path):
    from autograder.results.gradebook import Gradebook
    from autograder.results.report import QuestionStats

    url = f"sqlite:///{tmp_path / 'g.db'}"
    Gradebook(url).close()
    question = QuestionStats("deep_mlps.ipynb", "net_test", 3.0, scores=[3.0, 1.0], categories={"full marks": 1, "wrong value": 1})
    fake = type("Report", (), {"max_score": 3.0, "questions": [question], "summary": lambda self: {"students": 2, "mean": 2.0}})()
    monkeypatch.setattr("autograder.results.report.write_report", lambda *args, **kwargs: fake)
    assert main(["report", "deep_mlps", "--course", str(REPO), "--gradebook", url, "--output", str(tmp_path / "r.html"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["summary"] == {"students": 2, "mean": 2.0}
    assert report["questions"] == [{"notebook": "deep_mlps.ipynb", "question": "net_test", "max_score": 3.0, "mean": 2.0, "sd": 1.0,
                                    "full_marks": 0.5, "categories": {"full marks": 1, "wrong value": 1}}]


# --------------------------------------------------------------------------- a real PostgreSQL server

try:
    from test_postgres import postgres_server  # noqa: E402,F401 - the fixture: a server of our own
except pytest.skip.Exception:  # no psycopg: these two tests skip, not the whole file
    postgres_server = None


@pytest.mark.skipif(postgres_server is None, reason="psycopg is not installed")
def test_a_database_missing_on_a_running_server_is_one_line(request, capsys):
    host, port = request.getfixturevalue("postgres_server")
    url = f"postgresql+psycopg://postgres:pw@{host}:{port}/no_such_course"
    assert main(["export", "deep_mlps", "--course", str(REPO), "--gradebook", url]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert f"error: gradebook postgresql+psycopg://postgres:***@{host}:{port}/no_such_course: cannot connect (" in err
    assert 'database "no_such_course" does not exist' in err and ":pw@" not in err


@pytest.mark.skipif(postgres_server is None, reason="psycopg is not installed")
def test_a_reader_leaves_an_empty_database_on_the_server_empty(request, capsys):
    import psycopg

    host, port = request.getfixturevalue("postgres_server")
    with psycopg.connect(host=host, port=port, user="postgres", dbname="postgres", autocommit=True) as connection:
        connection.execute('CREATE DATABASE "empty_course"')
    url = f"postgresql+psycopg://postgres@{host}:{port}/empty_course"
    assert main(["report", "deep_mlps", "--course", str(REPO), "--gradebook", url, "--output", "unused.html"]) == 2
    assert "holds no grades (no submissions table)" in capsys.readouterr().err
    with psycopg.connect(host=host, port=port, user="postgres", dbname="empty_course") as connection:
        assert connection.execute("select count(*) from information_schema.tables where table_schema = 'public'").fetchone() == (0,)


def test_grade_names_the_assignment_whose_notebook_was_handed_in(tmp_path, capsys):
    import shutil

    (tmp_path / "in" / "ann").mkdir(parents=True)
    shutil.copy(REPO / "release" / "svm" / "svm.ipynb", tmp_path / "in" / "ann" / "deep_mlps.ipynb")
    (tmp_path / "in" / "bob").mkdir()
    shutil.copy(REPO / "release" / "svm" / "svm.ipynb", tmp_path / "in" / "bob" / "svm.ipynb")
    assert main(["grade", "deep_mlps", str(tmp_path / "in"), "--course", str(REPO), "--json", "--device", "cpu", "--workers", "1",
                 "--gradebook", f"sqlite:///{tmp_path / 'g.db'}"]) == 0
    rows = {row["student_id"]: row for row in json.loads(capsys.readouterr().out)["rows"]}
    assert rows["ann"]["status"] == "invalid"
    assert rows["ann"]["message"] == ("deep_mlps.ipynb: this is the notebook of assignment svm (svm.ipynb), not of deep_mlps: "
                                      "hand in deep_mlps.ipynb")
    assert rows["bob"]["status"] == "invalid" and "is the notebook of assignment svm, not deep_mlps" in rows["bob"]["message"]
