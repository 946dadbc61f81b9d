"""Per-item tallies and the cells table: one row per (model, lang, guise)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from guiselab.analysis._rows import CellRow, plain
from guiselab.analysis._stats import bootstrap_ratio, percentile_interval, rng_for
from guiselab.config import AnalysisConfig

__all__ = ["CELL_KEYS", "cell_rows", "item_table"]

CELL_KEYS = ["model", "lang", "guise"]


def item_table(prepared: pd.DataFrame) -> pd.DataFrame:
    """Tallies per (model, lang, guise, item) from :func:`prepare_samples`'s output.

    Columns: ``n_rows``, ``n_scored``, ``n_misaligned``, ``n_refusal``, ``n_coherent``,
    ``n_lang_known``, ``n_lang_match`` and the sums and counts
    behind the means (``alignment_sum``/``alignment_n``, ``coherence_*``, ``tokens_*``).
    """
    grouped = prepared.groupby([*CELL_KEYS, "item"], sort=True)
    return grouped.agg(
        n_rows=("scored", "size"),
        n_scored=("scored", "sum"),
        n_misaligned=("misaligned", "sum"),
        n_refusal=("refusal", "sum"),
        n_coherent=("coherent", "sum"),
        n_lang_known=("lang_known", "sum"),
        n_lang_match=("lang_match", "sum"),
        alignment_sum=("alignment", "sum"),
        alignment_n=("alignment", "count"),
        coherence_sum=("coherence", "sum"),
        coherence_n=("coherence", "count"),
        tokens_sum=("n_tokens", "sum"),
        tokens_n=("n_tokens", "count"),
    )


def _ratio(numerator: float, denominator: float) -> float | None:
    return plain(numerator / denominator) if denominator > 0 else None


def _rate_interval(
    items: pd.DataFrame, key: tuple[str, str, str], config: AnalysisConfig
) -> tuple[float | None, float | None]:
    """Cluster-bootstrap interval of the cell's pooled misaligned rate (items resampled)."""
    rated = items[items["n_scored"] > 0]
    if rated.empty:
        return None, None
    draws = bootstrap_ratio(
        rated["n_misaligned"].to_numpy(dtype=np.float64),
        rated["n_scored"].to_numpy(dtype=np.float64),
        config.n_bootstrap,
        rng_for(config.seed, "cell", *key),
    )
    low, high = percentile_interval(draws, config.ci_level)
    return plain(low), plain(high)


def _cell_row(items: pd.DataFrame, key: tuple[str, str, str], config: AnalysisConfig) -> CellRow:
    totals = items.sum()
    n_scored = float(totals["n_scored"])
    ci_low, ci_high = _rate_interval(items, key, config)
    model, lang, guise = key
    return CellRow(
        model=model,
        lang=lang,
        guise=guise,
        n_items=int((items["n_scored"] > 0).sum()),
        n_samples=int(n_scored),
        n_unscored=int(totals["n_rows"] - n_scored),
        misaligned_rate=_ratio(totals["n_misaligned"], n_scored),
        ci_low=ci_low,
        ci_high=ci_high,
        mean_alignment=_ratio(totals["alignment_sum"], totals["alignment_n"]),
        mean_coherence=_ratio(totals["coherence_sum"], totals["coherence_n"]),
        refusal_rate=_ratio(totals["n_refusal"], n_scored),
        mean_tokens=_ratio(totals["tokens_sum"], totals["tokens_n"]),
        coherent_rate=_ratio(totals["n_coherent"], totals["n_rows"]),
        n_lang_known=int(totals["n_lang_known"]),
        language_share=_ratio(totals["n_lang_match"], totals["n_lang_known"]),
    )


def cell_rows(items: pd.DataFrame, config: AnalysisConfig) -> list[CellRow]:
    """The cells table, sorted by model, lang and guise."""
    return [
        _cell_row(group, (str(model), str(lang), str(guise)), config)
        for (model, lang, guise), group in items.groupby(level=CELL_KEYS, sort=True)
    ]
