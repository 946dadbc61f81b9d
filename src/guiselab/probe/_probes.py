"""Guise probes per layer and the cross-language cosine of the guise directions, each against
its null, a lexical baseline, and the base model beside the probed one.

Per layer: a guise probe within each language (out-of-fold AUROC, items kept whole) and across
languages (trained on one, tested on the other) against the 95th percentile of label-shuffled
transfers; the cosine of the two languages' guise directions against the 95th percentile of
sign-flipped and random directions. Both nulls draw from one generator, layer by layer.

The **lexical baselines**: the same probe on the prompts' bags of tokens (how often each token
id occurs), within each language; and the embeddings (layer 0), within and across languages.
A vernacular marked by its words is separated there already, so a layer's AUROC says
something about the model only where it exceeds them. Each layer's AUROC minus a baseline's,
and the probed model's minus the base model's (the same prompts, items and folds), come with
a bootstrap band simultaneous over the measured layers (``_bands``; the probes' scores are
held fixed, items resampled).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from jaxtyping import Float

from guiselab.analysis import rng_for
from guiselab.config import AnalysisConfig
from guiselab.probe._bands import BAND, ROUNDS, Band, simultaneous_band
from guiselab.probe._context import ProbeContext
from guiselab.probe._directions import GuiseDirections, GuisePairs
from guiselab.probe._measure import (
    cosine,
    crossfit_cosines,
    finite,
    known_auroc,
    max_t,
    min_p,
    oof_scores,
    shuffled_transfer,
    swapped_labels,
    transfer_scores,
)

__all__ = [
    "GuiseProbes",
    "LayerScores",
    "all_layer_scores",
    "auroc_band",
    "bag_of_tokens",
    "guise_probes",
    "layer_comparisons",
    "layer_scores",
]


COS_ROUNDS = 2000
"""Rounds of the cross-fitted cosine's sign-flip null (at least ``probe.n_null``)."""


