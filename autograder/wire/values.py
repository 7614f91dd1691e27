"""Plain-data transport of values across the sandbox boundary.

`encode` runs wherever a value is produced, including the student's untrusted process; it turns tensors,
arrays, scalars, DataFrames and containers into JSON-compatible data with arrays as ``.npy`` bytes.
`decode` runs on the trusted side; it only ever builds plain Python containers, `numpy` arrays (read with
``allow_pickle=False``) and the small records below, so no value can run code when it is read back.
Whatever a student's object claims about itself (a float subclass that equals everything, a tensor
subclass with its own comparisons), what crosses the boundary is bytes that the grader interprets.
"""

from __future__ import annotations

import base64
import contextlib
import io
import math
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Upper bound on one encoded array, so a runaway value cannot exhaust the grader's memory.
MAX_ARRAY_BYTES = 64 * 1024 * 1024
#: Containers nested deeper than this are refused on both sides: the grader's JSON parser, `decode` and the
#: comparison recurse once per level, and a value nested a few hundred levels deep made the grader itself fail.
MAX_DEPTH = 100


class EncodeError(ValueError):
    """A value that cannot be sent as plain data."""


@dataclass(frozen=True)
class Array:
    """An array or tensor received from the other side: the data plus what it was."""

    data: np.ndarray
    dtype: str  # "float32", "torch.float32", ...
    kind: str  # "ndarray" | "tensor" | "scalar"
    device: str = "cpu"

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)


@dataclass(frozen=True)
class Frame:
    """A pandas DataFrame or Series received from the other side."""

    kind: str  # "dataframe" | "series"
    columns: list  # column labels (for a Series: [name])
    index: list
    dtypes: list[str]
    data: list  # one decoded column per label: Array or list of plain values
    name: Any = None


@dataclass(frozen=True)
class Opaque:
    """A value of a type we do not transport: only its type and a short repr cross the boundary."""

    type: str
    repr: str = field(default="", compare=False)


# ---------------------------------------------------------------------------------------------- encoding


#: While `collect_blobs` is active: the raw .npy payloads of the value being encoded, sent after its event
#: as binary frames (no base64, no JSON scan of 100 MB); the value holds ``{"$blob": k}`` in their place.
_blob_sink: list[bytes] | None = None

#: Arrays smaller than this stay inline (base64 in the JSON): a frame of its own is not worth it.
MIN_BLOB_BYTES = 64 * 1024


@contextlib.contextmanager
def collect_blobs():
    """``with collect_blobs() as blobs: data = encode(x)``: large arrays go to ``blobs`` as raw .npy bytes."""
    global _blob_sink
    saved, _blob_sink = _blob_sink, []
    try:
        yield _blob_sink
    finally:
        _blob_sink = saved


def _npy_bytes(array: np.ndarray) -> str | dict:
    if array.dtype.hasobject:
        raise EncodeError("arrays of Python objects cannot be sent; convert them to numbers or strings")
    if array.nbytes > MAX_ARRAY_BYTES:
        raise EncodeError(f"array of {array.nbytes} bytes is larger than the {MAX_ARRAY_BYTES}-byte limit")
    buffer = io.BytesIO()
    np.save(buffer, array if array.flags.c_contiguous else array.copy(order="C"), allow_pickle=False)  # keeps 0-d shapes
    if _blob_sink is not None and array.nbytes >= MIN_BLOB_BYTES:
        _blob_sink.append(buffer.getbuffer())
        return {"$blob": len(_blob_sink) - 1}
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _encode_tensor(value) -> dict:
    import torch

    tensor = torch.Tensor.detach(value)
    dtype = str(tensor.dtype)
    device = tensor.device.type
    if tensor.is_sparse:
        tensor = tensor.to_dense()
    tensor = tensor.cpu()
    if tensor.dtype == torch.bfloat16:
        tensor = tensor.to(torch.float32)
    array = np.asarray(torch.Tensor.numpy(tensor.resolve_conj().resolve_neg()), order="C")
    return {"$": "tensor", "dtype": dtype, "device": device, "npy": _npy_bytes(np.array(array, subok=False))}


def _plain_scalar(value):
    if value is None or isinstance(value, str) and type(value) is str:
        return value
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, str):
        return str.__str__(value)
    return value


def _encode_labels(labels) -> list:
    return [encode(_plain_scalar(label)) for label in list(labels)]


