"""Where a verdict is decided: compare a decoded student value with a decoded expected value.

Both sides arrive as plain data (see `autograder.wire.values`). The comparison walks the structure and reports
the first difference it finds in words a student can act on: which part differs (``at ['weight']``), and
for numbers the shape, dtype, how many elements are off, and the greatest absolute and relative
difference with its index, as `torch.testing.assert_close` reports them.
"""

from __future__ import annotations

import contextvars
import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from autograder.wire import tolerances
from autograder.wire.values import Array, Frame, Opaque


@dataclass(frozen=True)
class Verdict:
    ok: bool
    message: str = ""


PASS = Verdict(True)


class _Mismatch(Exception):
    def __init__(self, path: str, message: str):
        super().__init__(message)
        self.path = path
        self.message = message


@dataclass(frozen=True)
class Options:
    kind: str = "close"  # "close" | "equal" | "metric" (decided by `autograder.grading.scoring`)
    rtol: float | None = None
    atol: float | None = None
    equal_nan: bool = False
    check_dtype: bool = False


def compare(expected: Any, actual: Any, options: Options = Options(), written: bool = False, ran_on: str | None = None) -> Verdict:
    """Compare two decoded values; `Verdict.message` explains the first difference.

    ``written``: ``expected`` is a literal written in the notebook (a visible check's ``expected=``), compared in
    the student's own session. A Python float there states a value, not a precision: a float32 answer (or a
    lower-precision one) is held to float32's tolerance, as the grader holds it against a float32 reference,
    instead of to float64's. No points depend on it; the grader always decides against the reference's record.

    ``ran_on``: the device the grader ran the student's code on ("cpu" or "cuda"), when it knows it. A value's
    device is the student's process's claim: on "cpu" a value that says "cuda" is compared at the CPU's
    tolerance (no GPU was visible to it); None believes the claim (the student's own session)."""
    token, device_token = _WRITTEN.set(written), _RAN_ON.set(ran_on)
    try:
        _compare(expected, actual, options, "")
    except _Mismatch as mismatch:
        where = f"at {mismatch.path}: " if mismatch.path else ""
        return Verdict(False, where + mismatch.message)
    finally:
        _WRITTEN.reset(token)
        _RAN_ON.reset(device_token)
    return PASS


#: Set by `compare` for one comparison: whether the expected value is a literal written in the notebook.
_WRITTEN: contextvars.ContextVar[bool] = contextvars.ContextVar("written_expected", default=False)
#: Set by `compare` for one comparison: the device the student's code ran on, where the grader knows it.
_RAN_ON: contextvars.ContextVar[str | None] = contextvars.ContextVar("ran_on", default=None)
#: The dtypes a written Python float is compared at float32's tolerance with (in the student's session only).
_SINGLE_OR_LOWER = ("float32", "float16", "bfloat16")


def _written_float(want_dtype: str, got_dtype: str) -> bool:
    return _WRITTEN.get() and want_dtype == "float64" and got_dtype in _SINGLE_OR_LOWER


# ------------------------------------------------------------------------------------------- internals


def _describe(value: Any) -> str:
    if isinstance(value, Array):
        return f"{value.kind if value.kind != 'scalar' else 'scalar'} of dtype {value.dtype} and shape {value.shape}"
    if isinstance(value, Frame):
        return f"{value.kind} with {len(value.columns)} column(s) and {len(value.index)} row(s)"
    if isinstance(value, Opaque):
        return f"an object of type {value.type}"
    if isinstance(value, dict) and "$module" in value:
        return f"a module {value['$module']}"
    if isinstance(value, dict) and "$set" in value:
        return "a set"
    return type(value).__name__ if value is not None else "None"


def describe(value: Any) -> str:
    """A short description of a decoded value ("tensor of dtype float32 and shape (3,)"), for messages and
    the per-check summaries the gradebook keeps; never the value itself (it may be a hidden expected one)."""
    return _describe(value)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _as_array(value: Any) -> Array | None:
    """Numbers of any flavour (Python scalars, 0-d arrays, tensors) as an `Array`, else None."""
    if isinstance(value, Array):
        return value
    if isinstance(value, bool):
        return Array(np.asarray(value), "bool", "scalar")
    if isinstance(value, int):
        return Array(np.asarray(value, dtype=object if abs(value) >= 2**63 else np.int64), "int64", "scalar")
    if isinstance(value, float):
        return Array(np.asarray(value, dtype=np.float64), tolerances.PYTHON_FLOAT, "scalar")
    return None


