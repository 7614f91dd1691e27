"""Reference implementation for the `nn_mechanics` exercise set (trusted side only).

Every public name here replaces the student's answer of the same name when the grader computes expected
values, so each one follows the specification written in `source/nn_mechanics/nn_mechanics.ipynb`
exactly: names, argument order, return types and shapes, and (for `DotProductBias`) the order in which
the embeddings are created, which decides the random numbers each one receives.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


# --- Question 1: broadcasting -------------------------------------------------------------------
def mnist_distance(a, b):
    """Mean absolute difference between images, averaged over the last two axes (height, width).

    `a` and `b` broadcast against each other: a batch (N, H, W) against one image (H, W) gives N
    distances; two single images give a 0-d tensor.
    """
    return (a - b).abs().mean((-1, -2))


def is_three(x, mean3, mean7):
    """True where an image is closer (in `mnist_distance`) to the ideal three than to the ideal seven."""
    return mnist_distance(x, mean3) < mnist_distance(x, mean7)


# --- Question 2: parameters, view and the linear model ------------------------------------------
def init_params(size, std=1.0):
    """A leaf tensor of standard-normal draws scaled by `std`, that records gradients."""
    return (torch.randn(size) * std).requires_grad_()


def flatten_images(x):
    """Images (N, H, W), or one image (H, W), as rows of pixels: shape (N, H*W), or (1, H*W)."""
    return x.view(-1, x.shape[-2] * x.shape[-1])


def linear1(xb, weights, bias):
    """The linear model: a batch of rows (N, D) times weights (D, K), plus the bias (broadcast)."""
    return xb @ weights + bias


# --- Question 3: binary losses ------------------------------------------------------------------
def mnist_loss(predictions, targets):
    """Mean distance between sigmoid(predictions) and 0/1 targets: 1 - p where the target is 1, else p."""
    p = predictions.sigmoid()
    return torch.where(targets == 1, 1 - p, p).mean()


def binary_cross_entropy(inputs, targets):
    """Mean binary cross entropy of logits against 0/1 targets, finite for logits of any size.

    log(sigmoid(x)) is computed as logsigmoid(x), and log(1 - sigmoid(x)) as logsigmoid(-x).
    """
    return -torch.where(targets == 1, F.logsigmoid(inputs), F.logsigmoid(-inputs)).mean()


# --- Question 4: a hand-written optimiser and one epoch -----------------------------------------
class BasicOptim:
    """Plain gradient descent on a list of parameters."""

    def __init__(self, params, lr):
        self.params = list(params)  # a generator (model.parameters()) could be walked only once
        self.lr = lr

    def step(self):
        """p <- p - lr * p.grad for every parameter, outside autograd's bookkeeping (through .data)."""
        for p in self.params:
            p.data -= p.grad.data * self.lr

    def zero_grad(self):
        """Forget the gradients, so that the next backward pass does not add to them."""
        for p in self.params:
            p.grad = None


def train_epoch(model, dl, opt, loss_func):
    """One pass over `dl`: per batch, forward, loss, backward, step, zero_grad; returns the batch losses."""
    losses = []
    for xb, yb in dl:
        loss = loss_func(model(xb), yb)
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    return losses


# --- Question 5: softmax, log-softmax, NLL, cross entropy ---------------------------------------
def log_softmax(x):
    """log(softmax(x)) along the last axis, stable: x - max - log(sum(exp(x - max)))."""
    m = x.max(dim=-1, keepdim=True).values
    shifted = x - m
    return shifted - shifted.exp().sum(dim=-1, keepdim=True).log()


def nll_loss(log_probs, targets):
    """Mean of -log_probs[i, targets[i]] over the rows."""
    return -log_probs[torch.arange(log_probs.shape[0]), targets].mean()


def cross_entropy(logits, targets):
    """Cross entropy = negative log likelihood of the log-softmax."""
    return nll_loss(log_softmax(logits), targets)


# --- Question 6: by hand ------------------------------------------------------------------------
# (a) cross entropy of the logit row [1, 2, 0] when the correct class is 0:
#     -log(e^1 / (e^1 + e^2 + e^0)) = log(e + e^2 + 1) - 1
answer_ce = math.log(math.e + math.e**2 + 1.0) - 1.0
# (b) label smoothing with eps = 0.1 and N = 5 classes: the target of the correct class
answer_smooth_true = 1.0 - 0.1 + 0.1 / 5
# (c) weight decay wd = 0.01 adds wd * p**2 to the loss; its extra gradient at p = 3 is 2 * wd * p
answer_wd_grad = 2 * 0.01 * 3.0


# --- Question 7: multi-label accuracy -----------------------------------------------------------
def accuracy_multi(inp, targ, thresh=0.5, sigmoid=True):
    """Fraction of (sample, label) pairs where (activation > thresh) matches the 0/1 target."""
    if sigmoid:
        inp = inp.sigmoid()
    return ((inp > thresh) == targ.bool()).float().mean()


# --- Question 8: label smoothing ----------------------------------------------------------------
def smooth_targets(targets, n_classes, eps=0.1):
    """One-hot rows with 0 -> eps/N and 1 -> 1 - eps + eps/N (N = n_classes); shape (len(targets), N)."""
    one_hot = F.one_hot(targets, n_classes).float()
    return one_hot * (1 - eps) + eps / n_classes


def label_smoothing_ce(logits, targets, eps=0.1):
    """Cross entropy against the smoothed targets, averaged over the rows."""
    q = smooth_targets(targets, logits.shape[-1], eps)
    return -(q * F.log_softmax(logits, dim=-1)).sum(dim=-1).mean()


# --- Question 9: weight decay -------------------------------------------------------------------
def loss_with_wd(loss, params, wd):
    """loss + wd * (sum of the squares of every entry of every parameter)."""
    return loss + wd * sum((p**2).sum() for p in params)


def add_wd_to_grad(params, wd):
    """Add the weight-decay term's gradient, 2 * wd * p, to each parameter's .grad, in place."""
    for p in params:
        p.grad.data += 2 * wd * p.data


# --- Question 10: sigmoid_range and collaborative filtering -------------------------------------
def sigmoid_range(x, lo, hi):
    """A sigmoid squeezed into (lo, hi)."""
    return torch.sigmoid(x) * (hi - lo) + lo


class DotProductBias(nn.Module):
    """Latent factors and a bias per user and per item; prediction = sigmoid_range(u . i + b_u + b_i)."""

    def __init__(self, n_users, n_items, n_factors, y_range=(0, 5.5)):
        super().__init__()
        # Created in this order (it decides which random numbers each embedding gets).
        self.user_factors = nn.Embedding(n_users, n_factors)
        self.user_bias = nn.Embedding(n_users, 1)
        self.item_factors = nn.Embedding(n_items, n_factors)
        self.item_bias = nn.Embedding(n_items, 1)
        self.y_range = y_range

    def forward(self, x):
        users, items = x[:, 0], x[:, 1]
        res = (self.user_factors(users) * self.item_factors(items)).sum(dim=1)
        res = res + self.user_bias(users)[:, 0] + self.item_bias(items)[:, 0]
        return sigmoid_range(res, *self.y_range)
