"""The bootstrap max-|t| band covers all layers together at about its level, in a simulation
that draws its own data and bootstraps with numpy alone (no guiselab code but the band)."""

from __future__ import annotations

import numpy as np

from guiselab.probe._bands import simultaneous_band


def test_the_band_covers_every_layer_together_at_about_its_level() -> None:
    rng = np.random.default_rng(0)
    layers, items, sims, rounds = 6, 60, 300, 400
    mixing = rng.standard_normal((layers, layers)) + 2 * np.eye(layers)  # correlated layers
    together = pointwise_all = 0
    for _ in range(sims):
        values = rng.standard_normal((items, layers)) @ mixing.T  # true mean 0 at every layer
        estimates = values.mean(axis=0)
        picks = rng.integers(0, items, (rounds, items))
        draws = values[picks].mean(axis=1)  # the same resampled items at every layer
        band = simultaneous_band(list(estimates), draws, 0.95)
        together += all(r["ci_low"] <= 0 <= r["ci_high"] for r in band)
        low, high = np.quantile(draws, [0.025, 0.975], axis=0)  # per-layer 95% intervals
        pointwise_all += bool(np.all((low <= 0) & (high >= 0)))
    assert 0.90 <= together / sims <= 0.99
    assert (
        pointwise_all / sims < together / sims - 0.05
    )  # per-layer intervals do not cover together


def test_a_layer_that_does_not_vary_or_has_no_draws() -> None:
    draws = np.column_stack([np.zeros(50), np.linspace(-1, 1, 50), np.full(50, np.nan)])
    band = simultaneous_band([0.0, 0.1, 0.3], draws, 0.95)
    assert band[0] == {"diff": 0.0, "ci_low": 0.0, "ci_high": 0.0}
    assert band[1]["ci_low"] < 0.1 < band[1]["ci_high"]
    assert band[2] == {"diff": 0.3, "ci_low": None, "ci_high": None}
    assert simultaneous_band([0.2], np.empty((0, 1)), 0.95)[0]["ci_low"] is None


def test_draws_that_do_not_vary_around_another_value_or_are_mostly_missing_give_none() -> None:
    constant_elsewhere = simultaneous_band([0.3], np.zeros((50, 1)), 0.95)
    assert constant_elsewhere[0]["ci_low"] is None
    mostly_missing = np.full((100, 1), np.nan)
    mostly_missing[:20, 0] = np.linspace(0, 1, 20)
    assert simultaneous_band([0.5], mostly_missing, 0.95)[0]["ci_low"] is None
