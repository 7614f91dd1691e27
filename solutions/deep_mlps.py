"""Reference implementation for the `deep_mlps` exercise set (trusted side only).

Every public name here replaces the student's answer of the same name when the grader computes
expected values, so each one follows the specification written in
`source/deep_mlps/deep_mlps.ipynb` exactly: names, argument order, return types, the order in
which layers are built (it decides which random numbers each weight receives) and the order of
the polynomial columns.
"""

import ast
import math
import pathlib

import torch
import torch.nn as nn
import torchvision.transforms as transforms
from torch.utils.data import DataLoader
from torchvision.datasets import ImageFolder

# Activations that an `actv` string may name. The notebook's setup cell has the same parser
# (`make_activation`); it is repeated here so that this module never depends on notebook state.
_ACTIVATIONS = ("ReLU", "LeakyReLU", "Tanh", "Sigmoid", "ELU", "GELU", "SiLU", "Softplus", "Identity")


def _make_activation(spec):
    """Build the activation module that a string such as "LeakyReLU(0.1)" names, without eval.

    The string is parsed as a Python call expression; the callee must be one of `_ACTIVATIONS`
    and every argument a literal, so no code from the string is ever executed.
    """
    try:
        call = ast.parse(spec.strip(), mode="eval").body
    except SyntaxError as err:
        raise ValueError(f"cannot parse activation {spec!r}") from err
    if isinstance(call, ast.Name):  # "ReLU" without parentheses
        call = ast.Call(func=call, args=[], keywords=[])
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in _ACTIVATIONS):
        raise ValueError(f"unknown activation {spec!r}; expected one of {', '.join(_ACTIVATIONS)}")
    args = [ast.literal_eval(a) for a in call.args]
    kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
    return getattr(nn, call.func.id)(*args, **kwargs)


# --- Question 1 ---------------------------------------------------------------------------------
class Net(nn.Module):
    """A multilayer perceptron: [Linear -> activation] per hidden layer, then a final Linear.

    Layers live in `self.mlp`, an `nn.Sequential` whose children are named `Linear_0`,
    `Activation_0`, `Linear_1`, ..., `Output_Linear`, and are created in that order.
    """

    def __init__(self, actv, input_feature_num, hidden_unit_nums, output_feature_num):
        super().__init__()
        self.input_feature_num = input_feature_num
        self.mlp = nn.Sequential()
        in_num = input_feature_num
        for i, out_num in enumerate(hidden_unit_nums):
            self.mlp.add_module(f"Linear_{i}", nn.Linear(in_num, out_num))
            self.mlp.add_module(f"Activation_{i}", _make_activation(actv))
            in_num = out_num
        self.mlp.add_module("Output_Linear", nn.Linear(in_num, output_feature_num))

    def forward(self, x):
        # Flatten everything but the batch dimension (images arrive as N x C x H x W).
        return self.mlp(x.reshape(-1, self.input_feature_num))


# --- Question 2 ---------------------------------------------------------------------------------
def count_parameters(model):
    """Number of trainable scalars in `model` (parameters with requires_grad, shared ones once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# --- Question 3 ---------------------------------------------------------------------------------
def run_depth_optimizer(max_par_count, max_hidden_layer, n_in, n_out):
    """Widest equal-width MLP for each depth 1..max_hidden_layer that fits a parameter budget.

    Returns (hidden_layers, widths, par_counts): for depth L, widths[L-1] is the largest width w
    such that a Net with L hidden layers of w units (all with biases) has at most max_par_count
    parameters, and par_counts[L-1] is that net's parameter count; both are 0 if even w = 1
    does not fit.
    """

    def par_count(depth, width):
        first = (n_in + 1) * width
        middle = (depth - 1) * (width + 1) * width
        last = (width + 1) * n_out
        return first + middle + last

    hidden_layers = list(range(1, max_hidden_layer + 1))
    widths, par_counts = [], []
    for depth in hidden_layers:
        width = 0
        while par_count(depth, width + 1) <= max_par_count:
            width += 1
        widths.append(width)
        par_counts.append(par_count(depth, width) if width else 0)
    return hidden_layers, widths, par_counts


# --- Question 4 ---------------------------------------------------------------------------------
def make_poly_features(poly_degree, X):
    """All monomials x1**i * x2**j with 1 <= i + j <= poly_degree, as the columns of a tensor.

    Column order: i (the power of x1) ascending, and for each i, j (the power of x2) ascending.
    The result has (P + 1)(P + 2) / 2 - 1 columns and the dtype of X.
    """
    columns = [
        X[:, 0] ** i * X[:, 1] ** j
        for i in range(poly_degree + 1)
        for j in range(poly_degree + 1 - i)
        if i + j >= 1
    ]
    if not columns:
        return X.new_zeros((X.shape[0], 0))
    return torch.stack(columns, dim=1)


# --- Question 5 ---------------------------------------------------------------------------------
def get_data_loaders(data_dir, batch_size, generator=None):
    """Train and test DataLoaders over `data_dir/train` and `data_dir/test` (ImageFolder layout).

    Train images: RandomRotation(10), RandomHorizontalFlip(), ToTensor(), Normalize to [-1, 1];
    shuffled with `generator`. Test images: ToTensor() and the same Normalize, in file order.
    Both loaders load in the main process (num_workers=0).
    """
    data_dir = pathlib.Path(data_dir)
    augmentation = [transforms.RandomRotation(10), transforms.RandomHorizontalFlip()]
    preprocessing = [transforms.ToTensor(), transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))]
    train_set = ImageFolder(data_dir / "train", transform=transforms.Compose(augmentation + preprocessing))
    test_set = ImageFolder(data_dir / "test", transform=transforms.Compose(preprocessing))
    train_loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, num_workers=0, generator=generator)
    test_loader = DataLoader(test_set, batch_size=batch_size, shuffle=False, num_workers=0)
    return train_loader, test_loader


# --- Question 6 ---------------------------------------------------------------------------------
def leaky_relu_gain(negative_slope=0.01):
    """Xavier gain for a LeakyReLU with the given negative slope: sqrt(2 / (1 + slope**2))."""
    return math.sqrt(2.0 / (1.0 + negative_slope**2))


def init_xavier(model, gain, mode="normal"):
    """Re-initialise every nn.Linear in `model` (in `model.modules()` order) with Xavier init.

    Weights: xavier_normal_ (mode "normal") or xavier_uniform_ (mode "uniform") with `gain`;
    biases: zero. Any other mode raises ValueError before anything is changed. Returns `model`.
    """
    initialisers = {"normal": nn.init.xavier_normal_, "uniform": nn.init.xavier_uniform_}
    if mode not in initialisers:
        raise ValueError(f"mode must be 'normal' or 'uniform', not {mode!r}")
    for module in model.modules():
        if isinstance(module, nn.Linear):
            initialisers[mode](module.weight, gain=gain)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model
