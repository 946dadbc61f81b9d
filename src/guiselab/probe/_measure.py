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
from jaxtyping import Float

from guiselab.learn import fit_logistic, group_folds, predict_logistic, roc_auc

__all__ = [
    "ablate",
    "cosine",
    "cv_auroc",
    "finite",
    "flipped_cosines",
    "guise_direction",
    "known_auroc",
    "max_t",
    "oof_scores",
    "shuffled_transfer",
    "swapped_labels",
    "transfer_auroc",
    "transfer_scores",
]

L2 = 1.0
FOLDS = 5


def _standardise(
    train: Float[np.ndarray, "n d"], *others: Float[np.ndarray, "m d"]
) -> list[Float[np.ndarray, "_ d"]]:
    mean, sd = train.mean(axis=0), train.std(axis=0) + 1e-6
    return [(train - mean) / sd, *((x - mean) / sd for x in others)]


def _fit_predict(
    x_train: Float[np.ndarray, "n d"],
    y_train: Float[np.ndarray, " n"],
    x_test: Float[np.ndarray, "m d"],
) -> Float[np.ndarray, " m"]:
    train, test = _standardise(x_train, x_test)
    return predict_logistic(fit_logistic(train, y_train, L2), test)


def oof_scores(
    x: Float[np.ndarray, "n d"], y: Float[np.ndarray, " n"], groups: Sequence[str]
) -> Float[np.ndarray, " n"]:
    """Out-of-fold probe scores, items (groups) kept whole within a fold; NaN where a fold
    could not be fitted."""
    folds = group_folds(groups, FOLDS)
    scores = np.full(len(y), np.nan)
    for fold in range(min(FOLDS, len(set(groups)))):
        test = folds == fold
        if test.all() or len(set(y[~test].tolist())) < 2:
            continue
        scores[test] = _fit_predict(x[~test], y[~test], x[test])
    return scores


def known_auroc(scores: Float[np.ndarray, " n"], y: Float[np.ndarray, " n"]) -> float:
    """AUROC of the rows that have a score (NaN: a fold that could not be fitted)."""
    known = ~np.isnan(scores)
    return roc_auc(scores[known], y[known].astype(bool))


def cv_auroc(
    x: Float[np.ndarray, "n d"], y: Float[np.ndarray, " n"], groups: Sequence[str]
) -> float:
    """AUROC of out-of-fold predictions, items (groups) kept whole within a fold."""
    return known_auroc(oof_scores(x, y, groups), y)


def transfer_scores(
    x_train: Float[np.ndarray, "n d"],
    y_train: Float[np.ndarray, " n"],
    x_test: Float[np.ndarray, "m d"],
) -> Float[np.ndarray, " m"]:
    """Scores on one set of a probe trained on another."""
    return _fit_predict(x_train, y_train, x_test)


def transfer_auroc(
    x_train: Float[np.ndarray, "n d"],
    y_train: Float[np.ndarray, " n"],
    x_test: Float[np.ndarray, "m d"],
    y_test: Float[np.ndarray, " m"],
) -> float:
    """AUROC on one set of a probe trained on another (e.g. English -> Russian)."""
    return roc_auc(transfer_scores(x_train, y_train, x_test), y_test.astype(bool))


def _swap_within_items(
    y: Float[np.ndarray, " n"], groups: Sequence[str], rng: np.random.Generator
) -> Float[np.ndarray, " n"]:
    names = sorted(set(groups))
    flip = dict(zip(names, rng.random(len(names)) < 0.5, strict=True))
    return np.array([1 - v if flip[g] else v for v, g in zip(y, groups, strict=True)])


def swapped_labels(
    y: Float[np.ndarray, " n"], groups: Sequence[str], rng: np.random.Generator, rounds: int
) -> list[Float[np.ndarray, " n"]]:
    """``rounds`` label vectors, each with the labels swapped within a random half of the
    items: drawn once, so every layer's null uses the same swaps and a maximum over the
    layers is a null for all of them together."""
    return [_swap_within_items(y, groups, rng) for _ in range(rounds)]


def shuffled_transfer(
    x_train: Float[np.ndarray, "n d"],
    swaps: Sequence[Float[np.ndarray, " n"]],
    x_test: Float[np.ndarray, "m d"],
    y_test: Float[np.ndarray, " m"],
) -> Float[np.ndarray, " rounds"]:
    """The transfer AUROC of a probe trained on each of ``swaps`` (label-shuffled data)."""
    return np.array([transfer_auroc(x_train, y, x_test, y_test) for y in swaps])


def max_t(
    null: Float[np.ndarray, "layer rounds"], observed: Sequence[float | None]
) -> tuple[float, list[float | None]]:
    """Single-step max-T over layers: the 95th percentile of each null round's largest value
    over the layers, and each layer's p-value adjusted over them, (1 + rounds whose largest
    value reaches it) / (1 + rounds)."""
    largest = np.nanmax(null, axis=0)
    adjusted = [
        None if v is None else (1 + int((largest >= v).sum())) / (1 + largest.size)
        for v in observed
    ]
    return float(np.quantile(largest, 0.95)), adjusted


def guise_direction(differences: Float[np.ndarray, "item hidden"]) -> Float[np.ndarray, " hidden"]:
    """Mean of per-item vernacular - standard activation differences (items x hidden)."""
    out: Float[np.ndarray, " hidden"] = differences.mean(axis=0)
    return out


def cosine(a: Float[np.ndarray, " d"], b: Float[np.ndarray, " d"]) -> float:
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b / norm) if norm > 0 else 0.0


def flipped_cosines(
    direction: Float[np.ndarray, " hidden"],
    other_differences: Float[np.ndarray, "item hidden"],
    signs: Float[np.ndarray, "rounds item"],
) -> Float[np.ndarray, " rounds"]:
    """|cosine| of ``direction`` with the other set's guise direction under each round of
    random signs on its item differences (each item's guise labels swapped or not): the null
    of no consistent guise direction in the other set. The caller draws ``signs`` once and
    uses them at every layer, so the rounds can be corrected over the layers (``max_t``)."""
    null = signs @ other_differences / max(len(other_differences), 1)
    norms = np.linalg.norm(null, axis=1) * np.linalg.norm(direction)
    out: Float[np.ndarray, " rounds"] = np.abs(null @ direction) / np.maximum(norms, 1e-300)
    return out


def ablate(
    x: Float[np.ndarray, "n hidden"], direction: Float[np.ndarray, " hidden"]
) -> Float[np.ndarray, "n hidden"]:
    """``x`` with its component along ``direction`` removed (rows are activations)."""
    unit = direction / (np.linalg.norm(direction) + 1e-12)
    out: Float[np.ndarray, "n hidden"] = x - np.outer(x @ unit, unit)
    return out


def finite(value: float | None) -> float | None:
    """``value`` as a plain float, or None when it is missing, NaN or infinite (for JSON)."""
    return None if value is None or not np.isfinite(value) else float(value)
