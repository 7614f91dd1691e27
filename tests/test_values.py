"""Values cross the sandbox boundary as plain data and come back without running any code."""

import base64
import io
import json
import pickle

import numpy as np
import pandas as pd
import pytest
import torch

from autograder.wire.values import Array, DecodeError, Frame, Opaque, decode, encode


def roundtrip(value):
    return decode(json.loads(json.dumps(encode(value))))


def test_plain_scalars_and_containers_survive_the_trip():
    value = {"a": [1, 2.5, None, True, "x"], 3: (1, 2)}
    assert roundtrip(value) == {"a": [1, 2.5, None, True, "x"], 3: (1, 2)}


def test_arrays_keep_dtype_shape_and_values():
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    back = roundtrip(array)
    assert isinstance(back, Array) and back.kind == "ndarray"
    assert back.dtype == "float32" and back.shape == (2, 3)
    np.testing.assert_array_equal(back.data, array)


def test_tensors_are_detached_and_remember_their_torch_dtype():
    tensor = torch.ones(2, 2, requires_grad=True) * 3
    back = roundtrip(tensor)
    assert back.kind == "tensor" and back.dtype == "torch.float32" and back.device == "cpu"
    np.testing.assert_array_equal(back.data, np.full((2, 2), 3.0, dtype=np.float32))


def test_bfloat16_tensors_travel_as_float32_but_keep_their_dtype_name():
    back = roundtrip(torch.tensor([1.5, 2.0], dtype=torch.bfloat16))
    assert back.dtype == "torch.bfloat16" and back.data.dtype == np.float32


def test_a_module_travels_as_its_layers_and_state_dict():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU())
    back = roundtrip(model)
    assert back["$module"] == "Sequential"
    assert [layer["type"] for layer in back["layers"]] == ["Sequential", "Linear", "ReLU"]
    assert set(back["state_dict"]) == {"0.weight", "0.bias"}


def test_dataframes_keep_columns_index_and_dtypes():
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", None]}, index=["r1", "r2"])
    back = roundtrip(frame)
    assert isinstance(back, Frame) and back.columns == ["a", "b"] and back.index == ["r1", "r2"]
    assert back.dtypes[0] == "int64"
    assert back.data[1] == ["x", None]


def test_a_float_subclass_that_claims_to_equal_everything_arrives_as_a_plain_float():
    class Liar(float):
        def __eq__(self, other):
            return True

        __hash__ = float.__hash__

    back = roundtrip(Liar(0.25))
    assert type(back) is float and back == 0.25


def test_an_ndarray_subclass_arrives_as_a_plain_array():
    class Liar(np.ndarray):
        def __eq__(self, other):
            return np.ones(self.shape, dtype=bool)

    back = roundtrip(np.arange(3.0).view(Liar))
    assert type(back.data) is np.ndarray


def test_numpy_scalars_keep_their_zero_d_shape():
    back = roundtrip(np.float64(1.5))
    assert back.shape == () and back.kind == "scalar"


def test_unknown_objects_cross_only_as_their_type_name():
    class Thing:
        pass

    back = roundtrip(Thing())
    assert isinstance(back, Opaque) and back.type.endswith("Thing")


def test_object_arrays_are_refused_at_the_source():
    with pytest.raises(ValueError, match="objects"):
        encode(np.array([object()], dtype=object))


def test_a_pickle_inside_an_npy_payload_is_never_loaded():
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"would": "run code"}], dtype=object), allow_pickle=True)
    forged = {"$": "ndarray", "dtype": "object", "npy": base64.b64encode(buffer.getvalue()).decode()}
    with pytest.raises(DecodeError):
        decode(forged)


def test_a_raw_pickle_is_not_a_value():
    forged = {"$": "ndarray", "npy": base64.b64encode(pickle.dumps([1, 2])).decode()}
    with pytest.raises(DecodeError):
        decode(forged)


def test_unknown_tags_are_rejected():
    with pytest.raises(DecodeError, match="unknown value tag"):
        decode({"$": "exec", "code": "import os"})