def _is_sequence(value: Any) -> bool:
    return isinstance(value, (list, tuple))


def _compare(expected: Any, actual: Any, options: Options, path: str) -> None:
    expected_array, actual_array = _as_array(expected), _as_array(actual)
    if expected_array is not None or actual_array is not None:
        if expected_array is None or actual_array is None:
            # A student returning [1.0, 2.0] where an array is expected gets compared as an array.
            if expected_array is not None and _is_sequence(actual):
                actual_array = _sequence_as_array(actual)
            elif actual_array is not None and _is_sequence(expected):
                expected_array = _sequence_as_array(expected)
            if expected_array is None or actual_array is None:
                raise _Mismatch(path, f"expected {_describe(expected)}, got {_describe(actual)}")
        _compare_arrays(expected_array, actual_array, options, path)
        return
    if expected is None or isinstance(expected, str):
        if type(actual) is not type(expected) or actual != expected:
            if isinstance(expected, str) and isinstance(actual, str):
                raise _Mismatch(path, f"expected {_short(expected)}, got {_short(actual)}")
            raise _Mismatch(path, f"expected {_short(expected)}, got {_describe(actual)}")
        return
    if _is_sequence(expected):
        if not _is_sequence(actual):
            raise _Mismatch(path, f"expected a sequence of {len(expected)} item(s), got {_describe(actual)}")
        short = _is_short_plain(expected) and _is_short_plain(actual)
        if len(expected) != len(actual):
            detail = f" ({_short(expected)} vs {_short(actual)})" if short else ""
            raise _Mismatch(path, f"expected {len(expected)} item(s), got {len(actual)}{detail}")
        for position, (want, got) in enumerate(zip(expected, actual)):
            try:
                _compare(want, got, options, f"{path}[{position}]")
            except _Mismatch:
                if short:  # a shape or a short list reads better whole: "expected (3,), got (4,)"
                    raise _Mismatch(path, f"expected {_short(expected)}, got {_short(actual)}") from None
                raise
        return
    if isinstance(expected, dict) and "$set" in expected:
        if not (isinstance(actual, dict) and "$set" in actual):
            raise _Mismatch(path, f"expected a set, got {_describe(actual)}")
        _compare_sets(expected["$set"], actual["$set"], path)
        return
    if isinstance(expected, dict) and "$module" in expected:
        if isinstance(actual, dict) and "$module" in actual:
            actual = actual["state_dict"]
        _compare(expected["state_dict"], actual, options, path + ".state_dict()")
        return
    if isinstance(expected, dict):
        if isinstance(actual, dict) and "$module" in actual:
            actual = actual["state_dict"]
        if not isinstance(actual, dict) or "$set" in actual:
            raise _Mismatch(path, f"expected a dict with keys {_keys(expected)}, got {_describe(actual)}")
        missing = [k for k in expected if k not in actual]
        extra = [k for k in actual if k not in expected]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing key(s) {_keys(missing)}")
            if extra:
                parts.append(f"unexpected key(s) {_keys(extra)}")
            raise _Mismatch(path, ", ".join(parts))
        for key in expected:
            _compare(expected[key], actual[key], options, f"{path}[{key!r}]")
        return
    if isinstance(expected, Frame):
        _compare_frames(expected, actual, options, path)
        return
    if isinstance(expected, Opaque):
        raise _Mismatch(path, f"the expected value is {_describe(expected)}, which checks cannot compare")
    raise _Mismatch(path, f"cannot compare {_describe(expected)} with {_describe(actual)}")


def _is_short_plain(sequence) -> bool:
    return len(sequence) <= 10 and all(item is None or type(item) in (bool, int, float, str) for item in sequence)


def _keys(keys) -> str:
    keys = list(keys)
    shown = ", ".join(repr(k) for k in keys[:8])
    return f"[{shown}{', ...' if len(keys) > 8 else ''}]"


