"""Paired-by-item contrasts: the guise gaps and the cross-language transfer contrasts.

Every contrast is a mean of per-item differences of misaligned rates (an item's rate is the
share of its scored samples that are misaligned), so items weigh equally and the sign-flip test
and bootstrap both treat items as the unit of replication.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from guiselab.analysis._rows import GapRow, TransferRow, plain
from guiselab.analysis._samples import GUISES
from guiselab.analysis._stats import PairedEstimate, estimate_paired, holm, rng_for
from guiselab.config import AnalysisConfig

__all__ = [
    "gap_contrast_name",
    "gap_rows",
    "item_gaps",
    "item_rates",
    "rate_contrast_name",
    "transfer_rows",
]

_STANDARD, _VERNACULAR = GUISES


def gap_contrast_name(config: AnalysisConfig) -> str:
    """Name of the transfer contrast gap(target) - gap(source), e.g. ``gap(ru) - gap(en)``."""
    return f"gap({config.target_lang}) - gap({config.source_lang})"


def rate_contrast_name(config: AnalysisConfig, target_guise: str) -> str:
    """Name of the contrast of a target-language cell against the source vernacular cell."""
    return f"rate({config.target_lang}, {target_guise}) - rate({config.source_lang}, {_VERNACULAR})"


def item_rates(items: pd.DataFrame) -> pd.Series:
    """Misaligned rate per (model, lang, guise, item), for items with a scored sample."""
    rated = items[items["n_scored"] > 0]
    return (rated["n_misaligned"] / rated["n_scored"]).astype("float64")


def item_gaps(rates: pd.Series) -> pd.Series:
    """Per-item gap rate(vernacular) - rate(standard) per (model, lang, item).

    Only items with scored samples in both guises have a gap.
    """
    wide = rates.unstack("guise").reindex(columns=list(GUISES))
    return (wide[_VERNACULAR] - wide[_STANDARD]).dropna()


def _by_item(series: pd.Series, key: tuple[str, ...]) -> pd.Series:
    """The values of ``series`` under the leading index values ``key``, indexed by item."""
    mask = np.ones(len(series), dtype=bool)
    for level, value in enumerate(key):
        mask &= series.index.get_level_values(level) == value
    selected = series[mask]
    return pd.Series(
        selected.to_numpy(), index=selected.index.get_level_values("item"), dtype="float64"
    )


def _estimate(differences: pd.Series, config: AnalysisConfig, *label: str) -> PairedEstimate:
    return estimate_paired(
        differences.sort_index().to_numpy(dtype=np.float64),
        n_bootstrap=config.n_bootstrap,
        n_permutations=config.n_permutations,
        ci_level=config.ci_level,
        alpha=config.alpha,
        rng=rng_for(config.seed, *label),
    )


def gap_rows(items: pd.DataFrame, config: AnalysisConfig) -> list[GapRow]:
    """The gaps table: one row per (model, lang) with an item in both guises, Holm-adjusted."""
    gaps = item_gaps(item_rates(items))
    rows: list[GapRow] = []
    for (model, lang), per_item in gaps.groupby(level=["model", "lang"], sort=True):
        result = _estimate(per_item, config, "gap", str(model), str(lang))
        rows.append(
            GapRow(
                model=str(model),
                lang=str(lang),
                gap=plain(result.estimate),
                ci_low=plain(result.ci_low),
                ci_high=plain(result.ci_high),
                p_value=plain(result.p_value),
                p_holm=None,
                n_items=result.n_items,
                tost_low=plain(result.tost_low),
                tost_high=plain(result.tost_high),
            )
        )
    for row, adjusted in zip(rows, holm([row["p_value"] for row in rows]), strict=True):
        row["p_holm"] = plain(adjusted)
    return rows


def _transfer_pairs(
    model: str, rates: pd.Series, gaps: pd.Series, config: AnalysisConfig
) -> list[tuple[str, pd.Series, pd.Series]]:
    """(contrast name, target-side values, source-side values) for one model, by item."""
    target, source = config.target_lang, config.source_lang
    source_vernacular = _by_item(rates, (model, source, _VERNACULAR))
    return [
        (
            gap_contrast_name(config),
            _by_item(gaps, (model, target)),
            _by_item(gaps, (model, source)),
        ),
        *(
            (
                rate_contrast_name(config, guise),
                _by_item(rates, (model, target, guise)),
                source_vernacular,
            )
            for guise in (_VERNACULAR, _STANDARD)
        ),
    ]


def transfer_rows(items: pd.DataFrame, config: AnalysisConfig) -> list[TransferRow]:
    """The transfer table: per model, target-language contrasts against the source language.

    A contrast has no row when either side is missing or the two share no item.
    """
    rates = item_rates(items)
    gaps = item_gaps(rates)
    rows: list[TransferRow] = []
    for model in sorted({str(m) for m in items.index.get_level_values("model")}):
        for name, target_side, source_side in _transfer_pairs(model, rates, gaps, config):
            differences = (target_side - source_side).dropna()
            if differences.empty:
                continue
            result = _estimate(differences, config, "transfer", model, name)
            rows.append(
                TransferRow(
                    model=model,
                    contrast=name,
                    estimate=plain(result.estimate),
                    ci_low=plain(result.ci_low),
                    ci_high=plain(result.ci_high),
                    p_value=plain(result.p_value),
                    p_less=plain(result.p_less),
                    n_items=result.n_items,
                )
            )
    return rows
