"""check_metric: a trained model judged on the grader's held-out data, rebuilt from plain data."""

import re
import time

import numpy as np
import pytest
import torch

from autograder.grading.held_out import HeldOutError, evaluate_model
from autograder.grading.models import MAX_MODEL_LAYERS, MAX_MODEL_PARAMETERS, ModelError, architecture, rebuild
from autograder.grading.scoring import evaluate_metric
from autograder.wire.compare import Options
from autograder.wire.protocol import CheckRecord
from autograder.wire.values import Array, decode, encode


def received(model):
    return decode(encode(model))


def test_a_sequential_model_is_rebuilt_with_its_weights():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.LeakyReLU(0.2), torch.nn.Linear(8, 2), torch.nn.LogSoftmax(dim=1))
    copy = rebuild(received(model))
    x = torch.randn(5, 4)
    torch.testing.assert_close(copy(x), model(x))


def test_a_custom_layer_is_refused_with_its_name():
    class Sneaky(torch.nn.Module):
        def forward(self, x):
            return x

    model = torch.nn.Sequential(torch.nn.Linear(2, 2), Sneaky())
    with pytest.raises(ModelError, match="layer '1' is a Sneaky"):
        rebuild(received(model))


def test_the_layers_text_is_never_believed_where_the_weights_have_a_shape():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2))
    data = received(model)
    data["layers"][1]["args"] = "in_features=3, out_features=2, bias=True"
    copy = rebuild(data)
    assert (copy[0].in_features, copy[0].out_features) == (2, 2)
    x = torch.randn(3, 2)
    torch.testing.assert_close(copy(x), model(x))


def test_weights_that_do_not_fit_are_refused():
    data = received(torch.nn.Sequential(torch.nn.Linear(2, 2)))
    data["state_dict"]["0.scale"] = data["state_dict"]["0.bias"]
    with pytest.raises(ModelError, match="unexpected weight"):
        rebuild(data)
    data = received(torch.nn.Sequential(torch.nn.Linear(2, 2)))
    data["state_dict"]["0.bias"] = received(torch.zeros(5))
    with pytest.raises(ModelError, match="shape"):
        rebuild(data)


def lying_about_its_size():
    """Four Linear(4, 4) whose text says Linear(16000, 16000): 4 GiB if the grader believed it."""
    model = torch.nn.Sequential(*[torch.nn.Linear(4, 4) for _ in range(4)])
    for layer in model:
        layer.in_features = layer.out_features = 16000
    assert "in_features=16000" in repr(model)
    return model


def test_a_model_that_lies_about_its_size_is_built_from_its_real_shapes():
    spec = architecture(received(lying_about_its_size()))
    assert [layer["kwargs"]["in_features"] for layer in spec["layers"]] == [4, 4, 4, 4]
    assert spec["parameters"] == 4 * 20 and spec["bytes"] == 4 * 20 * 4


def test_arguments_without_a_weight_are_checked_against_ranges():
    for layer, text, why in [
        (torch.nn.Dropout(0.5), "p=7.0", "p=7.0"),
        (torch.nn.LeakyReLU(0.1), "negative_slope=__import__('os')", "not plain values"),
        (torch.nn.MaxPool2d(2), "kernel_size=100000", "kernel_size=100000"),
        (torch.nn.Unflatten(1, (2, 2)), "dim=1, unflattened_size=(65536, 65536)", "unflattened_size"),
        (torch.nn.GELU(), "approximate='erf'", "approximate='erf'"),
        (torch.nn.Softmax(dim=1), "dim=99", "dim=99"),
    ]:
        data = received(torch.nn.Sequential(layer))
        data["layers"][1]["args"] = text
        with pytest.raises(ModelError, match=re.escape(why)):
            architecture(data)


def test_a_model_over_the_weight_cap_is_refused_before_anything_is_built():
    data = received(torch.nn.Sequential(torch.nn.Linear(2, 2)))
    # 400 million float32 weights (1.5 GiB) that take no memory here: a zero-stride view
    huge = np.broadcast_to(np.zeros(1, dtype=np.float32), (20_000, 20_000))
    data["state_dict"]["0.weight"] = Array(huge, "torch.float32", "tensor")
    with pytest.raises(ModelError, match=f"at most {MAX_MODEL_PARAMETERS:,}"):
        architecture(data)
    data = received(torch.nn.Sequential(*[torch.nn.ReLU() for _ in range(MAX_MODEL_LAYERS + 1)]))
    with pytest.raises(ModelError, match=f"at most {MAX_MODEL_LAYERS}"):
        architecture(data)