def _sequence_as_array(value) -> Array | None:
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):
        return None
    if array.dtype.kind not in "biufc":
        return None
    return Array(array, str(array.dtype), "ndarray")


def _compare_sets(expected: list, actual: list, path: str) -> None:
    want, got = set(map(_hashable, expected)), set(map(_hashable, actual))
    if want != got:
        missing, extra = want - got, got - want
        parts = []
        if missing:
            parts.append(f"{len(missing)} element(s) missing")
        if extra:
            parts.append(f"{len(extra)} unexpected element(s) {_keys(sorted(map(repr, extra)))}")
        raise _Mismatch(path, "sets differ: " + ", ".join(parts))


def _hashable(value):
    if isinstance(value, list):
        return tuple(map(_hashable, value))
    if isinstance(value, Array):
        return (value.dtype, value.data.tobytes())
    return value


def _tolerance(expected: Array, actual: Array, options: Options) -> tolerances.Tolerance:
    """The tolerance of one comparison, from the reference's record only: the check's own rtol/atol where it set
    them, else the default of the *expected* value's dtype. The student's dtype never loosens it: a bfloat16 or
    float16 answer to a float32 question is compared at float32's tolerance (and the message says so)."""
    if options.kind == "equal":
        return tolerances.EXACT
    # The reference always runs on the CPU; a value the student's run computed on a GPU gets that device's
    # float32 tolerance (reduction order), never another dtype's.
    device = "cuda" if "cuda" in (expected.device, actual.device) and _RAN_ON.get() in (None, "cuda") else "cpu"
    want_dtype = real_dtype(expected)
    if _written_float(want_dtype, real_dtype(actual)):
        want_dtype = "float32"
    default = tolerances.for_reference(want_dtype, device=device)
    return tolerances.Tolerance(
        default.rtol if options.rtol is None else options.rtol,
        default.atol if options.atol is None else options.atol,
    )


def real_dtype(array: Array) -> str:
    """The dtype the decoded data really has, in torch's spelling where the record used it.

    The dtype name in a record is what the sending side *said*; in the student's process that is whatever the
    object claimed (a Tensor subclass may answer ``.dtype`` with anything). Only the bytes are trusted: the
    claim counts when the data agree with it (bfloat16 travels as float32 whose low 16 bits are zero), else the
    dtype of the data is the dtype."""
    claimed = tolerances.normalise_dtype(array.dtype)
    data = array.data.dtype
    actual = "bool" if data.kind == "b" else str(data)
    if claimed == actual:
        return claimed
    if claimed == "bfloat16" and data == np.float32:
        bits = np.ascontiguousarray(array.data).view(np.uint32)
        if not np.any(bits & np.uint32(0xFFFF)):
            return claimed
    if claimed == "complex32" and data == np.complex64:
        return claimed
    if claimed == tolerances.PYTHON_FLOAT and data == np.float64:
        return claimed
    return actual


def _is_integral(array: Array) -> bool:
    return array.data.dtype.kind in "biu" or array.data.dtype == object


def _format_index(index: tuple) -> str:
    return "(" + ", ".join(str(int(i)) for i in index) + (",)" if len(index) == 1 else ")")


#: Arrays with at most this many elements are shown whole in a failure message, expected and got.
SMALL_ARRAY_SHOWN = 6


