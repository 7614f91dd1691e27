"""Reference implementation for the `feedforward_classifier` exercise set (trusted side only).

Every name that an answer cell of `source/feedforward_classifier/feedforward_classifier.ipynb`
defines is defined here under the same name, so the grader can run the notebook's test cells with
these in place of the student's:

* `LabelSubset`       the samples of chosen classes, relabelled through a ``label_map``;
* `channel_stats`     per-channel mean and standard deviation of a dataset of images;
* `make_classifier`   Flatten -> Linear -> Tanh -> Linear -> LogSoftmax;
* `nll_loss`, `cross_entropy`  the two classification losses written by hand;
* `train`             a mini-batch training loop that returns the mean loss of each epoch;
* `accuracy`          the fraction of a loader's samples a model classifies correctly;
* `model`             a trained birds-vs-airplanes classifier (the "extra point" answer).

It also defines the metric `heldout_accuracy(model)` used by the notebook's `ag.check_metric`: the
accuracy of a (rebuilt) model on birds and airplanes drawn from a seed that only this file knows.
The picture generator below repeats, line for line, the one in the notebook's setup cell, so the
held-out pictures come from the same distribution as the students' training pictures.
"""

from __future__ import annotations

import contextlib
import functools

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

# ------------------------------------------------------------------------ the synthetic pictures
# (the same code and constants as the notebook's setup cells)

_CLASS_NAMES = ["airplane", "automobile", "bird", "cat"]
_IMAGES_PER_CLASS = {"train": 150, "test": 100}
_DATA_SEED = 2020
_LABEL_MAP = {0: 0, 2: 1}
# channel_stats of the 300 training airplanes and birds, rounded as in the notebook's setup cell
_BIRDS_MEAN = (0.5062, 0.6397, 0.8034)
_BIRDS_STD = (0.1687, 0.1508, 0.1928)
# Only this file knows this seed: the held-out pictures never exist on the student's side.
_HELDOUT_SEED = 7_351_904_226
_HELDOUT_PER_CLASS = 500

_ROWS, _COLS = np.mgrid[:32, :32].astype(np.float64)


def _blob(cy, cx, ry, rx):
    """Boolean mask of an axis-aligned ellipse centred at (cy, cx) with radii (ry, rx)."""
    return ((_ROWS - cy) / ry) ** 2 + ((_COLS - cx) / rx) ** 2 <= 1.0


