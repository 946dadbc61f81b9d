"""Guise probes per layer and the cross-language cosine of the guise directions, each against
its null, a lexical baseline, and the base model beside the probed one.

Per layer: a guise probe within each language (out-of-fold AUROC, items kept whole) and across
languages (trained on one, tested on the other) against the 95th percentile of label-shuffled
transfers; the cosine of the two languages' guise directions against the 95th percentile of
sign-flipped and random directions. Both nulls draw from one generator, layer by layer.

The **lexical baseline** is the same probe on the prompts' bags of tokens (how often each
token id occurs): a vernacular marked by its words is separated there already, so a layer's
AUROC says something about the model only where it exceeds the baseline's. Each layer's AUROC
minus the baseline's, and the probed model's minus the base model's (the same prompts, items
and folds), come with item-bootstrap intervals that are simultaneous over the measured layers
(Bonferroni: level 1 - alpha / layers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from jaxtyping import Float

from guiselab.analysis import rng_for
from guiselab.config import AnalysisConfig
from guiselab.learn import roc_auc
from guiselab.probe._context import ProbeContext
from guiselab.probe._directions import GuiseDirections, GuisePairs
from guiselab.probe._measure import (
    auroc_difference,
    cosine,
    finite,
    null_cosine_95,
    oof_scores,
    shuffled_transfer_95,
    transfer_scores,
)

__all__ = [
    "Difference",
    "GuiseProbes",
    "LayerScores",
    "bag_of_tokens",
    "compare_scores",
    "guise_probes",
    "layer_comparisons",
    "layer_scores",
]

Difference = dict[str, float | None]
"""``{"diff", "ci_low", "ci_high"}`` of one layer (None entries where not finite)."""


@dataclass(frozen=True)
class GuiseProbes:
    """Probe AUROCs and direction cosines, one value per measured layer (None: not finite)."""

    auroc: dict[str, list[float | None]]
    """By language (``en``) and by transfer (``en_to_ru``, ``ru_to_en``)."""
    null_auroc_95: list[float | None]
    """95th percentile of the source -> target transfer with shuffled guise labels."""
    cos: list[float | None]
    """Cosine of the source and target languages' guise directions."""
    cos_null_95: list[float | None]
    """95th percentile of |cos| under the null directions."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "guise_probe_auroc": self.auroc,
            "null_auroc_95": self.null_auroc_95,
            "cos_en_ru": self.cos,
            "cos_null_95": self.cos_null_95,
        }


@dataclass(frozen=True, eq=False)
class LayerScores:
    """Every probe's scores at one layer (or on the bags of tokens): by key (``en``,
    ``en_to_ru``, ...) the scores, labels (1 = vernacular) and items of the rows scored."""

    by_key: dict[str, tuple[np.ndarray, np.ndarray, list[str]]]

    def auroc(self, key: str) -> float | None:
        scores, y, _ = self.by_key[key]
        known = ~np.isnan(scores)
        return finite(roc_auc(scores[known], y[known].astype(bool)))


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


def compare_scores(
    a: LayerScores, b: LayerScores, rng: np.random.Generator, level: float
) -> dict[str, Difference]:
    """AUROC of ``a`` minus ``b`` for every key both have, on the same items, with an item
    bootstrap interval at ``level``."""
    out: dict[str, Difference] = {}
    for key, (sa, y, groups) in a.by_key.items():
        if key not in b.by_key:
            continue
        sb, yb, gb = b.by_key[key]
        if not (np.array_equal(y, yb) and groups == gb):
            raise ValueError(f"probe scores for '{key}' are on different rows")
        diff, low, high = auroc_difference(sa, sb, y, groups, rng, level=level)
        out[key] = {"diff": finite(diff), "ci_low": finite(low), "ci_high": finite(high)}
    return out


def guise_probes(
    ctx: ProbeContext,
    sets: Mapping[str, GuisePairs],
    directions: GuiseDirections,
    rng: np.random.Generator,
) -> GuiseProbes:
    """The probes and cosines of every measured layer, the nulls drawn from ``rng``."""
    source, target = ctx.langs
    n_null = ctx.cfg.n_null
    auroc: dict[str, list[float | None]] = {
        source: [],
        target: [],
        f"{source}_to_{target}": [],
        f"{target}_to_{source}": [],
    }
    null: list[float | None] = []
    cos: list[float | None] = []
    cos_null: list[float | None] = []
    for layer in ctx.layers:
        scores = layer_scores(sets, layer, ctx.langs)
        for key in auroc:
            auroc[key].append(scores.auroc(key))
        (xs, ys, gs), (xt, yt, _) = _xy(sets[source], layer), _xy(sets[target], layer)
        null.append(finite(shuffled_transfer_95(xs, ys, gs, xt, yt, rng, n_null)))
        source_dir = directions.at(source, layer)
        cos.append(finite(cosine(source_dir, directions.at(target, layer))))
        cos_null.append(
            finite(
                null_cosine_95(source_dir, sets[target].differences(layer), rng, max(n_null, 20))
            )
        )
    return GuiseProbes(auroc, null, cos, cos_null)


def layer_comparisons(
    layers: Sequence[int],
    langs: Sequence[str],
    analysis: AnalysisConfig,
    sets: Mapping[str, GuisePairs],
    lexical: Mapping[str, GuisePairs],
    base: Mapping[str, GuisePairs] | None,
) -> dict[str, Any]:
    """Per layer, the probed model's AUROCs minus the lexical baseline's (``lexical``: the
    bags of tokens as one layer) and minus the base model's, with intervals simultaneous over
    the layers; and the baseline's own AUROCs."""
    level = 1.0 - (1.0 - analysis.ci_level) / max(1, len(layers))
    bag = layer_scores(lexical, 0, langs)
    keys = list(bag.by_key)
    beyond: dict[str, list[Difference | None]] = {k: [] for k in keys}
    minus_base: dict[str, list[Difference | None]] = {k: [] for k in keys}
    for layer in layers:
        scores = layer_scores(sets, layer, langs)
        rng = rng_for(analysis.seed, "probe-lexical", str(layer))
        for key, value in compare_scores(scores, bag, rng, level).items():
            beyond[key].append(value)
        if base is not None:
            rng = rng_for(analysis.seed, "probe-base", str(layer))
            base_scores = layer_scores(base, layer, langs)
            for key, value in compare_scores(scores, base_scores, rng, level).items():
                minus_base[key].append(value)
    out: dict[str, Any] = {
        "lexical_auroc": {k: bag.auroc(k) for k in keys},
        "layer_ci_level": level,
        "beyond_lexical": beyond,
    }
    if base is not None:
        out["minus_base_auroc"] = minus_base
    return out
