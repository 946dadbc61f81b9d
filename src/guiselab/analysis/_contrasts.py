"""Paired-by-item contrasts: the guise gaps and the cross-language transfer contrasts.

Every contrast is a mean of per-item differences of misaligned rates (an item's rate is the
share of its scored samples that are misaligned), so items weigh equally and the sign-flip test
and bootstrap both treat items as the unit of replication.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import t as t_dist

from guiselab.analysis._rows import ContrastRow, GapRow, TransferRow, plain
from guiselab.analysis._stats import (
    PairedEstimate,
    difference_interval,
    estimate_paired,
    holm,
    percentile_interval,
    rng_for,
)
from guiselab.config import AnalysisConfig
from guiselab.samples import GUISES

__all__ = [
    "adjust_family",
    "cell_vs_control_name",
    "coherence_name",
    "contrast_rows",
    "did_name",
    "family_members",
    "gap_contrast_name",
    "gap_rows",
    "item_gaps",
    "item_rates",
    "rate_contrast_name",
    "ratio_name",
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


Counts = dict[tuple[str, str, str], pd.DataFrame]
"""Per (model, lang, guise) cell, its items' ``n_misaligned`` and ``n_scored`` by item."""


def _cell_counts(items: pd.DataFrame) -> Counts:
    return {
        (str(m), str(lang), str(g)): frame.droplevel(["model", "lang", "guise"])[
            ["n_misaligned", "n_scored"]
        ]
        for (m, lang, g), frame in items.groupby(level=["model", "lang", "guise"], sort=False)
    }


def _pooled(counts: Counts, key: tuple[str, str, str], among: pd.Index) -> tuple[float, float]:
    """(misaligned, scored) samples of one cell summed over the items ``among``."""
    cell = counts.get(key)
    if cell is None:
        return 0.0, 0.0
    cell = cell[cell.index.isin(among)]
    return float(cell["n_misaligned"].sum()), float(cell["n_scored"].sum())


def _t_interval(differences: pd.Series, level: float) -> tuple[float, float]:
    """The paired t interval of the mean of per-item differences (nan with one item)."""
    values = differences.to_numpy(dtype=np.float64)
    if values.size < 2:
        return float("nan"), float("nan")
    half = (
        t_dist.ppf(0.5 + level / 2.0, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size)
    )
    return float(values.mean() - half), float(values.mean() + half)


def _tost_interval(
    result: PairedEstimate,
    differences: pd.Series,
    counts: Counts,
    first: tuple[str, str, str],
    second: tuple[str, str, str],
    config: AnalysisConfig,
) -> tuple[float, float]:
    """The (1 - 2*alpha) interval of rate(first) - rate(second) over the items of
    ``differences``: the widest of the item bootstrap's percentile interval, the paired t
    interval (the percentile bootstrap alone is too narrow with few items: a TOST on it
    rejected about 6% of the time at a 5% level with 10-60 items) and the Jeffreys-Newcombe
    interval of the pooled counts, so that data with no variance (every answer alike, or a few
    items) never look precise."""
    level = 1.0 - 2.0 * config.alpha
    among = differences.index
    k1, n1 = _pooled(counts, first, among)
    k2, n2 = _pooled(counts, second, among)
    low, high = difference_interval(k1, n1, k2, n2, level)
    return _widest(
        (result.tost_low, result.tost_high), (low, high), _t_interval(differences, level)
    )


def _widest(*intervals: tuple[float, float]) -> tuple[float, float]:
    """The union of intervals, ignoring undefined (NaN) ends; the first must be finite."""
    lows = [low for low, _ in intervals if np.isfinite(low)]
    highs = [high for _, high in intervals if np.isfinite(high)]
    return min(lows), max(highs)


