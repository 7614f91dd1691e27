"""The check vocabulary used in test cells: ``from autograder import checks as ag``.

A check names a value the student's code produced. Where it is decided depends on who runs the cell:

* in a student's own Jupyter session (the default), a check with an ``expected=`` value compares on the
  spot and raises an `AssertionError` that explains the difference; one without says it is compared with
  the reference at grading time;
* while grading, in the student's sandbox, a check only *records* the value as plain data; the verdict is
  reached by the grader, outside that process (`autograder.grading.scoring`);
* on the trusted side, running the same cell with the reference implementation, a check records the
  *expected* value (its ``expected=`` literal when given, otherwise what the reference computed).

The mode is set by the harness (`autograder.sandbox.inside.runner`), never by the notebook.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any, Callable

from autograder.wire import seeding

from autograder.wire import values
from autograder.wire.compare import Options, compare
from autograder.wire.protocol import CheckRecord, LocalVerdict, Mode

__all__ = [
    "check",
    "check_all",
    "check_close",
    "check_equal",
    "check_true",
    "check_metric",
    "seeded",
    "set_seed",
    "generator",
    "seed_worker",
]

_MISSING = object()

#: "local" (a student's session or `autograder check`), "record" (grading: the student's sandbox),
#: "reference" (trusted side); see `autograder.wire.protocol.Mode`.
_mode = Mode.LOCAL
_recorder: Callable[[CheckRecord], None] | None = None


#: While `collecting`: local verdicts are appended here as (status, text) instead of printed or raised.
_collected: list | None = None


@contextlib.contextmanager
def collecting():
    """Local verdicts gathered as (status, text) pairs (for ``check``/``check_all``), not printed or raised."""
    global _collected
    before, _collected = _collected, []
    try:
        yield _collected
    finally:
        _collected = before


def check(question, **options):
    """Run one question's visible tests in this session, one line per check (see `autograder.sandbox.inside.notebook`)."""
    from autograder.sandbox.inside import notebook

    return notebook.check(question, collecting, **options)


def check_all(**options):
    """Run every question's visible tests in this session, one line per check, then a summary."""
    from autograder.sandbox.inside import notebook

    return notebook.check_all(collecting, **options)


def _install(mode: str, recorder: Callable[[CheckRecord], None] | None) -> None:
    """Called by the harness before any notebook code runs. In local mode a recorder (the harness of
    `autograder check`) receives what each check decided, so nobody has to read it back from the output."""
    global _mode, _recorder
    try:
        _mode = Mode(mode)
    except ValueError:
        raise ValueError(f"unknown check mode {mode!r}: one of {', '.join(m.value for m in Mode)}") from None
    _recorder = recorder


# ----------------------------------------------------------------------------------------------- seeds


def set_seed(seed: int) -> None:
    """Seed `random`, NumPy and torch (CPU and CUDA) with ``seed``."""
    seeding.seed_everything(seed)


@contextlib.contextmanager
def seeded(seed: int):
    """``with ag.seeded(3): x = torch.randn(4, 2)`` — the same inputs on the student's side and the grader's.

    Inside the block, failed checks name this seed; after it, the seed named before it again.
    """
    before = seeding.current_seed()
    seeding.seed_everything(seed)
    try:
        yield seed
    finally:
        seeding.note_seed(before)


def generator(seed: int):
    """A seeded `torch.Generator`, for ``DataLoader(..., generator=ag.generator(0))``."""
    return seeding.torch_generator(seed)


seed_worker = seeding.seed_worker


# ---------------------------------------------------------------------------------------------- checks


def check_close(
    name: str,
    actual: Any,
    expected: Any = _MISSING,
    *,
    rtol: float | None = None,
    atol: float | None = None,
    equal_nan: bool = False,
    check_dtype: bool = False,
    weight: float = 1,
    hint: str = "",
) -> None:
    """Numbers within tolerance: ``|actual - expected| <= atol + rtol * |expected|`` elementwise.

    Works on tensors, arrays, scalars, DataFrames/Series, nested lists/tuples/dicts and state_dicts. The
    default ``rtol``/``atol`` depend on the dtype (see `autograder.wire.tolerances`). ``hint`` (every check
    takes one) is shown to the student after the failure message, never on a pass.
    """
    options = Options("close", rtol, atol, equal_nan, check_dtype)
    _check(name, actual, expected, options, weight, hint=hint)


def check_equal(name: str, actual: Any, expected: Any = _MISSING, *, weight: float = 1, hint: str = "") -> None:
    """Exact equality: ints, strings, shapes, bools, and arrays elementwise."""
    _check(name, actual, expected, Options("equal"), weight, hint=hint)


def check_true(name: str, condition: Any, message: str = "", *, weight: float = 1, hint: str = "") -> None:
    """A property that must hold; ``message`` tells the student what it means when it does not.

    While grading, the condition is not decided here: it is recorded as it is (a `bool`, a NumPy bool, a
    tensor or array, or only the type of anything else) and the grader decides, outside this process, that
    it is exactly ``True``. An object whose ``__bool__`` says yes is sent as its type and fails there.
    """
    if _mode == Mode.LOCAL:
        _check(name, bool(condition), True, Options("equal"), weight, message=message, hint=hint)
    else:
        _check(name, _Condition(condition), True, Options("equal"), weight, message=message, hint=hint)