@dataclass(frozen=True)
class GuiseProbes:
    """Probe AUROCs and direction cosines, one value per measured layer (None: not finite)."""

    auroc: dict[str, list[float | None]]
    """By language (``en``) and by transfer (``en_to_ru``, ``ru_to_en``)."""
    null_auroc_95: list[float | None]
    """95th percentile of the source -> target transfer with shuffled guise labels."""
    cos: list[float | None]
    """Cosine of the source and target languages' guise directions."""
    cos_crossfit: list[float | None]
    """|cos| of the two languages' guise directions fitted on different halves of the items
    (each source half against the other target half, averaged): the tested statistic."""
    cos_null_95: list[float | None]
    """95th percentile of ``cos_crossfit`` under random signs on the target's item
    differences (the same signs at every layer)."""
    cos_p_adjusted: list[float | None]
    """Per layer, ``cos_crossfit``'s p-value adjusted over the layers (single-step min-P)."""
    null_max_95: float | None
    """95th percentile over the null rounds of the largest shuffled transfer over all layers:
    a transfer above it is above the null at that layer with the layers corrected for."""
    transfer_p_adjusted: list[float | None]
    """Per layer, the share of null rounds whose largest transfer over all layers reaches the
    layer's transfer AUROC, (1 + count) / (1 + rounds): a p-value adjusted over the layers
    (single-step max-T)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "guise_probe_auroc": self.auroc,
            "null_auroc_95": self.null_auroc_95,
            "null_max_95": self.null_max_95,
            "transfer_p_adjusted": self.transfer_p_adjusted,
            "cos_en_ru": self.cos,
            "cos_crossfit": self.cos_crossfit,
            "cos_null_95": self.cos_null_95,
            "cos_p_adjusted": self.cos_p_adjusted,
        }


@dataclass(frozen=True, eq=False)
class LayerScores:
    """Every probe's scores at one layer (or on the bags of tokens): by key (``en``,
    ``en_to_ru``, ...) the scores, labels (1 = vernacular) and items of the rows scored."""

    by_key: dict[str, tuple[np.ndarray, np.ndarray, list[str]]]

    def auroc(self, key: str) -> float | None:
        scores, y, _ = self.by_key[key]
        return finite(known_auroc(scores, y))


def _xy(pairs: GuisePairs, layer: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    items = pairs.items
    x = np.vstack([pairs.standard[:, layer], pairs.vernacular[:, layer]])
    y = np.concatenate([np.zeros(len(items)), np.ones(len(items))])
    return x, y, items + items


def layer_scores(sets: Mapping[str, GuisePairs], layer: int, langs: Sequence[str]) -> LayerScores:
    """Out-of-fold scores within each language and transfer scores across the two."""
    source, target = langs
    data = {lang: _xy(sets[lang], layer) for lang in langs}
    out: dict[str, tuple[np.ndarray, np.ndarray, list[str]]] = {}
    for lang in langs:
        x, y, groups = data[lang]
        scores = oof_scores(x, y, groups) if len(set(groups)) >= 2 else np.full(len(y), np.nan)
        out[lang] = (scores, y, groups)
    for a, b in ((source, target), (target, source)):
        (xa, ya, _), (xb, yb, gb) = data[a], data[b]
        out[f"{a}_to_{b}"] = (transfer_scores(xa, ya, xb), yb, gb)
    return LayerScores(out)


def bag_of_tokens(
    tokens: Sequence[Sequence[int]],
) -> Float[np.ndarray, "prompt token"]:
    """How often each token id occurs in each prompt (columns: every id in any prompt)."""
    vocab = {t: i for i, t in enumerate(sorted({t for ids in tokens for t in ids}))}
    out = np.zeros((len(tokens), len(vocab)))
    for row, ids in enumerate(tokens):
        for t in ids:
            out[row, vocab[t]] += 1
    return out


def all_layer_scores(
    sets: Mapping[str, GuisePairs], layers: Sequence[int], langs: Sequence[str]
) -> list[LayerScores]:
    """:func:`layer_scores` of every layer, fitted once for the AUROCs and the comparisons."""
    return [layer_scores(sets, layer, langs) for layer in layers]


def auroc_band(
    a: Sequence[LayerScores],
    b: Sequence[LayerScores],
    key: str,
    rng: np.random.Generator,
    level: float,
    rounds: int = ROUNDS,
) -> Band:
    """Per layer, the AUROC of ``a`` minus that of ``b`` on the same rows of probe ``key``,
    with a band simultaneous over the layers: items (both guises of one together) are
    resampled once per draw and the same draw serves every layer."""
    _, y, groups = a[0].by_key[key]
    for scores in (*a, *b):
        _, yy, gg = scores.by_key[key]
        if not (np.array_equal(y, yy) and gg == groups):
            raise ValueError(f"probe scores for '{key}' are on different rows")
    names = sorted(set(groups))
    rows_of: dict[str, list[int]] = {name: [] for name in names}
    for i, g in enumerate(groups):
        rows_of[g].append(i)
    estimates = [
        known_auroc(sa.by_key[key][0], y) - known_auroc(sb.by_key[key][0], y)
        for sa, sb in zip(a, b, strict=True)
    ]
    if len(names) < 2:
        return simultaneous_band(estimates, np.empty((0, len(a))), level)
    draws = np.empty((rounds, len(a)))
    for r in range(rounds):
        index = np.concatenate([rows_of[names[c]] for c in rng.integers(0, len(names), len(names))])
        yr = y[index]
        for layer, (sa, sb) in enumerate(zip(a, b, strict=True)):
            first, second = sa.by_key[key][0][index], sb.by_key[key][0][index]
            draws[r, layer] = known_auroc(first, yr) - known_auroc(second, yr)
    return simultaneous_band(estimates, draws, level)


def guise_probes(
    ctx: ProbeContext,
    sets: Mapping[str, GuisePairs],
    directions: GuiseDirections,
    rng: np.random.Generator,
    scores: Sequence[LayerScores],
    halves: Mapping[str, int],
) -> GuiseProbes:
    """The probes (``scores``, one per measured layer) and cosines of every measured layer,
    the nulls drawn from ``rng``; ``halves``: every item's half, for the cross-fitted
    cosine."""
    source, target = ctx.langs
    n_null = ctx.cfg.n_null
    auroc: dict[str, list[float | None]] = {
        source: [],
        target: [],
        f"{source}_to_{target}": [],
        f"{target}_to_{source}": [],
    }
    null: list[np.ndarray] = []
    cos: list[float | None] = []
    cos_null: list[np.ndarray] = []
    cos_fit: list[float | None] = []
    half_s = np.array([halves[i] for i in sets[source].items])
    half_t = np.array([halves[i] for i in sets[target].items])
    _, ys, gs = _xy(sets[source], ctx.layers[0])
    swaps = swapped_labels(ys, gs, rng, n_null)
    # min-P over the layers needs many rounds to reach small p-values; a round costs one
    # matrix product, so the cosine null takes COS_ROUNDS whatever probe.n_null is
    signs = rng.choice([-1.0, 1.0], (max(COS_ROUNDS, n_null), len(sets[target].items)))
    for layer, at_layer in zip(ctx.layers, scores, strict=True):
        for key in auroc:
            auroc[key].append(at_layer.auroc(key))
        (xs, _, _), (xt, yt, _) = _xy(sets[source], layer), _xy(sets[target], layer)
        null.append(shuffled_transfer(xs, swaps, xt, yt))
        source_dir = directions.at(source, layer)
        cos.append(finite(cosine(source_dir, directions.at(target, layer))))
        observed, rounds_at = crossfit_cosines(
            sets[source].differences(layer), half_s, sets[target].differences(layer), half_t, signs
        )
        cos_fit.append(finite(observed))
        cos_null.append(rounds_at)
    rounds = np.array(null)  # layers x rounds
    threshold, adjusted = max_t(rounds, auroc[f"{source}_to_{target}"])
    cos_rounds = np.array(cos_null)
    return GuiseProbes(
        auroc=auroc,
        null_auroc_95=[finite(float(np.nanquantile(r, 0.95))) for r in rounds],
        cos=cos,
        cos_crossfit=cos_fit,
        cos_null_95=[
            finite(float(np.nanquantile(r, 0.95))) if np.isfinite(r).any() else None
            for r in cos_rounds
        ],
        cos_p_adjusted=min_p(cos_rounds, cos_fit),
        null_max_95=finite(threshold),
        transfer_p_adjusted=adjusted,
    )


def layer_comparisons(
    layers: Sequence[int],
    langs: Sequence[str],
    analysis: AnalysisConfig,
    scores: Sequence[LayerScores],
    bag: LayerScores,
    base: Sequence[LayerScores] | None,
) -> dict[str, Any]:
    """Per layer, the probed model's AUROCs (``scores``, one per layer) minus:

    - the bag-of-tokens baseline's (``bag``), within each language (across languages a bag of
      one language's tokens carries nothing to the other, so that baseline is 0.5 there by
      construction);
    - the embeddings' (layer 0, when measured), within and across languages;
    - the base model's on the same prompts (``base``).

    Each with a band simultaneous over the layers (:mod:`guiselab.probe._bands`)."""
    level = analysis.ci_level
    keys = list(bag.by_key)
    out: dict[str, Any] = {
        "lexical_auroc": {k: bag.auroc(k) for k in keys},
        "band": BAND,
        "band_level": level,
        "beyond_lexical": {
            k: auroc_band(
                scores, [bag] * len(scores), k, rng_for(analysis.seed, "probe-lexical", k), level
            )
            for k in keys
            if k in langs
        },
    }
    if 0 in layers:
        embeddings = scores[list(layers).index(0)]
        out["beyond_embeddings"] = {
            k: auroc_band(
                scores,
                [embeddings] * len(scores),
                k,
                rng_for(analysis.seed, "probe-embeddings", k),
                level,
            )
            for k in keys
        }
    if base is not None:
        out["minus_base_auroc"] = {
            k: auroc_band(scores, base, k, rng_for(analysis.seed, "probe-base", k), level)
            for k in keys
        }
    return out