def gap_rows(items: pd.DataFrame, config: AnalysisConfig) -> list[GapRow]:
    """The gaps table: one row per (model, lang) with an item in both guises.

    ``p_holm`` is left None here: :func:`adjust_family` fills it for the confirmatory rows.
    """
    gaps = item_gaps(item_rates(items))
    counts = _cell_counts(items)
    rows: list[GapRow] = []
    for (model, lang), per_item in gaps.groupby(level=["model", "lang"], sort=True):
        result = _estimate(per_item, config, "gap", str(model), str(lang))
        by_item = pd.Series(
            per_item.to_numpy(), index=per_item.index.get_level_values("item"), dtype="float64"
        )
        tost_low, tost_high = _tost_interval(
            result,
            by_item,
            counts,
            (str(model), str(lang), _VERNACULAR),
            (str(model), str(lang), _STANDARD),
            config,
        )
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
                tost_low=plain(tost_low),
                tost_high=plain(tost_high),
                family="descriptive",
            )
        )
    return rows


def _contrast_row(
    name: str,
    result: PairedEstimate,
    tost: tuple[float, float] | None = None,
) -> ContrastRow:
    low, high = tost if tost is not None else (result.tost_low, result.tost_high)
    return ContrastRow(
        name=name,
        estimate=plain(result.estimate),
        ci_low=plain(result.ci_low),
        ci_high=plain(result.ci_high),
        tost_low=plain(low),
        tost_high=plain(high),
        p_value=plain(result.p_value),
        p_greater=plain(result.p_greater),
        p_holm=None,
        n_items=result.n_items,
        family="descriptive",
    )


def did_name(lang: str) -> str:
    """Name of the difference-in-differences contrast organism gap - control gap in ``lang``."""
    return f"did({lang})"


def cell_vs_control_name(lang: str, guise: str, reference: str = "control") -> str:
    """Name of the contrast organism - ``reference`` (control or base) in one cell."""
    return f"organism - {reference} ({lang}, {guise})"


def ratio_name(config: AnalysisConfig) -> str:
    """Name of the transfer ratio target gap / source gap of the organism."""
    return f"transfer ratio ({config.target_lang} / {config.source_lang})"


def coherence_name(config: AnalysisConfig, guise: str, model: str = "organism") -> str:
    """Name of the contrast of a model's coherent rates, target cell - source cell of one
    guise."""
    return f"coherent {model} ({config.target_lang}, {guise}) - ({config.source_lang}, {guise})"