def _encode_column(series) -> dict:
    values = series.to_numpy()
    if values.dtype.kind in "biufc":
        return {"$": "ndarray", "dtype": str(values.dtype), "npy": _npy_bytes(values)}
    plain = []
    for item in values.tolist():
        if item is None or (isinstance(item, float) and math.isnan(item)):
            plain.append(None)
        elif hasattr(item, "isoformat"):
            plain.append(item.isoformat())
        else:
            plain.append(encode(_plain_scalar(item)))
    return {"$": "list", "items": plain}


def _encode_frame(value, kind: str) -> dict:
    import pandas as pd

    frame = value.to_frame() if kind == "series" else value
    columns = list(frame.columns)
    return {
        "$": kind,
        "columns": _encode_labels(columns),
        "index": _encode_labels(frame.index.tolist() if not isinstance(frame.index, pd.MultiIndex) else [list(t) for t in frame.index]),
        "dtypes": [str(dtype) for dtype in frame.dtypes],
        "data": [_encode_column(frame.iloc[:, position]) for position in range(len(columns))],
        "name": encode(_plain_scalar(value.name)) if kind == "series" else None,
    }


def _encode_module(module) -> dict:
    """A module as plain data: its weights, and its layers (class and constructor arguments as printed)."""
    layers = []
    for name, layer in module.named_modules():
        try:
            arguments = str(layer.extra_repr())[:500]
        except Exception:
            arguments = ""
        layers.append({"name": str(name), "type": type(layer).__name__, "module": str(type(layer).__module__), "args": arguments})
    return {
        "$": "module",
        "type": type(module).__name__,
        "layers": layers[:1000],
        "state_dict": encode(dict(module.state_dict())),
    }


def encode(value: Any, _depth: int = 0) -> Any:
    """Turn ``value`` into JSON-compatible plain data (see the module docstring)."""
    if value is None or type(value) in (bool, int, str):
        return value
    if type(value) is float:
        return value if math.isfinite(value) else {"$": "float", "value": repr(value)}
    if type(value) is np.bool_:  # exact types: an object whose __class__ claims bool must not be asked its truth
        return bool(value)
    if isinstance(value, np.generic):
        return {"$": "ndarray", "kind": "scalar", "dtype": str(value.dtype), "npy": _npy_bytes(np.asarray(value))}
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return encode(float.__float__(value))
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, np.ndarray):
        array = np.array(value, subok=False, copy=True)
        return {"$": "ndarray", "dtype": str(array.dtype), "npy": _npy_bytes(array)}
    # A tensor can only exist if torch was imported; looking it up keeps torch-free courses from paying its import.
    torch = sys.modules.get("torch")
    if torch is not None:
        if isinstance(value, torch.Tensor):
            return _encode_tensor(value)
        if isinstance(value, torch.nn.Module):
            return _encode_module(value)
        if isinstance(value, torch.Size):
            return {"$": "tuple", "items": [int(v) for v in value]}
        if isinstance(value, torch.dtype):
            return str(value)
    module_name = type(value).__module__ or ""
    if module_name.startswith("pandas"):
        import pandas as pd

        if isinstance(value, pd.DataFrame):
            return _encode_frame(value, "dataframe")
        if isinstance(value, pd.Series):
            return _encode_frame(value, "series")
        if isinstance(value, pd.Index):
            return {"$": "list", "items": _encode_labels(value.tolist())}
    if isinstance(value, (tuple, list, set, frozenset, dict)) and _depth >= MAX_DEPTH:
        raise EncodeError(f"the value is nested more than {MAX_DEPTH} containers deep")
    inner = _depth + 1
    if isinstance(value, tuple):
        return {"$": "tuple", "items": [encode(item, inner) for item in tuple.__iter__(value)]}
    if isinstance(value, list):
        return {"$": "list", "items": [encode(item, inner) for item in list.__iter__(value)]}
    if isinstance(value, (set, frozenset)):
        items = [encode(item, inner) for item in value]
        return {"$": "set", "items": sorted(items, key=repr)}
    if isinstance(value, dict):
        return {"$": "dict", "items": [[encode(_plain_scalar(k), inner), encode(v, inner)] for k, v in dict.items(value)]}
    if isinstance(value, complex):
        return {"$": "ndarray", "kind": "scalar", "dtype": "complex128", "npy": _npy_bytes(np.asarray(complex(value)))}
    try:
        text = repr(value)[:200]
    except Exception:  # a repr that raises is the student's problem, not the grader's
        text = "<repr failed>"
    return {"$": "opaque", "type": type(value).__qualname__, "repr": text}


# ---------------------------------------------------------------------------------------------- decoding


class DecodeError(ValueError):
    """Data that is not a well-formed encoded value."""


