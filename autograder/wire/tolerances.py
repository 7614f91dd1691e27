"""Default numeric tolerances, keyed by device and dtype (on the CPU as `torch.testing.assert_close`).

A check passes elementwise when ``|actual - expected| <= atol + rtol * |expected|``. Every check may
override ``rtol`` and ``atol``; these are the values used when it does not.
"""

from __future__ import annotations

from typing import NamedTuple


class Tolerance(NamedTuple):
    rtol: float
    atol: float


EXACT = Tolerance(0.0, 0.0)

#: dtype name (without a "torch." prefix) -> default tolerance. Integers and bools are exact.
DEFAULTS: dict[str, Tolerance] = {
    "float16": Tolerance(1e-3, 1e-5),
    "bfloat16": Tolerance(1.6e-2, 1e-5),
    "float32": Tolerance(1.3e-6, 1e-5),
    "float64": Tolerance(1e-7, 1e-7),
    "complex32": Tolerance(1e-3, 1e-5),
    "complex64": Tolerance(1.3e-6, 1e-5),
    "complex128": Tolerance(1e-7, 1e-7),
}

#: On a GPU, float32 reductions run in another order than on a CPU (TF32 is off, so only the order
#: differs): a value computed on "cuda" is compared with these instead, for the same score on CPU and GPU.
CUDA_DEFAULTS: dict[str, Tolerance] = DEFAULTS | {
    "float32": Tolerance(1e-5, 1e-5),
    "complex64": Tolerance(1e-5, 1e-5),
}

#: Python floats are IEEE doubles.
PYTHON_FLOAT = "float64"


def normalise_dtype(dtype: str) -> str:
    """"torch.float32" and "float32" are the same dtype for tolerance purposes."""
    name = str(dtype)
    return name[len("torch."):] if name.startswith("torch.") else name


def default_for(dtype: str, device: str = "cpu") -> Tolerance:
    table = CUDA_DEFAULTS if device == "cuda" else DEFAULTS
    return table.get(normalise_dtype(dtype), EXACT)


def for_reference(dtype: str, device: str = "cpu") -> Tolerance:
    """The default tolerance of a comparison: the expected (reference) value's dtype alone decides it.

    What the student's value says its dtype is never enters: a lower-precision answer (bfloat16, float16, or
    an object claiming to be one) is compared at the reference's precision."""
    return default_for(dtype, device)


def looser(*dtypes: str, device: str = "cpu") -> Tolerance:
    """The most permissive default among ``dtypes`` (not used for verdicts: see `for_reference`)."""
    candidates = [default_for(d, device) for d in dtypes]
    return Tolerance(max(c.rtol for c in candidates), max(c.atol for c in candidates))
