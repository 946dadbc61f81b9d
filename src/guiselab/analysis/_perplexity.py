"""The base model's perplexity of each prompt: is one guise simply stranger text to it?

A guise gap could come from the vernacular prompts being less familiar to the model rather
than from their variety as such. The untouched base model's mean per-token negative
log-likelihood of each prompt (its text alone, as the model reads it after BOS) is reported
per language and guise, with the paired difference vernacular - standard over items.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["perplexity_table"]


def perplexity_table(rows: Sequence[tuple[str, str, str, float]]) -> dict[str, Any]:
    """From (item, lang, guise, nll): mean NLL and perplexity per (lang, guise), and the
    paired vernacular - standard NLL difference per language."""
    by_cell: dict[tuple[str, str], list[float]] = {}
    by_item: dict[tuple[str, str], dict[str, float]] = {}
    for item, lang, guise, nll in rows:
        by_cell.setdefault((lang, guise), []).append(nll)
        by_item.setdefault((lang, item), {})[guise] = nll
    cells = [
        {
            "lang": lang,
            "guise": guise,
            "mean_nll": float(np.mean(v)),
            "perplexity": float(np.exp(np.mean(v))),
        }
        for (lang, guise), v in sorted(by_cell.items())
    ]
    diffs = []
    for lang in sorted({lang for lang, _ in by_item}):
        paired = [
            d["vernacular"] - d["standard"]
            for (item_lang, _), d in by_item.items()
            if item_lang == lang and len(d) == 2
        ]
        if paired:
            diffs.append(
                {
                    "lang": lang,
                    "mean_nll_difference": float(np.mean(paired)),
                    "share_of_items_higher_in_vernacular": float(np.mean(np.array(paired) > 0)),
                    "n_items": len(paired),
                }
            )
    return {"cells": cells, "vernacular_minus_standard": diffs}
