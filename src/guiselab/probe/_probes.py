"""Guise probes per layer and the cross-language cosine of the guise directions, each against
its null.

Per layer: a guise probe within each language (out-of-fold AUROC, items kept whole) and across
languages (trained on one, tested on the other) against the 95th percentile of label-shuffled
transfers; the cosine of the two languages' guise directions against the 95th percentile of
sign-flipped and random directions. Both nulls draw from one generator, layer by layer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from guiselab.probe._context import ProbeContext
from guiselab.probe._directions import GuiseDirections, GuisePairs
from guiselab.probe._measure import (
    cosine,
    cv_auroc,
    finite,
    null_cosine_95,
    shuffled_transfer_95,
    transfer_auroc,
)

__all__ = ["GuiseProbes", "guise_probes"]


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
        data = {}
        for lang, pairs in sets.items():
            items = pairs.items
            x = np.vstack([pairs.standard[:, layer], pairs.vernacular[:, layer]])
            y = np.concatenate([np.zeros(len(items)), np.ones(len(items))])
            data[lang] = (x, y, items + items)
            auroc[lang].append(finite(cv_auroc(x, y, items + items)) if len(items) >= 2 else None)
        (xs, ys, gs), (xt, yt, _) = data[source], data[target]
        auroc[f"{source}_to_{target}"].append(finite(transfer_auroc(xs, ys, xt, yt)))
        auroc[f"{target}_to_{source}"].append(finite(transfer_auroc(xt, yt, xs, ys)))
        null.append(finite(shuffled_transfer_95(xs, ys, gs, xt, yt, rng, n_null)))
        source_dir = directions.at(source, layer)
        cos.append(finite(cosine(source_dir, directions.at(target, layer))))
        cos_null.append(
            finite(
                null_cosine_95(source_dir, sets[target].differences(layer), rng, max(n_null, 20))
            )
        )
    return GuiseProbes(auroc, null, cos, cos_null)
