"""Reference implementation for the ``gradient_descent`` exercise set (Training I-III).

Every name a student's answer cell defines is defined here under the same name; the grader
imports this module on the trusted side only and calls these functions on the same seeded
inputs as the student's code.

Conventions shared by all questions:

* ``X`` is a 2-D float array of shape ``(m, n)`` *without* a bias column; ``y`` is 1-D, ``(m,)``.
* ``theta`` is 1-D, ``(n + 1,)``, with the bias (intercept) ``theta[0]`` first.
* Iterative methods return their *parameter path*: row ``k`` is ``theta`` after ``k`` steps (or
  epochs), row 0 being the starting point, so an array of shape ``(steps + 1, n + 1)``.
"""

import math

import numpy as np


def _add_bias(X):
    """Prepend a column of ones to ``X`` (shape ``(m, n)`` -> ``(m, n + 1)``).

    The notebook's setup cell defines this helper as ``add_bias``; a private copy here keeps the
    module independent of the notebook without redefining a setup name.
    """
    X = np.asarray(X, dtype=float)
    return np.column_stack([np.ones(len(X)), X])


def _start(theta0, d):
    """A float copy of ``theta0``, or zeros of length ``d`` when it is None."""
    if theta0 is None:
        return np.zeros(d)
    return np.array(theta0, dtype=float)


# --- Q1: the normal equation --------------------------------------------------------------

def normal_equation(X, y):
    """Least-squares parameters ``theta = (X_b^T X_b)^+ X_b^T y`` with a bias column.

    The pseudo-inverse gives the minimum-norm solution, which is also defined when
    ``X_b^T X_b`` is singular (a single sample, duplicated features).
    """
    Xb = _add_bias(X)
    return np.linalg.pinv(Xb.T @ Xb) @ Xb.T @ np.asarray(y, dtype=float)


# --- Q2: batch gradient descent --------------------------------------------------------------

def batch_gradient_descent(X, y, alpha, n_iters, theta0=None):
    """Batch gradient descent on the MSE, returning the path of shape ``(n_iters + 1, n + 1)``.

    Each step uses the full gradient ``2/m X_b^T (X_b theta - y)``.
    """
    Xb = _add_bias(X)
    y = np.asarray(y, dtype=float)
    m, d = Xb.shape
    theta = _start(theta0, d)
    path = [theta.copy()]
    for _ in range(n_iters):
        gradient = 2.0 / m * Xb.T @ (Xb @ theta - y)
        theta = theta - alpha * gradient
        path.append(theta.copy())
    return np.array(path)


# --- Q3: the largest stable learning rate -----------------------------------------------------

def max_stable_learning_rate(X):
    """``2 / lambda_max(H)`` with ``H = 2/m X_b^T X_b`` the Hessian of the MSE.

    Batch gradient descent on the MSE converges from every start exactly when the learning
    rate is below this value.
    """
    Xb = _add_bias(X)
    m = len(Xb)
    hessian = 2.0 / m * Xb.T @ Xb
    return float(2.0 / np.linalg.eigvalsh(hessian).max())


# --- Q4: analytic answers for X_lr = [[0], [1], [2]] ----------------------------------------
# X_b^T X_b = [[3, 3], [3, 5]] has eigenvalues 4 +- sqrt(10); H = 2/3 X_b^T X_b, so
# lambda_max(H) = 2 (4 + sqrt(10)) / 3 and alpha_max = 2 / lambda_max = (4 - sqrt(10)) / 2.
answer_alpha_max = (4 - math.sqrt(10)) / 2          # about 0.41886
# The rates given in the notebook, LR_RATES = (0.1, 0.4, 0.41, 0.42, 0.5): diverges iff > alpha_max.
answer_diverges = [False, False, False, True, True]


# --- Q5: feature scaling ---------------------------------------------------------------------

