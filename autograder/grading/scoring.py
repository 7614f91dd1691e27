"""Where a question's score is decided (trusted side).

* A test cell whose reference pass recorded checks: each expected check is matched, by name, with the
  value the student's run recorded *in that test cell*; the grader decodes both (plain data) and compares
  them with the tolerances the reference recorded. Score = points x passed weight / total weight.
* A test cell without checks (a plain nbgrader cell of asserts): scored as nbgrader scores it — zero if
  it raised or wrote to stderr, the number its last expression gave if any (partial credit), else full.
* A hand-graded answer: no score until a person grades it (zero when left as released).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from autograder.wire import values
from autograder.course.cells import Kind
from autograder.wire import tolerances
from autograder.wire.compare import Options, compare, real_dtype
from autograder.prepare.manifest import NotebookManifest
from autograder.grading.reference import Expectations
from autograder.sandbox.launch import RunResult
from autograder.grading.sanitize import Sanitized


@dataclass
class QuestionResult:
    question: str  # the graded cell's grade_id
    score: float | None
    max_score: float
    status: str  # passed | partial | failed | error | timeout | crashed | not_run | not_attempted | needs_manual_grade
    message: str = ""
    checks: list[dict] = field(default_factory=list)  # per check: name, passed, weight, message, seed


def _first_error(end: dict | None) -> dict | None:
    if not end:
        return None
    return next((o for o in end.get("outputs", []) if o.get("output_type") == "error"), None)


def _error_line(error: dict) -> str:
    line = f"{error.get('ename', 'Error')}: {error.get('evalue', '')}".strip().rstrip(":")
    if not error.get("evalue"):
        # A bare `assert` says nothing by itself: show the statement that failed.
        code = [text.strip() for text in error.get("traceback", [])
                if text.startswith("    ") and text.strip() and set(text.strip()) - set("^~")]
        if code:
            line += f" in `{code[-1]}`"
    return line


def _clamp(score: float, points: float) -> float:
    return round(min(max(score, 0.0), points), 9)


MetricLookup = Callable[[str], Callable]


def score_notebook(
    manifest: NotebookManifest,
    sanitized: Sanitized,
    run: RunResult,
    expectations: Expectations,
    metrics: MetricLookup | None = None,
) -> list[QuestionResult]:
    results = []
    for item in manifest.graded_cells:
        index = sanitized.index_of(item.grade_id)
        cell = sanitized.cells[index]
        if item.kind == Kind.MANUAL:
            results.append(_score_manual(item.grade_id, item.points, cell.checksum_matches_release))
            continue
        end = run.cells.get(index)
        expected = expectations.for_cell(item.grade_id)
        if expected:
            recorded = [record for cell_index, record in run.checks if cell_index == index]
            results.append(_score_checks(item.grade_id, item.points, expected, recorded, end, run, metrics))
        else:
            results.append(_score_like_nbgrader(item.grade_id, item.points, end, run))
    return results


def _score_manual(grade_id: str, points: float, unchanged: bool) -> QuestionResult:
    if unchanged:
        return QuestionResult(grade_id, 0.0, points, "not_attempted", "the answer was left as released")
    return QuestionResult(grade_id, None, points, "needs_manual_grade", "graded by hand")


def _not_run(grade_id: str, points: float, run: RunResult) -> QuestionResult:
    why = run.message or "the notebook stopped before this cell"
    return QuestionResult(grade_id, 0.0, points, "not_run", f"the test cell did not run: {why}")


def _score_like_nbgrader(grade_id: str, points: float, end: dict | None, run: RunResult) -> QuestionResult:
    if end is None:
        return _not_run(grade_id, points, run)
    if end["status"] in ("timeout", "crashed"):
        return QuestionResult(grade_id, 0.0, points, end["status"], _error_line(_first_error(end) or {}))
    for output in end.get("outputs", []):
        if output.get("output_type") == "error":
            return QuestionResult(grade_id, 0.0, points, "failed", _error_line(output))
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            return QuestionResult(grade_id, 0.0, points, "failed", "the test cell wrote to stderr: " + output.get("text", "")[:300].strip())
    for output in end.get("outputs", []):
        if output.get("output_type") == "execute_result":
            partial = _partial_credit(output.get("data", {}).get("text/plain", ""), points)
            if partial is not None:
                status = "passed" if partial >= points else ("failed" if partial <= 0 else "partial")
                return QuestionResult(grade_id, _clamp(partial, points), points, status, f"partial credit {partial:g} / {points:g}" if status == "partial" else "")
    return QuestionResult(grade_id, points, points, "passed")


def _partial_credit(text: str, points: float) -> float | None:
    """nbgrader's rule: a test cell whose result is a number in [0, points] scores that number."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    if math.isnan(value) or value < 0:
        return None
    return min(value, points)


