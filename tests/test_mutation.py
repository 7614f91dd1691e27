"""Automatic mutation testing (`autograder.grading.mutation`) and what `verify` proves with it.

The generator is pure (the first half of this file starts no process); the second half grades the
generated mutants of the toy course through `verify` and reads its table, its survivors and its cache.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import nbformat
import pytest

from autograder.course import Course, CourseError
from autograder.grading import mutation
from autograder.grading.mutation import GeneratedMutant, generate, load_equivalent, mutants_of_cell, select
from autograder.grading.verify import verify_assignment, visible_checks_without_expected
from autograder.sandbox.limits import Limits
from conftest import REPO, build_toy_course, nbgrader_cell


def _changes(body: str, grade_id: str = "f") -> dict[str, set[str]]:
    """operator -> the mutated lines, for a cell holding ``body`` inside a solution region."""
    cell = f"def f(a, b, x, n):\n    ### BEGIN SOLUTION\n{body}\n    ### END SOLUTION"
    found: dict[str, set[str]] = {}
    for mutant in mutants_of_cell(grade_id, "f_test", cell):
        found.setdefault(mutant.operator, set()).add(mutant.after.strip())
    return found


# ---------------------------------------------------------------------------------------------- generation (pure)


@pytest.mark.parametrize("body, operator, expected", [
    ("    return a + b", "arithmetic", "return (a - b)"),
    ("    return a @ b", "arithmetic", "return (a * b)"),
    ("    return -a", "arithmetic", "return a"),
    ("    return a < b", "comparison", "return (a <= b)"),
    ("    return a == b", "comparison", "return (a != b)"),
    ("    return a and b", "boolean", "return (a or b)"),
    ("    return not a", "boolean", "return a"),
    ("    if a:\n        return 1\n    return 2", "boolean", "if (not a):"),
    ("    return x * 2", "constant", "return x * 3"),
    ("    return x * 2", "constant", "return x * 1"),
    ("    return x * 0.5", "constant", "return x * 1.0"),
    ("    return x[:n]", "off-by-one", "return x[:(n + 1)]"),
    ("    return list(range(n))", "off-by-one", "return list(range((n - 1)))"),
    ("    return x.sum(axis=1)", "axis", "return x.sum(axis=0)"),
    ("    return x.sum(axis=1)", "axis", "return x.sum()"),
    ("    return x.sum(dim=-1, keepdim=True)", "axis", "return x.sum(dim=-1, keepdim=False)"),
    ("    return x.sub(a, axis='index')", "axis", "return x.sub(a, axis='columns')"),
    ("    return np.asarray(x, dtype=float)", "dtype", "return np.asarray(x, dtype=int)"),
    ("    return torch.zeros(3, dtype=torch.float32)", "dtype", "return torch.zeros(3, dtype=torch.float64)"),
    ("    return x.float()", "dtype", "return x.double()"),
    ("    return x.astype('int64')", "dtype", "return x.astype('float64')"),
    ("    return a + b", "dropped-term", "return a"),
    ("    return a + b", "dropped-term", "return b"),
    ("    return a - b", "dropped-term", "return a"),
    ("    return torch.cat(a, b)", "swapped-arguments", "return torch.cat(b, a)"),
    ("    return a - b", "swapped-arguments", "return (b - a)"),
    ("    x += a\n    return x", "in-place", "x = x + a"),
    ("    x = x + a\n    return x", "in-place", "x += a"),
    ("    return x.add_(a)", "in-place", "return x.add(a)"),
    ("    return x.add(a)", "in-place", "return x.add_(a)"),
    ("    return x.fillna(0, inplace=False)", "in-place", "return x.fillna(0, inplace=True)"),
    ("    return x.detach()", "removed-call", "return x"),
    ("    return x.copy()", "removed-call", "return x"),
    ("    return x.clone()", "removed-call", "return x"),
    ("    return np.abs(x)", "removed-call", "return x"),
    ("    a.step()\n    return a", "removed-call", "pass"),
])
def test_each_operator_makes_its_plausible_mistake(body, operator, expected):
    assert expected in _changes(body).get(operator, set())


def test_a_mistake_in_a_library_call_stays_a_library_call():
    # np.add is not a tensor method: no np.add_ ; torch.abs(x) is unwrapped, not turned into torch.abs_
    changes = _changes("    return np.add(a, b) + torch.abs(x)")
    assert not any("add_" in line or "abs_" in line for lines in changes.values() for line in lines)


def test_changes_that_cannot_be_mistakes_are_not_generated():
    changes = _changes("    return np.maximum(0.0, a) + LinearSVC(C=2, max_iter=1000, n_jobs=2).fit(x).predict(b)")
    assert not any("np.maximum(a, 0.0)" in line for line in changes.get("swapped-arguments", ()))
    assert not any("max_iter=1001" in line or "n_jobs=3" in line for line in changes.get("constant", ()))
    assert "return np.maximum(0.0, a) + LinearSVC(C=3, max_iter=1000, n_jobs=2).fit(x).predict(b)" in changes["constant"]


def test_accepting_an_argument_as_an_array_is_mutated_only_by_a_cast_to_int():
    changes = _changes("    a = np.asarray(a, dtype=np.float64)\n    x = np.asarray(x, dtype=float)\n    return np.asarray(a * x, dtype=float)")
    lines = {line for found in changes.values() for line in found}
    assert "x = np.asarray(x, dtype=int)" in lines
    assert not lines & {"a = a", "x = x", "a = np.asarray(a)", "a = np.asarray(a, dtype=np.float32)", "x = np.asarray(x)"}
    # what the function computes is converted too: that conversion is mutated like any other
    assert {"return (a * x)", "return np.asarray(a * x)"} <= lines


def test_only_the_solution_region_is_mutated():
    cell = ("def scaled(x, factor=2):\n    \"\"\"x * factor, 3 ways.\"\"\"\n    ### BEGIN SOLUTION\n    return x * factor\n"
            "    ### END SOLUTION\n\n\nLIMIT = 10 + 1\n")
    mutants = mutants_of_cell("scaled", "scaled_test", cell)
    assert mutants and {m.line for m in mutants} == {4}


def test_a_cell_without_markers_is_mutated_whole():
    mutants = mutants_of_cell("half", "half_test", "answer_half = 1 / 2\n")
    assert {m.after for m in mutants} >= {"answer_half = (1 * 2)", "answer_half = 2 / 2"}


def test_every_mutant_parses_differs_from_the_original_and_from_every_other():
    cell = ("def f(x, n):\n    ### BEGIN SOLUTION\n    total = 0\n    for i in range(1, n + 1):\n        if x[i] > 0 and i % 2 == 0:\n"
            "            total += x[i] * 2\n    return np.asarray(total, dtype=float).sum(axis=0)\n    ### END SOLUTION")
    mutants = mutants_of_cell("f", "f_test", cell)
    shapes = [ast.dump(ast.parse(m.source)) for m in mutants]
    assert len(mutants) > 20
    assert ast.dump(ast.parse(cell)) not in shapes
    assert len(set(shapes)) == len(shapes)
    assert len({m.id for m in mutants}) == len(mutants)
    assert all("### BEGIN SOLUTION" in m.source and "### END SOLUTION" in m.source for m in mutants)


def test_a_multi_line_expression_is_spliced_without_breaking_the_layout():
    cell = "def f(a, b):\n    ### BEGIN SOLUTION\n    return g(a,\n             b)  # keep me\n    ### END SOLUTION"
    swapped = [m for m in mutants_of_cell("f", "f_test", cell) if m.operator == "swapped-arguments"]
    assert swapped and "# keep me" in swapped[0].source and "g(b, a)" in swapped[0].source


def test_ids_are_stable_and_name_cell_operator_and_place():
    cell = "def f(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION"
    first = mutants_of_cell("f", "f_test", cell)
    assert [m.id for m in first] == [m.id for m in mutants_of_cell("f", "f_test", cell)]
    assert all(m.id.startswith("m-") and len(m.id) == 12 for m in first)
    # the same change in another answer cell is another mutant
    assert not {m.id for m in first} & {m.id for m in mutants_of_cell("g", "g_test", cell)}


def test_an_answer_cell_belongs_to_the_next_test_cell_and_manual_answers_are_left_alone():
    notebook = nbformat.v4.new_notebook(cells=[
        nbgrader_cell("answer", "def f(x):\n    return x + 1", "f"),
        nbgrader_cell("answer", "def g(x):\n    return x - 1", "g"),
        nbgrader_cell("test", "assert f(1) == 2", "fg_test", points=1),
        nbgrader_cell("manual", "x = 1 + 1", "explain", points=1),
        nbgrader_cell("answer", "def h(x):\n    return x * 2", "h"),  # no test after it: nothing could kill it
    ])
    mutants = generate(notebook)
    assert {m.cell for m in mutants} == {"f", "g"} and {m.question for m in mutants} == {"fg_test"}


def test_an_open_question_judged_by_check_metric_is_not_mutated():
    # any model that reaches the bound is a right answer: a mutant that keeps the points is not a gap
    notebook = nbformat.v4.new_notebook(cells=[
        nbgrader_cell("answer", "model = fit(lr=0.1, epochs=10)", "model"),
        nbgrader_cell("test", "ag.check_metric('acc', model, 'heldout_accuracy', at_least=0.8)", "model_test", points=1),
    ])
    assert generate(notebook) == []


def _fake(operator: str, number: int) -> GeneratedMutant:
    return GeneratedMutant(f"m-{number:010x}", "c", "q", operator, 1, "", "", "")


def test_the_cap_takes_operators_round_robin_in_id_order():
    many = [_fake("arithmetic", n) for n in range(30)] + [_fake("axis", 100 + n) for n in range(3)] + [_fake("dtype", 200)]
    chosen = select(many, 6)
    assert len(chosen) == 6
    assert sorted(m.operator for m in chosen) == ["arithmetic", "arithmetic", "arithmetic", "axis", "axis", "dtype"]
    assert [m.id for m in chosen if m.operator == "arithmetic"] == [f"m-{n:010x}" for n in range(3)]
    assert select(list(reversed(many)), 6) == sorted(chosen, key=lambda m: -int(m.id[2:], 16))
    assert select(many[:4], 6) == many[:4]


def test_the_bundled_course_generates_within_the_cap():
    course = Course.at(Path(__file__).resolve().parent.parent)
    for name in course.assignment_names():
        assignment = course.assignment(name)
        for notebook in assignment.notebook_names:
            mutants = generate(assignment.read_source(notebook))
            per_question: dict[str, int] = {}
            for m in mutants:
                per_question[m.question] = per_question.get(m.question, 0) + 1
            assert mutants and max(per_question.values()) <= mutation.DEFAULT_CAP, name


# ---------------------------------------------------------------------------------------------- marks and checks (pure)


def test_equivalent_marks_need_a_generated_id_and_a_reason(tmp_path):
    bank = tmp_path / "toy.toml"
    bank.write_text('[[equivalent]]\nid = "m-0123456789"\nreason = "no difference"\n')
    assert load_equivalent(bank)["m-0123456789"].reason == "no difference"
    bank.write_text('[[equivalent]]\nid = "m-0123456789"\n')
    with pytest.raises(CourseError, match=r"toy\.toml: equivalent mutant m-0123456789: give a reason"):
        load_equivalent(bank)
    bank.write_text('[[equivalent]]\nid = "double dtype"\nreason = "x"\n')
    with pytest.raises(CourseError, match=r"toy\.toml: equivalent mutant 1: id must be a generated mutant's id"):
        load_equivalent(bank)
    assert load_equivalent(tmp_path / "absent.toml") == {}


def test_visible_checks_without_expected_are_named_by_line():
    cell = ("ag.check_close('a', f(1), expected=2.0)\n"
            "ag.check_equal('b', f(2), 4)\n"
            "ag.check_close(\n    'c', f(3))\n"
            "ag.check_true('d', f(4) > 0)\n"
            "ag.check_metric('e', model, 'accuracy', at_least=0.9)\n"
            "check_equal('f', f(5))\n")
    assert visible_checks_without_expected(cell) == [(3, "ag.check_close("), (7, "check_equal('f', f(5))")]


# ---------------------------------------------------------------------------------------------- through verify (runs)


def _write_notebook(root: Path, edit) -> None:
    path = root / "source" / "toy" / "toy.ipynb"
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        edit(cell)
    nbformat.write(notebook, path)
    from autograder.prepare.publish import release_assignment

    release_assignment(Course.at(root).assignment("toy"))


DOUBLE_IN_STEPS = "def double(x):\n    ### BEGIN SOLUTION\n    y = np.asarray(x, dtype=float)\n    y = y * 2\n    return y\n    ### END SOLUTION"


def _with_expected_half(cell) -> None:
    grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
    if grade_id == "half_test":
        cell.source = "ag.check_close('half', answer_half, expected=0.5)"
    elif grade_id == "double":
        cell.source = DOUBLE_IN_STEPS  # y = y * 2 -> y *= 2 on the array it just made: no difference


@pytest.fixture
def toy(tmp_path) -> Path:
    """The toy course, its visible checks all stating their expected values; double in two steps."""
    root = build_toy_course(tmp_path / "course")
    _write_notebook(root, _with_expected_half)
    return root


def _failures(report) -> list[str]:
    return [f"{f.what}: {f.detail}" for f in report.findings if not f.ok]


def test_a_visible_check_without_expected_fails_verify_naming_cell_and_check(tmp_path):
    root = build_toy_course(tmp_path / "course")  # half_test: ag.check_close('half', answer_half)
    report = verify_assignment(Course.at(root).assignment("toy"), Limits(cell_timeout=60), workers=2)
    failed = _failures(report)
    assert len(failed) == 1
    assert "every visible check states its expected= value" in failed[0]
    assert "half_test, line 1: ag.check_close('half', answer_half)" in failed[0]


@pytest.mark.slow
def test_verify_scores_generated_mutants_per_question_lists_survivors_and_caches(toy, monkeypatch):
    assignment = Course.at(toy).assignment("toy")
    report = verify_assignment(assignment, Limits(cell_timeout=60), workers=2, mutation="run")
    rows = {row.question: row for row in report.mutation}
    assert set(rows) == {"double_test", "mean_rows_test", "half_test"}
    assert rows["half_test"].killed == rows["half_test"].generated == 1  # 0.5 -> 1.0
    # updating the array double has just made in place changes nothing anyone can see: it survives
    survivors = [m for row in report.mutation for m in row.survivors]
    assert [(m.question, m.after.strip()) for m in survivors] == [("double_test", "y *= 2")]
    # what cannot survive: a wrong axis, a wrong constant, a cast to int
    assert rows["mean_rows_test"].killed == rows["mean_rows_test"].generated > 0
    assert rows["double_test"].killed == rows["double_test"].generated - 1 >= 5
    low = [f for f in report.findings if f.what.startswith("mutation score at least 90%")]
    assert len(low) == 1 and not low[0].ok and "double_test" in low[0].detail and "mean_rows_test" not in low[0].detail
    cache = list((toy / ".autograder-cache" / "mutation").glob("toy-*.json"))
    assert len(cache) == 1 and len(json.loads(cache[0].read_text())["outcomes"]) == sum(r.generated for r in rows.values())

    # marking the survivors equivalent (with reasons) needs no new run: the outcomes come from the cache
    marks = "".join(f'[[equivalent]]\nid = "{m.id}"\nreason = "y is the array double just made"\n\n' for m in survivors)
    (toy / "tests" / "mutants").mkdir(parents=True)
    (toy / "tests" / "mutants" / "toy.toml").write_text(marks)
    monkeypatch.setattr("autograder.grading.verify._run_generated_mutant", lambda *a: pytest.fail("ran a cached mutant"))
    again = verify_assignment(assignment, Limits(cell_timeout=60), workers=2, mutation="cached")
    assert not _failures(again)
    assert all(row.score == 1.0 and not row.survivors for row in again.mutation)
    assert "results from .autograder-cache/mutation/" in again.mutation_note


@pytest.mark.slow
def test_the_command_prints_the_table_and_each_survivor_on_one_line(toy, capsys):
    from autograder.cli import main

    assert main(["verify", "toy", "--course", str(toy), "--workers", "2", "--mutation", "--mutation-threshold", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "question" in out and "killed" in out and "equivalent" in out and "double_test" in out
    survivor = next(line for line in out.splitlines() if "→" in line)
    assert survivor.split()[0].startswith("m-") and survivor.endswith("double_test [in-place] double:4: y = y * 2  →  y *= 2")
    assert main(["verify", "toy", "--course", str(toy), "--workers", "2"]) == 1  # cached: 1 survivor, double_test below 90%
    assert "results from .autograder-cache/mutation/" in capsys.readouterr().out
    assert main(["verify", "toy", "--course", str(toy), "--workers", "2", "--no-mutation"]) == 0


@pytest.mark.slow
def test_a_wrong_equivalent_mark_fails_verify(toy):
    killed = next(m for m in generate(nbformat.read(toy / "source" / "toy" / "toy.ipynb", as_version=4)) if m.question == "half_test")
    (toy / "tests" / "mutants").mkdir(parents=True)
    (toy / "tests" / "mutants" / "toy.toml").write_text(
        f'[[equivalent]]\nid = "{killed.id}"\nreason = "wrong"\n\n[[equivalent]]\nid = "m-00000000aa"\nreason = "stale"\n')
    report = verify_assignment(Course.at(toy).assignment("toy"), Limits(cell_timeout=60), workers=2, mutation="run", mutation_threshold=0.0)
    failed = _failures(report)
    assert len(failed) == 1 and "every [[equivalent]] mark names a surviving generated mutant" in failed[0]
    assert f"{killed.id} is killed by the tests" in failed[0] and "m-00000000aa is not generated any more" in failed[0]


def test_by_default_verify_reports_only_cached_mutation_results(toy, monkeypatch):
    monkeypatch.setattr("autograder.grading.verify._run_generated_mutant", lambda *a: pytest.fail("ran a mutant"))
    report = verify_assignment(Course.at(toy).assignment("toy"), Limits(cell_timeout=60), workers=2, mutation="cached")
    assert not _failures(report) and report.mutation is None
    assert "`autograder verify toy --mutation` runs them" in report.mutation_note


def test_changing_a_test_invalidates_the_cached_results(toy):
    assignment = Course.at(toy).assignment("toy")
    before = mutation.cache_path(assignment, mutation.DEFAULT_CAP)
    _write_notebook(toy, lambda cell: setattr(cell, "source", cell.source + "\nag.check_close('half.twice', 2 * answer_half, expected=1.0)")
                    if cell.metadata.get("nbgrader", {}).get("grade_id") == "half_test" else None)
    after_test = mutation.cache_path(assignment, mutation.DEFAULT_CAP)
    assert after_test != before
    (toy / "solutions" / "toy.py").write_text((toy / "solutions" / "toy.py").read_text() + "\n# edited\n")
    assert mutation.cache_path(assignment, mutation.DEFAULT_CAP) not in (before, after_test)
    assert mutation.cache_path(assignment, 10) != mutation.cache_path(assignment, mutation.DEFAULT_CAP)


@pytest.mark.slow
@pytest.mark.parametrize("name", Course.at(REPO).assignment_names())
def test_the_bundled_course_kills_its_generated_mutants(name):
    """The full run CI affords (`autograder verify --mutation`): at least 90% of the non-equivalent generated
    mutants of every autograded question are killed (the hand-written banks: tests/test_course.py)."""
    from autograder.sandbox.pool import default_workers

    report = verify_assignment(Course.at(REPO).assignment(name), Limits(cell_timeout=120), workers=default_workers(),
                               mutants=False, mutation="run")
    assert report.mutation, report.mutation_note
    assert not _failures(report), "\n".join(_failures(report)) + "\nsurvivors:\n" + "\n".join(
        f"{m.id} {m.diff}" for row in report.mutation for m in row.survivors)
