"""A failure caused by another of the student's answers says so once; an error row points at the cell and line.

Pure rules over the student view the gradebook keeps (cells, kinds, sources, where errors were raised):
no grading run here (`tests/test_feedback.py` and `tests/test_feedback_browser.py` grade and render).
"""

from types import SimpleNamespace

from autograder.wire.causes import Use, causes, cause_sentence, error_place, questions_of_answers, uses
from autograder.results.feedback import _notebook_context, grouped_checks


def cell(kind, source, grade_id=None, cell_type="code", **extra):
    return {"kind": kind, "source": source, "grade_id": grade_id, "cell_type": cell_type, **extra}


#: count_parameters (question 1), then choose_depth (question 2), whose answer calls count_parameters, then a
#: question whose test calls count_parameters itself, then an independent one.
CELLS = [
    cell("locked", "import torch\nfrom autograder import checks as ag"),
    cell("answer", "def count_parameters(model):\n    return sum(p.numel() for p in model.parameters()) + 1", "count_parameters"),
    cell("test", "ag.check_equal('count.small', count_parameters(torch.nn.Linear(2, 3)), expected=9)", "count_test"),
    cell("answer", "def choose_depth(budget):\n    depth = 1\n    while count_parameters(make(depth + 1)) <= budget:\n"
                   "        depth += 1\n    return depth", "choose_depth"),
    cell("test", "ag.check_equal('depth.100', choose_depth(100), expected=2)", "depth_test"),
    cell("answer", "SIZES = [1, 2, 3]", "sizes"),
    cell("test", "ag.check_equal('sizes.total', count_parameters(torch.nn.Linear(1, 1)) + len(SIZES), expected=5)", "sizes_test"),
    cell("answer", "def double(x):\n    return 2 * x", "double"),
    cell("test", "ag.check_equal('double.two', double(2), expected=4)", "double_test"),
]


def test_an_answer_belongs_to_the_test_cells_after_it_up_to_the_next_answer():
    own, answered_by = questions_of_answers(CELLS + [cell("test", "pass", "double_test_2")])
    assert own["depth_test"] == [3] and own["double_test_2"] == [7]
    assert answered_by[7] == ["double_test", "double_test_2"]


def test_a_test_uses_the_answers_its_own_answer_calls_and_the_ones_it_calls_itself():
    found = uses(CELLS)
    assert found["depth_test"] == [Use("count_parameters", "count_parameters", "count_test")]  # through choose_depth
    assert found["sizes_test"] == [Use("count_parameters", "count_parameters", "count_test")]  # directly
    assert found["count_test"] == [] and found["double_test"] == []


def test_only_another_question_that_lost_points_is_a_cause():
    assert causes(CELLS, {"count_test", "depth_test", "double_test"}) == {
        "depth_test": [Use("count_parameters", "count_parameters", "count_test")]}
    assert causes(CELLS, {"depth_test"}) == {}, "count_parameters passes its own checks: depth's failure is its own"


def test_the_last_definition_before_the_test_is_the_one_used():
    redefined = CELLS[:5] + [cell("answer", "def count_parameters(model):\n    return 0", "sizes")] + CELLS[6:]
    assert uses(redefined)["sizes_test"] == []  # its own answer cell redefines it


def test_a_cell_python_cannot_parse_still_names_what_it_reads():
    cells = [CELLS[1], CELLS[2], cell("answer", "net = None", "net"), cell("test", "%time count_parameters(net)", "timing_test")]
    assert uses(cells)["timing_test"] == [Use("count_parameters", "count_parameters", "count_test")]


def test_the_sentence_names_the_function_and_the_question_by_its_title():
    used = [Use("count_parameters", "count_parameters", "count_test")]
    assert cause_sentence(used, {"count_test": "Question 1: counting parameters"}) == (
        "this used your `count_parameters` (Question 1: counting parameters), which fails its own check")
    assert cause_sentence(used, {}, not_attempted={"count_test"}).endswith("(question count_test), which is not answered yet")


def test_a_traceback_is_placed_in_the_notebooks_cells():
    traceback = ['Traceback (most recent call last):',
                 '  File "<test cell 4>", line 1, in <module>',
                 '  File "<ipython-input-3-0123abcd>", line 3, in choose_depth',
                 '  File "<ipython-input-2-0123abcd>", line 2, in count_parameters', "ZeroDivisionError: division by zero"]
    inner, outer = error_place(traceback, CELLS)
    # ipython-input-N: the N-th code cell that is not a test cell (the setup cell is 1)
    assert (inner.cell, inner.line, inner.function) == (1, 2, "count_parameters")
    assert (outer.cell, outer.line) == (4, 1)
    assert error_place(["ValueError: no frames"], CELLS) is None


