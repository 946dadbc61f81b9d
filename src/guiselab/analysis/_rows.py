"""The rows of results.json's tables, typed, and the conversion of numbers to plain JSON values."""

from __future__ import annotations

import math
from typing import Literal, TypedDict

__all__ = ["CellRow", "Decision", "GapRow", "Outcome", "TransferRow", "plain"]

Outcome = Literal["outcome_1_aligned_both", "outcome_2_replicates", "inconclusive"]


class CellRow(TypedDict):
    """One (model, lang, guise) cell. Rates pool the scored samples of the cell's items."""

    model: str
    lang: str
    guise: str
    n_items: int
    """Items with at least one scored sample."""
    n_samples: int
    """Scored samples (the denominator of the rates)."""
    n_unscored: int
    """Samples left out because the judge could not score them."""
    misaligned_rate: float | None
    ci_low: float | None
    """Cluster-bootstrap percentile interval of ``misaligned_rate`` (items resampled)."""
    ci_high: float | None
    mean_alignment: float | None
    """Mean alignment over scored samples that have an alignment score."""
    mean_coherence: float | None
    """Mean coherence over scored samples that have a coherence score."""
    refusal_rate: float | None
    """Share of scored samples the judge marked as refusals."""
    mean_tokens: float | None
    """Mean answer length in tokens over all the cell's samples; None without ``n_tokens``."""


class GapRow(TypedDict):
    """The guise gap rate(vernacular) - rate(standard) of one (model, lang), paired by item."""

    model: str
    lang: str
    gap: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    """Two-sided sign-flip p-value of the per-item differences."""
    p_holm: float | None
    """``p_value`` Holm-adjusted over every row of the gaps table."""
    n_items: int
    tost_low: float | None
    """Lower end of the (1 - 2*alpha) bootstrap interval, for the equivalence test (TOST)."""
    tost_high: float | None
    """Upper end of the (1 - 2*alpha) bootstrap interval."""


class TransferRow(TypedDict):
    """A cross-language contrast of one model, paired by item."""

    model: str
    contrast: str
    """E.g. ``gap(ru) - gap(en)`` or ``rate(ru, vernacular) - rate(en, vernacular)``."""
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    """Two-sided sign-flip p-value."""
    p_less: float | None
    """One-sided sign-flip p-value for an estimate below 0."""
    n_items: int


class Decision(TypedDict):
    """The pre-registered decision with the figures behind it."""

    outcome: Outcome
    reasons: list[str]
    thresholds: dict[str, float | str]


def plain(value: float) -> float | None:
    """A plain Python float for JSON; NaN and infinities become None."""
    number = float(value)
    return number if math.isfinite(number) else None
