"""The layer-corrected null of the transfer probes: single-step max-T, checked by simulation
with correlated layers (numpy draws only) against its nominal family-wise error."""

from __future__ import annotations

import numpy as np
import pytest

from guiselab.probe._measure import crossfit_cosines, max_t, min_p

LAYERS, ROUNDS = 19, 100


def _correlated(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` draws of 19 layers whose neighbours correlate (0.8 per step), as layers do."""
    z = rng.standard_normal((LAYERS, n))
    out = np.empty_like(z)
    out[0] = z[0]
    for layer in range(1, LAYERS):
        out[layer] = 0.8 * out[layer - 1] + 0.6 * z[layer]
    return out


def test_any_layer_passes_at_the_nominal_rate_under_the_null_and_uncorrected_does_not() -> None:
    rng = np.random.default_rng(11)
    experiments = 1500
    corrected = uncorrected = 0
    for _ in range(experiments):
        null = _correlated(rng, ROUNDS)
        observed = _correlated(rng, 1)[:, 0]
        _, adjusted = max_t(null, list(observed))
        corrected += any(p is not None and p <= 0.05 for p in adjusted)
        uncorrected += bool((observed > np.quantile(null, 0.95, axis=1)).any())
    assert 0.025 <= corrected / experiments <= 0.075
    assert uncorrected / experiments > 0.2  # per-layer percentiles: many layers, many chances


def test_a_planted_layer_gets_the_smallest_p_and_missing_layers_stay_missing() -> None:
    rng = np.random.default_rng(3)
    null = _correlated(rng, ROUNDS)
    observed: list[float | None] = list(_correlated(rng, 1)[:, 0])
    observed[7] = 10.0
    observed[2] = None
    _, adjusted = max_t(null, observed)
    assert adjusted[7] == 1 / (ROUNDS + 1)
    assert adjusted[2] is None
    assert all(
        p is not None and p > 1 / (ROUNDS + 1) for i, p in enumerate(adjusted) if i not in (2, 7)
    )


def _cos_p(rng: np.random.Generator, shift: float, shared: float = 0.0) -> list[float | None]:
    """Two languages' guise directions at 6 correlated layers of unequal spread. The source's
    item differences carry a guise direction; the target's are noise plus ``shift`` along it.
    ``shared``: how much of each item's noise is the same in both languages (an item is one
    question in both), which ties the two full-data directions with no target direction."""
    items, hidden, layers = 30, 16, 6
    halves = np.arange(items) % 2
    source_dir = rng.standard_normal(hidden)
    common = rng.standard_normal((items, hidden))
    signs = rng.choice([-1.0, 1.0], (1000, items))
    null, observed = [], []
    for layer in range(layers):
        scale = 1.0 + layer  # the layers' activations spread differently
        item = 0.8 * common + 0.6 * rng.standard_normal((items, hidden))
        source = scale * (item + source_dir)
        own = rng.standard_normal((items, hidden))
        target = scale * (shared * item + (1 - shared) * own + shift * source_dir)
        got, rounds = crossfit_cosines(source, halves, target, halves, signs)
        null.append(rounds)
        observed.append(got)
    return min_p(np.array(null), observed)


def _any(ps: list[float | None]) -> bool:
    return any(p is not None and p <= 0.05 for p in ps)


def test_the_cosine_null_holds_its_level_over_layers_and_finds_a_shared_direction() -> None:
    rng = np.random.default_rng(5)
    experiments = 400
    false = sum(_any(_cos_p(rng, 0.0)) for _ in range(experiments))
    assert false / experiments <= 0.075  # sign flips are exact under symmetric noise
    # Items alike in both languages tie their full-data directions; cross-fitted, they do not.
    tied = sum(_any(_cos_p(rng, 0.0, shared=0.7)) for _ in range(experiments))
    assert tied / experiments <= 0.075
    found = [_cos_p(rng, 0.5) for _ in range(50)]
    assert np.mean([all(p is not None and p <= 0.05 for p in ps) for ps in found]) > 0.9


def test_min_p_is_not_dominated_by_the_widest_layer() -> None:
    """A planted value at a narrow layer is found by min-P though a wide layer's null is far
    larger in raw units; max-T on raw values misses it."""
    rng = np.random.default_rng(8)
    null = rng.standard_normal((2, ROUNDS)) * np.array([[1.0], [100.0]])
    observed: list[float | None] = [5.0, 0.0]
    assert min_p(null, observed)[0] == pytest.approx(2 / (ROUNDS + 1), abs=1 / (ROUNDS + 1))
    assert max_t(null, observed)[1][0] > 0.2