class _Condition:
    """A `check_true` condition on its way to the grader: what `values.encode` receives for it."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def encoded(self):
        """The condition as plain data without asking it anything: only built-in types and the types the
        grader reads as bytes (NumPy bool, arrays, tensors) go through `values.encode`; anything else is
        sent as its type's name."""
        value, kind = self.value, type(self.value)
        if kind in _PLAIN_TYPES or _is_array_like(kind):
            return values.encode(value)
        return {"$": "opaque", "type": kind.__qualname__, "repr": ""}


#: Types a condition may have that `values.encode` reads without asking the value anything (the grader then
#: says "condition is not a plain bool (got int)" for all but bool).
_PLAIN_TYPES = (bool, int, float, str, type(None), list, tuple, dict)


def _is_array_like(kind: type) -> bool:
    import sys

    numpy = sys.modules.get("numpy")
    if numpy is not None and (kind is numpy.bool_ or issubclass(kind, numpy.ndarray)):
        return True
    torch = sys.modules.get("torch")
    return torch is not None and issubclass(kind, torch.Tensor)


def check_metric(
    name: str,
    value: Any,
    metric: str,
    *,
    at_least: float | None = None,
    at_most: float | None = None,
    weight: float = 1,
    hint: str = "",
) -> None:
    """A value judged by a function of the reference module, e.g. a trained model's accuracy on held-out data.

    ``metric`` names a function in ``solutions/<assignment>.py``; the grader calls it on the trusted side
    with the value (a model arrives as its architecture and weights, rebuilt from plain data) and the check
    passes when the result lies within ``at_least`` / ``at_most``. The held-out data never enters the
    student's process; in a student's session the check can only say that it is evaluated when graded.
    """
    if at_least is None and at_most is None:
        raise TypeError("check_metric needs at_least= or at_most=")
    options = Options("metric")
    _check(name, value, _MISSING, options, weight, extra={"metric": str(metric), "at_least": None if at_least is None else float(at_least),
                                                          "at_most": None if at_most is None else float(at_most)}, hint=hint)


def _check(name: str, actual: Any, expected: Any, options: Options, weight: float, message: str = "", extra: dict | None = None,
           hint: str = "") -> None:
    if not isinstance(name, str) or not name:
        raise TypeError("a check needs a non-empty name, e.g. ag.check_close('sigmoid.zero', sigmoid(0.0), 0.5)")
    if not isinstance(hint, str):
        raise TypeError(f"check {name!r}: hint= must be a string (what to look at when the check fails), not {type(hint).__name__}")
    seed = seeding.current_seed()
    extra = extra or {}
    if _mode == Mode.LOCAL:
        if options.kind == "metric":
            _say("recorded", f"{name}: evaluated by {extra['metric']} on the grader's held-out data when graded")
            _tell(CheckRecord(name, options, float(weight), seed, str(message), local=LocalVerdict.WHEN_GRADED, hint=hint, **extra))
            return
        _decide_locally(name, actual, expected, options, seed, message, hint)
        return
    encoded, error, blobs = None, None, []
    try:
        encode = actual.encoded if type(actual) is _Condition else functools.partial(values.encode, actual)
        if _mode == Mode.RECORD:  # large arrays go as binary frames (the reference's values are cached as JSON)
            with values.collect_blobs() as blobs:
                encoded = encode()
        else:
            encoded = encode()
    except Exception as failure:  # the value cannot cross the boundary: say so instead of crashing the cell
        error = f"the value given to check {name!r} cannot be graded: {failure}"
        encoded, blobs = None, []
    has_expected = _mode == Mode.REFERENCE and expected is not _MISSING
    _tell(CheckRecord(name, options, float(weight), seed, str(message), encoded, error,
                      values.encode(expected) if has_expected else None, has_expected, **extra, hint=hint, blobs=tuple(blobs)))


def _tell(record: CheckRecord) -> None:
    if _recorder is not None:
        _recorder(record)


def _say(status: str, text: str) -> None:
    if _collected is not None:
        _collected.append((status, text))
    else:
        print(("✓ " if status == "passed" else "- ") + text)


def with_hint(text: str, hint: str) -> str:
    """A failure message followed by its check's hint, as every place a student reads one shows it."""
    return f"{text}\n  hint: {hint}" if hint else text


def _decide_locally(name: str, actual: Any, expected: Any, options: Options, seed, message: str, hint: str = "") -> None:
    from autograder.sandbox.inside.notebook import CheckFailed

    if expected is _MISSING:
        _say("recorded", f"{name}: recorded; compared with the reference implementation when graded")
        _tell(CheckRecord(name, options, 1.0, seed, message, local=LocalVerdict.WHEN_GRADED, hint=hint))
        return
    verdict = compare(values.decode(values.encode(expected)), values.decode(values.encode(actual)), options, written=True)
    if not verdict.ok:
        detail = message or verdict.message
        _tell(CheckRecord(name, options, 1.0, seed, detail, local=LocalVerdict.FAILED, hint=hint))
        if _collected is not None:
            _collected.append(("failed", with_hint(f"{name}: {detail}", hint)))
            return
        # the seed stays in the record (the instructor's, to reproduce it); the student reads what differed
        raise CheckFailed(with_hint(f"check {name!r} failed: {detail}", hint))
    _say("passed", name)
    _tell(CheckRecord(name, options, 1.0, seed, message, local=LocalVerdict.PASSED, hint=hint))


def _short_errors_in_jupyter() -> None:
    from autograder.sandbox.inside.notebook import install_short_errors

    install_short_errors()


_short_errors_in_jupyter()