def _draw_image(label, rng):
    """One 32x32 RGB uint8 picture of class `label` (see the notebook's `draw_image`)."""
    fade = (_ROWS / 31.0)[..., None]
    if label in (0, 2):
        top = np.array([90.0, 140.0, 215.0]) + rng.normal(0, 25, 3)
        bottom = np.array([175.0, 200.0, 235.0]) + rng.normal(0, 25, 3)
        if label == 2 and rng.random() < 0.35:
            bottom = np.array([80.0, 130.0, 70.0]) + rng.normal(0, 25, 3)
        image = top * (1 - fade) + bottom * fade
    elif label == 1:
        sky = np.array([130.0, 170.0, 220.0]) + rng.normal(0, 20, 3)
        road = np.array([90.0, 90.0, 95.0]) + rng.normal(0, 15, 3)
        horizon = 18 + rng.integers(-3, 4)
        image = np.where((_ROWS > horizon)[..., None], road, sky)
    else:
        image = np.ones((32, 32, 3)) * (np.array([200.0, 180.0, 150.0]) + rng.normal(0, 20, 3))
    cy, cx = rng.uniform(9, 23, 2)
    if label == 0:
        colour = rng.normal(225, 15, 3) if rng.random() < 0.9 else rng.normal(95, 15, 3)
        length, span = rng.uniform(7, 11), rng.uniform(5, 8)
        mask = _blob(cy, cx, 1.6, length)
        mask |= (np.abs(_COLS - cx - rng.uniform(-2, 2)) <= 1.5) & (np.abs(_ROWS - cy) <= span)
        mask |= (np.abs(_COLS - cx + length - 1) <= 1) & (_ROWS <= cy) & (_ROWS >= cy - 3)
    elif label == 2:
        colour = rng.normal(215, 15, 3) if rng.random() < 0.15 else rng.normal([110, 80, 50], 15, 3)
        mask = _blob(cy, cx, rng.uniform(2.5, 3.5), rng.uniform(3.5, 5))
        mask |= _blob(cy - 2, cx + 4, 1.8, 1.8)
        mask |= _blob(cy - 3 if rng.random() < 0.5 else cy + 3, cx - 1, 2.5, 1.5)
    elif label == 1:
        colour = np.array([[200, 30, 30], [30, 60, 200], [230, 230, 230]][rng.integers(3)]) + rng.normal(0, 15, 3)
        cy = rng.uniform(16, 22)
        mask = (np.abs(_ROWS - cy) <= 3) & (np.abs(_COLS - cx) <= 8)
        mask |= (np.abs(_ROWS - cy + 4) <= 2) & (np.abs(_COLS - cx) <= 4)
    else:
        colour = rng.normal([210, 130, 50], 20, 3)
        mask = _blob(cy, cx, 6, 6)
        for side in (-1, 1):
            mask |= (_ROWS < cy - 3) & (_ROWS > cy - 9) & (np.abs(_COLS - cx - side * 4) <= (_ROWS - cy + 9) / 2)
    image[mask] = colour
    image += rng.normal(0, 18, image.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _draw_split(rng, per_class, classes):
    """A shuffled split with `per_class` pictures of each class in `classes`."""
    labels = rng.permutation(np.repeat(np.asarray(classes), per_class))
    return np.stack([_draw_image(int(label), rng) for label in labels]), labels


def _birds_airplanes_tensors(images, labels):
    """Keep classes 0 and 2, relabel them 0 and 1, scale to [0, 1] and normalise like the notebook."""
    keep = np.isin(labels, list(_LABEL_MAP))
    x = torch.from_numpy(images[keep]).permute(0, 3, 1, 2).float().div(255)
    mean = torch.tensor(_BIRDS_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(_BIRDS_STD).view(1, 3, 1, 1)
    y = torch.tensor([_LABEL_MAP[int(label)] for label in labels[keep]], dtype=torch.long)
    return (x - mean) / std, y


@contextlib.contextmanager
def _one_thread():
    """Run torch single-threaded for a while, then restore the thread count.

    This module is also imported by the grader's own process (for `heldout_accuracy`). The work here
    is tiny, and an intra-op-parallel torch call in a process that later forks can hang its children
    (OpenMP does not survive fork), so the reference work never starts a thread pool.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@functools.lru_cache(maxsize=1)
def _heldout_set():
    """1000 normalised held-out pictures (500 airplanes, 500 birds) and their labels 0/1."""
    rng = np.random.default_rng(_HELDOUT_SEED)
    images, labels = _draw_split(rng, _HELDOUT_PER_CLASS, [0, 2])
    return _birds_airplanes_tensors(images, labels)


# ----------------------------------------------------------------------------------- Question 1
class LabelSubset(Dataset):
    """The samples of `dataset` whose label is a key of `label_map`, relabelled with `label_map`.

    The label of sample i is ``int(dataset[i][1])``. `indices` lists the positions in `dataset` of
    the kept samples, in increasing order; item j is ``(x, label_map[label])`` for the sample at
    ``indices[j]``, the new label a Python int.
    """

    def __init__(self, dataset, label_map):
        self.dataset = dataset
        self.label_map = dict(label_map)
        self.indices = [i for i in range(len(dataset)) if int(dataset[i][1]) in self.label_map]

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, index):
        x, label = self.dataset[self.indices[index]]
        return x, self.label_map[int(label)]


# ----------------------------------------------------------------------------------- Question 2
def channel_stats(dataset):
    """(mean, std): tensors of shape (C,), over every pixel of every C x H x W image in `dataset`.

    The images are stacked into one N x C x H x W tensor and reduced over dims (0, 2, 3); the
    standard deviation is the sample one (divides by n - 1), torch's default.
    """
    images = torch.stack([image for image, _ in dataset], dim=0)
    return images.mean(dim=(0, 2, 3)), images.std(dim=(0, 2, 3))


# ----------------------------------------------------------------------------------- Question 3
def make_classifier(n_inputs, n_hidden, n_classes):
    """Flatten -> Linear(n_inputs, n_hidden) -> Tanh -> Linear(n_hidden, n_classes) -> LogSoftmax(dim=1)."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(n_inputs, n_hidden),
        nn.Tanh(),
        nn.Linear(n_hidden, n_classes),
        nn.LogSoftmax(dim=1),
    )


# ----------------------------------------------------------------------------------- Question 4
def nll_loss(log_probs, targets):
    """Mean negative log-likelihood: -(1/N) sum_i log_probs[i, targets[i]] (a 0-d tensor)."""
    picked = log_probs[torch.arange(log_probs.shape[0]), targets]
    return -picked.mean()


def cross_entropy(logits, targets):
    """nll_loss of the log-softmax of `logits`, the log-softmax computed with the log-sum-exp shift.

    log softmax(z)_k = z_k - m - log sum_j exp(z_j - m) with m = max_j z_j, so exp never overflows.
    """
    shifted = logits - logits.max(dim=1, keepdim=True).values
    log_probs = shifted - shifted.exp().sum(dim=1, keepdim=True).log()
    return nll_loss(log_probs, targets)


# ----------------------------------------------------------------------------------- Question 5
def train(model, loader, loss_fn, optimizer, n_epochs):
    """Mini-batch training; returns a list with the mean of the batch losses of each epoch.

    Per batch, in this order: outputs = model(inputs), loss = loss_fn(outputs, labels),
    optimizer.zero_grad(), loss.backward(), optimizer.step(). The model is in training mode.
    """
    model.train()
    epoch_losses = []
    for _ in range(n_epochs):
        total, batches = 0.0, 0
        for inputs, labels in loader:
            outputs = model(inputs)
            loss = loss_fn(outputs, labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
            batches += 1
        epoch_losses.append(total / batches)
    return epoch_losses


# ----------------------------------------------------------------------------------- Question 6
def accuracy(model, loader):
    """Fraction (a float) of the loader's samples whose arg-max score is the label; eval mode, no grad."""
    model.eval()
    correct, total = 0, 0
    with torch.no_grad():
        for inputs, labels in loader:
            predicted = model(inputs).argmax(dim=1)
            correct += int((predicted == labels).sum())
            total += int(labels.shape[0])
    return correct / total


# ------------------------------------------------------------------------- Question 7 (extra point)
def _train_reference_model():
    """The solution's extra-point model, trained exactly as the notebook's solution cell trains it."""
    rng = np.random.default_rng(_DATA_SEED)
    images, labels = _draw_split(rng, _IMAGES_PER_CLASS["train"], range(len(_CLASS_NAMES)))
    train_x, train_y = _birds_airplanes_tensors(images, labels)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(3072, 128), nn.Tanh(), nn.Linear(128, 2), nn.LogSoftmax(dim=1))
    loader = DataLoader(TensorDataset(train_x, train_y), batch_size=32, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.NLLLoss()
    with _one_thread():
        for _ in range(10):
            net.train()
            for inputs, labels_batch in loader:
                loss = loss_fn(net(inputs), labels_batch)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    return net.eval()


model = _train_reference_model()


def heldout_accuracy_per_sample(model):
    """1.0 for each held-out picture `model` classifies correctly, 0.0 for the others, in a fixed order.

    `heldout_accuracy` is the mean of these; a leaderboard (`[assignments.feedforward_classifier.leaderboard]`
    in autograder.toml) takes their mean over a public and a private part of the pictures. `model` takes a
    batch of normalised N x 3 x 32 x 32 images and must return N x 2 class scores; any other output shape is
    an error (a model with 3 outputs is not a birds-vs-airplanes model, even if its third score never wins).
    """
    images, labels = _heldout_set()
    model.eval()
    with torch.no_grad(), _one_thread():
        scores = model(images)
    if tuple(scores.shape) != (len(labels), 2):
        raise ValueError(f"the model must return 2 class scores per image, shape ({len(labels)}, 2); "
                         f"it returned shape {tuple(scores.shape)}")
    return (scores.argmax(dim=1) == labels).double().numpy()


def heldout_accuracy(model):
    """Accuracy of `model` on 1000 held-out normalised pictures (airplane = 0, bird = 1): the mean of
    `heldout_accuracy_per_sample`."""
    return float(heldout_accuracy_per_sample(model).mean())