def _read_npy(payload: str | bytes) -> np.ndarray:
    """An array from its .npy payload: base64 text, or raw bytes that arrived as a binary frame."""
    if isinstance(payload, (bytes, bytearray, memoryview)):
        raw = payload
    else:
        try:
            raw = base64.b64decode(str(payload).encode("ascii"), validate=True)
        except (ValueError, UnicodeEncodeError) as error:
            raise DecodeError(f"array payload is not base64: {error}") from None
    if len(raw) > MAX_ARRAY_BYTES + 4096:
        raise DecodeError("array payload is larger than the limit")
    try:
        array = np.load(io.BytesIO(raw), allow_pickle=False)
    except Exception as error:
        raise DecodeError(f"array payload is not a valid .npy: {error}") from None
    if not isinstance(array, np.ndarray) or array.dtype.hasobject:
        raise DecodeError("array payload holds objects")
    return array


def _decode_list(items, depth: int) -> list:
    if not isinstance(items, list):
        raise DecodeError("expected a list of items")
    return [_decode(item, depth) for item in items]


def decode(data: Any) -> Any:
    """Rebuild a value from `encode`'s output, without ever unpickling or running code.

    Whatever the data (it may come from a forged record), the only error is `DecodeError`: a missing field, a
    field of the wrong type or nesting deeper than `MAX_DEPTH` fails the check that sent it, not the grader."""
    try:
        return _decode(data, 0)
    except DecodeError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError, RecursionError) as error:
        raise DecodeError(f"malformed value ({type(error).__name__}: {str(error)[:80]})") from None


def _decode(data: Any, depth: int) -> Any:
    if data is None or type(data) in (bool, int, float, str):
        return data
    if depth > MAX_DEPTH + 2:  # a Frame or module adds two levels of its own
        raise DecodeError(f"the value is nested more than {MAX_DEPTH} containers deep")
    depth += 1
    if isinstance(data, list):  # tolerate bare JSON lists written by hand
        return [_decode(item, depth) for item in data]
    if not isinstance(data, dict) or "$" not in data:
        raise DecodeError(f"not an encoded value: {type(data).__name__}")
    tag = data["$"]
    if tag == "float":
        return float(data["value"])
    if tag == "ndarray":
        array = _read_npy(data["npy"])
        kind = data.get("kind", "ndarray")
        return Array(array, str(data.get("dtype", array.dtype)), kind)
    if tag == "tensor":
        array = _read_npy(data["npy"])
        return Array(array, str(data.get("dtype", "torch." + str(array.dtype))), "tensor", str(data.get("device", "cpu")))
    if tag == "list":
        return _decode_list(data["items"], depth)
    if tag == "tuple":
        return tuple(_decode_list(data["items"], depth))
    if tag == "set":
        return {"$set": _decode_list(data["items"], depth)}
    if tag == "dict":
        pairs = data["items"]
        if not isinstance(pairs, list) or not all(isinstance(p, list) and len(p) == 2 for p in pairs):
            raise DecodeError("dict items must be [key, value] pairs")
        result = {}
        for key, value in pairs:
            key = _decode(key, depth)
            if isinstance(key, list):
                key = tuple(key)
            if not isinstance(key, (str, int, float, bool, tuple, type(None))):
                raise DecodeError("dict keys must be plain scalars")
            result[key] = _decode(value, depth)
        return result
    if tag == "module":
        layers = data.get("layers", [])
        if not isinstance(layers, list):
            raise DecodeError("module layers must be a list")
        clean = [{k: str(layer.get(k, "")) for k in ("name", "type", "module", "args")} for layer in layers if isinstance(layer, dict)]
        return {"$module": str(data.get("type", "")), "layers": clean, "state_dict": _decode(data["state_dict"], depth)}
    if tag in ("dataframe", "series"):
        frame = Frame(
            kind=tag,
            columns=_decode_list(data["columns"], depth),
            index=[tuple(i) if isinstance(i, list) else i for i in _decode_list(data["index"], depth)],
            dtypes=[str(d) for d in data["dtypes"]],
            data=[_decode(column, depth) for column in data["data"]],
            name=_decode(data.get("name"), depth),
        )
        # parts a lying subclass (or a forged record) can make disagree; the comparison indexes one by another
        rows = len(frame.index)
        if not len(frame.columns) == len(frame.dtypes) == len(frame.data) or not all(
                (column.shape == (rows,)) if isinstance(column, Array) else (isinstance(column, list) and len(column) == rows)
                for column in frame.data):
            raise DecodeError(f"a {tag} whose labels, dtypes and columns do not agree")
        return frame
    if tag == "opaque":
        return Opaque(str(data.get("type", "?")), str(data.get("repr", ""))[:200])
    raise DecodeError(f"unknown value tag {tag!r}")