def scale_features(X_train, X_other, method="standard"):
    """Scale both arrays with statistics fitted on ``X_train`` only.

    ``method="standard"``: ``(x - mean) / std`` (population std, ``ddof=0``);
    ``method="minmax"``: ``(x - min) / (max - min)``. A zero scale (constant column) is
    replaced by 1, so that column becomes ``x - centre``.
    """
    X_train = np.asarray(X_train, dtype=float)
    X_other = np.asarray(X_other, dtype=float)
    if method == "standard":
        centre = X_train.mean(axis=0)
        scale = X_train.std(axis=0)
    elif method == "minmax":
        centre = X_train.min(axis=0)
        scale = X_train.max(axis=0) - centre
    else:
        raise ValueError(f"unknown method {method!r}: use 'standard' or 'minmax'")
    scale = np.where(scale == 0, 1.0, scale)
    return (X_train - centre) / scale, (X_other - centre) / scale


# --- Q6: stochastic gradient descent with a learning schedule -----------------------------

def sgd_with_schedule(X, y, n_epochs, t0=5.0, t1=50.0, theta0=None, seed=0):
    """SGD visiting the samples in a fresh random order each epoch.

    One generator ``np.random.default_rng(seed)`` is created at the start; each epoch draws
    ``rng.permutation(m)``. Step ``t`` (counted from 0 over all epochs) uses the learning rate
    ``t0 / (t + t1)`` and the one-sample gradient ``2 x_i (x_i . theta - y_i)``.
    Returns theta after each epoch, shape ``(n_epochs + 1, n + 1)``.
    """
    Xb = _add_bias(X)
    y = np.asarray(y, dtype=float)
    m, d = Xb.shape
    theta = _start(theta0, d)
    rng = np.random.default_rng(seed)
    path = [theta.copy()]
    t = 0
    for _ in range(n_epochs):
        for i in rng.permutation(m):
            xi = Xb[i]
            gradient = 2.0 * xi * (xi @ theta - y[i])
            theta = theta - t0 / (t + t1) * gradient
            t += 1
        path.append(theta.copy())
    return np.array(path)


# --- Q7: mini-batch gradient descent ---------------------------------------------------------

def minibatch_gradient_descent(X, y, n_epochs, batch_size, alpha, theta0=None, seed=0):
    """Mini-batch GD with a constant learning rate.

    Each epoch draws ``rng.permutation(m)`` from one generator ``np.random.default_rng(seed)``
    and cuts it into consecutive batches of ``batch_size`` (the last one may be smaller); each
    batch takes a step along its mean gradient ``2/|B| X_B^T (X_B theta - y_B)``.
    Returns theta after each epoch, shape ``(n_epochs + 1, n + 1)``.
    """
    Xb = _add_bias(X)
    y = np.asarray(y, dtype=float)
    m, d = Xb.shape
    theta = _start(theta0, d)
    rng = np.random.default_rng(seed)
    path = [theta.copy()]
    for _ in range(n_epochs):
        order = rng.permutation(m)
        for start in range(0, m, batch_size):
            batch = order[start:start + batch_size]
            XB, yB = Xb[batch], y[batch]
            gradient = 2.0 / len(batch) * XB.T @ (XB @ theta - yB)
            theta = theta - alpha * gradient
        path.append(theta.copy())
    return np.array(path)


# --- Q8: polynomial features -----------------------------------------------------------------

def polynomial_features(X, degree):
    """Powers 1..degree of every column, grouped by power: ``[X, X**2, ..., X**degree]``.

    Shape ``(m, n)`` -> ``(m, n * degree)``; no bias column and no cross terms.
    """
    X = np.asarray(X, dtype=float)
    return np.hstack([X ** p for p in range(1, degree + 1)])


# --- Q9: learning curves ---------------------------------------------------------------------

