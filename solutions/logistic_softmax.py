"""Reference implementation for the `logistic_softmax` exercise set (trusted side only).

Logistic and softmax regression written from scratch in NumPy. Every name that an answer cell of
`source/logistic_softmax/logistic_softmax.ipynb` defines is defined here under the same name, so the
grader can run the notebook's test cells with these in place of the student's.

Conventions used throughout (they are stated in the notebook too):

* a design matrix ``X`` has shape ``(m, n)``: one row per sample, no column of ones;
* binary logistic regression has a weight vector ``w`` of shape ``(n,)`` and a scalar bias ``b``;
* softmax regression has a weight matrix ``W`` of shape ``(n, K)`` and a bias vector ``b`` of shape
  ``(K,)``, so the logits of all samples are ``X @ W + b`` with shape ``(m, K)``;
* labels are either integers ``0..K-1`` of shape ``(m,)`` or one-hot rows of shape ``(m, K)``.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split

# ------------------------------------------------------------------------------------- binary logistic


def sigmoid(z):
    """The logistic function 1 / (1 + exp(-z)), elementwise, without overflow for any finite z.

    exp is only ever called on -|z| <= 0, so it lies in (0, 1]: for z >= 0 we use 1 / (1 + e^{-z}),
    for z < 0 the algebraically equal e^{z} / (1 + e^{z}).
    """
    z = np.asarray(z, dtype=float)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def log_loss(w, b, X, y):
    """Mean binary cross entropy of the model sigmoid(X @ w + b) on labels y in {0, 1}.

    Written in terms of the logit z: -[y log s(z) + (1 - y) log(1 - s(z))] = log(1 + e^z) - y z, and
    log(1 + e^z) = logaddexp(0, z) is finite for every finite z (no log(0) for confident mistakes).
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    z = X @ np.asarray(w, dtype=float) + b
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def log_loss_grad(w, b, X, y):
    """Gradient of `log_loss` with respect to (w, b): (X^T (p - y) / m, mean(p - y))."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    residual = sigmoid(X @ np.asarray(w, dtype=float) + b) - y
    m = X.shape[0]
    return X.T @ residual / m, float(np.mean(residual))


def fit_logistic(X, y, lr=0.1, n_iters=1000):
    """Batch gradient descent on `log_loss`, starting from w = 0, b = 0; returns (w, b)."""
    X = np.asarray(X, dtype=float)
    w = np.zeros(X.shape[1])
    b = 0.0
    for _ in range(n_iters):
        grad_w, grad_b = log_loss_grad(w, b, X, y)
        w = w - lr * grad_w
        b = b - lr * grad_b
    return w, b


def boundary_at(w, b, p=0.5):
    """The feature value x at which a one-feature model sigmoid(w x + b) predicts probability p.

    Solving sigmoid(w x + b) = p gives w x + b = log(p / (1 - p)), the log-odds (logit) of p.
    ``p`` may be a number or an array of probabilities in (0, 1).
    """
    weight = float(np.ravel(w)[0])
    p = np.asarray(p, dtype=float)
    log_odds = np.log(p) - np.log1p(-p)
    return (log_odds - b) / weight


# The "Virginica or not from petal width" model of the notebook (Question 5b), trained with the stated
# settings; the names are those of the notebook's answer cell.
_iris = load_iris()
w_petal, b_petal = fit_logistic(_iris.data[:, 3:], (_iris.target == 2).astype(float), lr=2.0, n_iters=5000)
petal_width_boundary = float(boundary_at(w_petal, b_petal, 0.5))
petal_width_p90 = float(boundary_at(w_petal, b_petal, 0.9))

# ------------------------------------------------------------------------------------ softmax regression


def softmax(Z):
    """Softmax along the last axis; subtracting each row's maximum keeps every exp(.) in (0, 1]."""
    Z = np.asarray(Z, dtype=float)
    shifted = Z - Z.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def _one_hot(y, n_classes):
    return np.eye(n_classes)[np.asarray(y, dtype=int)]


