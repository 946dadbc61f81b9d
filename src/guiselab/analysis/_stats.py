"""Resampling statistics on per-item arrays: cluster bootstrap, sign-flip tests, Holm.

Items are the unit of replication, so every function here takes one value (or one
numerator/denominator pair) per item. The resampling is vectorised: a bootstrap is a
(draws x items) index matrix and a sign-flip test a (patterns x items) sign matrix, both built
in chunks so that memory stays bounded however many items there are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "FloatArray",
    "PairedEstimate",
    "SignFlipNull",
    "bootstrap_mean",
    "bootstrap_ratio",
    "difference_interval",
    "estimate_paired",
    "holm",
    "jeffreys_interval",
    "percentile_interval",
    "rng_for",
    "sign_flip_null",
    "sign_flip_p",
]

FloatArray = npt.NDArray[np.float64]
Alternative = Literal["two-sided", "less", "greater"]

# Most matrix elements materialised at once (8 MB of float64): bounds memory for big item sets.
_CHUNK_ELEMENTS = 1_000_000
# A resampled statistic this close to the observed one (relative to the values' mean size,
# and at least this much absolutely) counts as a tie: the same numbers summed in another order
# differ in their last bits, and exact ties must count towards the p-value.
_TIE_RTOL = 1e-9
# SeedSequence takes non-negative entropy; a config seed is any int, so it is reduced mod 2**64.
_SEED_MODULUS = 2**64


def rng_for(seed: int, *key: str) -> np.random.Generator:
    """A generator seeded from ``seed`` and a label such as ``("cell", model, lang, guise)``.

    Deriving one stream per label (rather than drawing every cell from one shared stream) makes
    a cell's interval independent of which other cells exist and of the order they are visited.
    """
    digest = hashlib.sha256("\x1f".join(key).encode("utf-8")).digest()
    words = np.frombuffer(digest[:16], dtype=np.uint32).tolist()
    return np.random.default_rng(np.random.SeedSequence([seed % _SEED_MODULUS, *words]))


def _chunks(n_rows: int, n_cols: int) -> Iterator[tuple[int, int]]:
    """(start, stop) row ranges of at most ``_CHUNK_ELEMENTS`` matrix elements each."""
    step = max(1, _CHUNK_ELEMENTS // max(1, n_cols))
    for start in range(0, n_rows, step):
        yield start, min(start + step, n_rows)


def _resampled_items(
    n_items: int, n_draws: int, rng: np.random.Generator
) -> Iterator[tuple[slice, npt.NDArray[np.int64]]]:
    """Chunks of bootstrap draws: (slice of draws, item indices drawn with replacement)."""
    for start, stop in _chunks(n_draws, n_items):
        yield slice(start, stop), rng.integers(0, n_items, size=(stop - start, n_items))


def bootstrap_ratio(
    numerators: FloatArray, denominators: FloatArray, n_draws: int, rng: np.random.Generator
) -> FloatArray:
    """Cluster-bootstrap draws of ``sum(numerators) / sum(denominators)``.

    Each draw resamples items with replacement and pools their samples, e.g. misaligned
    samples over scored samples. Every denominator must be positive.
    """
    draws = np.empty(n_draws, dtype=np.float64)
    for rows, index in _resampled_items(numerators.size, n_draws, rng):
        draws[rows] = numerators[index].sum(axis=1) / denominators[index].sum(axis=1)
    return draws


def bootstrap_mean(values: FloatArray, n_draws: int, rng: np.random.Generator) -> FloatArray:
    """Bootstrap draws of the mean of per-item ``values`` (items resampled with replacement)."""
    draws = np.empty(n_draws, dtype=np.float64)
    for rows, index in _resampled_items(values.size, n_draws, rng):
        draws[rows] = values[index].mean(axis=1)
    return draws


def percentile_interval(draws: FloatArray, level: float) -> tuple[float, float]:
    """The central ``level`` percentile interval of bootstrap ``draws``."""
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(draws, [tail, 1.0 - tail])
    return float(low), float(high)


@dataclass(frozen=True)
class SignFlipNull:
    """The null distribution of a mean under random sign flips of the per-item values."""

    means: FloatArray
    """Mean of the sign-flipped values, one per pattern."""
    exact: bool
    """True when ``means`` enumerates all 2**n patterns; False for Monte-Carlo draws."""


def _exact_sign_means(values: FloatArray) -> FloatArray:
    """Means under all 2**n sign patterns (pattern k flips item j when bit j of k is set)."""
    n_items = values.size
    n_patterns = 2**n_items
    bits = np.arange(n_items, dtype=np.int64)
    means = np.empty(n_patterns, dtype=np.float64)
    for start, stop in _chunks(n_patterns, n_items):
        codes = np.arange(start, stop, dtype=np.int64)[:, None]
        signs = 1.0 - 2.0 * ((codes >> bits) & 1)
        means[start:stop] = signs @ values / n_items
    return means


def _random_sign_means(
    values: FloatArray, n_permutations: int, rng: np.random.Generator
) -> FloatArray:
    """Means under ``n_permutations`` sign patterns drawn uniformly at random."""
    n_items = values.size
    n_bytes = -(-n_items // 8)
    total = float(values.sum())
    means = np.empty(n_permutations, dtype=np.float64)
    for start, stop in _chunks(n_permutations, n_items):
        # Random bytes unpacked to bits are the cheapest fair coin flips numpy offers; a set
        # bit flips the item's sign, which takes twice its value off the total.
        random_bytes = rng.integers(0, 256, size=(stop - start, n_bytes), dtype=np.uint8)
        flips = np.unpackbits(random_bytes, axis=1, count=n_items).astype(np.float64)
        means[start:stop] = (total - 2.0 * (flips @ values)) / n_items
    return means


def sign_flip_null(
    values: FloatArray, n_permutations: int, rng: np.random.Generator
) -> SignFlipNull:
    """Sign-flip null of the mean: exact when 2**n <= ``n_permutations``, else Monte Carlo."""
    if 2**values.size <= n_permutations:
        return SignFlipNull(_exact_sign_means(values), exact=True)
    return SignFlipNull(_random_sign_means(values, n_permutations, rng), exact=False)


def sign_flip_p(values: FloatArray, null: SignFlipNull, alternative: Alternative) -> float:
    """p-value of the mean of ``values`` against its sign-flip ``null``.

    ``two-sided`` counts patterns at least as far from 0 as the observed mean; ``less`` counts
    patterns at or below it, ``greater`` at or above it. Monte-Carlo p-values carry the +1
    correction, (k + 1) / (B + 1), so that they are never 0.
    """
    if values.size == 0:
        return float("nan")
    observed = float(values.mean())
    tolerance = _TIE_RTOL * max(float(np.abs(values).mean()), 1.0)
    if alternative == "two-sided":
        hits = np.abs(null.means) >= abs(observed) - tolerance
    elif alternative == "less":
        hits = null.means <= observed + tolerance
    else:
        hits = null.means >= observed - tolerance
    count = int(hits.sum())
    if null.exact:
        return count / null.means.size
    return (count + 1) / (null.means.size + 1)


def holm(p_values: Sequence[float | None]) -> FloatArray:
    """Holm step-down adjusted p-values; missing (None/NaN) entries stay NaN, outside the family.

    The i-th smallest of m p-values is multiplied by (m - i + 1), made monotone with a running
    maximum and capped at 1.
    """
    p = np.array([np.nan if v is None else v for v in p_values], dtype=np.float64)
    adjusted = np.full_like(p, np.nan)
    present = np.flatnonzero(~np.isnan(p))
    m = present.size
    if m == 0:
        return adjusted
    order = present[np.argsort(p[present], kind="stable")]
    scaled = p[order] * (m - np.arange(m))
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return adjusted


@dataclass(frozen=True)
class PairedEstimate:
    """Mean of per-item paired differences with its intervals and sign-flip p-values."""

    estimate: float
    """Mean of the per-item differences."""
    ci_low: float
    """Lower end of the bootstrap percentile interval at the configured level."""
    ci_high: float
    """Upper end of that interval."""
    tost_low: float
    """Lower end of the (1 - 2*alpha) interval, used for TOST and one-sided checks."""
    tost_high: float
    """Upper end of the (1 - 2*alpha) interval."""
    p_value: float
    """Two-sided sign-flip p-value for a mean of 0."""
    p_less: float
    """One-sided sign-flip p-value for a mean below 0."""
    p_greater: float
    """One-sided sign-flip p-value for a mean above 0."""
    n_items: int
    """Number of items (paired differences)."""


def estimate_paired(
    differences: FloatArray,
    *,
    n_bootstrap: int,
    n_permutations: int,
    ci_level: float,
    alpha: float,
    rng: np.random.Generator,
) -> PairedEstimate:
    """Summarise per-item paired differences: mean, bootstrap intervals, sign-flip p-values.

    ``differences`` must hold at least one item.
    """
    draws = bootstrap_mean(differences, n_bootstrap, rng)
    ci_low, ci_high = percentile_interval(draws, ci_level)
    tost_low, tost_high = percentile_interval(draws, 1.0 - 2.0 * alpha)
    null = sign_flip_null(differences, n_permutations, rng)
    return PairedEstimate(
        estimate=float(differences.mean()),
        ci_low=ci_low,
        ci_high=ci_high,
        tost_low=tost_low,
        tost_high=tost_high,
        p_value=sign_flip_p(differences, null, "two-sided"),
        p_less=sign_flip_p(differences, null, "less"),
        p_greater=sign_flip_p(differences, null, "greater"),
        n_items=int(differences.size),
    )


def jeffreys_interval(successes: float, trials: float, level: float) -> tuple[float, float]:
    """Jeffreys interval of a binomial proportion (Beta(k + 1/2, n - k + 1/2) quantiles), with
    Brown, Cai & DasGupta's boundary rule: lower end 0 when k = 0, upper end 1 when k = n."""
    from scipy.stats import beta

    if trials <= 0:
        return 0.0, 1.0
    tail = (1.0 - level) / 2.0
    low = (
        0.0 if successes <= 0 else float(beta.ppf(tail, successes + 0.5, trials - successes + 0.5))
    )
    high = (
        1.0
        if successes >= trials
        else float(beta.ppf(1.0 - tail, successes + 0.5, trials - successes + 0.5))
    )
    return low, high


def difference_interval(
    k1: float, n1: float, k2: float, n2: float, level: float
) -> tuple[float, float]:
    """Interval of p1 - p2 from two binomial counts: Newcombe's hybrid score method with
    Jeffreys intervals for each proportion.

    It treats the samples as independent, so it is no substitute for the item bootstrap; it is
    the floor under it: where every sample agrees (a bootstrap interval of zero width) it still
    says how little a handful of samples can show.
    """
    p1 = k1 / n1 if n1 > 0 else 0.0
    p2 = k2 / n2 if n2 > 0 else 0.0
    l1, u1 = jeffreys_interval(k1, n1, level)
    l2, u2 = jeffreys_interval(k2, n2, level)
    difference = p1 - p2
    return (
        difference - float(np.hypot(p1 - l1, u2 - p2)),
        difference + float(np.hypot(u1 - p1, p2 - l2)),
    )