def _compare_arrays(expected: Array, actual: Array, options: Options, path: str,
                    locate: Callable[[tuple], str] | None = None, what: str = "") -> None:
    """``locate`` names an element by its labels (a DataFrame's "row 'bob'") instead of its position; ``what``
    names the part compared ("column 'age'"), said once in front of the message."""
    def at(index: tuple) -> str:
        return locate(index) if locate is not None else f"index {_format_index(index)}"

    if expected.shape != actual.shape:
        raise _Mismatch(path, f"shape differs: expected {expected.shape}, got {actual.shape}")
    want_dtype, got_dtype = real_dtype(expected), real_dtype(actual)
    if options.check_dtype and want_dtype != got_dtype:
        raise _Mismatch(path, f"dtype differs: expected {want_dtype}, got {got_dtype}")
    want, got = expected.data, actual.data
    if want.dtype.kind in "US" or got.dtype.kind in "US":
        if want.dtype.kind != got.dtype.kind or not np.array_equal(want, got):
            raise _Mismatch(path, f"expected {_short(want.tolist())}, got {_short(got.tolist())}")
        return
    shown_want, shown_got = want, got  # what messages print: booleans as True/False, not the 1/0 compared
    if want.dtype.kind == "b" and got.dtype.kind == "b":
        want, got = want.astype(np.int64), got.astype(np.int64)
    tolerance = _tolerance(expected, actual, options)
    try:
        want_f = want.astype(np.complex128 if "c" in (want.dtype.kind + got.dtype.kind) else np.float64)
        got_f = got.astype(want_f.dtype)
    except (TypeError, ValueError, OverflowError):
        raise _Mismatch(path, f"cannot compare {_describe(expected)} with {_describe(actual)}") from None
    if tolerance == tolerances.EXACT and "O" in (want.dtype.kind, got.dtype.kind) and want.dtype.kind in "iuO" and got.dtype.kind in "iuO":
        # a Python int past int64 travels as an object: compared as Python numbers, exactly (as float64s,
        # factorial(25) + 10**9 == factorial(25) and 2**63 - 1 == 2**63)
        pairs = zip(want.ravel().tolist(), got.ravel().tolist())
        mismatched = np.array([a != b for a, b in pairs], dtype=bool).reshape(want.shape)
    elif want.dtype.kind in "iu" and got.dtype.kind in "iu" and tolerance == tolerances.EXACT:
        mismatched = want != got  # exact integer comparison, immune to float rounding of large ints
    else:
        with np.errstate(invalid="ignore", over="ignore"):
            difference = np.abs(want_f - got_f)
            allowed = tolerance.atol + tolerance.rtol * np.abs(want_f)
            # an infinite expected element allows an infinite difference: only the same infinity matches it
            close = (difference <= allowed) & np.isfinite(want_f)
            both_nan = np.isnan(want_f) & np.isnan(got_f)
            same_inf = np.isinf(want_f) & (want_f == got_f)
            close = close | same_inf | (both_nan if options.equal_nan else False)
        mismatched = ~close
    count = int(np.count_nonzero(mismatched))
    if count == 0:
        return
    if expected.shape == ():
        detail = f"expected {_scalar(shown_want)}, got {_scalar(shown_got)}"
        nan_involved = math.isnan(float(np.real(got_f))) or math.isnan(float(np.real(want_f)))
        infinite = not np.isfinite(want_f).all()  # "difference inf, up to inf allowed" says nothing either
        if tolerance != tolerances.EXACT and not nan_involved and not infinite:  # "difference nan, up to nan allowed" says nothing
            detail += f" (difference {_number(float(np.abs(want_f - got_f).real))}, up to {_number(float(tolerance.atol + tolerance.rtol * abs(want_f)))} allowed)"
        raise _Mismatch(path, detail + _dtype_note(want_dtype, got_dtype, tolerance))
    total = want.size
    lines = [f"{'values differ' if tolerance == tolerances.EXACT else 'values are not close'}: "
             f"{count} / {total} element(s) mismatched ({100.0 * count / total:.1f}%)"]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        abs_diff = np.abs(want_f - got_f).astype(np.float64)
        # equal values differ by 0 relatively, even both 0 (0/0 would say nan); a non-zero difference from 0 is inf
        rel_diff = np.where(abs_diff == 0, 0.0, abs_diff / np.abs(want_f).astype(np.float64))
    nans = np.isnan(abs_diff) & mismatched  # NaN on one side: no difference to report, counted apart
    abs_masked = np.where(np.isnan(abs_diff), -np.inf, abs_diff)
    worst_abs = np.unravel_index(int(np.argmax(abs_masked)), want.shape)
    rel_masked = np.where(np.isnan(rel_diff), -np.inf, rel_diff)
    worst_rel = np.unravel_index(int(np.argmax(rel_masked)), want.shape)
    first = np.unravel_index(int(np.argmax(mismatched)), want.shape)
    if locate is not None and count == 1:  # one wrong cell of a table: "row 'bob', column 'age': expected 31, got 30"
        detail = f"expected {_scalar(shown_want[first])}, got {_scalar(shown_got[first])}"
        if tolerance != tolerances.EXACT and np.isfinite(abs_diff[first]):
            detail += f" (difference {_number(float(abs_diff[first]))}, up to {_number(float(allowed[first]))} allowed)"
        raise _Mismatch(path, f"{at(first)}{', ' + what if what else ''}: {detail}" + _dtype_note(want_dtype, got_dtype, tolerance))
    if what:
        lines[0] = f"{what}: {lines[0]}"
    lines.append(f"first mismatch at {at(first)}: expected {_scalar(shown_want[first])}, got {_scalar(shown_got[first])}")
    if want.size <= SMALL_ARRAY_SHOWN:  # a 2x2 matrix or a short vector: the values say more than statistics
        lines.append(f"expected {_short(shown_want.tolist())}, got {_short(shown_got.tolist())}")
    if nans.any():
        lines.append(f"{int(np.count_nonzero(nans))} element(s) NaN on one side only")
    if not (np.isfinite(abs_diff) & mismatched).any():  # only NaNs differ: no difference to measure
        raise _Mismatch(path, "; ".join(lines) + _dtype_note(want_dtype, got_dtype, tolerance))
    if tolerance == tolerances.EXACT and want.dtype.kind in "iub":
        lines.append(f"greatest absolute difference: {_number(float(abs_diff[worst_abs]))} at {at(worst_abs)}")
    else:
        lines.append(f"greatest absolute difference: {_number(float(abs_diff[worst_abs]))} at {at(worst_abs)} (up to {_number(tolerance.atol)} allowed)")
        lines.append(f"greatest relative difference: {_number(float(rel_diff[worst_rel]))} at {at(worst_rel)} (up to {_number(tolerance.rtol)} allowed)")
    raise _Mismatch(path, "; ".join(lines) + _dtype_note(want_dtype, got_dtype, tolerance))


