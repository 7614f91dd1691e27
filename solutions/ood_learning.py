"""Reference implementation for the `ood_learning` exercise set (trusted side only).

Every public name here replaces the student's answer of the same name when the grader computes
expected values, so each one follows the specification written in
`source/ood_learning/ood_learning.ipynb` exactly: names, argument order, return types, attribute
names (`backbone`, `heads`, `conv1`, ...), the order in which layers are created (it decides which
random numbers each weight receives) and the tie-breaking rules.
"""

import itertools
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


# --- Question 1: multi-task model ----------------------------------------------------------------
class MultiTaskModel(nn.Module):
    """A shared backbone followed by one head per task.

    `backbone` maps a batch to features of any shape (N, ...); they are flattened to (N, D) and the
    same flattened features go through every head. `forward` returns a Python list with one output
    per head, in the order of `heads`. The heads live in an `nn.ModuleList`, so that their parameters
    belong to the model (a plain Python list would hide them from `parameters()` and the optimiser).
    """

    def __init__(self, backbone, heads):
        super().__init__()
        self.backbone = backbone
        self.heads = nn.ModuleList(heads)

    def forward(self, x):
        features = torch.flatten(self.backbone(x), 1)
        return [head(features) for head in self.heads]


# --- Question 2: Siamese network ----------------------------------------------------------------
class SiameseNet(nn.Module):
    """A small convolutional Siamese network for 1 x S x S images.

    Both images go through the same embedding network (`embed`); the component-wise L1 distance
    |e1 - e2| of the two embeddings goes through one linear layer, whose output is a logit: high
    when the network believes the two images show the same class. `similarity` turns it into a
    score in (0, 1) with a sigmoid.
    """

    def __init__(self, image_size=12, emb_dim=16):
        super().__init__()
        side = ((image_size - 2) // 2) - 2  # conv 3x3, max-pool 2, conv 3x3
        self.conv1 = nn.Conv2d(1, 4, 3)
        self.conv2 = nn.Conv2d(4, 8, 3)
        self.pool = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(8 * side * side, emb_dim)
        self.fc2 = nn.Linear(emb_dim, 1)

    def embed(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = F.relu(self.conv2(x))
        x = torch.flatten(x, 1)
        return torch.sigmoid(self.fc1(x))

    def forward(self, x1, x2):
        l1_distance = torch.abs(self.embed(x1) - self.embed(x2))
        return self.fc2(l1_distance)

    def similarity(self, x1, x2):
        return torch.sigmoid(self.forward(x1, x2))


# --- Question 3: N-way one-shot evaluation ------------------------------------------------------
def one_shot_predict(score_fn, queries, supports):
    """Index of the most similar support image for every query.

    `score_fn(a, b)` takes two batches of the same shape (B, C, H, W) and returns B similarity scores
    (shape (B, 1) or (B,)); the query is always the first argument. Returns a LongTensor of shape (Q,);
    on ties the lowest support index wins (what `argmax` does).
    """
    n_queries = queries.shape[0]
    with torch.no_grad():
        columns = [
            score_fn(queries, support.unsqueeze(0).expand_as(queries)).reshape(n_queries)
            for support in supports
        ]
        scores = torch.stack(columns, dim=1)  # (Q, N)
    return scores.argmax(dim=1)


def one_shot_accuracy(score_fn, episodes):
    """Fraction of all queries, pooled over the episodes, whose prediction equals the label.

    Each episode is (queries, supports, labels). Every query counts once, so an episode with more
    queries weighs more. With no queries at all the accuracy is undefined: float('nan').
    """
    correct, total = 0, 0
    for queries, supports, labels in episodes:
        predictions = one_shot_predict(score_fn, queries, supports)
        correct += int((predictions == labels).sum())
        total += int(labels.numel())
    if total == 0:
        return float("nan")
    return correct / total


# --- Question 4: transfer learning with a frozen backbone ---------------------------------------
def train_new_head(backbone, n_features, n_classes, X, y, steps, lr):
    """Freeze `backbone`, train a new linear head on its features, return nn.Sequential(backbone, head).

    Order of operations (it fixes the random numbers): freeze every backbone parameter
    (requires_grad False) and switch the backbone to eval mode; create the head
    nn.Linear(n_features, n_classes); then `steps` full-batch steps of plain SGD (learning rate `lr`,
    no momentum) on the head's parameters with the mean cross-entropy loss on (X, y).
    """
    for p in backbone.parameters():
        p.requires_grad_(False)
    backbone.eval()
    head = nn.Linear(n_features, n_classes)
    optimizer = torch.optim.SGD(head.parameters(), lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = F.cross_entropy(head(backbone(X)), y)
        loss.backward()
        optimizer.step()
    return nn.Sequential(backbone, head)


# --- Question 5: 0-1 loss feature importance -----------------------------------------------------
def zero_one_loss_from_tables(marginal, max_cond_prob):
    """Expected 0-1 loss of the classifier that predicts the more likely label for each feature value.

    marginal[i, j] = P(features = value (i, j)); max_cond_prob[i, j] = max_y P(Y = y | that value),
    the probability of being right there. Loss = 1 - sum of their element-wise product.
    """
    marginal = torch.as_tensor(marginal, dtype=torch.float64)
    max_cond_prob = torch.as_tensor(max_cond_prob, dtype=torch.float64)
    return float(1.0 - (marginal * max_cond_prob).sum())


def bayes_zero_one_loss(p_one_given_y0, p_one_given_y1, features, prior=0.5):
    """Exact 0-1 loss of the best classifier that sees only the binary features listed in `features`.

    Features are conditionally independent given Y; p_one_given_yk[i] = P(X_i = 1 | Y = k) (0-based i);
    prior = P(Y = 1). For each value x of the selected features the best guess is the label with the
    larger joint probability P(Y = k, x), and it is wrong with probability min over k of P(Y = k, x):

        loss = sum_x min((1 - prior) P(x | Y = 0), prior P(x | Y = 1)).

    With no features the classifier guesses the more likely label: loss = min(prior, 1 - prior).
    """
    features = list(features)
    loss = 0.0
    for bits in itertools.product((0, 1), repeat=len(features)):
        joint0, joint1 = 1.0 - prior, prior
        for bit, i in zip(bits, features):
            joint0 *= p_one_given_y0[i] if bit else 1.0 - p_one_given_y0[i]
            joint1 *= p_one_given_y1[i] if bit else 1.0 - p_one_given_y1[i]
        loss += min(joint0, joint1)
    return float(loss)


# --- Question 6: analytic answers for the tutorial's cancer example ------------------------------
# P(X_i = 1 | Y = 0) = (0.10, 0.05, 0.01), P(X_i = 1 | Y = 1) = (0.90, 0.80, 0.71), P(Y = 1) = 1/2.
# Single features: loss = (P(X=1|Y=0) + P(X=0|Y=1)) / 2.
answer_single_losses = [0.5 * (0.10 + 0.10), 0.5 * (0.05 + 0.20), 0.5 * (0.01 + 0.29)]  # 0.1, 0.125, 0.15
answer_best_single = "X1"
# Pairs: half the sum, over the four values, of the smaller of the two conditional probabilities.
answer_pair_losses = {
    "X1,X2": 0.5 * (min(0.9 * 0.95, 0.1 * 0.2) + min(0.9 * 0.05, 0.1 * 0.8)
                    + min(0.1 * 0.95, 0.9 * 0.2) + min(0.1 * 0.05, 0.9 * 0.8)),  # 0.0825
    "X1,X3": 0.5 * (min(0.9 * 0.99, 0.1 * 0.29) + min(0.9 * 0.01, 0.1 * 0.71)
                    + min(0.1 * 0.99, 0.9 * 0.29) + min(0.1 * 0.01, 0.9 * 0.71)),  # 0.069
    "X2,X3": 0.5 * (min(0.95 * 0.99, 0.2 * 0.29) + min(0.95 * 0.01, 0.2 * 0.71)
                    + min(0.05 * 0.99, 0.8 * 0.29) + min(0.05 * 0.01, 0.8 * 0.71)),  # 0.05875
}
answer_best_pair = "X2,X3"
# All three features: half the sum over the 8 values of the smaller conditional probability.
answer_full_loss = 0.5 * sum(
    min(a0 * b0 * c0, a1 * b1 * c1)
    for (a0, a1), (b0, b1), (c0, c1) in itertools.product(
        [(0.9, 0.1), (0.1, 0.9)], [(0.95, 0.2), (0.05, 0.8)], [(0.99, 0.29), (0.01, 0.71)]
    )
)  # 0.048075
# "Drop-one" importance: how much the loss of the full model grows when feature X_i is removed.
answer_removal_increase = [
    answer_pair_losses["X2,X3"] - answer_full_loss,  # drop X1: 0.010675
    answer_pair_losses["X1,X3"] - answer_full_loss,  # drop X2: 0.020925
    answer_pair_losses["X1,X2"] - answer_full_loss,  # drop X3: 0.034425
]
# The tutorial's 0.0826 for {X1, X2} comes from its maximum-conditional-probability table rounded to
# 3-4 digits (0.977, 0.64, 0.6545, 0.993); the exact value is 0.0825. The gap, table minus exact:
answer_rounding_gap = 0.08260625 - 0.0825
