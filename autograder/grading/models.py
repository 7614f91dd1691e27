"""A student's model rebuilt on the trusted side from plain data (for `checks.check_metric`).

A model crosses the sandbox boundary as the list of its layers (class name and the text its `extra_repr()`
printed) and its state_dict as arrays. Everything in that text was written by the student's process, so it
is never believed where the weights can say it: the architecture is derived in two steps, neither of which
allocates a tensor.

1. `architecture` (on the grader's side, NumPy only): every size that has a weight (Linear's in/out
   features, Conv's channels and kernel size, BatchNorm's and LayerNorm's features...) is read from the
   *shape* of the arrays that arrived; arguments without a weight (activation kinds and slopes, dropout p,
   strides, padding, pooling windows, dims) are read from the text as literals (never evaluated) and checked
   against a whitelist and a range. The model as a whole is capped (`MAX_MODEL_LAYERS`,
   `MAX_MODEL_PARAMETERS`, `MAX_MODEL_BYTES`) before anything is built. The result is a plain JSON spec.
2. `build` (in the confined evaluation process, `autograder.grading.held_out`): the spec and the arrays
   become an `nn.Sequential` of standard `torch.nn` layers, weights loaded, in eval mode.

A model that uses anything else is refused with a message that names the layer.
"""

from __future__ import annotations

import ast
import math
import re

import numpy as np

from autograder.wire.values import Array

#: Caps on a model the grader will build at all (checked on the shapes, before anything is allocated).
MAX_MODEL_LAYERS = 128
MAX_MODEL_PARAMETERS = 25_000_000
MAX_MODEL_BYTES = 128 * 2**20

#: Layers a student's model may be built from.
ACTIVATIONS = ("ReLU", "ReLU6", "Tanh", "Sigmoid", "SiLU", "Identity", "Hardtanh", "Mish")
_LAYERS = (
    "Linear", "Bilinear", "Conv1d", "Conv2d", "BatchNorm1d", "BatchNorm2d", "LayerNorm", "Dropout", "Dropout1d",
    "Dropout2d", "LeakyReLU", "ELU", "GELU", "Softplus", "Softmax", "LogSoftmax", "Flatten", "Unflatten",
    "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", *ACTIVATIONS,
)
_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
_MAX_WINDOW = 64  # kernel sizes, strides, pooling windows
_MAX_DIM = 8  # |dim| of Softmax, Flatten, Unflatten
_MAX_SIZE = 2**16  # one entry of an unflattened or adaptive output size
_MAX_ELEMENTS = 2**22  # product of an unflattened or adaptive output size, or of a LayerNorm shape


class ModelError(ValueError):
    """A submitted model that cannot be rebuilt; the message says which layer and why."""


# ------------------------------------------------------------------------------ reading the text


def _literal(node):
    """A literal, or a bare name read as a string (``padding_mode=reflect``, ``padding=same``); nothing runs."""
    if isinstance(node, ast.Name):
        return node.id
    return ast.literal_eval(node)


def _parse_arguments(text: str) -> tuple[list, dict]:
    """Parse ``"3, 4, kernel_size=(3, 3), bias=True"`` as literals; nothing is evaluated."""
    if not text.strip():
        return [], {}
    text = re.sub(r",?\s*\binplace=(True|False)", "", text).strip().lstrip(",")
    if not text.strip():
        return [], {}
    try:
        call = ast.parse(f"f({text})", mode="eval").body
    except SyntaxError:
        raise ModelError(f"cannot read the layer's arguments {text[:120]!r}") from None
    try:
        args = [_literal(a) for a in call.args]
        kwargs = {k.arg: _literal(k.value) for k in call.keywords if k.arg}
    except (ValueError, TypeError, SyntaxError, RecursionError):
        raise ModelError(f"the layer's arguments {text[:120]!r} are not plain values") from None
    return args, kwargs


