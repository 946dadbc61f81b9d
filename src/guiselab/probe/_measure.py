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
    "crossfit_cosines",
    "cv_auroc",
    "finite",
    "guise_direction",
    "known_auroc",
    "max_t",
    "min_p",
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


def min_p(
    null: Float[np.ndarray, "layer rounds"], observed: Sequence[float | None]
) -> list[float | None]:
    """Each layer's p-value adjusted over the layers by single-step min-P: every null round's
    value becomes its p-value within its own layer's rounds first, so a layer whose null
    spreads wider (the embeddings beside a middle layer) does not set the bar for the rest;
    then a layer's adjusted p is (1 + rounds whose smallest p over the layers is at most its
    own) / (1 + rounds). Rounds must be drawn jointly across layers (the same swaps or signs),
    so their dependence is kept."""
    rounds = null.shape[1]
    per_round = np.full(null.shape, np.inf)
    for layer, values in enumerate(null):
        if np.isnan(values).any():
            continue  # a layer without its null takes no part
        ordered = np.sort(values)  # rounds at or above each round's value, itself included
        per_round[layer] = (rounds - np.searchsorted(ordered, values, side="left")) / (1 + rounds)
    smallest = per_round.min(axis=0)
    out: list[float | None] = []
    for layer, v in enumerate(observed):
        if v is None or not np.isfinite(v) or np.isnan(null[layer]).any():
            out.append(None)
            continue
        p = (1 + int((null[layer] >= v).sum())) / (1 + rounds)
        out.append((1 + int((smallest <= p).sum())) / (1 + rounds))
    return out


def guise_direction(differences: Float[np.ndarray, "item hidden"]) -> Float[np.ndarray, " hidden"]:
    """Mean of per-item vernacular - standard activation differences (items x hidden)."""
    out: Float[np.ndarray, " hidden"] = differences.mean(axis=0)
    return out


def cosine(a: Float[np.ndarray, " d"], b: Float[np.ndarray, " d"]) -> float:
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b / norm) if norm > 0 else 0.0


def crossfit_cosines(
    source: Float[np.ndarray, "item hidden"],
    source_half: np.ndarray,
    target: Float[np.ndarray, "item hidden"],
    target_half: np.ndarray,
    signs: Float[np.ndarray, "rounds item"],
) -> tuple[float, Float[np.ndarray, " rounds"]]:
    """|cos| of two languages' guise directions fitted on different items, and its null.

    The languages share items (an item is one question in both), so an item whose guise
    effect is alike in both would tie the two directions even where the target language has
    no consistent guise direction; flipping the target's signs would then break a tie the
    observed value keeps. Here each half of the source's items (``source_half``) meets the
    other half of the target's, and the statistic is |mean of the two cosines|. Under the null
    of no consistent target guise direction, the target half's item differences are symmetric
    about zero and independent of the source half they meet, so the rounds of random signs on
    them (``signs``, one column per target item, drawn once by the caller for every layer) are
    exact."""

    flips = np.vstack([np.ones(len(target)), signs])  # row 0: the observed signs
    values = []
    for h in (0, 1):
        s_rows, t_rows = source_half == h, target_half != h
        if not (s_rows.any() and t_rows.any()):
            return float("nan"), np.full(len(signs), np.nan)
        s = source[s_rows].mean(axis=0)
        t = flips[:, t_rows] @ target[t_rows] / int(t_rows.sum())  # rounds x hidden
        norms = np.linalg.norm(t, axis=1) * np.linalg.norm(s)
        values.append(np.where(norms > 0, t @ s / np.maximum(norms, 1e-300), 0.0))
    stat = np.abs(np.mean(values, axis=0))
    return float(stat[0]), stat[1:]


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
