"""Cross-fitting: directions fitted on one half of the items and measured on the other.

The items are split once into two halves (seeded by ``analysis.seed``; an item's prompts in
both languages fall in the same half). A direction used to measure an item's prompts is always
the one fitted on the other half, so no projection is measured on the data that made it.

**Guise separation** (``guise_separation``) is a measure without a ceiling: at a layer, every
item's vernacular - standard difference is projected on the unit guise direction fitted on the
other half's items (in the same language, or in the other one for ``en_to_ru`` / ``ru_to_en``),
and the separation is the mean projection over its standard deviation (a standardised mean
difference, Cohen's d_z; the mean and the standard deviation are reported beside it, since
either can move it). It is reported for the probed model and the base model on the same
prompts, and their difference. Intervals: items are resampled with replacement, the
directions **refitted** on each resample (each half's from the resampled items of the other
half), and the same resample serves every layer, for a band simultaneous over the layers
(:mod:`guiselab.probe._bands`). The split itself is fixed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from guiselab.analysis import rng_for
from guiselab.config import AnalysisConfig
from guiselab.probe._bands import ROUNDS, Band, simultaneous_band
from guiselab.probe._directions import GuisePairs
from guiselab.probe._measure import finite

__all__ = [
    "cross_fitted",
    "item_halves",
    "separation_band",
    "separation_table",
]


def item_halves(items: Iterable[str], seed: int) -> dict[str, int]:
    """Each item's half (0 or 1): the sorted items in an order drawn from ``seed``, dealt in
    turn, so the halves differ in size by at most one."""
    names = sorted(set(items))
    order = rng_for(seed, "probe-halves").permutation(len(names))
    return {names[i]: rank % 2 for rank, i in enumerate(order)}


def _aligned(pairs: GuisePairs, items: Sequence[str], layer: int) -> tuple[np.ndarray, np.ndarray]:
    """``pairs``' vernacular - standard differences at ``layer`` in the order of ``items``
    (zeros where ``pairs`` lacks the item), and which items it has."""
    position = {item: i for i, item in enumerate(pairs.items)}
    diff = pairs.differences(layer)
    present = np.array([item in position for item in items], dtype=bool)
    out = np.zeros((len(items), diff.shape[1]))
    out[present] = diff[[position[item] for item in items if item in position]]
    return out, present


def cross_fitted(
    fit: GuisePairs,
    measure: GuisePairs,
    layer: int,
    halves: Mapping[str, int],
    counts: np.ndarray,
    remove: GuisePairs | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """d_z, mean and standard deviation of the cross-fitted projections, one per row of
    ``counts`` ([resamples x measure's items]: how often each item is drawn; all ones for the
    sample itself).

    For each half, the direction is the count-weighted mean difference of ``fit``'s items in
    the other half (with, given ``remove``, the count-weighted mean difference of
    ``remove``'s items in that other half projected out of it); each drawn item of the half
    is measured in ``measure`` on its unit vector, as often as it is drawn. A half with no
    item to fit on in the other half is left out of that resample."""
    items = measure.items
    measured = measure.differences(layer)
    fitted, fit_has = _aligned(fit, items, layer)
    removed, remove_has = (
        _aligned(remove, items, layer) if remove is not None else (None, np.zeros(0, bool))
    )
    half = np.array([halves.get(item, -1) for item in items])
    rounds = counts.shape[0]
    total, first, second = np.zeros(rounds), np.zeros(rounds), np.zeros(rounds)
    for h in (0, 1):
        mine, other = half == h, (half != h) & fit_has
        weights = counts[:, other].astype(float)
        size = weights.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            direction = (weights @ fitted[other]) / size[:, None]
            usable = size > 0
            if removed is not None:
                keep = (half != h) & remove_has
                w_remove = counts[:, keep].astype(float)
                r_size = w_remove.sum(axis=1)
                r_dir = (w_remove @ removed[keep]) / r_size[:, None]
                r_norm = np.linalg.norm(r_dir, axis=1)
                r_unit = np.where(r_norm[:, None] > 0, r_dir / r_norm[:, None], 0.0)
                direction = direction - (direction * r_unit).sum(axis=1)[:, None] * r_unit
                usable &= r_size > 0
            norm = np.linalg.norm(direction, axis=1)
            usable &= norm > 0
            unit = direction / np.where(norm > 0, norm, 1.0)[:, None]
        values = unit @ measured[mine].T  # [resamples x items of this half]
        w = np.where(usable[:, None], counts[:, mine], 0).astype(float)
        total += w.sum(axis=1)
        first += np.nan_to_num((w * values).sum(axis=1))
        second += np.nan_to_num((w * values**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = first / total
        var = (second - total * mean**2) / (total - 1)
        sd = np.sqrt(np.where(var > 0, var, np.nan))
        # No spread worth the name (relative to the projections' size): no d_z.
        scale = np.sqrt(np.maximum(second / np.where(total > 0, total, 1), 0))
        dz = np.where((total >= 2) & (sd > 1e-9 * np.maximum(scale, 1e-300)), mean / sd, np.nan)
    return dz, np.where(total >= 1, mean, np.nan), np.where(total >= 2, sd, np.nan)


def _counts(n: int, rng: np.random.Generator, rounds: int) -> np.ndarray:
    """How often each of ``n`` items is drawn, per resample (none for fewer than 2 items)."""
    if n < 2:
        return np.empty((0, n), dtype=int)
    picks = rng.integers(0, n, (rounds, n))
    return np.stack([np.bincount(pick, minlength=n) for pick in picks])


def separation_band(
    fit: GuisePairs,
    measure: GuisePairs,
    layers: Sequence[int],
    halves: Mapping[str, int],
    rng: np.random.Generator,
    level: float,
    remove: GuisePairs | None = None,
    rounds: int = ROUNDS,
) -> Band:
    """Cross-fitted d_z per layer (``value``, with ``mean`` and ``sd``), with a simultaneous
    band from resampled items and refitted directions."""
    counts = _counts(len(measure.items), rng, rounds)
    return _band(fit, measure, layers, halves, counts, level, remove)[0]


def _band(
    fit: GuisePairs,
    measure: GuisePairs,
    layers: Sequence[int],
    halves: Mapping[str, int],
    counts: np.ndarray,
    level: float,
    remove: GuisePairs | None = None,
) -> tuple[Band, np.ndarray, np.ndarray]:
    """The band, and the per-layer estimates and draws behind it."""
    ones = np.ones((1, len(measure.items)), dtype=int)
    estimates: list[float] = []
    moments: list[tuple[float | None, float | None]] = []
    draws = np.empty((len(counts), len(layers)))
    for j, layer in enumerate(layers):
        dz, mean, sd = cross_fitted(fit, measure, layer, halves, ones, remove)
        estimates.append(float(dz[0]))
        moments.append((finite(float(mean[0])), finite(float(sd[0]))))
        if len(counts):
            draws[:, j] = cross_fitted(fit, measure, layer, halves, counts, remove)[0]
    band = simultaneous_band(estimates, draws, level, name="value")
    for row, (mean_of, sd_of) in zip(band, moments, strict=True):
        row["mean"], row["sd"] = mean_of, sd_of
    return band, np.asarray(estimates), draws


def _keys(langs: Sequence[str]) -> list[tuple[str, str, str]]:
    source, target = langs
    return [
        (source, source, source),
        (target, target, target),
        (f"{source}_to_{target}", source, target),
        (f"{target}_to_{source}", target, source),
    ]


def separation_table(
    layers: Sequence[int],
    langs: Sequence[str],
    analysis: AnalysisConfig,
    sets: Mapping[str, GuisePairs],
    base: Mapping[str, GuisePairs] | None,
    halves: Mapping[str, int],
) -> dict[str, Any]:
    """Per key and layer, the cross-fitted guise separation of the probed model, of the base
    model, and their difference on the same resampled items, each with a band simultaneous
    over the layers."""
    level = analysis.ci_level
    own: dict[str, Band] = {}
    of_base: dict[str, Band] = {}
    minus: dict[str, Band] = {}
    for key, fit_lang, measure_lang in _keys(langs):
        fit, measure = sets[fit_lang], sets[measure_lang]
        counts = _counts(
            len(measure.items), rng_for(analysis.seed, "probe-separation", key), ROUNDS
        )
        own[key], values, draws = _band(fit, measure, layers, halves, counts, level)
        if base is None:
            continue
        if base[measure_lang].items != measure.items:
            raise ValueError(f"base and probed prompts differ for '{key}'")
        of_base[key], base_values, base_draws = _band(
            base[fit_lang], base[measure_lang], layers, halves, counts, level
        )
        minus[key] = simultaneous_band(list(values - base_values), draws - base_draws, level)
    out: dict[str, Any] = {"guise_separation": own}
    if base is not None:
        out["base_guise_separation"] = of_base
        out["separation_minus_base"] = minus
    return out
