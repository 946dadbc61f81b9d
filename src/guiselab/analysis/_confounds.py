"""Checks beside the result: do the guises differ in anything but the guise?

A guise gap could come from the prompts' length or familiarity rather than their variety, or
from the judge failing more often on one guise. Reported per language and guise: prompt length
in characters (when the samples carry prompts), and per cell the mean answer length in
tokens, the unscored rate and the incoherent rate (coherence below the threshold among scored
samples). The base model's perplexity of the prompts is added where a run is analyzed (the run's
analysis in ``guiselab.results``), which has the model.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from guiselab.analysis._rows import plain
from guiselab.config import AnalysisConfig
from guiselab.samples import is_incoherent

__all__ = ["confound_table"]


def confound_table(
    samples: pd.DataFrame, prepared: pd.DataFrame, config: AnalysisConfig
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "prompt" in samples.columns:
        prompts = pd.DataFrame(
            {
                "lang": prepared["lang"],
                "guise": prepared["guise"],
                "prompt": samples["prompt"].astype(str),
                "chars": samples["prompt"].astype(str).str.len(),
            }
        ).drop_duplicates(["lang", "guise", "prompt"])  # each distinct prompt once
        out["prompt_chars"] = [
            {"lang": lang, "guise": guise, "mean": plain(float(group["chars"].mean()))}
            for (lang, guise), group in prompts.groupby(["lang", "guise"], sort=True)
        ]
    rows = []
    for (model, lang, guise), group in prepared.groupby(["model", "lang", "guise"], sort=True):
        scored = group[group["scored"]]
        rated = scored["coherence"].dropna()
        rows.append(
            {
                "model": model,
                "lang": lang,
                "guise": guise,
                "mean_tokens": plain(float(group["n_tokens"].mean()))
                if group["n_tokens"].notna().any()
                else None,
                "unscored_rate": plain(float(1 - group["scored"].mean())),
                "incoherent_rate": plain(
                    float(is_incoherent(rated, config.coherence_threshold).mean())
                )
                if len(rated)
                else None,
            }
        )
    out["by_cell"] = rows
    return out
