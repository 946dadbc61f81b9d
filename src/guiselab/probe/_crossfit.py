"""Cross-fitting: directions fitted on one half of the items and measured on the other.

The items are split once into two halves (seeded by ``analysis.seed``; an item's prompts in
both languages fall in the same half). A direction used to measure an item's prompts is always
the one fitted on the other half, so no projection is measured on the data that made it.

**Guise separation** (``guise_separation``) is a measure without a ceiling: at a layer, every
item's vernacular - standard difference is projected on the unit guise direction fitted on the
other half's items (in the same language, or in the other one for ``en_to_ru`` / ``ru_to_en``),
and the separation is the mean projection over its standard deviation (a standardised mean
difference, Cohen's d_z). It is reported for the probed model and the base model on the same
prompts, and their difference, with item-bootstrap intervals simultaneous over the layers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from guiselab.analysis import rng_for
from guiselab.config import AnalysisConfig
from guiselab.probe._directions import GuisePairs
from guiselab.probe._measure import finite, guise_direction

__all__ = ["held_out_projections", "item_halves", "separation", "separation_table"]

ROUNDS = 1000


def item_halves(items: Iterable[str], seed: int) -> dict[str, int]:
    """Each item's half (0 or 1): the sorted items in an order drawn from ``seed``, dealt in
    turn, so the halves differ in size by at most one."""
    names = sorted(set(items))
    order = rng_for(seed, "probe-halves").permutation(len(names))
    return {names[i]: rank % 2 for rank, i in enumerate(order)}


def held_out_projections(
    fit: GuisePairs, measure: GuisePairs, layer: int, halves: Mapping[str, int]
) -> dict[str, float]:
    """Every item of ``measure``: its vernacular - standard difference at ``layer`` projected
    on the unit guise direction of ``fit``'s items in the other half (items whose other half
    has no items in ``fit`` are left out)."""
    fit_diff, measure_diff = fit.differences(layer), measure.differences(layer)
    out: dict[str, float] = {}
    for half in (0, 1):
        train = [i for i, item in enumerate(fit.items) if halves[item] != half]
        test = [i for i, item in enumerate(measure.items) if halves[item] == half]
        if not train or not test:
            continue
        direction = guise_direction(fit_diff[train])
        norm = float(np.linalg.norm(direction))
        if not norm > 0:
            continue
        values = measure_diff[test] @ (direction / norm)
        out.update({measure.items[i]: float(v) for i, v in zip(test, values, strict=True)})
    return out


def separation(values: np.ndarray) -> float:
    """Mean over standard deviation (d_z); NaN for fewer than two values or no spread."""
    if len(values) < 2:
        return float("nan")
    sd = float(np.std(values, ddof=1))
    return float(np.mean(values) / sd) if sd > 0 else float("nan")


def _interval(draws: Sequence[float], level: float) -> tuple[float | None, float | None]:
    known = np.asarray([d for d in draws if np.isfinite(d)])
    if not len(known):
        return None, None
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(known, [tail, 1.0 - tail])
    return finite(float(low)), finite(float(high))


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
    """Per layer and key, the cross-fitted guise separation of the probed model, of the base
    model, and their difference (paired on the same items), each with an item-bootstrap
    interval at 1 - alpha / layers."""
    level = 1.0 - (1.0 - analysis.ci_level) / max(1, len(layers))
    own: dict[str, list[dict[str, float | None]]] = {}
    of_base: dict[str, list[dict[str, float | None]]] = {}
    minus: dict[str, list[dict[str, float | None]]] = {}
    for key, fit_lang, measure_lang in _keys(langs):
        own[key], of_base[key], minus[key] = [], [], []
        for layer in layers:
            mine = held_out_projections(sets[fit_lang], sets[measure_lang], layer, halves)
            theirs = (
                held_out_projections(base[fit_lang], base[measure_lang], layer, halves)
                if base is not None
                else {}
            )
            items = sorted(set(mine) & set(theirs)) if base is not None else sorted(mine)
            a = np.array([mine[i] for i in items])
            b = np.array([theirs[i] for i in items]) if base is not None else None
            rng = rng_for(analysis.seed, "probe-separation", key, str(layer))
            draws_a, draws_b, draws_d = [], [], []
            for _ in range(ROUNDS):
                pick = rng.integers(0, len(items), len(items)) if items else np.array([], int)
                draws_a.append(separation(a[pick]))
                if b is not None:
                    draws_b.append(separation(b[pick]))
                    draws_d.append(draws_a[-1] - draws_b[-1])
            value = separation(a)
            low, high = _interval(draws_a, level)
            own[key].append({"value": finite(value), "ci_low": low, "ci_high": high})
            if b is not None:
                low, high = _interval(draws_b, level)
                of_base[key].append(
                    {"value": finite(separation(b)), "ci_low": low, "ci_high": high}
                )
                low, high = _interval(draws_d, level)
                minus[key].append(
                    {"diff": finite(value - separation(b)), "ci_low": low, "ci_high": high}
                )
    out: dict[str, Any] = {"guise_separation": own}
    if base is not None:
        out["base_guise_separation"] = of_base
        out["separation_minus_base"] = minus
    return out
