"""Issue 17: the leaderboard of a check_metric question.

The held-out items are split once into a public and a private part; every evaluation scores both in the
same confined run; the point is decided on the private part; at most N evaluations per student per day
(the course's timezone); the page shows public scores under pseudonyms until the latest due date, then the
private ones. The first part is the rules (no process); the end-to-end part grades the bundled
feedforward_classifier set in a copy of the course and opens the page in headless Chromium.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import nbformat
import numpy as np
import pytest

from autograder.course import Course, CourseError
from autograder.course.late import Deadline, LatePolicy, LeaderboardSettings, load_deadlines
from autograder.course.submissions import Submission
from autograder.grading.held_out import LeaderboardMetrics, split_indices, split_scores
from autograder.grading.scoring import evaluate_metric
from autograder.results.leaderboard import (
    SECRET_FILE,
    Evaluation,
    allot,
    course_secret,
    parse_now,
    pseudonym,
)
from autograder.wire.compare import Options
from autograder.wire.protocol import CheckRecord
from conftest import REPO, build_toy_course

ZURICH = "Europe/Zurich"


# ----------------------------------------------------------------------------------------- the split


def test_the_split_is_fixed_by_its_seed_disjoint_and_covers_every_item():
    public, private = split_indices(1000, 0.3, seed=7)
    again_public, again_private = split_indices(1000, 0.3, seed=7)
    assert len(public) == 300 and len(private) == 700
    assert np.array_equal(public, again_public) and np.array_equal(private, again_private)
    assert not set(public) & set(private) and sorted(set(public) | set(private)) == list(range(1000))
    other, _ = split_indices(1000, 0.3, seed=8)
    assert not np.array_equal(public, other)
    assert not np.array_equal(public, np.arange(300))  # not the first 30 %: a shuffled split


def test_both_parts_keep_at_least_one_item():
    assert [len(p) for p in split_indices(2, 0.01, seed=1)] == [1, 1]
    assert [len(p) for p in split_indices(2, 0.99, seed=1)] == [1, 1]


def test_split_scores_are_the_means_over_each_part():
    scores = np.zeros(10)
    public, private = split_indices(10, 0.3, seed=3)
    scores[public] = 1.0
    assert split_scores(scores, 0.3, 3) == (1.0, 0.0)


@pytest.mark.parametrize("bad, message", [(np.zeros((2, 5)), "1-D"), (np.array([1.0, np.nan, 0.0]), "finite"),
                                          (np.array([1.0]), "at least 2")])
def test_a_per_item_metric_that_is_not_one_finite_number_per_item_is_refused(bad, message):
    from autograder.grading.held_out import MetricError

    with pytest.raises(MetricError, match=message):
        split_scores(bad, 0.3, 1)


# ----------------------------------------------------------------------------------- configuration

BOARD = '[assignments.toy]\ndue = 2026-12-01T23:59:00+01:00\n[assignments.toy.leaderboard]\n'


def settings_of(course: Path, text: str):
    (course / "autograder.toml").write_text(text)
    return load_deadlines(course, Course.at(course).assignment_names())["toy"].leaderboard


def test_leaderboard_settings_are_read_with_their_defaults(toy_course):
    assert settings_of(toy_course, BOARD + 'metric = "x.acc"\n') == LeaderboardSettings("x.acc", 0.3, None, None)
    full = settings_of(toy_course, BOARD + 'metric = "x.acc"\npublic_fraction = 0.25\nevaluations_per_day = 2\nsplit_seed = 5\n')
    assert full == LeaderboardSettings("x.acc", 0.25, 2, 5)


@pytest.mark.parametrize("body, message", [
    ("", "needs metric"),
    ('metric = "x"\npublic_fraction = 1.0\n', "public_fraction = 1.0; it must be a number between 0 and 1"),
    ('metric = "x"\npublic_fraction = "a third"\n', "public_fraction"),
    ('metric = "x"\nevaluations_per_day = 0\n', "evaluations_per_day = 0"),
    ('metric = "x"\nevaluations_per_day = true\n', "evaluations_per_day = True"),
    ('metric = "x"\nsplit_seed = -1\n', "split_seed = -1"),
    ('metric = "x"\nprivate_fraction = 0.7\n', "unknown key(s) private_fraction"),
])
def test_a_malformed_leaderboard_table_is_refused_naming_the_file_and_the_key(toy_course, body, message):
    with pytest.raises(CourseError, match=re.escape(message)) as raised:
        settings_of(toy_course, BOARD + body)
    assert "autograder.toml" in str(raised.value) and "[assignments.toy.leaderboard]" in str(raised.value)


def test_a_leaderboard_needs_a_due_date(toy_course):
    with pytest.raises(CourseError, match="no 'due' date"):
        settings_of(toy_course, '[assignments.toy]\ncounts = "best"\n[assignments.toy.leaderboard]\nmetric = "x"\n')


# ------------------------------------------------------------------------------ evaluations per day


def deadline(cap: int | None = 3, zone: str | None = ZURICH) -> Deadline:
    from zoneinfo import ZoneInfo

    return Deadline("toy", datetime(2026, 12, 10, tzinfo=timezone.utc), LatePolicy(), ZoneInfo(zone) if zone else None,
                    leaderboard=LeaderboardSettings("x.acc", 0.3, cap))


def versions(tmp_path: Path, student: str, times: list[str]) -> list[Submission]:
    runs = []
    for number, when in enumerate(times):
        path = tmp_path / student / f"v{number}" / "toy.ipynb"
        path.parent.mkdir(parents=True)
        path.write_text(f"version {number} of {student}")
        runs.append(Submission(student, "toy.ipynb", path, submitted_at=when))
    return runs


def decided(allotment, runs) -> list[bool]:
    return [allotment.evaluation(run).allowed for run in runs]


def test_at_most_n_versions_a_day_are_evaluated_the_earliest_handed_in_first(tmp_path):
    runs = versions(tmp_path, "ada", ["2026-12-02T12:00:00+00:00", "2026-12-02T08:00:00+00:00", "2026-12-02T10:00:00+00:00",
                                      "2026-12-02T09:00:00+00:00", "2026-12-03T08:00:00+00:00"])
    allotment = allot("toy", deadline(3), list(runs), [])
    # by hand-in time: 08:00, 09:00, 10:00 evaluated, 12:00 the 4th of the day; the next day starts again
    assert decided(allotment, runs) == [False, True, True, True, True]
    refused = allotment.evaluation(runs[0])
    assert "not evaluated for the leaderboard" in refused.refusal and "at most 3 a day" in refused.refusal
    assert refused.day == "2026-12-02"


def test_the_day_is_the_course_timezones(tmp_path):
    # 23:30 UTC on 12-01 is 00:30 on 12-02 in Zurich: a different day from 22:00 UTC (23:00 in Zurich)
    runs = versions(tmp_path, "ada", ["2026-12-01T22:00:00+00:00", "2026-12-01T23:30:00+00:00"])
    in_zurich = allot("toy", deadline(1, ZURICH), list(runs), [])
    assert decided(in_zurich, runs) == [True, True]
    assert [in_zurich.evaluation(r).day for r in runs] == ["2026-12-01", "2026-12-02"]
    in_utc = allot("toy", deadline(1, None), list(runs), [])
    assert decided(in_utc, runs) == [True, False]


def test_students_have_their_own_allowance(tmp_path):
    runs = versions(tmp_path, "ada", ["2026-12-02T08:00:00+00:00"]) + versions(tmp_path, "bob", ["2026-12-02T08:00:00+00:00"])
    assert decided(allot("toy", deadline(1), list(runs), []), runs) == [True, True]


def spent_entry(run: Submission, evaluated: bool = True, day: str = "2026-12-02"):
    from autograder.course.submissions import file_hash

    return SimpleNamespace(student_id=run.student_id, notebook=run.notebook, path=str(run.path), submitted_at=run.submitted_at,
                           sha256=file_hash(run.path), day=day, evaluated=evaluated)


def test_evaluations_already_spent_count_and_a_regraded_version_spends_nothing(tmp_path):
    runs = versions(tmp_path, "ada", ["2026-12-02T08:00:00+00:00", "2026-12-02T09:00:00+00:00", "2026-12-02T10:00:00+00:00"])
    spent = [spent_entry(runs[0]), spent_entry(runs[1])]
    # graded again (--force) with a new one: the two keep their evaluation, the third is over the cap of 2
    assert decided(allot("toy", deadline(2), list(runs), spent), runs) == [True, True, False]
    # a changed file at the same place and time is a new version: it needs an evaluation of its own
    runs[0].path.write_text("changed")
    assert decided(allot("toy", deadline(2), [runs[0]], spent), [runs[0]]) == [False]


def test_a_version_whose_time_cannot_be_read_is_not_evaluated(tmp_path):
    runs = versions(tmp_path, "ada", ["unreadable timestamp.txt: not UTF-8"])
    evaluation = allot("toy", deadline(3), list(runs), []).evaluation(runs[0])
    assert not evaluation.allowed and "submission time cannot be read (not UTF-8)" in evaluation.refusal


def test_without_a_cap_every_version_is_evaluated(tmp_path):
    runs = versions(tmp_path, "ada", [f"2026-12-02T0{h}:00:00+00:00" for h in range(8)])
    assert all(decided(allot("toy", deadline(None), list(runs), []), runs))


# ------------------------------------------------------------------------------ the metric check


def per_sample(value):
    """A plain-value metric for the tests: the value is the per-item scores themselves."""
    return np.asarray(value, dtype=float)


def metric_record(at_least: float) -> CheckRecord:
    return CheckRecord("x.acc", Options(kind="metric"), metric="acc", at_least=at_least)


def board_evaluation(allowed: bool = True) -> Evaluation:
    return Evaluation("x.acc", 0.5, 11, allowed, "" if allowed else "not evaluated for the leaderboard: over the cap",
                      "p", "t", "h", "2026-12-02")


def lookup(name: str):
    return {"acc": lambda v: float(np.mean(v)), "acc_per_sample": per_sample}[name]


def test_the_point_is_decided_on_the_private_part_and_both_parts_are_recorded():
    public, private = split_indices(10, 0.5, seed=11)
    scores = np.zeros(10)
    scores[public] = 1.0  # perfect on the public part, nothing right on the private part
    evaluation = board_evaluation()
    ok, message = evaluate_metric(metric_record(0.8), scores, LeaderboardMetrics(lookup, evaluation))
    assert not ok
    assert message == ("acc = 1 on the public part of the held-out data; the private part does not meet the bound "
                       "(at least 0.8); the private score is shown on the leaderboard after the due date")
    assert (evaluation.public, evaluation.private) == (1.0, 0.0)
    scores = 1.0 - scores  # now the private part is right
    evaluation = board_evaluation()
    ok, message = evaluate_metric(metric_record(0.8), scores, LeaderboardMetrics(lookup, evaluation))
    assert ok and (evaluation.public, evaluation.private) == (0.0, 1.0)
    assert "acc = 0 on the public part" in message and "meets the bound (at least 0.8)" in message
    assert "acc = 1" not in message  # the private score itself waits for the leaderboard after the due date


def test_a_version_over_the_cap_is_not_evaluated_and_its_check_says_why():
    evaluation = board_evaluation(allowed=False)
    called = []
    ok, message = evaluate_metric(metric_record(0.0), np.ones(10),
                                  LeaderboardMetrics(lambda name: called.append(name) or per_sample, evaluation))
    assert not ok and message.startswith("not evaluated for the leaderboard")
    assert called == [] and evaluation.public is None and evaluation.private is None


def test_a_check_other_than_the_leaderboards_is_scored_as_without_one():
    evaluation = board_evaluation()
    other = CheckRecord("y.acc", Options(kind="metric"), metric="acc", at_least=0.5)
    ok, message = evaluate_metric(other, [1.0, 0.0, 1.0], LeaderboardMetrics(lookup, evaluation))
    assert ok and message == "acc = 0.6667" and evaluation.public is None


def test_the_bundled_metric_is_the_mean_of_its_per_item_scores():
    import importlib.util

    import torch

    spec = importlib.util.spec_from_file_location("_ff_solutions_for_test", REPO / "solutions" / "feedforward_classifier.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(1)
    untrained = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3072, 2))
    items = module.heldout_accuracy_per_sample(untrained)
    assert items.shape == (1000,) and set(np.unique(items)) <= {0.0, 1.0}
    assert module.heldout_accuracy(untrained) == pytest.approx(items.mean())


# ------------------------------------------------------------------------------------- pseudonyms


def test_the_course_secret_is_created_once_private_to_its_owner(tmp_path):
    first = course_secret(tmp_path)
    assert len(first) >= 32 and course_secret(tmp_path) == first
    assert stat.S_IMODE(os.stat(tmp_path / SECRET_FILE).st_mode) == 0o600


def test_pseudonyms_are_stable_keyed_and_do_not_contain_the_id(tmp_path):
    secret = course_secret(tmp_path)
    name = pseudonym(secret, "ada_lovelace")
    assert name == pseudonym(secret, "ada_lovelace") and re.fullmatch(r"anon-[0-9a-f]{10}", name)
    assert name != pseudonym(secret, "ada_lovelacf")
    assert name != pseudonym(b"another course's secret, 32 chars long", "ada_lovelace")
    import hashlib

    assert name[5:] not in hashlib.sha256(b"ada_lovelace").hexdigest()  # not an unkeyed hash a student could compute


def test_a_damaged_secret_is_refused_saying_what_to_do(tmp_path):
    (tmp_path / SECRET_FILE).write_text("short")
    with pytest.raises(Exception, match="shorter than 32 characters; delete it"):
        course_secret(tmp_path)


def test_the_secret_is_ignored_by_git():
    assert SECRET_FILE in (REPO / ".gitignore").read_text().split()


def test_now_needs_an_offset():
    assert parse_now("2026-12-02T09:00:00+01:00") == datetime(2026, 12, 2, 8, tzinfo=timezone.utc)
    with pytest.raises(Exception, match="no time zone offset"):
        parse_now("2026-12-02T09:00:00")


# -------------------------------------------------------------------------- end to end, bundled course

ASSIGNMENT = "feedforward_classifier"
DUE = datetime.fromisoformat("2026-12-05T23:59:00+01:00")
SOLUTION_MODEL = None  # the source's own answer
#: extra_model answers of different strength (each trains in about a second)
WEAK = "torch.manual_seed(0)\nmodel = nn.Sequential(nn.Flatten(), nn.Linear(3072, 2), nn.LogSoftmax(dim=1))\n"


def trained(epochs: int, hidden: int = 32, lr: float = 1e-3) -> str:
    return ("torch.manual_seed(0)\n"
            f"model = nn.Sequential(nn.Flatten(), nn.Linear(3072, {hidden}), nn.Tanh(), nn.Linear({hidden}, 2), nn.LogSoftmax(dim=1))\n"
            "opt = torch.optim.Adam(model.parameters(), lr=%g)\n"
            "loader = DataLoader(cifar2, batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(0))\n"
            "for _ in range(%d):\n"
            "    for imgs, labels in loader:\n"
            "        loss = nn.functional.nll_loss(model(imgs), labels)\n"
            "        opt.zero_grad(); loss.backward(); opt.step()\n") % (lr, epochs)


def solution_answers(root: Path) -> dict[str, str]:
    source = nbformat.read(root / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    answers = {}
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "code":
            answers[meta["grade_id"]] = "\n".join(line for line in cell.source.splitlines()
                                                  if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))
    return answers


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A copy of the course with a leaderboard (30 % public, 3 evaluations a day, counts = "best"), graded:

    * ada_lovelace: the solution's model, once;
    * bob_builder: four models handed in on 12-02 (Zurich), weakest first: the fourth is not evaluated;
    * cy_twombly: an untrained model (about chance).
    """
    from autograder.course.submissions import discover
    from autograder.grading.batch import grade_batch
    from autograder.grading.plan import build_plan
    from autograder.prepare.publish import release_assignment
    from autograder.results.gradebook import Gradebook
    from autograder.sandbox.limits import Limits
    from autograder.student.submit import submit_notebook

    base = tmp_path_factory.mktemp("leaderboard")
    root = base / "course"
    for part in (f"source/{ASSIGNMENT}", f"release/{ASSIGNMENT}"):
        shutil.copytree(REPO / part, root / part)
    (root / "solutions").mkdir()
    shutil.copyfile(REPO / "solutions" / f"{ASSIGNMENT}.py", root / "solutions" / f"{ASSIGNMENT}.py")
    (root / "autograder.toml").write_text(
        f'timezone = "{ZURICH}"\n[assignments.{ASSIGNMENT}]\ndue = {DUE.isoformat()}\ncounts = "best"\n'
        f'[assignments.{ASSIGNMENT}.leaderboard]\nmetric = "extra.heldout_accuracy"\npublic_fraction = 0.3\nevaluations_per_day = 3\n')
    release_assignment(Course.at(root).assignment(ASSIGNMENT))
    answers = solution_answers(root)
    inbox = base / "in"
    hand_ins = {"ada_lovelace": [(answers["extra_model"], "2026-12-02T10:00:00+01:00")],
                "bob_builder": [(WEAK, "2026-12-02T08:00:00+01:00"), (trained(1), "2026-12-02T09:00:00+01:00"),
                        (trained(4, 64), "2026-12-02T10:00:00+01:00"), (answers["extra_model"], "2026-12-02T11:00:00+01:00")],
                "cy_twombly": [(WEAK, "2026-12-03T10:00:00+01:00")]}
    released = nbformat.read(root / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    for student, handed in hand_ins.items():
        for number, (model_code, when) in enumerate(handed):
            notebook = nbformat.from_dict(released)
            for cell in notebook.cells:
                grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
                if grade_id in answers:
                    cell.source = model_code if grade_id == "extra_model" else answers[grade_id]
            path = base / f"{number}.ipynb"
            nbformat.write(notebook, path)
            submit_notebook(path, student, inbox, root, now=datetime.fromisoformat(when))
    url = f"sqlite:///{base / 'gradebook.db'}"
    assignment = Course.at(root).assignment(ASSIGNMENT)
    with Gradebook(url) as gradebook:
        grade_batch(build_plan(assignment, Limits(cell_timeout=120)), discover(inbox, assignment), gradebook, workers=2)
    return SimpleNamespace(root=root, url=url, assignment=assignment, base=base, inbox=inbox)


def entries(graded) -> dict[str, list]:
    from autograder.results.gradebook import Gradebook

    with Gradebook(graded.url) as gradebook:
        found = {}
        for entry in gradebook.leaderboard_entries(ASSIGNMENT):
            found.setdefault(entry.student_id, []).append(entry)
    return {student: sorted(own, key=lambda e: e.submitted_at) for student, own in found.items()}


@pytest.mark.slow
def test_every_graded_version_stores_its_public_and_private_scores(graded):
    stored = entries(graded)
    assert sorted(stored) == ["ada_lovelace", "bob_builder", "cy_twombly"]
    for entry in stored["ada_lovelace"] + stored["bob_builder"][:3] + stored["cy_twombly"]:
        assert entry.evaluated and 0.0 <= entry.public <= 1.0 and 0.0 <= entry.private <= 1.0
    ada = stored["ada_lovelace"][0]
    assert ada.private > 0.8 and ada.day == "2026-12-02"
    assert stored["cy_twombly"][0].private < 0.7  # an untrained model: about chance


@pytest.mark.slow
def test_the_fourth_version_of_a_day_is_not_evaluated_and_its_row_says_so(graded):
    from autograder.results.gradebook import Gradebook

    bob = entries(graded)["bob_builder"]
    assert [e.evaluated for e in bob] == [True, True, True, False]
    assert bob[3].public is None and bob[3].private is None and "at most 3 a day" in bob[3].note
    with Gradebook(graded.url) as gradebook:
        row = {s.student_id: s for s in gradebook.submissions(ASSIGNMENT)}["bob_builder"]
    # counts = "best" kept one of the evaluated versions; the fourth (the solution's model) scored 0 on the extra point
    assert "graded version 4" not in row.notes[0]


@pytest.mark.slow
def test_the_extra_point_is_decided_on_the_private_part(graded):
    from autograder.results.gradebook import Gradebook

    with Gradebook(graded.url) as gradebook:
        rows = {s.student_id: s for s in gradebook.submissions(ASSIGNMENT)}
    for student, own in entries(graded).items():
        counted = next(e for e in own if e.path == rows[student].path)
        extra = next(r for r in rows[student].results if r.question == "extra_model_test")
        check = next(c for c in extra.checks if c["name"] == "extra.heldout_accuracy")
        assert check["passed"] == (counted.private >= 0.8)
        assert check["message"].startswith(f"heldout_accuracy = {counted.public:.4g} on the public part")
        assert f"{counted.private:.4g}" not in check["message"] or f"{counted.private:.4g}" == f"{counted.public:.4g}"


@pytest.mark.slow
def test_a_students_feedback_page_names_their_pseudonym_and_not_their_private_score(graded, tmp_path):
    from autograder.results.feedback import write_feedback
    from autograder.results.gradebook import Gradebook

    with Gradebook(graded.url) as gradebook:
        pages = {p.student_id: p.path for p in write_feedback(graded.assignment, gradebook, tmp_path / "fb")}
    secret = course_secret(graded.root)
    for student, own in entries(graded).items():
        text = pages[student].read_text(encoding="utf-8")
        assert f"<code>{pseudonym(secret, student)}</code>" in text
        for other in entries(graded):
            if other != student:
                assert pseudonym(secret, other) not in text


@pytest.mark.slow
def test_regrading_spends_no_evaluation(graded):
    from autograder.course.submissions import discover
    from autograder.grading.batch import grade_batch
    from autograder.grading.plan import build_plan
    from autograder.results.gradebook import Gradebook
    from autograder.sandbox.limits import Limits

    before = {s: [(e.evaluated, e.private) for e in own] for s, own in entries(graded).items()}
    url = graded.url
    with Gradebook(url) as gradebook:
        cy = [s for s in discover(graded.inbox, graded.assignment) if s.student_id == "cy_twombly"]
        grade_batch(build_plan(graded.assignment, Limits(cell_timeout=120)), cy, gradebook, workers=1, force=True)
    after = {s: [(e.evaluated, e.private) for e in own] for s, own in entries(graded).items()}
    assert after == before


@pytest.mark.slow
def test_under_counts_last_a_version_over_the_cap_scores_zero_on_the_metric_and_its_row_says_why(graded):
    from autograder.course.submissions import discover
    from autograder.grading.batch import grade_batch
    from autograder.grading.plan import build_plan
    from autograder.results.gradebook import Gradebook
    from autograder.sandbox.limits import Limits

    copy = graded.base / "last.db"
    shutil.copyfile(graded.base / "gradebook.db", copy)  # the three evaluations of 12-02 are spent there
    config = graded.root / "autograder.toml"
    original = config.read_text()
    try:
        config.write_text(original.replace('counts = "best"', 'counts = "last"'))
        with Gradebook(f"sqlite:///{copy}") as gradebook:
            bob = [s for s in discover(graded.inbox, graded.assignment) if s.student_id == "bob_builder"]
            grade_batch(build_plan(graded.assignment, Limits(cell_timeout=120)), bob, gradebook, workers=1)
            row = {s.student_id: s for s in gradebook.submissions(ASSIGNMENT)}["bob_builder"]
    finally:
        config.write_text(original)
    assert row.notes[0].startswith("graded version 4 of 4")
    refusal = next(note for note in row.notes if note.startswith("not evaluated for the leaderboard"))
    assert "3 evaluation(s) of bob_builder were already made on 2026-12-02 (at most 3 a day, Europe/Zurich)" in refusal
    assert refusal in row.message
    extra = next(r for r in row.results if r.question == "extra_model_test")
    assert extra.score == 0.0 and extra.message.count("not evaluated for the leaderboard") == 1


def page(graded, now: datetime, name: str) -> tuple[Path, str]:
    from autograder.cli import main

    output = graded.base / name
    assert main(["leaderboard", ASSIGNMENT, "--course", str(graded.root), "--gradebook", graded.url,
                 "--output", str(output), "--now", now.isoformat()]) == 0
    return output, output.read_text()


@pytest.mark.slow
def test_before_the_due_date_the_page_shows_public_scores_under_pseudonyms_only(graded):
    from browser import chromium, console_errors, full_page, save

    output, text = page(graded, DUE - timedelta(days=2), "before.html")
    stored = entries(graded)
    for student in stored:
        assert student not in text  # no student id
    shown_public = {f"{e.public:.4f}" for own in stored.values() for e in own if e.public is not None}
    for own in stored.values():
        for entry in own:
            if entry.private is not None and f"{entry.private:.4f}" not in shown_public:
                assert f"{entry.private:.4f}" not in text  # the private scores are not in the file at all
    assert ">private score<" not in text and 'class="num private"' not in text  # no such column
    assert "http://" not in text and "https://" not in text and "<script" not in text  # offline, no script
    secret = course_secret(graded.root)
    with chromium() as driver:
        driver.get(output.as_uri())
        rows = driver.find_elements("css selector", "#standings tr")[1:]
        cells = [[td.text for td in row.find_elements("tag name", "td")] for row in rows]
        assert console_errors(driver) == []
        save(full_page(driver), "leaderboard-before.png")
    best = {pseudonym(secret, s): max(e.public for e in own if e.public is not None) for s, own in stored.items()}
    assert [c[1] for c in cells] == sorted(best, key=lambda p: (-best[p], p))  # ranked by the best public score
    assert {c[1]: c[2] for c in cells} == {p: f"{v:.4f}" for p, v in best.items()}
    assert {c[1]: c[3] for c in cells}[pseudonym(secret, "bob_builder")] == "3 (+1 not evaluated)"
    assert cells[0][0] == "1"


@pytest.mark.slow
def test_after_the_latest_due_date_the_private_scores_rank_and_the_public_rank_is_shown(graded):
    from browser import chromium, console_errors, full_page, save

    output, text = page(graded, DUE + timedelta(hours=1), "after.html")
    stored = entries(graded)
    secret = course_secret(graded.root)
    with chromium() as driver:
        driver.get(output.as_uri())
        head = [th.text for th in driver.find_elements("css selector", "#standings th")]
        rows = driver.find_elements("css selector", "#standings tr")[1:]
        cells = [dict(zip(head, [td.text for td in row.find_elements("tag name", "td")])) for row in rows]
        assert console_errors(driver) == []
        save(full_page(driver), "leaderboard-after.png")
    assert head[:3] == ["rank", "student", "private score"]
    by_name = {c["student"]: c for c in cells}
    from autograder.results.gradebook import Gradebook

    with Gradebook(graded.url) as gradebook:
        rows_of = {s.student_id: s for s in gradebook.submissions(ASSIGNMENT)}
    privates = {}
    for student, own in stored.items():
        counted = next(e for e in own if e.path == rows_of[student].path)  # the version that counts
        privates[pseudonym(secret, student)] = counted.private
        assert by_name[pseudonym(secret, student)]["private score"] == f"{counted.private:.4f}"
    # ranked by the private score; equal ones share a rank and keep their public order
    assert [int(c["rank"]) for c in cells] == sorted(int(c["rank"]) for c in cells)
    assert [privates[c["student"]] for c in cells] == sorted(privates.values(), reverse=True)
    tied = [c for c in cells if list(privates.values()).count(privates[c["student"]]) > 1]
    assert [int(c["public rank"]) for c in tied] == sorted(int(c["public rank"]) for c in tied)
    assert sorted(c["public rank"] for c in cells) == ["1", "2", "3"]
    assert "revealed" in text and ">private score<" in text


@pytest.mark.slow
def test_an_extension_keeps_the_private_scores_hidden_until_its_due_date(graded):
    config = graded.root / "autograder.toml"
    original = config.read_text()
    try:
        config.write_text(original.replace("[assignments.feedforward_classifier.leaderboard]",
                                           '[assignments.feedforward_classifier.extensions]\nada = "+2d"\n'
                                           "[assignments.feedforward_classifier.leaderboard]"))
        _, text = page(graded, DUE + timedelta(days=1), "extension.html")
        assert "public</strong> scores only" in text and ">private score<" not in text
    finally:
        config.write_text(original)


@pytest.mark.slow
def test_a_leaderboard_naming_no_metric_check_is_refused_before_grading(graded, tmp_path):
    from autograder.course.submissions import discover
    from autograder.grading.batch import grade_batch
    from autograder.grading.plan import build_plan
    from autograder.results.gradebook import Gradebook
    from autograder.sandbox.limits import Limits

    config = graded.root / "autograder.toml"
    original = config.read_text()
    try:
        config.write_text(original.replace('"extra.heldout_accuracy"', '"extra.val_scores_shape"'))
        with Gradebook(f"sqlite:///{tmp_path / 'g.db'}") as gradebook, \
                pytest.raises(CourseError, match=r"metric = 'extra.val_scores_shape' names no check_metric check .*extra.heldout_accuracy"):
            grade_batch(build_plan(graded.assignment, Limits(cell_timeout=120)), discover(graded.inbox, graded.assignment), gradebook)
    finally:
        config.write_text(original)


def test_a_page_for_an_assignment_without_a_leaderboard_says_how_to_add_one(tmp_path):
    from autograder.cli import main

    from autograder.results.gradebook import Gradebook

    root = build_toy_course(tmp_path / "course")
    Gradebook(f"sqlite:///{root / 'gradebook.db'}").close()  # a gradebook there: the refusal is the leaderboard's, not "no gradebook"
    assert main(["leaderboard", "toy", "--course", str(root), "--output", str(tmp_path / "x.html")]) == 2


def test_student_ids_never_reach_the_page_so_hostile_ones_cannot_either(tmp_path):
    """Student ids never reach the page (pseudonyms only), so an id written as markup cannot either."""
    from autograder.results.gradebook import Gradebook, StoredResult, StoredSubmission
    from autograder.results.leaderboard import write_leaderboard

    root = build_toy_course(tmp_path / "course")
    (root / "autograder.toml").write_text(BOARD.replace("23:59:00+01:00", "23:59:00+00:00") + 'metric = "x.acc"\n')
    hostile = ['<img src=x onerror=alert(1)>', '"><script>alert(1)</script>', "ada"]
    with Gradebook(f"sqlite:///{tmp_path / 'g.db'}") as gradebook:
        for number, student in enumerate(hostile):
            item = StoredSubmission("toy", student, "toy.ipynb", f"/in/{number}.ipynb", "h", "ok", "",
                                    [StoredResult("q", 1.0, 1.0, "passed")], submitted_at="2026-12-01T10:00:00+00:00")
            item.leaderboard = {"path": item.path, "submitted_at": item.submitted_at, "sha256": "h", "day": "2026-12-01",
                                "evaluated": True, "public": 0.5 + number / 10, "private": 0.61 + number / 10, "note": ""}
            gradebook.store(item)
            gradebook.record_leaderboard_entry(item)
        assignment = Course.at(root).assignment("toy")
        before = write_leaderboard(gradebook, assignment, tmp_path / "before.html", datetime(2026, 12, 1, 12, tzinfo=timezone.utc))
        after = write_leaderboard(gradebook, assignment, tmp_path / "after.html", datetime(2026, 12, 2, 0, 0, tzinfo=timezone.utc))
    assert not before.revealed and after.revealed  # the reveal is at the due date (23:59 on 12-01) and later
    for name in ("before.html", "after.html"):
        text = (tmp_path / name).read_text()
        assert "<script" not in text and "onerror" not in text and "ada" not in text
    before_text = (tmp_path / "before.html").read_text()
    assert "0.6100" not in before_text and "0.7100" not in before_text and "0.8100" not in before_text
    assert [s.best_public for s in before.standings] == [0.7, 0.6, 0.5]
    assert [s.private for s in after.standings] == [0.81, 0.71, 0.61] and [s.private_rank for s in after.standings] == [1, 2, 3]


def test_only_a_course_with_a_leaderboard_table_reads_its_policy_for_it(toy_course):
    from autograder.course.late import has_leaderboard

    assert not has_leaderboard(toy_course, "toy")  # no file
    (toy_course / "autograder.toml").write_text("[assignments.toy]\ndue = not a date\n")
    assert not has_leaderboard(toy_course, "toy")  # not TOML: a batch without versions grades as before
    (toy_course / "autograder.toml").write_text(BOARD + 'metric = "x.acc"\n')
    assert has_leaderboard(toy_course, "toy") and not has_leaderboard(toy_course, "other")