def _ratio_row(
    target: pd.Series, source: pd.Series, config: AnalysisConfig, organism: str
) -> ContrastRow | None:
    """The transfer ratio mean(target gaps) / mean(source gaps) over the items with both, with
    an item bootstrap (the same items drawn for numerator and denominator). A draw whose source
    gap is not positive has no meaningful ratio and counts as infinitely large."""
    both = pd.concat([target, source], axis=1, keys=["t", "s"]).dropna().sort_index()
    if both.empty:
        return None
    t, s = both["t"].to_numpy(np.float64), both["s"].to_numpy(np.float64)
    rng = rng_for(config.seed, "ratio", organism)
    draws = np.empty(config.n_bootstrap, dtype=np.float64)
    n = t.size
    for start in range(0, config.n_bootstrap, 500):
        stop = min(start + 500, config.n_bootstrap)
        index = rng.integers(0, n, size=(stop - start, n))
        num, den = t[index].mean(axis=1), s[index].mean(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            draws[start:stop] = np.where(den > 0, num / den, np.inf)
    unbounded = float(np.mean(~np.isfinite(draws)))
    finite = draws[np.isfinite(draws)]

    def interval(level: float) -> tuple[float, float]:
        # Draws without a finite ratio sit above every finite one: once they fill the upper
        # tail, the interval has no finite upper end (NaN, None in JSON).
        if unbounded >= (1.0 - level) / 2.0 or finite.size == 0:
            low = float(np.quantile(finite, (1.0 - level) / 2.0)) if finite.size else np.nan
            return low, float("nan")
        return percentile_interval(
            np.concatenate([finite, np.full(draws.size - finite.size, finite.max())]), level
        )

    ci = interval(config.ci_level)
    tost = interval(1.0 - 2.0 * config.alpha)
    estimate = t.mean() / s.mean() if s.mean() > 0 else float("nan")
    return ContrastRow(
        name=ratio_name(config),
        estimate=plain(estimate),
        ci_low=plain(ci[0]),
        ci_high=plain(ci[1]),
        tost_low=plain(tost[0]),
        tost_high=plain(tost[1]),
        p_value=None,
        p_greater=None,
        p_holm=None,
        n_items=int(n),
        family="descriptive",
    )


def contrast_rows(
    items: pd.DataFrame, config: AnalysisConfig, organism: str, control: str, base: str
) -> list[ContrastRow]:
    """The contrasts the decision rule reads, each paired by item: the difference-in-
    differences organism gap - control gap per language, organism - control and organism -
    base per target cell, the transfer ratio, and the organism's and control's coherent rate
    target - source per guise."""
    rates = item_rates(items)
    gaps = item_gaps(rates)
    counts = _cell_counts(items)
    target, source = config.target_lang, config.source_lang
    rows: list[ContrastRow] = []
    for lang in (source, target):
        differences = (_by_item(gaps, (organism, lang)) - _by_item(gaps, (control, lang))).dropna()
        if not differences.empty:
            rows.append(_contrast_row(did_name(lang), _estimate(differences, config, "did", lang)))
    for reference in (control, base):
        for guise in GUISES:
            differences = (
                _by_item(rates, (organism, target, guise))
                - _by_item(rates, (reference, target, guise))
            ).dropna()
            if differences.empty:
                continue
            name = cell_vs_control_name(target, guise, reference)
            result = _estimate(differences, config, "cell", reference, target, guise)
            tost = _tost_interval(
                result,
                differences,
                counts,
                (organism, target, guise),
                (reference, target, guise),
                config,
            )
            rows.append(_contrast_row(name, result, tost))
    ratio = _ratio_row(
        _by_item(gaps, (organism, target)), _by_item(gaps, (organism, source)), config, organism
    )
    if ratio is not None:
        rows.append(ratio)
    coherent = (items["n_coherent"] / items["n_rows"]).astype("float64")
    for model in (organism, control):
        for guise in GUISES:
            differences = (
                _by_item(coherent, (model, target, guise))
                - _by_item(coherent, (model, source, guise))
            ).dropna()
            if not differences.empty:
                result = _estimate(differences, config, "coherent", model, guise)
                tost = _widest(
                    (result.tost_low, result.tost_high),
                    _t_interval(differences, 1.0 - 2.0 * config.alpha),
                )
                rows.append(_contrast_row(coherence_name(config, guise, model), result, tost))
    return rows


def family_members(config: AnalysisConfig, organism: str) -> list[str]:
    """The confirmatory family the decision's significance tests are Holm-corrected over."""
    return [
        *(f"gap {organism} {lang}" for lang in (config.source_lang, config.target_lang)),
        *(did_name(lang) for lang in (config.source_lang, config.target_lang)),
    ]


def adjust_family(
    gaps: list[GapRow], contrasts: list[ContrastRow], config: AnalysisConfig, organism: str
) -> None:
    """Mark the confirmatory rows and Holm-adjust their p-values together (in place).

    The family is the organism's source and target gaps and the two difference-in-differences
    contrasts; every other row is descriptive and keeps ``p_holm`` None, so reporting the base
    and control gaps never changes what the decision's tests need to pass.
    """
    members = set(family_members(config, organism))
    chosen: list[GapRow | ContrastRow] = [
        *(g for g in gaps if f"gap {g['model']} {g['lang']}" in members),
        *(c for c in contrasts if c["name"] in members),
    ]
    for row, adjusted in zip(chosen, holm([r["p_value"] for r in chosen]), strict=True):
        row["family"] = "confirmatory"
        row["p_holm"] = plain(adjusted)


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
