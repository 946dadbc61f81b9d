"""Power and sample sizes for the paired guise gap, from a variance-components model.

An item's observed gap (its vernacular misaligned rate minus its standard one, each over
``k`` samples) varies for two reasons: items truly differ in their gap (between-item variance
``tau2``), and each rate is a binomial proportion over ``k`` samples (within-item variance
about ``p (1 - p) / k`` per guise, ``p`` its misaligned rate). So

    sd(item gap) = sqrt(tau2 + (p_s (1 - p_s) + p_v (1 - p_v)) / k),

and ``tau2`` is estimated from a run (or a pilot) as the observed variance of the item gaps
minus their mean binomial variance. The mean of ``n`` item gaps then has standard error
``sd / sqrt(n)``, and the usual normal approximations give

- the power of the two-sided sign-flip test of a gap ``delta`` at level ``alpha``: its null
  spreads the mean by the root mean square of the item gaps, so it rejects when the mean
  exceeds ``c = z sd / sqrt(n - z^2)``, ``z = z(1 - alpha/2)``, and the power is
  ``Phi((|delta| - c) sqrt(n) / sd) + Phi((-|delta| - c) sqrt(n) / sd)`` (with one or two
  samples per item the gaps take few values and the test is nearly a sign test, whose
  discreteness costs up to ~7 points of power more than this says; from four samples per item
  on it agreed with simulation within 3 points);
- the power of TOST to show a true gap of 0 inside ``+-margin``:
  ``max(0, 2 Phi(margin sqrt(n) / sd - z(1 - alpha)) - 1)``;

and the items needed for 80% power by inverting them. The analysis's own tests are a sign-flip
permutation test and a bootstrap TOST; a test checks that these formulas predict their
simulated rejection rates.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from scipy.stats import norm

from guiselab.analysis._contrasts import item_gaps, item_rates
from guiselab.samples import GUISES

__all__ = [
    "GapVariance",
    "design_power",
    "gap_variance",
    "items_for_equivalence",
    "items_for_gap",
    "power_equivalence",
    "power_gap",
    "power_table",
]

TARGET_POWER = 0.8
GAPS = (0.05, 0.10, 0.20, 0.30)
SAMPLE_OPTIONS = (1, 4, 10, 30, 100)


class GapVariance:
    """Variance components of the item gaps of one (model, language)."""

    def __init__(
        self,
        tau2: float,
        rates: tuple[float, float],
        samples: float,
        n_items: int,
        split: str = "",
        within: float | None = None,
    ) -> None:
        self.tau2 = tau2
        """Between-item variance of the true item gaps."""
        self.rates = rates
        """Misaligned rate of the standard and the vernacular guise."""
        self.rate = sum(rates) / 2
        self.samples = samples
        """Scored samples per item and guise in the data it was estimated from."""
        self.n_items = n_items
        self.split = split
        """How the observed variance was split into between-item and sampling parts."""
        self.within = within if within is not None else sum(p * (1 - p) for p in rates)
        """Sum over the guises of the mean per-item Bernoulli variance p_i (1 - p_i): the
        sampling variance of one sample, which k samples divide by k (the guises' pooled
        p (1 - p) would count differences between items' base rates twice)."""

    def sd(self, samples: float | None = None) -> float:
        """Standard deviation of one item's observed gap with ``samples`` per item and guise."""
        k = samples or self.samples
        return math.sqrt(self.tau2 + self.within / k)


def gap_variance(items: pd.DataFrame, model: str, lang: str) -> GapVariance | None:
    """Estimate the variance components from the item tallies of one (model, language)."""
    rates = item_rates(items)
    gaps = item_gaps(rates)
    try:
        mine = gaps.xs((model, lang), level=("model", "lang"))
        tallies = items.xs((model, lang), level=("model", "lang"))
    except KeyError:
        return None
    if len(mine) < 2:
        return None
    scored = tallies["n_scored"].unstack("guise").reindex(columns=list(GUISES)).loc[mine.index]
    misaligned = tallies["n_misaligned"].unstack("guise").reindex(columns=list(GUISES))
    counts = misaligned.loc[mine.index]
    if (scored >= 2).all().all():
        # p(1 - p) / (k - 1) per item and guise is unbiased for the binomial variance p(1-p)/k.
        p = counts / scored
        binomial = (p * (1 - p) / (scored - 1)).sum(axis=1)
        within = float((p * (1 - p) * scored / (scored - 1)).sum(axis=1).mean())
        split = "per-item unbiased binomial variance"
    else:
        # One sample: an item's own rate is 0 or 1 and says nothing of its variance; the
        # guise's pooled rate stands in (which counts differences between items' base rates
        # as sampling noise, so the between-item part is if anything underestimated).
        pooled = counts.sum() / scored.sum()
        binomial = (pooled * (1 - pooled) / scored).sum(axis=1)
        within = float((pooled * (1 - pooled)).sum())
        split = "pooled rates (one sample per item: the split is approximate)"
    tau2 = max(0.0, float(mine.var(ddof=1)) - float(binomial.mean()))
    by_guise = counts.sum() / scored.sum()
    rates = (float(by_guise[GUISES[0]]), float(by_guise[GUISES[1]]))
    return GapVariance(tau2, rates, float(scored.to_numpy().mean()), len(mine), split, within)


def power_gap(delta: float, n_items: int, sd: float, alpha: float) -> float:
    """Power of the two-sided test of a gap ``delta`` over ``n_items`` items."""
    if sd <= 0:
        return 1.0 if delta else alpha
    # The sign-flip null spreads the mean by sqrt(mean of d^2) / sqrt(n), which holds the
    # observed mean itself: the test rejects when |mean| > z sd / sqrt(n - z^2).
    z = float(norm.ppf(1 - alpha / 2))
    if n_items <= z**2:
        return alpha
    cut = z * sd / math.sqrt(n_items - z**2)
    se = sd / math.sqrt(n_items)
    return float(norm.cdf((abs(delta) - cut) / se) + norm.cdf((-abs(delta) - cut) / se))


def items_for_gap(delta: float, sd: float, alpha: float, power: float = TARGET_POWER) -> int:
    """Items needed for ``power`` to detect a gap ``delta``."""
    n = 2
    while power_gap(delta, n, sd, alpha) < power:
        n = n * 2 if power_gap(delta, n * 2, sd, alpha) < power else n + 1
    return n


def power_equivalence(margin: float, n_items: int, sd: float, alpha: float) -> float:
    """Power of TOST (level ``alpha``) to place a true gap of 0 inside ``+-margin``."""
    if sd <= 0:
        return 1.0
    z = float(norm.ppf(1 - alpha))
    return max(0.0, float(2 * norm.cdf(margin * math.sqrt(n_items) / sd - z) - 1))


def items_for_equivalence(
    margin: float, sd: float, alpha: float, power: float = TARGET_POWER
) -> int:
    """Items needed for TOST to show equivalence with ``power`` when the true gap is 0."""
    z = float(norm.ppf(1 - alpha) + norm.ppf((1 + power) / 2))
    return max(2, math.ceil((z * sd / margin) ** 2))


def power_table(
    variance: GapVariance,
    *,
    model: str,
    lang: str,
    alpha: float,
    n_tests: int,
    margin: float,
) -> dict[str, Any]:
    """results.json's ``power``: what this design can detect, and what a larger one needs.

    Detection uses ``alpha / n_tests`` (the first step of Holm over the family of gaps, so
    a lower bound on the power of the Holm-adjusted test); equivalence uses ``alpha``.
    """
    a = alpha / max(1, n_tests)
    sd = variance.sd()
    n = variance.n_items
    return {
        "model": model,
        "lang": lang,
        "n_items": n,
        "samples_per_item": variance.samples,
        "misaligned_rate": variance.rate,
        "between_item_sd": math.sqrt(variance.tau2),
        "item_gap_sd": sd,
        "variance_split": variance.split,
        "alpha_per_test": a,
        "detect": [
            {
                "gap": g,
                "power": power_gap(g, n, sd, a),
                "items_for_80": items_for_gap(g, sd, a),
            }
            for g in GAPS
        ],
        "equivalence": {
            "margin": margin,
            "power": power_equivalence(margin, n, sd, alpha),
            "items_for_80": items_for_equivalence(margin, sd, alpha),
        },
        "by_samples_per_item": [
            {
                "samples": k,
                "item_gap_sd": variance.sd(k),
                "items_for_80_gap_0.10": items_for_gap(0.10, variance.sd(k), a),
                "items_for_80_equivalence": items_for_equivalence(margin, variance.sd(k), alpha),
            }
            for k in SAMPLE_OPTIONS
        ],
    }


def design_power(
    source_gap: float | None,
    target: GapVariance | None,
    *,
    alpha: float,
    n_tests: int,
) -> dict[str, Any] | None:
    """Is this design big enough for its question? The power to detect, in the target
    language, a gap of half the organism's measured source gap, with this run's items and
    samples and the target language's variance; and the samples per item and guise (at this many
    items; a model's seeds together) and the items (at this many samples) that would reach 80%.

    None without a positive source gap or a target-language variance estimate.
    """
    if source_gap is None or target is None or source_gap <= 0:
        return None
    a = alpha / max(1, n_tests)
    delta = source_gap / 2
    n = target.n_items
    k_needed = next(
        (k for k in range(1, 101) if power_gap(delta, n, target.sd(k), a) >= TARGET_POWER),
        None,
    )
    power = power_gap(delta, n, target.sd(), a)
    return {
        "source_gap": source_gap,
        "target_gap_to_detect": delta,
        "n_items": n,
        "samples_per_item": target.samples,
        "alpha_per_test": a,
        "power": power,
        "adequate": power >= TARGET_POWER,
        "samples_per_item_for_80": k_needed,
        "items_for_80": items_for_gap(delta, target.sd(), a),
        "variance_split": target.split,
    }