def learning_curve(fit, X_train, y_train, X_val, y_val, sizes):
    """Train and validation MSE of ``fit`` trained on the first ``k`` training rows, per ``k``.

    ``fit(X, y)`` returns theta (bias first); predictions are ``add_bias(X) @ theta``.
    The training error is measured on the ``k`` rows the model saw. Returns two 1-D arrays of
    length ``len(sizes)``: ``(train_mse, val_mse)``.
    """
    X_train = np.asarray(X_train, dtype=float)
    y_train = np.asarray(y_train, dtype=float)
    X_val = np.asarray(X_val, dtype=float)
    y_val = np.asarray(y_val, dtype=float)
    train_mse, val_mse = [], []
    for k in sizes:
        theta = fit(X_train[:k], y_train[:k])
        train_mse.append(np.mean((_add_bias(X_train[:k]) @ theta - y_train[:k]) ** 2))
        val_mse.append(np.mean((_add_bias(X_val) @ theta - y_val) ** 2))
    return np.array(train_mse), np.array(val_mse)


# --- Q10: ridge regression -------------------------------------------------------------------

def ridge_closed_form(X, y, lam):
    """Minimiser of ``||X_b theta - y||^2 + lam * sum_{j>=1} theta_j^2`` (bias not penalised).

    ``theta = (X_b^T X_b + lam A)^{-1} X_b^T y`` with ``A`` the identity whose top-left entry
    is 0; the same objective as ``sklearn.linear_model.Ridge(alpha=lam)``.
    """
    Xb = _add_bias(X)
    A = np.eye(Xb.shape[1])
    A[0, 0] = 0.0
    return np.linalg.solve(Xb.T @ Xb + lam * A, Xb.T @ np.asarray(y, dtype=float))


# --- Q11: lasso by subgradient descent -------------------------------------------------------

def lasso_subgradient_descent(X, y, lam, alpha, n_iters, theta0=None):
    """Subgradient descent on ``MSE + lam * sum_{j>=1} |theta_j|``.

    The subgradient is ``2/m X_b^T (X_b theta - y) + lam * s`` with ``s_j = sign(theta_j)``
    (``sign(0) = 0``) for ``j >= 1`` and ``s_0 = 0``. Returns the path, ``(n_iters + 1, n + 1)``.
    """
    Xb = _add_bias(X)
    y = np.asarray(y, dtype=float)
    m, d = Xb.shape
    theta = _start(theta0, d)
    path = [theta.copy()]
    for _ in range(n_iters):
        penalty = np.sign(theta)
        penalty[0] = 0.0
        gradient = 2.0 / m * Xb.T @ (Xb @ theta - y) + lam * penalty
        theta = theta - alpha * gradient
        path.append(theta.copy())
    return np.array(path)


# --- Q12: early stopping ---------------------------------------------------------------------

def early_stopping(X_train, y_train, X_val, y_val, alpha, n_epochs, theta0=None):
    """Batch GD on the training set, keeping the parameters with the lowest validation MSE.

    ``val_mse[e]`` is the validation MSE after ``e`` epochs (one full-batch step each;
    ``val_mse[0]`` is at the start), so it has ``n_epochs + 1`` entries. ``best_epoch`` is
    the first index of its minimum. Returns ``(best_epoch, best_theta, val_mse)``.
    """
    Xt = _add_bias(X_train)
    Xv = _add_bias(X_val)
    y_train = np.asarray(y_train, dtype=float)
    y_val = np.asarray(y_val, dtype=float)
    m, d = Xt.shape
    theta = _start(theta0, d)
    best_epoch, best_theta = 0, theta.copy()
    val_mse = [np.mean((Xv @ theta - y_val) ** 2)]
    for epoch in range(1, n_epochs + 1):
        theta = theta - alpha * 2.0 / m * Xt.T @ (Xt @ theta - y_train)
        val_mse.append(np.mean((Xv @ theta - y_val) ** 2))
        if val_mse[-1] < val_mse[best_epoch]:
            best_epoch, best_theta = epoch, theta.copy()
    return best_epoch, best_theta, np.array(val_mse)