def _score_checks(grade_id: str, points: float, expected: list[dict], recorded: list[dict], end: dict | None, run: RunResult,
                  metrics: MetricLookup | None = None) -> QuestionResult:
    by_name: dict[str, dict] = {}
    for record in recorded:
        if isinstance(record.get("name"), str):
            by_name.setdefault(record["name"], record)
    error = _first_error(end)
    if end is None:
        stopped = run.message or "the notebook stopped before this cell"
    elif end["status"] in ("timeout", "crashed") or error:
        stopped = _error_line(error or {"ename": end["status"]})
    else:
        stopped = "the test cell ended without making this check"
    outcomes = []
    total = passed = 0.0
    for want in expected:
        weight = float(want.get("weight", 1) or 0)
        total += weight
        outcome = {"name": want["name"], "weight": weight, "seed": want.get("seed"), "passed": False}
        got = by_name.get(want["name"])
        if got is None:
            outcome["message"] = f"not checked: {stopped}"
        elif "error" in got:
            outcome["message"] = str(got["error"])[:500]
        else:
            outcome["passed"], outcome["message"] = _verdict(want, got, metrics)
        if outcome["passed"]:
            passed += weight
        outcomes.append(outcome)
    score = _clamp(points * passed / total, points) if total > 0 else 0.0
    failures = [o for o in outcomes if not o["passed"]]
    if end is not None and end["status"] in ("timeout", "crashed") and failures:
        status = end["status"]
    elif not failures:
        status = "passed"
    elif passed > 0:
        status = "partial"
    else:
        status = "error" if error and not any(name in by_name for name in (o["name"] for o in outcomes)) else "failed"
    message = _summary(outcomes, failures)
    return QuestionResult(grade_id, score, points, status, message, outcomes)


def evaluate_metric(want: dict, value, metrics: MetricLookup | None) -> tuple[bool, str]:
    """`check_metric`: call the reference module's function on the value and compare with the bounds.

    A model is never rebuilt here: its architecture is validated and capped on the weights' shapes, and the
    metric runs on it in a confined child process (`autograder.grading.held_out`), whose memory or time
    limit costs only this check."""
    from autograder.grading.held_out import HeldOutError, MetricError, evaluate_model
    from autograder.grading.models import ModelError

    name = want.get("metric", "")
    if metrics is None:
        return False, f"the metric {name!r} is not available to the grader"
    try:
        function = metrics(name)
    except (AttributeError, KeyError):
        return False, f"the course defines no metric {name!r} in solutions/"
    try:
        if isinstance(value, dict) and "$module" in value:
            result = float(evaluate_model(function, value))
        else:
            result = float(function(value))
    except (ModelError, HeldOutError) as error:
        return False, str(error)
    except MetricError as error:
        return False, f"{name} could not evaluate the value: {error}"
    except Exception as error:  # the student's value broke the metric: a failed check, not a grader crash
        return False, f"{name} could not evaluate the value: {type(error).__name__}: {error}"
    low, high = want.get("at_least"), want.get("at_most")
    if low is not None and not result >= float(low):
        return False, f"{name} = {result:.4g}, needs at least {float(low):g}"
    if high is not None and not result <= float(high):
        return False, f"{name} = {result:.4g}, needs at most {float(high):g}"
    return True, f"{name} = {result:.4g}"


def _verdict(want: dict, got: dict, metrics: MetricLookup | None = None) -> tuple[bool, str]:
    """Decide one check: the options come from the reference's record, never from the student's."""
    options = want.get("options", {})
    if options.get("kind") == "metric":
        try:
            return evaluate_metric(want, values.decode(got.get("value")), metrics)
        except values.DecodeError as error:
            return False, f"the value sent by the notebook could not be read: {error}"
    rtol, atol = options.get("rtol"), options.get("atol")
    if options.get("kind", "close") == "close" and rtol is None and atol is None and "expected" in want and "value" in want:
        rtol, atol = _literal_tolerance(want)
    opts = Options(
        kind=options.get("kind", "close"),
        rtol=rtol,
        atol=atol,
        equal_nan=bool(options.get("equal_nan", False)),
        check_dtype=bool(options.get("check_dtype", False)),
    )
    try:
        expected_value = values.decode(want["expected"] if "expected" in want else want["value"])
        actual_value = values.decode(got.get("value"))
    except values.DecodeError as error:
        return False, f"the value sent by the notebook could not be read: {error}"
    verdict = compare(expected_value, actual_value, opts)
    if verdict.ok:
        return True, ""
    message = want.get("message") or verdict.message
    seed = want.get("seed")
    return False, message + (f" [seed {seed}]" if seed is not None else "")


def _literal_tolerance(want: dict) -> tuple[float | None, float | None]:
    """The default tolerance of a check whose expected value is a literal (``expected=0.6148``): a Python
    float is a float64, but the reference's own result of the same call (also in its record) may be float32,
    and a literal cannot be more precise than the computation it stands for. Both dtypes come from the
    reference's record, never from the student's value; the looser decides. (None, None): the usual default."""
    try:
        literal, computed = values.decode(want["expected"]), values.decode(want["value"])
    except values.DecodeError:
        return None, None
    dtypes = [_float_dtype(v) for v in (literal, computed)]
    if None in dtypes:
        return None, None
    tolerance = tolerances.looser(*dtypes)
    return tolerance.rtol, tolerance.atol


def _float_dtype(value) -> str | None:
    if isinstance(value, float):
        return tolerances.PYTHON_FLOAT
    if isinstance(value, values.Array) and value.data.dtype.kind in "fc":
        return real_dtype(value)
    return None


def _summary(outcomes: list[dict], failures: list[dict]) -> str:
    if not failures:
        return f"{len(outcomes)} check(s) passed"
    first = failures[0]
    more = f" (and {len(failures) - 1} more failed check(s))" if len(failures) > 1 else ""
    return f"{len(outcomes) - len(failures)}/{len(outcomes)} checks passed; {first['name']}: {first['message']}{more}"
