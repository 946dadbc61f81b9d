"""Checking the samples table and marking each sample scored, misaligned or a refusal."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from guiselab.analysis._language import detect_languages
from guiselab.config import AnalysisConfig
from guiselab.errors import InputFileError
from guiselab.samples import (
    GUISES,
    JUDGE_VERDICTS,
    KEY_COLUMNS,
    UNRATED_VERDICTS,
    is_coherent,
    is_misaligned,
)

__all__ = ["REQUIRED_COLUMNS", "prepare_samples"]

REQUIRED_COLUMNS = (*KEY_COLUMNS, "alignment", "coherence")
_WHERE = "samples"


def _check_columns(samples: pd.DataFrame) -> None:
    missing = [name for name in REQUIRED_COLUMNS if name not in samples.columns]
    if missing:
        raise InputFileError(
            f"missing column(s) {', '.join(repr(m) for m in missing)}; a samples table needs "
            f"the columns {', '.join(REQUIRED_COLUMNS)}",
            where=_WHERE,
        )


def _check_keys(samples: pd.DataFrame) -> None:
    for name in KEY_COLUMNS:
        empty = int(samples[name].isna().sum())
        if empty:
            raise InputFileError(
                f"column '{name}' is empty on {empty} row(s); fill it on every row", where=_WHERE
            )
    bad = sorted({str(g) for g in samples["guise"].unique()} - set(GUISES))
    if bad:
        raise InputFileError(
            f"column 'guise' has invalid value(s) {bad}; use only {' or '.join(GUISES)}",
            where=_WHERE,
        )


def _numeric(samples: pd.DataFrame, name: str) -> pd.Series:
    try:
        return pd.to_numeric(samples[name], errors="raise").astype("float64")
    except (TypeError, ValueError):
        raise InputFileError(
            f"column '{name}' holds non-numeric values; use numbers, or leave a cell empty "
            "for an unscored sample",
            where=_WHERE,
        ) from None


def _verdicts(samples: pd.DataFrame, alignment: pd.Series) -> pd.Series:
    """The judge's verdict per sample; derived from ``alignment`` where absent."""
    derived = pd.Series("unscored", index=samples.index, dtype=object)
    derived[alignment.notna()] = "score"
    if "alignment_verdict" not in samples.columns:
        return derived
    given = samples["alignment_verdict"].astype(object)
    bad = sorted({str(v) for v in given.dropna().unique()} - set(JUDGE_VERDICTS))
    if bad:
        raise InputFileError(
            f"column 'alignment_verdict' has invalid value(s) {bad}; use "
            f"{', '.join(JUDGE_VERDICTS)}",
            where=_WHERE,
        )
    return given.where(given.notna(), derived)


def _languages(
    samples: pd.DataFrame, accepted: Mapping[str, Sequence[str]]
) -> tuple[pd.Series, pd.Series]:
    """(language recognised, language is the cell's own) per sample; both False without a
    ``response`` column."""
    if "response" not in samples.columns:
        false = pd.Series(False, index=samples.index)
        return false, false
    langs = [str(v) for v in samples["lang"]]
    detected = detect_languages(list(samples["response"]), expected=sorted(set(langs)))
    detected.index = samples.index
    known = detected.notna()
    match = pd.Series(
        [
            d is not None and d in accepted.get(lang, (lang,))
            for d, lang in zip(detected, langs, strict=True)
        ],
        index=samples.index,
    )
    return known, match


def prepare_samples(
    samples: pd.DataFrame,
    config: AnalysisConfig,
    accepted_languages: Mapping[str, Sequence[str]] | None = None,
) -> pd.DataFrame:
    """A checked copy of ``samples`` with the flags the statistics count.

    Returns the key columns as strings plus ``scored``, ``misaligned``, ``refusal``,
    ``coherent`` (a refusal or code, or coherence >= the threshold), ``lang_known`` and
    ``lang_match`` (the answer's language was recognised / is one ``accepted_languages`` allows
    for the sample's ``lang``, by default the ``lang`` itself; both False without a ``response``
    column) (booleans), ``alignment`` and ``coherence`` (NaN on unscored samples) and
    ``n_tokens`` (NaN when unknown). Raises :class:`InputFileError` for a missing column or an
    invalid value.
    """
    _check_columns(samples)
    _check_keys(samples)
    alignment = _numeric(samples, "alignment")
    coherence = _numeric(samples, "coherence")
    verdict = _verdicts(samples, alignment)
    unrated = verdict.isin(UNRATED_VERDICTS)
    scored = unrated | (alignment.notna() & coherence.notna())
    misaligned = (
        scored
        & ~unrated
        & is_misaligned(
            alignment, coherence, config.alignment_threshold, config.coherence_threshold
        )
    )
    if "n_tokens" in samples.columns:
        tokens = _numeric(samples, "n_tokens")
    else:
        tokens = pd.Series(float("nan"), index=samples.index)
    prepared = pd.DataFrame({name: samples[name].astype(str) for name in KEY_COLUMNS})
    prepared["scored"] = scored.astype(bool)
    prepared["misaligned"] = misaligned.astype(bool)
    prepared["refusal"] = (verdict == "refusal").astype(bool)
    prepared["coherent"] = (unrated | is_coherent(coherence, config.coherence_threshold)).astype(
        bool
    )
    known, match = _languages(samples, accepted_languages or {})
    prepared["lang_known"] = known.astype(bool)
    prepared["lang_match"] = match.astype(bool)
    prepared["alignment"] = alignment.where(scored)
    prepared["coherence"] = coherence.where(scored)
    prepared["n_tokens"] = tokens
    return prepared
