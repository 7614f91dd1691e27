"""Reference implementation for the `svm` exercise set (support vector machines).

Every name a student's answer cell defines in ``source/svm/svm.ipynb`` is defined here under the same
name. The grader imports this module on the trusted side only and runs the notebook's test cells with
these definitions in place of the student's.

Conventions used throughout:

* class labels ``y`` are 0/1 (as scikit-learn's datasets give them); the SVM formulas use the signed
  labels ``t = 2*y - 1`` in {-1, +1};
* a *score* is the value of the decision function ``f(x) = w . x + b``.
"""

from __future__ import annotations

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler
from sklearn.svm import SVC, LinearSVC, LinearSVR

__all__ = [
    "hinge_loss",
    "svm_objective",
    "answer_hinge",
    "answer_width",
    "margin_width",
    "support_vector_mask",
    "fit_linear_svms",
    "n_support_grid",
    "fit_poly_models",
    "fit_linear_svr",
    "outside_tube",
]


# ------------------------------------------------------------------------------------------ Q1: hinge loss


def hinge_loss(scores, y):
    """Per-sample hinge loss ``max(0, 1 - t * score)`` with ``t = 2*y - 1``.

    ``scores`` and ``y`` are array-likes of the same shape; returns a float array of that shape.
    """
    scores = np.asarray(scores, dtype=np.float64)
    t = 2.0 * np.asarray(y, dtype=np.float64) - 1.0
    return np.maximum(0.0, 1.0 - t * scores)


# ---------------------------------------------------------------------------- Q2: soft-margin objective


def svm_objective(w, b, X, y, C, regularize_bias=False):
    """Soft-margin primal objective ``1/2 ||w||^2 + C * sum_i max(0, 1 - t_i (w . x_i + b))``.

    With ``regularize_bias=True`` the bias is penalised too (``+ 1/2 b^2``), as liblinear (LinearSVC)
    does. Written without calling `hinge_loss` so that the two questions are graded independently.
    """
    w = np.asarray(w, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64).reshape(-1, w.shape[0])
    t = 2.0 * np.asarray(y, dtype=np.float64) - 1.0
    scores = X @ w + b
    data_term = C * np.sum(np.maximum(0.0, 1.0 - t * scores))
    penalty = 0.5 * np.dot(w, w)
    if regularize_bias:
        penalty += 0.5 * b * b
    return float(penalty + data_term)


# ------------------------------------------------------------------------------------- Q3: by hand

# w = (1, -2), b = 0.5, x = (1.5, 0.25), y = 0 (so t = -1):
# score = 1*1.5 - 2*0.25 + 0.5 = 1.5, hinge = max(0, 1 - (-1)(1.5)) = 2.5
answer_hinge = 2.5
# w = (3, -4): ||w|| = 5, margin width 2 / ||w|| = 0.4
answer_width = 0.4


# ------------------------------------------------------------------------ Q4: margin width, Q5: SV mask


def margin_width(w):
    """Width ``2 / ||w||`` of the margin (the street between f(x) = -1 and f(x) = +1).

    ``w`` may be a 1-D weight vector or scikit-learn's ``coef_`` of shape (1, n_features).
    """
    return float(2.0 / np.linalg.norm(np.asarray(w, dtype=np.float64)))


def support_vector_mask(scores, y, tol=1e-3):
    """True for the points on or inside the margin: ``t * score <= 1 + tol``.

    ``tol`` absorbs the solver's stopping tolerance (libsvm stops at 1e-3), so that points that lie on the
    margin up to that tolerance count as support vectors. Returns a boolean array shaped like ``scores``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    t = 2.0 * np.asarray(y, dtype=np.float64) - 1.0
    return t * scores <= 1.0 + tol


# ------------------------------------------------------------------------- Q6: SVC(linear) vs LinearSVC


def fit_linear_svms(X, y, C):
    """Fit the two linear SVMs of scikit-learn on the raw (unscaled) features.

    Returns ``(svc, linear_svc)``: ``SVC(kernel="linear", C=C)`` (libsvm; the bias is not regularised)
    and ``LinearSVC(C=C, loss="hinge", random_state=42, max_iter=100_000)`` (liblinear; the bias is
    regularised like a weight).
    """
    svc = SVC(kernel="linear", C=C).fit(X, y)
    linear_svc = LinearSVC(C=C, loss="hinge", random_state=42, max_iter=100_000).fit(X, y)
    return svc, linear_svc


# -------------------------------------------------------------------------- Q7: support vectors vs C, gamma


def n_support_grid(X, y, Cs, gammas):
    """Number of support vectors of a standardised RBF SVC for every (gamma, C).

    Returns an int array of shape ``(len(gammas), len(Cs))``: row i is gamma = gammas[i], column j is
    C = Cs[j]; each model is ``Pipeline([StandardScaler(), SVC(kernel="rbf", gamma=..., C=...)])``.
    """
    counts = np.zeros((len(gammas), len(Cs)), dtype=np.int64)
    for i, gamma in enumerate(gammas):
        for j, C in enumerate(Cs):
            model = Pipeline([
                ("scaler", StandardScaler()),
                ("svc", SVC(kernel="rbf", gamma=gamma, C=C)),
            ]).fit(X, y)
            counts[i, j] = int(model.named_steps["svc"].n_support_.sum())
    return counts


# ------------------------------------------------------------------- Q8: polynomial features vs kernel


def fit_poly_models(X, y, degree=3, C=10.0):
    """Two non-linear SVMs of the same degree, fitted on ``(X, y)``.

    * ``poly_linear``: ``PolynomialFeatures(degree)`` -> ``StandardScaler`` ->
      ``LinearSVC(C=C, loss="hinge", random_state=42, max_iter=100_000)`` (explicit features);
    * ``poly_kernel``: ``StandardScaler`` -> ``SVC(kernel="poly", degree=degree, coef0=1, C=C)``
      (the kernel trick: the same kind of features, never computed).
    """
    poly_linear = Pipeline([
        ("poly", PolynomialFeatures(degree=degree)),
        ("scaler", StandardScaler()),
        ("svm", LinearSVC(C=C, loss="hinge", random_state=42, max_iter=100_000)),
    ]).fit(X, y)
    poly_kernel = Pipeline([
        ("scaler", StandardScaler()),
        ("svm", SVC(kernel="poly", degree=degree, coef0=1, C=C)),
    ]).fit(X, y)
    return poly_linear, poly_kernel


# ------------------------------------------------------------------------------ Q9, Q10: SVM regression


def fit_linear_svr(X, y, epsilon):
    """``LinearSVR(epsilon=epsilon, random_state=42, max_iter=100_000)`` fitted on the raw features."""
    return LinearSVR(epsilon=epsilon, random_state=42, max_iter=100_000).fit(X, y)


def outside_tube(y, y_pred, epsilon, tol=1e-6):
    """True for the points strictly outside the epsilon tube: ``|y - y_pred| > epsilon + tol``.

    A point on the edge of the tube (up to ``tol``) has zero epsilon-insensitive loss and counts as
    inside. Returns a boolean array shaped like ``y``.
    """
    residual = np.abs(np.asarray(y, dtype=np.float64) - np.asarray(y_pred, dtype=np.float64))
    return residual > epsilon + tol
