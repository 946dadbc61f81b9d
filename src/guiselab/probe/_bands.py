"""Intervals over layers that hold together: a bootstrap max-|t| band.

A per-layer measurement (an AUROC difference, a separation) is bootstrapped with the **same**
resampled items at every layer, so the draws keep the layers' correlation. Each layer's draws
are centred on its estimate and scaled by their standard deviation. The ``level`` quantile of
the largest |t| over the layers, q, gives every layer the interval estimate ± q·sd, and all of
them cover together with probability ``level``. This is less conservative than Bonferroni
for correlated layers. Its quantile sits in the body of the draws (e.g. the 95th percentile of
a maximum), where a Bonferroni percentile interval over 19 layers would rest on the two or
three most extreme draws of a thousand.

A layer whose every draw equals its estimate (two identical models at the embeddings, say)
gets the degenerate interval [estimate, estimate]; a layer with under 90% finite draws, or
with draws that do not vary around another value, gets none.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from guiselab.probe._measure import finite

__all__ = ["BAND", "ROUNDS", "Band", "simultaneous_band"]

ROUNDS = 1000
MIN_FINITE = 0.9
"""A layer gets an interval only when at least this share of its draws is finite."""
BAND = "bootstrap max-|t| band over the layers"

Band = list[dict[str, float | None]]
"""Per layer: ``{"<estimate name>", "ci_low", "ci_high"}``, None where not finite."""


def simultaneous_band(
    estimates: Sequence[float], draws: np.ndarray, level: float, name: str = "diff"
) -> Band:
    """Intervals for ``estimates`` (one per layer) from ``draws`` [rounds x layers] made with
    the same resampled items at every layer, covering together with probability ``level``."""
    est = np.asarray(estimates, dtype=float)
    out: Band = []
    if draws.size == 0:
        return [{name: finite(e), "ci_low": None, "ci_high": None} for e in est]
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # layers without usable draws: NaN
        usable = np.isfinite(draws).mean(axis=0) >= MIN_FINITE
        constant = usable & np.all(np.isfinite(draws) & (np.abs(draws - est) <= 1e-12), axis=0)
        sd = np.nanstd(draws, axis=0, ddof=1)
        varies = usable & ~constant & np.isfinite(sd) & (sd > 1e-12) & np.isfinite(est)
        t = np.abs(draws[:, varies] - est[varies]) / sd[varies]
        whole = np.all(np.isfinite(t), axis=1)  # draws with every varying layer usable
        q = float(np.quantile(t[whole].max(axis=1), level)) if varies.any() and whole.any() else 0.0
    for i, e in enumerate(est):
        if not np.isfinite(e):
            out.append({name: None, "ci_low": None, "ci_high": None})
        elif varies[i] and whole.any():
            out.append(
                {name: float(e), "ci_low": finite(e - q * sd[i]), "ci_high": finite(e + q * sd[i])}
            )
        elif constant[i]:  # every draw equals the estimate (two identical models, say)
            out.append({name: float(e), "ci_low": float(e), "ci_high": float(e)})
        else:  # too few usable draws, or draws that do not vary around another value
            out.append({name: float(e), "ci_low": None, "ci_high": None})
    return out
