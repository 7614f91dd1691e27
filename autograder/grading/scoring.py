"""Where a question's score is decided (trusted side).

* A test cell whose reference pass recorded checks: each expected check is matched, by name, with the
  value the student's run recorded *in that test cell*; the grader decodes both (plain data) and compares
  them with the tolerances the reference recorded. Score = points x passed weight / total weight.
  Each name is accepted exactly once: the test makes each of its checks once (the reference pass refuses
  a course that does not), so a second record of a name means student code the test called recorded it
  too, possibly first and with a value it could know (a visible ``expected=``, ``True``). Such a check
  fails, whichever record came first, and the submission is flagged for review (`QuestionResult.flags`).
* A test cell without checks (a plain nbgrader cell of asserts): scored as nbgrader scores it — zero if
  it raised or wrote to stderr, the number its last expression gave if any (partial credit), else full.
* A hand-graded answer: no score until a person grades it (zero when left as released).
* A test cell the runner voided (tamper evidence seen while it ran: `autograder.sandbox.inside.tamper`):
  zero, whatever it asserted or recorded. Every "flagged for review: ..." line the runner put on a cell's
  end goes to the next graded question's flags (the row's notes), or to the last question's.
* ``check_true`` and every check against a literal ``True``/``False``: the condition is decided here, from
  the recorded value (a bool, or a 0-d boolean array read from its bytes); anything else fails with
  "condition is not a plain bool (got T)", whatever it said about its own truth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from autograder.wire import values
from autograder.course.cells import Kind
import dataclasses

from autograder.wire import tolerances
from autograder.wire.compare import compare, describe, real_dtype
from autograder.wire.protocol import TAMPER_ENAME, CellEnd, CellError, CheckOutcome, CheckRecord
from autograder.prepare.manifest import NotebookManifest
from autograder.grading.reference import Expectations
from autograder.results.status import QuestionStatus
from autograder.sandbox.launch import RunResult
from autograder.grading.sanitize import Sanitized


@dataclass
class QuestionResult:
    question: str  # the graded cell's grade_id
    score: float | None
    max_score: float
    status: str  # a `QuestionStatus` value
    message: str = ""
    checks: list[dict] = field(default_factory=list)  # per check: `CheckOutcome.to_json()`
    flags: list[str] = field(default_factory=list)  # what a person should look at (kept with the submission's notes)


def _error_line(error: CellError | None, status: str = "Error") -> str:
    return (error or CellError(status, "")).line()


def _clamp(score: float, points: float) -> float:
    return round(min(max(score, 0.0), points), 9)


MetricLookup = Callable[[str], Callable]


def score_notebook(
    manifest: NotebookManifest,
    sanitized: Sanitized,
    run: RunResult,
    expectations: Expectations,
    metrics: MetricLookup | None = None,
    device: str | None = None,
) -> list[QuestionResult]:
    """``device``: where the grader ran the notebook ("cpu", "cuda"; None: unknown), which a value's own claim
    of its device cannot change (`autograder.wire.compare.compare`'s ``ran_on``)."""
    results = []
    flagged_up_to = -1
    for item in manifest.graded_cells:
        index = sanitized.index_of(item.grade_id)
        cell = sanitized.cells[index]
        if item.kind == Kind.MANUAL:
            results.append(_score_manual(item.grade_id, item.points, cell.checksum_matches_release))
            continue
        if item.kind == Kind.TASK:  # nbgrader's task: always a person's to grade (its work is any cell after it)
            results.append(_score_manual(item.grade_id, item.points, unchanged=False))
            continue
        end = run.cells.get(index)
        expected = expectations.for_cell(item.grade_id)
        if end is not None and end.error is not None and end.error.ename == TAMPER_ENAME:
            result = QuestionResult(item.grade_id, 0.0, item.points, str(QuestionStatus.FAILED), end.error.line())
        elif expected:
            recorded = [record for cell_index, record in run.checks if cell_index == index]
            result = _score_checks(item.grade_id, item.points, expected, recorded, end, run, metrics, device)
        else:
            result = _score_like_nbgrader(item.grade_id, item.points, end, run)
        result.flags[:0] = _tamper_flags(run, flagged_up_to, index)
        flagged_up_to = index
        results.append(result)
    if results:  # what the notebook did after its last test cell is flagged too (it can change no verdict)
        results[-1].flags.extend(_tamper_flags(run, flagged_up_to, max(run.cells, default=-1)))
    return results


def _tamper_flags(run: RunResult, after: int, up_to: int) -> list[str]:
    """The runner's tamper evidence (`CellEnd.flags`) of the cells after ``after`` up to ``up_to``, once each."""
    flags: list[str] = []
    for index in sorted(run.cells):
        if after < index <= up_to:
            flags += [flag for flag in run.cells[index].flags if flag not in flags]
    return flags


def _score_manual(grade_id: str, points: float, unchanged: bool) -> QuestionResult:
    if unchanged:
        return QuestionResult(grade_id, 0.0, points, "not_attempted", "the answer was left as released")
    return QuestionResult(grade_id, None, points, "needs_manual_grade", "graded by hand")


def _not_run(grade_id: str, points: float, run: RunResult) -> QuestionResult:
    why = run.message or "the notebook stopped before this cell"
    return QuestionResult(grade_id, 0.0, points, "not_run", f"the test cell did not run: {why}")


def _score_like_nbgrader(grade_id: str, points: float, end: CellEnd | None, run: RunResult) -> QuestionResult:
    if end is None:
        return _not_run(grade_id, points, run)
    if end.stopped:
        return QuestionResult(grade_id, 0.0, points, end.status.value, _error_line(end.error))
    for output in end.outputs:
        if output.get("output_type") == "error":
            error = CellError.from_output(output)
            status = QuestionStatus.NOT_ATTEMPTED if error.unanswered else QuestionStatus.FAILED
            return QuestionResult(grade_id, 0.0, points, status, error.line())
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            return QuestionResult(grade_id, 0.0, points, "failed", "the test cell wrote to stderr: " + output.get("text", "")[:300].strip())
    for output in end.outputs:
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


def _score_checks(grade_id: str, points: float, expected: list[CheckRecord], recorded: list[CheckRecord], end: CellEnd | None,
                  run: RunResult, metrics: MetricLookup | None = None, device: str | None = None) -> QuestionResult:
    by_name: dict[str, CheckRecord] = {}
    times: dict[str, int] = {}
    for record in recorded:
        by_name.setdefault(record.name, record)
        times[record.name] = times.get(record.name, 0) + 1
    flags = [f"flagged for review: duplicate check record {name!r} in test cell {grade_id!r} (recorded {count} times; "
             f"the test makes it once, so code it called recorded it too); the check fails"
             for name, count in times.items() if count > 1 and any(want.name == name for want in expected)]
    error = end.error if end is not None else None
    if end is None:
        stopped = run.message or "the notebook stopped before this cell"
    elif end.stopped or error:
        stopped = _error_line(error, end.status.value)
    else:
        stopped = "the test cell ended without making this check"
    outcomes: list[CheckOutcome] = []
    total = passed = 0.0
    for want in expected:
        weight = float(want.weight or 0)
        total += weight
        got = by_name.get(want.name)
        if got is None:
            outcome = CheckOutcome(want.name, False, f"not checked: {stopped}", weight, want.seed, _summary_of(want))
        elif times[want.name] > 1:
            outcome = CheckOutcome(want.name, False, f"recorded {times[want.name]} times, once by code the test called: "
                                   "it counts as failed and the submission is flagged for review", weight, want.seed, _summary_of(want))
        elif got.error is not None:
            outcome = CheckOutcome(want.name, False, got.error[:500], weight, want.seed, _summary_of(want))
        else:
            ok, message = _verdict(want, got, metrics, device)
            outcome = CheckOutcome(want.name, ok, message, weight, want.seed, _summary_of(want), _summary_of(got))
            if not ok and message.startswith(NOT_A_CONDITION) and _is_opaque(got):
                flags.append(f"flagged for review: check {want.name!r} in test cell {grade_id!r} was given an object of type "
                             f"{str(got.value.get('type'))[:80]} as its condition, not a bool; the check fails")
        if outcome.passed:
            passed += weight
        elif want.hint:  # the instructor's advice, from the reference's record only
            outcome = dataclasses.replace(outcome, hint=want.hint)
        outcomes.append(outcome)
    score = _clamp(points * passed / total, points) if total > 0 else 0.0
    failures = [o for o in outcomes if not o.passed]
    none_recorded = not any(o.name in by_name for o in outcomes)
    if end is not None and end.stopped and failures:
        status = end.status.value
    elif not failures:
        status = QuestionStatus.PASSED
    elif passed > 0:
        status = QuestionStatus.PARTIAL
    elif error is not None and none_recorded:
        # the stub's NotImplementedError: the question was left as released, not answered wrongly
        status = QuestionStatus.NOT_ATTEMPTED if error.unanswered else QuestionStatus.ERROR
    else:
        status = QuestionStatus.FAILED
    message = _summary(outcomes, failures)
    return QuestionResult(grade_id, score, points, str(status), message, [o.to_json() for o in outcomes], flags)


def _summary_of(record: CheckRecord) -> str:
    """A short description of a record's value (of its ``expected=`` literal for the reference's)."""
    if record.is_metric:
        return f"{record.metric} within [{record.at_least}, {record.at_most}]" if record.metric else ""
    try:
        return describe(values.decode(record.expected if record.has_expected else record.value))
    except values.DecodeError:
        return "a value that cannot be read"


def evaluate_metric(want: CheckRecord, value, metrics: MetricLookup | None) -> tuple[bool, str]:
    """`check_metric`: call the reference module's function on the value and compare with the bounds.

    A model is never rebuilt here: its architecture is validated and capped on the weights' shapes, and the
    metric runs on it in a confined child process (`autograder.grading.held_out`), whose memory or time
    limit costs only this check.

    With a leaderboard for this check (``metrics`` is a `held_out.LeaderboardMetrics` naming it), the
    function is ``<metric>_per_sample`` and the bounds apply to the *private* part of the held-out items;
    both parts are recorded in the version's `Evaluation`. A version past the day's evaluations is not
    evaluated at all: the check fails, saying why."""
    from autograder.grading.held_out import HeldOutError, MetricError, evaluate_model, evaluate_model_split, per_sample_name
    from autograder.grading.models import ModelError

    name = want.metric or ""
    board = getattr(metrics, "leaderboard", None)
    if board is not None and board.check != want.name:
        board = None
    if board is not None and not board.allowed:
        return False, board.refusal
    if metrics is None:
        return False, f"the metric {name!r} is not available to the grader"
    wanted = per_sample_name(name) if board is not None else name
    try:
        function = metrics(wanted)
    except (AttributeError, KeyError):
        return False, f"the course defines no metric {wanted!r} in solutions/"
    public = None
    try:
        is_model = isinstance(value, dict) and "$module" in value
        if board is not None:
            public, result = (evaluate_model_split(function, value, board.public_fraction, board.seed) if is_model else
                              _split_in_process(function, value, board.public_fraction, board.seed))
        else:
            result = float(evaluate_model(function, value)) if is_model else float(function(value))
    except (ModelError, HeldOutError) as error:
        return False, str(error)
    except MetricError as error:
        return False, f"{name} could not evaluate the value: {error}"
    except Exception as error:  # the student's value broke the metric: a failed check, not a grader crash
        return False, f"{name} could not evaluate the value: {type(error).__name__}: {error}"
    low, high = want.at_least, want.at_most
    too_low, too_high = low is not None and not result >= low, high is not None and not result <= high
    if board is not None:
        board.record(public, result)
        # The private score is the leaderboard's to reveal after the due date: a message (feedback pages,
        # exports, results.json) carries the public score and, through the verdict, one bit of the private one.
        bound = " and ".join(([f"at least {low:g}"] if low is not None else []) + ([f"at most {high:g}"] if high is not None else []))
        passed = not (too_low or too_high)
        verdict = (f"the private part {'meets' if passed else 'does not meet'} the bound ({bound})" if bound
                   else "the private part decides")
        return passed, (f"{name} = {public:.4g} on the public part of the held-out data; {verdict}; the private "
                        "score is shown on the leaderboard after the due date")
    shown = f"{name} = {result:.4g}"
    if too_low:
        return False, f"{shown}, needs at least {low:g}"
    if too_high:
        return False, f"{shown}, needs at most {high:g}"
    return True, shown


def _split_in_process(function, value, public_fraction: float, seed: int) -> tuple[float, float]:
    """A leaderboard metric on a plain value (not a model): computed here, as `evaluate_metric` does without one."""
    from autograder.grading.held_out import split_scores

    return split_scores(function(value), public_fraction, seed)


def _verdict(want: CheckRecord, got: CheckRecord, metrics: MetricLookup | None = None, device: str | None = None) -> tuple[bool, str]:
    """Decide one check: the options come from the reference's record, never from the student's."""
    if want.is_metric:
        try:
            return evaluate_metric(want, values.decode(got.value), metrics)
        except values.DecodeError as error:
            return False, f"the value sent by the notebook could not be read: {error}"
    options = want.options
    if options.kind == "close" and options.rtol is None and options.atol is None and want.has_expected and want.value is not None:
        rtol, atol = _literal_tolerance(want)
        if rtol is not None:
            options = dataclasses.replace(options, rtol=rtol, atol=atol)
    try:
        expected_value = values.decode(want.expected if want.has_expected else want.value)
        actual_value = values.decode(got.value)
    except values.DecodeError as error:
        return False, f"the value sent by the notebook could not be read: {error}"
    if options.kind == "equal" and type(expected_value) is bool:
        actual_value, not_plain = _plain_condition(actual_value)
        if not_plain:
            return False, f"{NOT_A_CONDITION} (got {not_plain})" + (f" [seed {want.seed}]" if want.seed is not None else "")
    verdict = compare(expected_value, actual_value, options, ran_on=device if device in ("cpu", "cuda") else None)
    if verdict.ok:
        return True, ""
    message = want.message or verdict.message
    return False, message + (f" [seed {want.seed}]" if want.seed is not None else "")


#: How a check against True/False whose value is no condition fails (see `_plain_condition`).
NOT_A_CONDITION = "condition is not a plain bool"


def _is_opaque(record: CheckRecord) -> bool:
    return isinstance(record.value, dict) and record.value.get("$") == "opaque"


def _plain_condition(value) -> tuple[object, str]:
    """A value compared with ``True``/``False`` (``check_true``, ``check_equal(..., True)``) reduced here,
    on the trusted side: a bool as it is; a NumPy bool, a 0-d boolean array or tensor read from its bytes;
    an object of any other type (``check_true`` sends only its type's name) is no condition: ``(value, name)``."""
    if type(value) is bool:
        return value, ""
    if isinstance(value, values.Array) and value.data.dtype == bool and value.data.ndim == 0:
        return bool(value.data.item()), ""
    if isinstance(value, values.Opaque):
        return value, value.type
    return value, ""  # lists, numbers...: compared as they are, and fail there with the usual message


def _literal_tolerance(want: CheckRecord) -> tuple[float | None, float | None]:
    """The default tolerance of a check whose expected value is a literal (``expected=0.6148``): a Python
    float is a float64, but the reference's own result of the same call (also in its record) may be float32,
    and a literal cannot be more precise than the computation it stands for. Both dtypes come from the
    reference's record, never from the student's value; the looser decides. (None, None): the usual default."""
    try:
        literal, computed = values.decode(want.expected), values.decode(want.value)
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


def _summary(outcomes: list[CheckOutcome], failures: list[CheckOutcome]) -> str:
    if not failures:
        return f"{len(outcomes)} check(s) passed"
    first = failures[0]
    more = f" (and {len(failures) - 1} more failed check(s))" if len(failures) > 1 else ""
    return f"{len(outcomes) - len(failures)}/{len(outcomes)} checks passed; {first.name}: {first.message}{more}"