class _Layer:
    """One layer's name, kind, arguments from its text, and the arrays that arrived for it."""

    def __init__(self, name: str, kind: str, text: str, arrays: dict[str, Array]):
        self.name, self.kind, self.arrays = name, kind, arrays
        self.args, self.kwargs = _parse_arguments(text)

    def fail(self, why: str) -> ModelError:
        return ModelError(f"layer {self.name!r} ({self.kind}) {why}")

    def argument(self, key: str, default, position: int | None = None):
        if key in self.kwargs:
            return self.kwargs[key]
        if position is not None and position < len(self.args):
            return self.args[position]
        return default

    def integer(self, key: str, default: int, low: int, high: int, position: int | None = None) -> int:
        value = self.argument(key, default, position)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(f"has {key}={value!r}: must be a whole number from {low} to {high}")
        return value

    def number(self, key: str, default: float, low: float, high: float, position: int | None = None) -> float:
        value = self.argument(key, default, position)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not low <= value <= high:
            raise self.fail(f"has {key}={value!r}: must be a number from {low:g} to {high:g}")
        return float(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self.argument(key, default)
        if not isinstance(value, bool):
            raise self.fail(f"has {key}={value!r}: must be True or False")
        return value

    def choice(self, key: str, default, allowed: tuple, position: int | None = None):
        value = self.argument(key, default, position)
        if value not in allowed:
            raise self.fail(f"has {key}={value!r}: must be one of {', '.join(map(repr, allowed))}")
        return value

    def sizes(self, key: str, default, dims: int, low: int, high: int, position: int | None = None) -> list[int]:
        """An int or a tuple of ``dims`` ints, each in [low, high], as a list."""
        value = self.argument(key, default, position)
        items = [value] * dims if isinstance(value, int) and not isinstance(value, bool) else value
        if not isinstance(items, (tuple, list)) or len(items) != dims or not all(
                isinstance(v, int) and not isinstance(v, bool) and low <= v <= high for v in items):
            raise self.fail(f"has {key}={value!r}: must be {dims} whole number(s) from {low} to {high}")
        return list(items)

    # --- weights

    def array(self, key: str, ndim: int, required: bool = True) -> Array | None:
        array = self.arrays.get(key)
        if array is None:
            if required:
                raise self.fail(f"has no {key!r} among its weights")
            return None
        if array.data.ndim != ndim:
            raise self.fail(f"has a {key!r} of shape {array.shape}: expected {ndim} dimension(s)")
        if array.data.dtype.kind != "f":
            raise self.fail(f"has a {key!r} of dtype {array.data.dtype}: weights must be floating point")
        return array

    def only(self, *keys: str) -> None:
        extra = sorted(set(self.arrays) - set(keys))
        if extra:
            raise self.fail(f"has unexpected weight(s) {', '.join(map(repr, extra))}")

    def same_shape(self, key: str, shape: tuple, required: bool = False) -> bool:
        array = self.arrays.get(key)
        if array is None:
            if required:
                raise self.fail(f"has no {key!r} among its weights")
            return False
        if array.shape != tuple(shape):
            raise self.fail(f"has a {key!r} of shape {array.shape}, expected {tuple(shape)} from its weight")
        return True


def _linear(layer: _Layer) -> dict:
    weight = layer.array("weight", 2)
    out_features, in_features = weight.shape
    layer.only("weight", "bias")
    bias = layer.same_shape("bias", (out_features,))
    return {"in_features": in_features, "out_features": out_features, "bias": bias}


def _bilinear(layer: _Layer) -> dict:
    weight = layer.array("weight", 3)
    out_features, in1, in2 = weight.shape
    layer.only("weight", "bias")
    bias = layer.same_shape("bias", (out_features,))
    return {"in1_features": in1, "in2_features": in2, "out_features": out_features, "bias": bias}


def _conv(layer: _Layer, dims: int) -> dict:
    weight = layer.array("weight", 2 + dims)
    out_channels, in_per_group, *kernel = weight.shape
    layer.only("weight", "bias")
    bias = layer.same_shape("bias", (out_channels,))
    if any(k > _MAX_WINDOW for k in kernel):
        raise layer.fail(f"has a kernel of {tuple(kernel)}: at most {_MAX_WINDOW}")
    groups = layer.integer("groups", 1, 1, max(out_channels, 1))
    if out_channels % groups:
        raise layer.fail(f"has groups={groups}, which does not divide its {out_channels} output channels")
    padding = layer.argument("padding", 0)
    if padding not in ("same", "valid"):
        padding = layer.sizes("padding", 0, dims, 0, _MAX_WINDOW)
    return {
        "in_channels": in_per_group * groups, "out_channels": out_channels, "kernel_size": kernel,
        "stride": layer.sizes("stride", 1, dims, 1, _MAX_WINDOW), "padding": padding,
        "dilation": layer.sizes("dilation", 1, dims, 1, _MAX_WINDOW), "groups": groups, "bias": bias,
        "padding_mode": layer.choice("padding_mode", "zeros", _PADDING_MODES),
    }


def _batch_norm(layer: _Layer) -> dict:
    layer.only("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    source = next((k for k in ("weight", "running_mean", "bias", "running_var") if k in layer.arrays), None)
    if source is None:
        raise layer.fail("has neither weights nor running statistics, so its size is unknown")
    features = layer.array(source, 1).shape[0]
    affine = layer.same_shape("weight", (features,))
    if layer.same_shape("bias", (features,)) != affine:
        raise layer.fail("must have both a weight and a bias, or neither")
    tracked = layer.same_shape("running_mean", (features,))
    if layer.same_shape("running_var", (features,)) != tracked:
        raise layer.fail("must have both running_mean and running_var, or neither")
    counter = layer.arrays.get("num_batches_tracked")
    if counter is not None and (counter.shape != () or counter.data.dtype.kind not in "iu"):
        raise layer.fail("has a num_batches_tracked that is not a whole number")
    if tracked and counter is None:
        raise layer.fail("has running statistics but no num_batches_tracked")
    momentum = layer.argument("momentum", 0.1)
    if momentum is not None:
        momentum = layer.number("momentum", 0.1, 0.0, 1.0)
    return {"num_features": features, "eps": layer.number("eps", 1e-5, 1e-12, 1.0), "momentum": momentum,
            "affine": affine, "track_running_stats": tracked}


def _layer_norm(layer: _Layer) -> dict:
    layer.only("weight", "bias")
    if "weight" in layer.arrays:
        shape = list(layer.arrays["weight"].shape)
        layer.array("weight", len(shape))
        if not 1 <= len(shape) <= 4:
            raise layer.fail(f"has a weight of shape {tuple(shape)}: 1 to 4 dimensions")
        bias = layer.same_shape("bias", tuple(shape))
        affine = True
    else:
        if "bias" in layer.arrays:
            raise layer.fail("has a bias but no weight")
        value = layer.argument("normalized_shape", None, 0)
        items = [value] if isinstance(value, int) and not isinstance(value, bool) else value
        if not isinstance(items, (list, tuple)) or not 1 <= len(items) <= 4 or not all(
                isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= _MAX_ELEMENTS for v in items):
            raise layer.fail(f"has normalized_shape={value!r}: 1 to 4 whole numbers")
        shape = list(items)
        affine = bias = False
    if math.prod(shape) > _MAX_ELEMENTS:
        raise layer.fail(f"normalises {math.prod(shape)} elements: at most {_MAX_ELEMENTS}")
    return {"normalized_shape": shape, "eps": layer.number("eps", 1e-5, 1e-12, 1.0), "elementwise_affine": affine, "bias": bias}


def _pool(layer: _Layer, dims: int, kind: str) -> dict:
    kernel = layer.sizes("kernel_size", None, dims, 1, _MAX_WINDOW, 0)
    stride = layer.argument("stride", None, 1)
    stride = kernel if stride is None or stride == [] or stride == () else layer.sizes("stride", None, dims, 1, _MAX_WINDOW, 1)
    padding = layer.sizes("padding", 0, dims, 0, _MAX_WINDOW, 2)
    if any(2 * p > k for p, k in zip(padding, kernel)):
        raise layer.fail(f"has padding {padding} larger than half its kernel {kernel}")
    spec = {"kernel_size": kernel, "stride": stride, "padding": padding, "ceil_mode": layer.flag("ceil_mode", False)}
    if kind == "Max":
        spec["dilation"] = layer.sizes("dilation", 1, dims, 1, _MAX_WINDOW, 3)
        if layer.argument("return_indices", False) is not False:
            raise layer.fail("returns indices, which a Sequential cannot pass on")
    else:
        spec["count_include_pad"] = layer.flag("count_include_pad", True)
    return spec


def _adaptive(layer: _Layer, dims: int) -> dict:
    value = layer.argument("output_size", None, 0)
    items = [value] * dims if isinstance(value, int) or value is None else value
    if not isinstance(items, (list, tuple)) or len(items) != dims or not all(
            v is None or (isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= _MAX_SIZE) for v in items):
        raise layer.fail(f"has output_size={value!r}: {dims} whole number(s) from 1 to {_MAX_SIZE} (or None)")
    if math.prod(v or 1 for v in items) > _MAX_ELEMENTS:
        raise layer.fail(f"has output_size={value!r}: at most {_MAX_ELEMENTS} outputs per channel")
    return {"output_size": list(items) if dims > 1 else items[0]}


def _arguments(layer: _Layer) -> dict:
    """The constructor arguments of one layer: sizes from the weights' shapes, the rest validated."""
    kind = layer.kind
    if kind == "Linear":
        return _linear(layer)
    if kind == "Bilinear":
        return _bilinear(layer)
    if kind in ("Conv1d", "Conv2d"):
        return _conv(layer, int(kind[-2]))
    if kind in ("BatchNorm1d", "BatchNorm2d"):
        return _batch_norm(layer)
    if kind == "LayerNorm":
        return _layer_norm(layer)
    layer.only()  # nothing below has weights
    if kind in ("Dropout", "Dropout1d", "Dropout2d"):
        return {"p": layer.number("p", 0.5, 0.0, 1.0, 0)}
    if kind == "LeakyReLU":
        return {"negative_slope": layer.number("negative_slope", 0.01, -100.0, 100.0, 0)}
    if kind == "ELU":
        return {"alpha": layer.number("alpha", 1.0, 0.0, 100.0, 0)}
    if kind == "GELU":
        return {"approximate": layer.choice("approximate", "none", ("none", "tanh"), 0)}
    if kind == "Softplus":
        return {"beta": layer.number("beta", 1.0, 1e-3, 1e3, 0), "threshold": layer.number("threshold", 20.0, 0.0, 1e3, 1)}
    if kind in ("Softmax", "LogSoftmax"):
        dim = layer.argument("dim", None, 0)
        return {"dim": None if dim is None else layer.integer("dim", 0, -_MAX_DIM, _MAX_DIM, 0)}
    if kind == "Flatten":
        return {"start_dim": layer.integer("start_dim", 1, -_MAX_DIM, _MAX_DIM, 0),
                "end_dim": layer.integer("end_dim", -1, -_MAX_DIM, _MAX_DIM, 1)}
    if kind == "Unflatten":
        size = layer.argument("unflattened_size", None, 1)
        if not isinstance(size, (list, tuple)) or not 1 <= len(size) <= _MAX_DIM:
            raise layer.fail(f"has unflattened_size={size!r}: 1 to {_MAX_DIM} whole numbers")
        sizes = layer.sizes("unflattened_size", None, len(size), -1, _MAX_SIZE, 1)
        if 0 in sizes or sizes.count(-1) > 1 or math.prod(abs(s) for s in sizes) > _MAX_ELEMENTS:
            raise layer.fail(f"has unflattened_size={size!r}")
        return {"dim": layer.integer("dim", 1, -_MAX_DIM, _MAX_DIM, 0), "unflattened_size": sizes}
    if kind in ("MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d"):
        return _pool(layer, int(kind[-2]), kind[:3])
    if kind in ("AdaptiveAvgPool1d", "AdaptiveAvgPool2d"):
        return _adaptive(layer, int(kind[-2]))
    if kind == "Hardtanh":
        low, high = layer.number("min_val", -1.0, -1e3, 1e3, 0), layer.number("max_val", 1.0, -1e3, 1e3, 1)
        if not low < high:
            raise layer.fail("needs min_val < max_val")
        return {"min_val": low, "max_val": high}
    return {}  # ReLU, ReLU6, Tanh, Sigmoid, SiLU, Mish, Identity: no arguments that matter in eval mode


# ------------------------------------------------------------------------------ the spec


def architecture(decoded: dict) -> dict:
    """A validated, size-capped plain-data spec of the model: ``{"layers": [{"name", "type", "kwargs"}],
    "sequential": bool, "parameters": int, "bytes": int}``. Allocates nothing (NumPy shapes only)."""
    if not (isinstance(decoded, dict) and "$module" in decoded):
        raise ModelError("the value is not a torch.nn.Module")
    layers = decoded.get("layers") or []
    if not layers:
        raise ModelError("the model's layers were not sent")
    if len(layers) > MAX_MODEL_LAYERS + 1:
        raise ModelError(f"the model has {len(layers) - 1} layers; graded models may have at most {MAX_MODEL_LAYERS}")
    state = decoded.get("state_dict", {})
    if not isinstance(state, dict):
        raise ModelError("the model's weights were not sent as a state_dict")
    parameters = total_bytes = 0
    for key, value in state.items():
        if not isinstance(value, Array):
            raise ModelError(f"state_dict entry {key!r} is not an array")
        parameters += math.prod(value.shape)
        total_bytes += math.prod(value.shape) * value.data.dtype.itemsize
    if parameters > MAX_MODEL_PARAMETERS or total_bytes > MAX_MODEL_BYTES:
        raise ModelError(f"the model has {parameters:,} weights ({total_bytes / 2**20:.1f} MiB); graded models may have "
                         f"at most {MAX_MODEL_PARAMETERS:,} ({MAX_MODEL_BYTES / 2**20:.0f} MiB)")
    root, children = layers[0], layers[1:]
    if root["type"] == "Sequential":
        nested = [layer for layer in children if "." in layer["name"]]
        if nested:
            raise ModelError(f"nested containers are not supported (layer {nested[0]['name']!r}); use one nn.Sequential")
        entries, sequential = children, True
    elif not children:
        entries, sequential = [dict(root, name="")], False
    else:
        raise ModelError(f"the model is a {root['type']}; graded models must be an nn.Sequential of standard layers")
    spec, claimed = [], set()
    for entry in entries:
        name, kind = str(entry.get("name", "")), str(entry.get("type", ""))
        shown = name or "model"
        if sequential and not re.fullmatch(r"[A-Za-z0-9_]{1,64}", name):
            raise ModelError(f"layer {name[:64]!r} has a name a Sequential cannot use")
        if kind not in _LAYERS:
            raise ModelError(f"layer {shown!r} is a {kind[:64]}, which graded models cannot use "
                             f"(allowed: Sequential of {', '.join(sorted(_LAYERS))})")
        prefix = f"{name}." if sequential else ""
        arrays = {key[len(prefix):]: value for key, value in state.items()
                  if str(key).startswith(prefix) and "." not in str(key)[len(prefix):]}
        claimed.update(prefix + key for key in arrays)
        layer = _Layer(shown, kind, str(entry.get("args", "")), arrays)
        spec.append({"name": name, "type": kind, "kwargs": _arguments(layer)})
    unclaimed = sorted(str(key) for key in state if key not in claimed)
    if unclaimed:
        raise ModelError(f"the weights do not fit the layers: unexpected key(s) {', '.join(map(repr, unclaimed[:5]))}")
    return {"layers": spec, "sequential": sequential, "parameters": parameters, "bytes": total_bytes}


def build(spec: dict, state: dict[str, np.ndarray]):
    """The `torch.nn.Module` of a spec from `architecture`, weights loaded, in eval mode (where it is evaluated)."""
    import torch
    from torch import nn

    def make(layer: dict):
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in layer["kwargs"].items()}
        return getattr(nn, layer["type"])(**kwargs)

    if spec["sequential"]:
        model = nn.Sequential()
        for layer in spec["layers"]:
            model.add_module(layer["name"], make(layer))
    else:
        model = make(spec["layers"][0])
    tensors = {key: torch.from_numpy(np.array(value, copy=True)) for key, value in state.items()}
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as error:
        raise ModelError(f"the weights do not fit the layers: {str(error).splitlines()[0]}") from None
    return model.eval()


def rebuild(decoded: dict):
    """`architecture` then `build`, in this process (tests, and values that are trusted)."""
    spec = architecture(decoded)
    return build(spec, {str(key): value.data for key, value in decoded["state_dict"].items()})
