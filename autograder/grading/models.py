"""A student's model rebuilt on the trusted side from plain data (for `checks.check_metric`).

A model crosses the sandbox boundary as the list of its layers (class name and the constructor arguments
that `extra_repr()` prints) and its state_dict as arrays. Here it is rebuilt from a fixed list of
`torch.nn` layer classes, with arguments parsed as literals (never evaluated), and the weights loaded.
A model that uses anything else is refused with a message that names the layer.
"""

from __future__ import annotations

import ast
import re

import numpy as np

from autograder.wire.values import Array

#: Layers a student's model may be built from, and the constructor arguments read from extra_repr().
_LAYERS = {
    "Linear": ("in_features", "out_features"),
    "Bilinear": ("in1_features", "in2_features", "out_features"),
    "Conv1d": ("in_channels", "out_channels", "kernel_size"),
    "Conv2d": ("in_channels", "out_channels", "kernel_size"),
    "BatchNorm1d": ("num_features",),
    "BatchNorm2d": ("num_features",),
    "LayerNorm": ("normalized_shape",),
    "Dropout": (),
    "Dropout2d": (),
    "ReLU": (),
    "LeakyReLU": (),
    "ELU": (),
    "GELU": (),
    "SiLU": (),
    "Tanh": (),
    "Sigmoid": (),
    "Softplus": (),
    "Softmax": (),
    "LogSoftmax": (),
    "Identity": (),
    "Flatten": (),
    "Unflatten": (),
    "MaxPool1d": ("kernel_size",),
    "MaxPool2d": ("kernel_size",),
    "AvgPool2d": ("kernel_size",),
    "AdaptiveAvgPool2d": ("output_size",),
}


class ModelError(ValueError):
    """A submitted model that cannot be rebuilt; the message says which layer and why."""


def _parse_arguments(text: str) -> tuple[list, dict]:
    """Parse ``"3, 4, kernel_size=(3, 3), bias=True"`` as literals; nothing is evaluated."""
    if not text.strip():
        return [], {}
    text = re.sub(r"\binplace=(True|False)", "", text)
    try:
        call = ast.parse(f"f({text})", mode="eval").body
    except SyntaxError:
        raise ModelError(f"cannot read the layer's arguments {text!r}") from None
    try:
        args = [ast.literal_eval(a) for a in call.args]
        kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg}
    except ValueError:
        raise ModelError(f"the layer's arguments {text!r} are not plain values") from None
    return args, kwargs


def _build_layer(nn, layer: dict):
    kind = layer["type"]
    if kind not in _LAYERS:
        raise ModelError(f"layer {layer['name']!r} is a {kind}, which graded models cannot use (allowed: Sequential of {', '.join(sorted(_LAYERS))})")
    args, kwargs = _parse_arguments(layer.get("args", ""))
    if kind in ("Linear", "Bilinear"):
        named = dict(zip(_LAYERS[kind], args))
        named.update({k: v for k, v in kwargs.items() if k in _LAYERS[kind] or k == "bias"})
        return getattr(nn, kind)(**named)
    if kind == "LeakyReLU":
        slope = kwargs.get("negative_slope", args[0] if args else 0.01)
        return nn.LeakyReLU(negative_slope=float(slope))
    if kind in ("Softmax", "LogSoftmax"):
        return getattr(nn, kind)(dim=kwargs.get("dim"))
    if kind == "Flatten":
        return nn.Flatten(kwargs.get("start_dim", 1), kwargs.get("end_dim", -1))
    try:
        return getattr(nn, kind)(*args, **kwargs)
    except TypeError as error:
        raise ModelError(f"layer {layer['name']!r} ({kind}) cannot be rebuilt: {error}") from None


def rebuild(decoded: dict):
    """A `torch.nn.Module` from a decoded module (see `autograder.wire.values`), weights loaded, in eval mode."""
    import torch
    from torch import nn

    if not (isinstance(decoded, dict) and "$module" in decoded):
        raise ModelError("the value is not a torch.nn.Module")
    layers = decoded.get("layers") or []
    if not layers:
        raise ModelError("the model's layers were not sent")
    root, children = layers[0], layers[1:]
    if root["type"] == "Sequential":
        direct = [layer for layer in children if "." not in layer["name"]]
        nested = [layer for layer in children if "." in layer["name"]]
        if nested:
            raise ModelError(f"nested containers are not supported (layer {nested[0]['name']!r}); use one nn.Sequential")
        model = nn.Sequential()
        for layer in direct:
            model.add_module(layer["name"], _build_layer(nn, layer))
    elif not children:
        model = _build_layer(nn, dict(root, name="model"))
    else:
        raise ModelError(f"the model is a {root['type']}; graded models must be an nn.Sequential of standard layers")
    state = {}
    for key, value in decoded.get("state_dict", {}).items():
        if not isinstance(value, Array):
            raise ModelError(f"state_dict entry {key!r} is not an array")
        state[str(key)] = torch.from_numpy(np.array(value.data, copy=True))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ModelError(f"the weights do not fit the layers: {str(error).splitlines()[0]}") from None
    return model.eval()
