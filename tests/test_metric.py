"""check_metric: a trained model judged on the grader's held-out data, rebuilt from plain data."""

import pytest
import torch

from autograder.grading.models import ModelError, rebuild
from autograder.grading.scoring import evaluate_metric
from autograder.wire.compare import Options
from autograder.wire.protocol import CheckRecord
from autograder.wire.values import decode, encode


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


def test_weights_that_do_not_fit_are_refused():
    data = received(torch.nn.Sequential(torch.nn.Linear(2, 2)))
    data["layers"][1]["args"] = "in_features=3, out_features=2, bias=True"
    with pytest.raises(ModelError, match="do not fit"):
        rebuild(data)


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