def _dtype_note(want: str, got: str, tolerance: tolerances.Tolerance) -> str:
    if want == got or (want in ("int64", "int32") and got in ("int64", "int32")):
        return ""
    if _written_float(want, got):
        return "" if got == "float32" else f"; your value is {got}: compared at float32's tolerance"
    if tolerance == tolerances.EXACT:
        return f"; dtype: expected {want}, got {got}"
    return f"; expected {want}, got {got}: compared at {want}'s tolerance"


def _number(value: float) -> str:
    return f"{value:.6g}"


def _scalar(array) -> str:
    value = array.item() if hasattr(array, "item") else array
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return _number(value) if isinstance(value, float) else repr(value)


def _compare_frames(expected: Frame, actual: Any, options: Options, path: str) -> None:
    """Tables are reported by label, as a student reads them: "row 'bob', column 'age': expected 31, got 30",
    "missing column(s) ['age']", "missing row label(s) ['carol']". Order matters (as in pandas'
    ``assert_frame_equal``): the same labels in another order are a difference, and the message says so."""
    if not isinstance(actual, Frame):
        raise _Mismatch(path, f"expected a {expected.kind}, got {_describe(actual)}")
    if expected.kind != actual.kind:
        raise _Mismatch(path, f"expected a {expected.kind}, got a {actual.kind}")
    is_frame = expected.kind == "dataframe"
    noun = "DataFrame" if is_frame else "Series"
    if is_frame and not _same_labels(expected.columns, actual.columns):
        raise _Mismatch(path, f"{noun} columns differ: " + _label_difference(expected.columns, actual.columns, "column"))
    if not is_frame and expected.name != actual.name:
        raise _Mismatch(path, f"Series name differs: expected {expected.name!r}, got {actual.name!r}")
    if not _same_labels(expected.index, actual.index):
        rows = f" ({len(actual.index)} row(s), expected {len(expected.index)})" if len(expected.index) != len(actual.index) else ""
        raise _Mismatch(path, f"{noun} index differs: " + _label_difference(expected.index, actual.index, "row") + rows)
    for position, label in enumerate(expected.columns):
        what = f"column {_label(label)}" if is_frame else ""
        prefix = f"{what}: " if what else ""
        want_dtype, got_dtype = expected.dtypes[position], actual.dtypes[position]
        if _dtype_family(want_dtype) != _dtype_family(got_dtype) or (options.check_dtype and want_dtype != got_dtype):
            raise _Mismatch(path, f"{prefix}dtype differs: expected {want_dtype}, got {got_dtype}")
        column_options = Options(options.kind, options.rtol, options.atol, True, options.check_dtype)
        want, got = expected.data[position], actual.data[position]

        def row(index: tuple) -> str:
            return f"row {_label(expected.index[index[0]])}"

        if isinstance(want, Array) and isinstance(got, Array):
            _compare_arrays(want, got, column_options, path, locate=row, what=what)
        elif isinstance(want, list) and isinstance(got, list):
            _compare_cells(want, got, column_options, path, row, what)
        else:
            try:
                _compare(want, got, column_options, "")
            except _Mismatch as mismatch:
                raise _Mismatch(path, prefix + mismatch.message) from None