def heldout_accuracy(model):
    generator = torch.Generator().manual_seed(1234)
    x = torch.randn(200, 2, generator=generator)
    y = (x[:, 0] > 0).long()
    with torch.no_grad():
        return (model(x).argmax(dim=1) == y).float().mean().item()


def test_a_metric_decides_against_its_bound():
    good = torch.nn.Sequential(torch.nn.Linear(2, 2))
    with torch.no_grad():
        good[0].weight.copy_(torch.tensor([[-1.0, 0.0], [1.0, 0.0]]))
        good[0].bias.zero_()
    want = CheckRecord("model.accuracy", Options("metric"), metric="heldout_accuracy", at_least=0.8)
    lookup = {"heldout_accuracy": heldout_accuracy}.__getitem__
    passed, message = evaluate_metric(want, received(good), lookup)
    assert passed and message.startswith("heldout_accuracy = 1")
    bad = torch.nn.Sequential(torch.nn.Linear(2, 2))
    with torch.no_grad():
        bad[0].weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]))
    passed, message = evaluate_metric(want, received(bad), lookup)
    assert not passed and "needs at least 0.8" in message


def test_an_unknown_metric_fails_the_check_not_the_grader():
    passed, message = evaluate_metric(CheckRecord("model.accuracy", Options("metric"), metric="nope", at_least=0.0), 1.0, {}.__getitem__)
    assert not passed and "no metric 'nope'" in message


def heavy_accuracy(model):
    """The honest metric on inputs big enough that a deep stack of convolutions takes minutes."""
    generator = torch.Generator().manual_seed(99)
    x = torch.randn(2000, 256, generator=generator)
    with torch.no_grad():
        return float(model(x).float().mean())


def test_the_lying_model_is_evaluated_on_its_real_shapes_in_a_small_process():
    passed, message = evaluate_metric(CheckRecord("model.accuracy", Options("metric"), metric="m", at_least=0.0), received(lying_about_its_size()),
                                      {"m": lambda model: 0.0}.__getitem__)
    assert not passed and "not defined at the top level" in message  # a metric must be importable by the child
    value = evaluate_model(heavy_accuracy_of_4, received(lying_about_its_size()), memory=2 * 2**30, seconds=120)
    assert value == value  # a number: built as four Linear(4, 4), not four Linear(16000, 16000)


def heavy_accuracy_of_4(model):
    with torch.no_grad():
        return float(model(torch.ones(3, 4)).sum())


def compute_heavy_model():
    """A legitimate stack of standard layers, 1.8 M weights: about 1.8 TFLOP on heavy_accuracy's inputs."""
    layers = [torch.nn.Unflatten(1, (1, 16, 16)), torch.nn.Conv2d(1, 128, 3, padding=1), torch.nn.ReLU()]
    for _ in range(12):
        layers += [torch.nn.Conv2d(128, 128, 3, padding=1), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(128, 2))


def test_a_compute_heavy_model_costs_only_its_check_with_a_clear_message():
    started = time.monotonic()
    with pytest.raises(HeldOutError, match=r"could not be evaluated on held-out data: it took longer than 8 s"):
        evaluate_model(heavy_accuracy, received(compute_heavy_model()), seconds=8)
    assert time.monotonic() - started < 8 + 60  # the limit, and at most the start of a new evaluation server
    # the evaluation server went with it; the next model gets a new one and its full marks
    assert evaluate_model(heldout_accuracy, received(separating_model())) == 1.0


def separating_model():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[-1.0, 0.0], [1.0, 0.0]]))
        model[0].bias.zero_()
    return model


def noisy_metric(model):
    print("{\"code\": 0} a metric that prints does not speak for the evaluation server")
    return 0.25


def test_what_a_metric_prints_does_not_reach_the_grader_as_a_reply():
    assert evaluate_model(noisy_metric, received(separating_model())) == 0.25


def memory_heavy(model):
    with torch.no_grad():
        return float(model(torch.ones(200, 2)).mean())


def test_a_model_that_needs_too_much_memory_costs_only_its_check_with_a_clear_message():
    # 200 x 2 x 2048 x 2048 float32 = 6.25 GiB of activations from two standard layers and no weights
    model = torch.nn.Sequential(torch.nn.Unflatten(1, (2, 1, 1)), torch.nn.AdaptiveAvgPool2d((2048, 2048)))
    with pytest.raises(HeldOutError, match=r"could not be evaluated on held-out data: it needed more than 2 GiB"):
        evaluate_model(memory_heavy, received(model), memory=2 * 2**30, seconds=120)