def cross_entropy(Z, y):
    """Mean cross entropy of the softmax of logits Z (m, K) against labels y.

    y is either integer class labels of shape (m,) or one-hot (or soft) label rows of shape (m, K).
    Uses log-softmax = Z - logsumexp(Z), computed with the row maximum subtracted, so the logarithm of
    a vanishing probability never becomes log(0).
    """
    Z = np.asarray(Z, dtype=float)
    y = np.asarray(y)
    shifted = Z - Z.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    if y.ndim == Z.ndim:  # one-hot rows
        return float(-np.mean(np.sum(y * log_probs, axis=-1)))
    return float(-np.mean(log_probs[np.arange(Z.shape[0]), y.astype(int)]))


def softmax_grad(W, b, X, y):
    """Gradient of the mean cross entropy of softmax(X @ W + b) w.r.t. (W, b).

    With P the predicted probabilities and Y the one-hot labels, both (m, K):
    dC/dW = X^T (P - Y) / m (shape (n, K)) and dC/db = column means of (P - Y) (shape (K,)).
    """
    X = np.asarray(X, dtype=float)
    W = np.asarray(W, dtype=float)
    P = softmax(X @ W + b)
    y = np.asarray(y)
    Y = y.astype(float) if y.ndim == 2 else _one_hot(y, W.shape[1])
    m = X.shape[0]
    delta = (P - Y) / m
    return X.T @ delta, delta.sum(axis=0)


def fit_softmax(X, y, n_classes, lr=0.1, n_iters=500):
    """Batch gradient descent on the softmax cross entropy from W = 0, b = 0; returns (W, b)."""
    X = np.asarray(X, dtype=float)
    W = np.zeros((X.shape[1], n_classes))
    b = np.zeros(n_classes)
    for _ in range(n_iters):
        grad_W, grad_b = softmax_grad(W, b, X, y)
        W = W - lr * grad_W
        b = b - lr * grad_b
    return W, b


def predict_classes(W, b, X):
    """Index of the largest logit X @ W + b per row; ties go to the smallest class index."""
    return np.argmax(np.asarray(X, dtype=float) @ np.asarray(W, dtype=float) + b, axis=1)


# ---------------------------------------------------------------------------------------- one-vs-rest


def fit_ovr(X, y, n_classes, lr=0.1, n_iters=500):
    """One binary logistic regression per class (class k against the rest), stacked as (W, b).

    Column k of W and entry k of b are the model for "is class k"; `predict_classes` then picks the
    class whose model is most confident (sigmoid is increasing, so the largest logit wins).
    """
    y = np.asarray(y)
    models = [fit_logistic(X, (y == k).astype(float), lr=lr, n_iters=n_iters) for k in range(n_classes)]
    W = np.column_stack([w for w, _ in models])
    b = np.array([bias for _, bias in models])
    return W, b


def standardize(X_train, X_test):
    """Scale both sets with the mean and standard deviation of the *training* set only."""
    X_train = np.asarray(X_train, dtype=float)
    X_test = np.asarray(X_test, dtype=float)
    mean = X_train.mean(axis=0)
    std = X_train.std(axis=0)
    return (X_train - mean) / std, (X_test - mean) / std


# The iris comparison of the notebook (Question 11b): the setup cell's split, scaled with training
# statistics, the same optimiser settings for both models; the names are those of the answer cell.
_X_train, _X_test, _y_train, _y_test = train_test_split(
    _iris.data, _iris.target, test_size=0.3, random_state=0, stratify=_iris.target
)
X_train_s, X_test_s = standardize(_X_train, _X_test)
W_soft, b_soft = fit_softmax(X_train_s, _y_train, 3, lr=0.5, n_iters=1000)
W_ovr, b_ovr = fit_ovr(X_train_s, _y_train, 3, lr=0.5, n_iters=1000)
acc_softmax = float(np.mean(predict_classes(W_soft, b_soft, X_test_s) == _y_test))
acc_ovr = float(np.mean(predict_classes(W_ovr, b_ovr, X_test_s) == _y_test))