def _compare_cells(want: list, got: list, options: Options, path: str, row: Callable[[tuple], str], what: str) -> None:
    """A column of plain values (strings, dates, None), cell by cell; the first differing row by its label."""
    differing: list[tuple[int, str]] = []
    for position, (w, g) in enumerate(zip(want, got)):
        try:
            _compare(w, g, options, "")
        except _Mismatch as mismatch:
            differing.append((position, mismatch.message))
    if not differing:
        return
    position, message = differing[0]
    if len(differing) == 1:
        raise _Mismatch(path, f"{row((position,))}{', ' + what if what else ''}: {message}")
    count, total = len(differing), len(want)
    raise _Mismatch(path, f"{what + ': ' if what else ''}values differ: {count} / {total} element(s) mismatched "
                          f"({100.0 * count / total:.1f}%); first mismatch at {row((position,))}: {message}")


def _label(label: Any) -> str:
    """A row or column label as the student wrote it: 'bob', 3, ('a', 1)."""
    if isinstance(label, list):  # a MultiIndex label travels as a list
        return repr(tuple(_plain_label(part) for part in label))
    return repr(_plain_label(label))


def _plain_label(label: Any) -> Any:
    if isinstance(label, Array) and label.data.shape == ():
        return label.data.item()
    return label


def _hashable_label(label: Any):
    label = _plain_label(label)
    if isinstance(label, list):
        return tuple(_hashable_label(part) for part in label)
    if isinstance(label, float) and math.isnan(label):
        return "$nan"
    try:
        hash(label)
    except TypeError:
        return repr(label)
    return (type(label) is str, label)  # 1 and '1' are different labels


def _same_labels(left: list, right: list) -> bool:
    return len(left) == len(right) and all(_hashable_label(a) == _hashable_label(b) for a, b in zip(left, right))


def _label_difference(expected: list, actual: list, noun: str) -> str:
    """What differs between two lists of labels: the missing and unexpected ones, or where the order first differs."""
    want, got = [_hashable_label(x) for x in expected], [_hashable_label(x) for x in actual]
    plural = "column(s)" if noun == "column" else f"{noun} label(s)"
    want_set, got_set = set(want), set(got)
    missing = [label for label, key in zip(expected, want) if key not in got_set]
    extra = [label for label, key in zip(actual, got) if key not in want_set]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {plural} {_labels(missing)}")
        if extra:
            parts.append(f"unexpected {plural} {_labels(extra)}")
        return "; ".join(parts)
    if len(want) != len(got):
        return f"the same {noun} labels, repeated a different number of times"
    position = next(i for i, (a, b) in enumerate(zip(want, got)) if a != b)
    return (f"the same {noun} labels in another order: at position {position} expected {_label(expected[position])}, "
            f"got {_label(actual[position])}")


def _labels(labels: list) -> str:
    shown = ", ".join(_label(label) for label in labels[:8])
    return f"[{shown}{', ...' if len(labels) > 8 else ''}]"


def _dtype_family(dtype: str) -> str:
    """Numeric dtypes of one family compare with each other; int64 vs Int64 vs float64 are all numbers."""
    name = dtype.lower()
    if name.startswith(("int", "uint", "float", "complex")):
        return "number"
    if name.startswith("bool"):
        return "bool"
    if name.startswith("datetime"):
        return "datetime"
    if name.startswith("timedelta"):
        return "timedelta"
    if name.startswith("category"):
        return "category"
    return "object"
