"""Probes, directions and their nulls, on activation matrices (numpy, no model needed).

- guise probes: per layer, an L2 logistic regression on standardised activations, scored by
  AUROC of out-of-fold predictions with folds grouped by item (both guises of an item are in
  the same fold), or trained on one language and tested on the other;
- the label-shuffled null: the same transfer with the guise labels swapped within a random half
  of the items; its 95th percentile is what a probe reaches without any guise signal;
- guise directions: the mean over items of vernacular - standard; their cosine across
  languages against a null of directions from randomly sign-flipped item differences.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from guiselab.judge._classifier import fit_logistic, roc_auc

__all__ = [
    "ablate",
    "cosine",
    "cv_auroc",
    "guise_direction",
    "null_cosine_95",
    "shuffled_transfer_95",
    "transfer_auroc",
]

Array = NDArray[np.float64]
L2 = 1.0
FOLDS = 5


def _standardise(train: Array, *others: Array) -> list[Array]:
    mean, sd = train.mean(axis=0), train.std(axis=0) + 1e-6
    return [(train - mean) / sd, *((x - mean) / sd for x in others)]


def _fit_predict(x_train: Array, y_train: Array, x_test: Array) -> Array:
    train, test = _standardise(x_train, x_test)
    weights = fit_logistic(train, y_train, L2)
    z = test @ weights[:-1] + weights[-1]
    out: Array = 1 / (1 + np.exp(-z))
    return out


def cv_auroc(x: Array, y: Array, groups: Sequence[str]) -> float:
    """AUROC of out-of-fold predictions, items (groups) kept whole within a fold."""
    names = sorted(set(groups))
    fold_of = {g: i % FOLDS for i, g in enumerate(names)}
    folds = np.array([fold_of[g] for g in groups])
    scores = np.full(len(y), np.nan)
    for fold in range(min(FOLDS, len(names))):
        test = folds == fold
        if test.all() or len(set(y[~test].tolist())) < 2:
            continue
        scores[test] = _fit_predict(x[~test], y[~test], x[test])
    known = ~np.isnan(scores)
    return roc_auc(scores[known], y[known].astype(bool))


def transfer_auroc(x_train: Array, y_train: Array, x_test: Array, y_test: Array) -> float:
    """AUROC on one set of a probe trained on another (e.g. English -> Russian)."""
    return roc_auc(_fit_predict(x_train, y_train, x_test), y_test.astype(bool))


def _swap_within_items(y: Array, groups: Sequence[str], rng: np.random.Generator) -> Array:
    names = sorted(set(groups))
    flip = dict(zip(names, rng.random(len(names)) < 0.5, strict=True))
    return np.array([1 - v if flip[g] else v for v, g in zip(y, groups, strict=True)])


def shuffled_transfer_95(
    x_train: Array,
    y_train: Array,
    groups: Sequence[str],
    x_test: Array,
    y_test: Array,
    rng: np.random.Generator,
    rounds: int,
) -> float:
    """95th percentile of the transfer AUROC of probes trained on label-shuffled data."""
    values = [
        transfer_auroc(x_train, _swap_within_items(y_train, groups, rng), x_test, y_test)
        for _ in range(rounds)
    ]
    return float(np.quantile(values, 0.95))


def guise_direction(differences: Array) -> Array:
    """Mean of per-item vernacular - standard activation differences (items x hidden)."""
    out: Array = differences.mean(axis=0)
    return out


def cosine(a: Array, b: Array) -> float:
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b / norm) if norm > 0 else 0.0


def null_cosine_95(
    direction: Array, other_differences: Array, rng: np.random.Generator, rounds: int
) -> float:
    """95th percentile of |cosine| of ``direction`` with (a) directions from the other set's
    item differences with random signs (shuffled guise labels) and (b) random Gaussian
    directions; the larger of the two."""
    shuffled = [
        abs(
            cosine(
                direction,
                (other_differences * rng.choice([-1.0, 1.0], (len(other_differences), 1))).mean(
                    axis=0
                ),
            )
        )
        for _ in range(rounds)
    ]
    random = [abs(cosine(direction, rng.standard_normal(direction.shape))) for _ in range(rounds)]
    return float(max(np.quantile(shuffled, 0.95), np.quantile(random, 0.95)))


def ablate(x: Array, direction: Array) -> Array:
    """``x`` with its component along ``direction`` removed (rows are activations)."""
    unit = direction / (np.linalg.norm(direction) + 1e-12)
    out: Array = x - np.outer(x @ unit, unit)
    return out
