"""The rows of results.json's tables, typed, and the conversion of numbers to plain JSON values."""

from __future__ import annotations

import math
from typing import Literal, NotRequired, TypedDict

__all__ = [
    "CellRow",
    "Check",
    "ContrastRow",
    "Decision",
    "GapRow",
    "Outcome",
    "TransferRow",
    "plain",
]

Outcome = Literal[
    "outcome_1_aligned_both", "outcome_2_replicates", "outcome_3_misaligned_both", "inconclusive"
]


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
    coherent_rate: float | None
    """Share of all the cell's samples (unscored ones included) that are coherent: coherence
    at or above the threshold, or a refusal or code."""
    n_lang_known: int
    """Samples whose language was recognised (0 without response texts)."""
    language_share: float | None
    """Share of those written in the cell's own language; None when none was recognised."""


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
    """``p_value`` Holm-adjusted over the decision's confirmatory family; None for descriptive
    rows (the base's and control's gaps), which no correction is spent on."""
    n_items: int
    tost_low: float | None
    """Lower end of the (1 - 2*alpha) interval for the equivalence test (TOST): the wider of
    the item bootstrap and the Jeffreys-Newcombe interval of the pooled counts."""
    tost_high: float | None
    """Upper end of that interval."""
    family: str
    """``confirmatory`` (in the Holm family of the decision) or ``descriptive``."""


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


class ContrastRow(TypedDict):
    """A contrast the decision rule reads, paired by item (see ``docs/decision.md``)."""

    name: str
    """E.g. ``did(en)`` (organism gap - control gap), ``organism - control (ru, standard)``,
    ``transfer ratio (ru / en)``, ``coherent (ru, standard) - (en, standard)``."""
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    tost_low: float | None
    """Lower end of the (1 - 2*alpha) interval (with the Jeffreys-Newcombe floor for rates)."""
    tost_high: float | None
    p_value: float | None
    """Two-sided sign-flip p-value (None for the ratio)."""
    p_greater: float | None
    """One-sided sign-flip p-value for an estimate above 0."""
    p_holm: float | None
    """Holm-adjusted over the confirmatory family; None outside it."""
    n_items: int
    family: str
    """``confirmatory`` or ``descriptive``."""


class Check(TypedDict):
    """One condition of the decision rule with the figures behind it."""

    name: str
    stage: str
    """``precondition``, ``outcome_2``, ``outcome_1`` or ``outcome_3``."""
    passed: bool | None
    """None when it could not be assessed (e.g. no judge-validation figures)."""
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    p: float | None
    sentence: str


class Decision(TypedDict):
    """The pre-registered decision with the figures behind it."""

    outcome: Outcome
    reasons: list[str]
    """A headline, then one sentence per check."""
    checks: list[Check]
    thresholds: dict[str, float | str]
    confirmatory: bool
    """True when the analysis used the run's frozen analysis plan unchanged."""
    plan_sha256: str
    """sha256 of the analysis plan this decision applied."""
    exploratory_reason: str | None
    """Why the decision is exploratory; None when confirmatory."""
    plan_provenance: NotRequired[str | None]
    """Where the frozen plan came from (the run's store, or a --plan file), when there is one."""
    transfer_ratio: dict[str, float | int | None] | None
    """The organism's target gap / source gap (estimate, ci_low, ci_high, n_items)."""


def plain(value: float) -> float | None:
    """A plain Python float for JSON; NaN and infinities become None."""
    number = float(value)
    return number if math.isfinite(number) else None
