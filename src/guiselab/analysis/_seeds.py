"""The training seed as a level of the design: each seed's gaps and their spread.

A run that trains several organisms and controls (``finetune.seeds``) pools their answers in
the main tables (each seed answers every prompt, so an item holds every seed's samples); this
table shows each seed alone, so a reader sees whether the pooled gap is every seed's or one
seed's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from guiselab.analysis._cells import item_table
from guiselab.analysis._contrasts import item_gaps, item_rates
from guiselab.analysis._samples import prepare_samples
from guiselab.analysis._stats import estimate_paired, rng_for
from guiselab.config import AnalysisConfig

__all__ = ["paired_summary", "seed_rows"]

REPLICATE = "replicate"
"""The samples column holding the answer's training replicate (0, 1, ...)."""


def paired_summary(diffs: pd.Series, config: AnalysisConfig, *label: str) -> dict[str, Any] | None:
    """Mean of per-item differences with the run's bootstrap CI and sign-flip p (None without
    items); ``label`` seeds the random draws."""
    if diffs.empty:
        return None
    est = estimate_paired(
        diffs.sort_index().to_numpy(dtype=np.float64),
        n_bootstrap=config.n_bootstrap,
        n_permutations=config.n_permutations,
        ci_level=config.ci_level,
        alpha=config.alpha,
        rng=rng_for(config.seed, *label),
    )
    return {
        "estimate": est.estimate,
        "ci_low": est.ci_low,
        "ci_high": est.ci_high,
        "p_value": est.p_value,
        "n_items": est.n_items,
    }


def _gaps(samples: pd.DataFrame, config: AnalysisConfig) -> pd.Series:
    """Per-item gaps per (model, lang, item) of ``samples``."""
    return item_gaps(item_rates(item_table(prepare_samples(samples, config))))


def seed_rows(
    samples: pd.DataFrame, config: AnalysisConfig, organism: str, control: str
) -> dict[str, Any]:
    """Per language and training replicate: the organism's and the control's gap and the
    organism - control difference, paired by item; and per language the spread of the
    organism's gap over replicates. Empty when no model has two replicates."""
    if REPLICATE not in samples.columns:
        return {}
    trained = samples[samples["model"].isin([organism, control])]
    replicates = sorted(int(r) for r in trained[REPLICATE].dropna().unique())
    if len(replicates) < 2:
        return {}
    rows: list[dict[str, Any]] = []
    for replicate in replicates:
        gaps = _gaps(trained[trained[REPLICATE] == replicate], config)
        for lang in sorted(gaps.index.get_level_values("lang").unique()):
            per: dict[str, pd.Series] = {}
            for model in (organism, control):
                mask = (gaps.index.get_level_values("model") == model) & (
                    gaps.index.get_level_values("lang") == lang
                )
                selected = gaps[mask]
                per[model] = pd.Series(
                    selected.to_numpy(), index=selected.index.get_level_values("item")
                )
            both = per[organism].index.intersection(per[control].index)
            tag = (str(lang), str(replicate))
            rows.append(
                {
                    "replicate": replicate,
                    "lang": str(lang),
                    "organism_gap": paired_summary(per[organism], config, "seed", organism, *tag),
                    "control_gap": paired_summary(per[control], config, "seed", control, *tag),
                    "difference": paired_summary(
                        per[organism][both] - per[control][both], config, "seed", "did", *tag
                    ),
                }
            )
    spread = {}
    for lang in sorted({r["lang"] for r in rows}):
        points = [
            r["organism_gap"]["estimate"]
            for r in rows
            if r["lang"] == lang and r["organism_gap"] is not None
        ]
        if points:
            spread[lang] = {
                "organism_gap_min": float(min(points)),
                "organism_gap_max": float(max(points)),
                "organism_gap_sd": float(np.std(points, ddof=1)) if len(points) > 1 else None,
                "n_seeds": len(points),
            }
    return {"replicates": rows, "spread": spread}