def test_an_exception_message_cannot_pose_as_a_frame():
    forged = ['Traceback (most recent call last):', '  File "<ipython-input-2-0123abcd>", line 2, in count_parameters',
              'ValueError: look', '  File "<test cell 8>", line 1, in <module>']
    inner, outer = error_place(forged, CELLS)
    assert inner == outer and inner.cell == 1


def result(question, score, points, status, checks=(), message=""):
    return SimpleNamespace(question=question, score=score, max_score=points, status=status, message=message, checks=list(checks))


def check(name, passed, message="", hint="", seed=None):
    return {"name": name, "passed": passed, "message": message, "hint": hint, "seed": seed}


def context(results, cells):
    submission = SimpleNamespace(notebook="nb.ipynb", results=results, status="ok", message="", notes=[])
    return _notebook_context(submission, {"cells": cells}, lambda text: text or "",
                             {"count_test": "Counting parameters", "depth_test": "Choosing a depth"})


def test_a_question_failing_through_another_is_listed_under_it_and_says_why_once():
    not_checked = "not checked: ZeroDivisionError: division by zero"
    page = context([
        result("count_test", 0.0, 2, "failed", [check("count.small", False, "expected 9, got 10 [seed 3]")]),
        result("depth_test", 0.0, 3, "error", [check(f"depth.{n}", False, not_checked) for n in range(22)]),
        result("sizes_test", 1.0, 1, "passed", [check("sizes.total", True)]),
        result("double_test", 1.0, 1, "passed", [check("double.two", True)]),
    ], CELLS)
    count, depth = page["questions"][0], page["questions"][1]
    assert [q["id"] for q in page["fix_first"]] == ["count_test"], "the root cause, not the 22 rows it caused"
    assert [d["id"] for d in count["dependents"]] == ["depth_test"]
    assert depth["cause"] == "this used your `count_parameters` (Counting parameters), which fails its own check"
    (row,) = depth["rows"]  # 22 checks that say the same thing: one row naming them
    assert len(row["names"]) == 22 and row["message"] == not_checked
    assert count["rows"][0]["message"] == "expected 9, got 10"  # the seed is the instructor's (the row's tooltip)


def test_an_error_row_points_at_the_answer_cell_and_line_with_the_students_code():
    cells = [dict(c) for c in CELLS]
    cells[4]["error_at"] = [{"cell": 3, "line": 3, "function": "choose_depth"}, {"cell": 4, "line": 1, "function": "<module>"}]
    page = context([result("count_test", 2.0, 2, "passed", [check("count.small", True)]),
                    result("depth_test", 0.0, 3, "error", [check("depth.100", False, "not checked: NameError: name 'make' is not defined")])],
                   cells)
    where = page["questions"][1]["where"]
    assert where["text"] == "at answer cell 'choose_depth', line 3, in choose_depth"
    assert where["code"] == "while count_parameters(make(depth + 1)) <= budget:"
    assert where["anchor"] == "cell-nb.ipynb-choose_depth"


def test_a_line_in_a_test_cell_is_placed_but_not_quoted():
    cells = [dict(c) for c in CELLS]
    cells[8]["error_at"] = [{"cell": 8, "line": 1, "function": "<module>"}]
    page = context([result("double_test", 0.0, 1, "failed", [check("double.two", False, "AssertionError")])], cells)
    assert page["questions"][0]["where"] == {"text": "at test cell 'double_test', line 1", "code": "",
                                             "anchor": "cell-nb.ipynb-double_test", "cell": 8}


def test_hints_are_shown_on_failures_only():
    rows = grouped_checks([check("a", True, hint=""), check("b", False, "expected 1, got 2", hint="add the bias"),
                           check("c", False, "expected 1, got 2", hint="add the bias"), check("d", False, "expected 3, got 4")])
    assert [(r["names"], r["hint"]) for r in rows] == [(["a"], ""), (["b", "c"], "add the bias"), (["d"], "")]
    page = context([result("double_test", 1.0, 1, "passed", [{"name": "double.two", "passed": True, "message": "", "hint": "never shown"}])], CELLS)
    assert page["questions"][0]["rows"][0]["hint"] == "" and page["questions"][0]["hint"] == ""


def test_a_hand_grading_comment_is_marked_as_markdown_for_the_page():
    page = context([result("why", 1.5, 2, "manually_graded", message="- **clear** (+1)\n\nsee $\\frac{1}{2}$")], CELLS)
    assert page["questions"][0]["comment"] is True


def test_a_source_too_deep_to_parse_costs_nothing_but_its_own_names():
    deep = "x = " + "-" * 200_000 + "1"
    cells = [cell("answer", deep, "a"), cell("test", "print(x)", "t"), cell("answer", "y = 1", "b"), cell("test", deep, "t2")]
    assert uses(cells) == {"t": [], "t2": []}
