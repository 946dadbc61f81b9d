"""Small classifiers and metrics shared by the judge and the probe (numpy and scipy only).

- :func:`fit_logistic` / :func:`predict_logistic`: L2-penalised logistic regression with an
  unpenalised bias, fitted by L-BFGS, and its predicted probabilities;
- :func:`roc_auc`: the area under the ROC curve, ties counting half;
- :func:`group_folds`: cross-validation folds that keep each group (an item, a question) whole.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from jaxtyping import Bool, Float, Int
from scipy.optimize import minimize

__all__ = ["fit_logistic", "group_folds", "predict_logistic", "roc_auc"]


def fit_logistic(
    x: Float[np.ndarray, "n d"],
    y: Float[np.ndarray, " n"],
    l2: float,
    weight: Float[np.ndarray, " n"] | None = None,
) -> Float[np.ndarray, " d+1"]:
    """L2-penalised logistic regression (bias unpenalised), each row's log-loss multiplied by
    its ``weight`` (1 by default); returns [w..., b]."""
    design = np.hstack([x, np.ones((len(x), 1))])
    rows = np.ones(len(x)) if weight is None else np.asarray(weight, dtype=np.float64)

    def loss(w: Float[np.ndarray, " d+1"]) -> tuple[float, Float[np.ndarray, " d+1"]]:
        z = design @ w
        value = float(rows @ (np.logaddexp(0, z) - y * z)) + 0.5 * l2 * float(w[:-1] @ w[:-1])
        grad = design.T @ (rows * (1 / (1 + np.exp(-z)) - y))
        grad[:-1] += l2 * w[:-1]
        return value, grad

    result = minimize(loss, np.zeros(design.shape[1]), jac=True, method="L-BFGS-B")
    weights: Float[np.ndarray, " d+1"] = result.x
    return weights


def predict_logistic(
    weights: Float[np.ndarray, " d+1"], x: Float[np.ndarray, "n d"]
) -> Float[np.ndarray, " n"]:
    """P(y = 1) of each row of ``x`` under the weights [w..., b] of :func:`fit_logistic`."""
    z = x @ weights[:-1] + weights[-1]
    out: Float[np.ndarray, " n"] = 1 / (1 + np.exp(-z))
    return out


def roc_auc(scores: Float[np.ndarray, " n"], labels: Bool[np.ndarray, " n"]) -> float:
    """Area under the ROC curve (probability a positive outranks a negative; ties count half)."""
    pos, neg = scores[labels], scores[~labels]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def group_folds(
    groups: Sequence[str], n_folds: int, seed: int | None = None
) -> Int[np.ndarray, " n"]:
    """The fold (0 .. ``n_folds`` - 1) of every row; rows of one group share a fold.

    The sorted group names are dealt to the folds in turn: in sorted order without ``seed``,
    in an order drawn from ``numpy.random.default_rng(seed)`` with one."""
    names = sorted(set(groups))
    order = (
        range(len(names))
        if seed is None
        else np.random.default_rng(seed).permutation(len(names)).tolist()
    )
    fold_of = {names[i]: rank % n_folds for rank, i in enumerate(order)}
    return np.array([fold_of[g] for g in groups])
