"""Reference implementation for the `sklearn_performance` exercise set.

scikit-learn workflow and performance analysis on the bundled digits data (`sklearn.datasets.load_digits`):
a seeded train/test split, a "5 versus the rest" detector built with the estimator API, a hand-written
k-fold cross-validation, the binary confusion matrix, precision/recall/F1, the ROC curve and its area,
and multiclass strategies.

Conventions shared by the metric functions (the notebook states them too):

* labels are booleans or 0/1 integers, 1/True meaning "positive" (the digit we are detecting);
* a ratio whose denominator is zero is 0.0 (precision with no predicted positives, recall or TPR with no
  actual positives, FPR with no actual negatives), as scikit-learn does with ``zero_division=0``;
* the ROC AUC is undefined, and returned as NaN, unless both classes are present.

Every name here is one that an answer cell of the notebook defines; the grader uses them as the expected
side of each check. This module is imported on the trusted side only.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


# --------------------------------------------------------------------------- Q1: split and binary target


def five_vs_rest_split(X, y, test_size=0.25, seed=0, digit=5):
    """Split (X, y) into train and test parts and turn the labels into "is it `digit`?" booleans.

    The split is stratified on the digit labels ``y`` (every digit keeps its share on both sides) and made
    reproducible with ``random_state=seed``. Returns ``X_train, X_test, y_train_5, y_test_5``.
    """
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, random_state=seed, stratify=y
    )
    return X_train, X_test, y_train == digit, y_test == digit


# ---------------------------------------------------------------------------- Q2: the estimator API


def five_detector_scores(X_train, y_train, X_test, seed=0, digit=5):
    """Fit a standardised linear SGD classifier for "is it `digit`?" and score the test images.

    ``y_train`` holds digit labels (0-9). The scaler learns its means and deviations from the training
    images only; the scores are signed distances to the separating hyperplane (``decision_function``).
    """
    model = make_pipeline(
        StandardScaler(),
        SGDClassifier(loss="hinge", alpha=1e-4, max_iter=20, tol=None, random_state=seed),
    )
    model.fit(X_train, np.asarray(y_train) == digit)
    return model.decision_function(X_test)


# ------------------------------------------------------------------------ Q3: k-fold cross-validation


def kfold_accuracy(estimator, X, y, k=5):
    """Accuracy of ``estimator`` on each of ``k`` contiguous, unshuffled folds, as a length-k array.

    Fold i is the i-th block of ``np.array_split(np.arange(n), k)`` (the first ``n % k`` folds hold one
    extra sample), as `sklearn.model_selection.KFold(k)` makes them. For every fold a fresh copy of the
    estimator (`sklearn.base.clone`) is fitted on the other folds and scored on this one.
    """
    X, y = np.asarray(X), np.asarray(y)
    accuracies = []
    for test_index in np.array_split(np.arange(len(y)), k):
        train_mask = np.ones(len(y), dtype=bool)
        train_mask[test_index] = False
        model = clone(estimator).fit(X[train_mask], y[train_mask])
        accuracies.append(np.mean(model.predict(X[test_index]) == y[test_index]))
    return np.array(accuracies, dtype=float)


# ------------------------------------------------------------------- Q4: the binary confusion matrix


def binary_confusion(y_true, y_pred):
    """The 2x2 confusion matrix ``[[TN, FP], [FN, TP]]``: rows are actual classes, columns predictions."""
    actual = np.asarray(y_true).astype(bool)
    predicted = np.asarray(y_pred).astype(bool)
    tn = np.sum(~actual & ~predicted)
    fp = np.sum(~actual & predicted)
    fn = np.sum(actual & ~predicted)
    tp = np.sum(actual & predicted)
    return np.array([[tn, fp], [fn, tp]], dtype=np.int64)


# ----------------------------------------------------------------------- Q5: precision, recall, F1


def _ratio(numerator, denominator):
    """numerator / denominator, and 0.0 where the denominator is zero (the zero-division convention)."""
    return float(numerator) / float(denominator) if denominator > 0 else 0.0


def precision_recall_f1(y_true, y_pred):
    """``(precision, recall, f1)`` of binary predictions, each 0.0 when its denominator is zero."""
    (_, fp), (fn, tp) = binary_confusion(y_true, y_pred)
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    f1 = _ratio(2 * precision * recall, precision + recall)
    return precision, recall, f1


# --------------------------------------------------------------------------- Q6: by hand, then by code

# The confusion matrix of the question, rows actual (not 5, 5), columns predicted (not 5, 5):
#     [[880, 20],
#      [ 30, 70]]
answer_precision = 70 / (70 + 20)
answer_recall = 70 / (70 + 30)
answer_f1 = 2 * 70 / (2 * 70 + 20 + 30)
answer_accuracy = (880 + 70) / 1000
# "Never 5" on the whole digits data set: the share of images that are not a 5 (1615 of 1797).
answer_never5_accuracy = 1615 / 1797


# --------------------------------------------------------------------------------- Q7: the ROC curve


def roc_points(y_true, scores):
    """The ROC curve at every distinct threshold: ``(fpr, tpr, thresholds)``.

    ``thresholds`` starts at +inf (nothing predicted positive, the point (0, 0)) and then lists the
    distinct scores in decreasing order; point i predicts "positive" for every score >= thresholds[i].
    Tied scores move together, so a tie between a positive and a negative is one diagonal step. This is
    `sklearn.metrics.roc_curve(y_true, scores, drop_intermediate=False)`, except that a rate whose class
    is absent is 0.0 instead of NaN.
    """
    actual = np.asarray(y_true).astype(bool)
    scores = np.asarray(scores, dtype=float)
    order = np.argsort(-scores, kind="stable")
    scores, actual = scores[order], actual[order]
    # the last position of each run of equal scores: there the threshold admits the whole run
    run_ends = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1] if len(scores) else np.array([], int)
    tp = np.r_[0, np.cumsum(actual)[run_ends]]
    fp = np.r_[0, np.cumsum(~actual)[run_ends]]
    tpr = tp / tp[-1] if tp[-1] > 0 else np.zeros(len(tp))
    fpr = fp / fp[-1] if fp[-1] > 0 else np.zeros(len(fp))
    thresholds = np.r_[np.inf, scores[run_ends]]
    return fpr, tpr, thresholds


# --------------------------------------------------------------------------- Q8: area under the ROC


def roc_auc(y_true, scores):
    """Area under the ROC curve by the trapezoid rule; NaN unless both classes are present."""
    actual = np.asarray(y_true).astype(bool)
    if actual.all() or not actual.any():
        return float("nan")
    fpr, tpr, _ = roc_points(actual, scores)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


# ------------------------------------------------------------------------ Q9: multiclass strategies


def n_binary_classifiers(n_classes, strategy):
    """How many binary classifiers a one-vs-rest ("ovr") or one-vs-one ("ovo") scheme trains.

    OvR trains one per class, OvO one per pair of classes; with only two classes a single binary
    classifier does the job in both schemes (scikit-learn's wrappers fit exactly one).
    """
    if strategy == "ovr":
        return 1 if n_classes == 2 else int(n_classes)
    if strategy == "ovo":
        return int(n_classes * (n_classes - 1) // 2)
    raise ValueError(f"strategy must be 'ovr' or 'ovo', not {strategy!r}")


# ------------------------------------------------------------------ Q10: multiclass confusion matrix


def multiclass_confusion(y_true, y_pred, n_classes):
    """``n_classes x n_classes`` counts: entry [i, j] is how many samples of class i were predicted j."""
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)), 1)
    return counts
