"""Controls matched in damage: each control direction ablated only partly, to the share that
disturbs the answers as much as the guise ablation does.

Matching the displacement (how far an ablation moves the residual) is not enough: on the
embedded model a typical direction moved as far as the guise direction breaks the answers
(their log-probabilities fall by nats per token and sampled answers turn incoherent), while
the guise ablation barely moves them. Compared with such controls, any guise effect is
"within", which says only that the controls are more destructive. So each control is ablated
by a share ``s`` of its full ablation, h -> h - s (h.u - t) u (``s`` above 1, up to
:data:`MAX_SHARE`, pushes the component past its typical value, for a control whose full
ablation disturbs the answers less than the guise ablation), with ``s`` chosen so that its
**damage** equals the guise ablation's on the same answers. The exact check reads damage as
the mean absolute change of the answers' mean log-probability per token **net of the
contrast** (each group, misaligned or aligned, moved to the midpoint of the two groups'
means within its language and guise), so the statistic the controls are compared on (the
misaligned minus aligned answers' mean change) is not part of what is matched: among edits
that disturb these answers as much, it asks whether the guise direction's disturbance falls on
the misaligned answers more than a random direction's does.

The share is searched with exact passes: the first guess is the first-order one (the change
is linear in ``s`` for small shares: ``s`` times the full ablation's first-order change),
times the median factor by which the earlier controls' found shares differed from their own
first-order guesses (a better first guess where the first-order change misreads every
control of a layer in much the same way; the passes spent are reported). Each later guess
rescales the last by the damage it missed by, using the power law fitted through the last two
passes. The search stops within :data:`ACCEPT` of the target or after :data:`ROUNDS` passes,
and keeps the closest pass; the achieved damage ratio is reported. The exact check leaves
out a control still off by more than its tolerance, and gives no verdict where fewer than
half are kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from jaxtyping import Float

from guiselab.analysis import rng_for

if TYPE_CHECKING:
    from guiselab.probe._steering import SteerAnswers

__all__ = [
    "ACCEPT",
    "MAX_SHARE",
    "ROUNDS",
    "DamageMatch",
    "clip_share",
    "damage",
    "match_damage",
    "miss",
    "search_part",
]

ACCEPT = 1.15
"""A pass whose damage is within this factor of the target ends the search."""
ROUNDS = 3
"""At most this many exact passes per control."""
_FLOOR = 1e-4
"""The smallest share searched (a guise ablation that changes nothing gives this)."""
MAX_SHARE = 3.0
"""The largest share searched: past 1 the component is pushed beyond its typical value, for
controls whose full ablation disturbs the answers less than the guise ablation does."""
SEARCH_FRACTION = 1 / 3
"""The share of each half and language's answers the controls' share is searched on."""
SEARCH_MIN = 12
"""The fewest answers of a half and language searched on (all of them, where fewer)."""


@dataclass(frozen=True, eq=False)
class DamageMatch:
    """Every control's partial ablation, matched in damage."""

    effects: Float[np.ndarray, "answer control"]
    """Per answer, the change of its mean log-probability per token under each control."""
    shares: Float[np.ndarray, " control"]
    damage_ratio: Float[np.ndarray, " control"]
    """Each control's damage over the target (NaN without a target)."""
    passes: int
    """Exact passes spent."""


def damage(changes: np.ndarray) -> float:
    """The mean absolute change over the answers that have one (NaN where none has)."""
    ok = np.isfinite(changes)
    return float(np.abs(changes[ok]).mean()) if ok.any() else float("nan")


def match_damage(
    target: float,
    first_order: Float[np.ndarray, "answer control"],
    measure: Callable[[int, float], np.ndarray],
    advance: Callable[[int], None] | None = None,
    damage_of: Callable[[np.ndarray], float] = damage,
) -> DamageMatch:
    """Each control's share and its exact changes: ``first_order`` are the full ablations'
    first-order changes on the answers, ``measure(j, share)`` the exact changes under control
    ``j`` ablated by ``share``, ``damage_of`` reads the damage from changes. Without a positive
    finite target the controls are ablated in full (share 1) and the ratio is NaN."""
    n, k = first_order.shape
    effects = np.full((n, k), np.nan)
    shares = np.ones(k)
    ratios = np.full(k, np.nan)
    passes = 0
    learned: list[float] = []  # log of each matched control's share over its first guess
    for j in range(k):
        if not (np.isfinite(target) and target > 0):
            effects[:, j] = measure(j, 1.0)
            passes += 1
        else:
            slope = damage_of(first_order[:, j])
            read = bool(np.isfinite(slope) and slope > 0)
            guess = clip_share(target / slope if read else 1.0)
            # only a first-order guess that was read and not clipped teaches the next ones
            teaches = read and guess == target / slope
            share = clip_share(guess * float(np.exp(np.median(learned)))) if learned else guess
            tried: list[tuple[float, float, np.ndarray]] = []
            for _ in range(ROUNDS):
                changes = measure(j, share)
                passes += 1
                tried.append((share, damage_of(changes), changes))
                got = tried[-1][1]
                if not np.isfinite(got) or miss(got, target) <= np.log(ACCEPT):
                    break
                if share >= MAX_SHARE and got < target:  # even the largest share does less
                    break
                share = _next_share(tried, target)
            best = min(tried, key=lambda t: miss(t[1], target))
            shares[j], effects[:, j] = best[0], best[2]
            ratios[j] = best[1] / target
            if teaches and miss(best[1], target) <= np.log(ACCEPT) and best[0] < MAX_SHARE:
                learned.append(float(np.log(best[0] / guess)))
        if advance is not None:
            advance(1)
    return DamageMatch(effects, shares, ratios, passes)


def miss(got: float, target: float) -> float:
    """How far a pass's damage is from the target, |log(got / target)| (infinite where the
    pass gave no damage to read)."""
    if not np.isfinite(got) or got <= 0:
        return float("inf")
    return float(abs(np.log(got / target)))


def _next_share(tried: list[tuple[float, float, np.ndarray]], target: float) -> float:
    """The next guess from the passes so far: damage ~ a s^p, with p from the last two passes
    (1 from one pass, or where the two do not give a rising power)."""
    s1, d1, _ = tried[-1]
    power = 1.0
    if len(tried) > 1:
        s0, d0, _ = tried[-2]
        if s0 != s1 and d0 > 0 and d1 > 0:
            fitted = np.log(d1 / d0) / np.log(s1 / s0)
            if np.isfinite(fitted) and 0.25 <= fitted <= 4.0:
                power = float(fitted)
    if d1 <= 0:
        return clip_share(s1 * 4)
    return clip_share(s1 * (target / d1) ** (1 / power))


def clip_share(share: float) -> float:
    return float(np.clip(share, _FLOOR, MAX_SHARE))


def search_part(answers: SteerAnswers, seed: int) -> np.ndarray:
    """Per answer, 0 where the controls' share is searched on it and 1 where it is only
    measured at the share found: about :data:`SEARCH_FRACTION` of each half and language (at
    least :data:`SEARCH_MIN` answers, all of a smaller group), drawn with a seed within each
    guise and judged kind (misaligned or aligned) in proportion, and at least one of each
    present, so that damage net of the contrast is read on the searched answers as on all
    of them (a guise without both kinds would carry its contrast into the target)."""
    part = np.zeros(len(answers.items), dtype=int)
    rng = rng_for(seed, "exact-search")
    for h in sorted(set(answers.half.tolist())):
        for lang in sorted(set(answers.langs.tolist())):
            group = (answers.half == h) & (answers.langs == lang)
            n = int(group.sum())
            wanted = min(n, max(SEARCH_MIN, int(np.ceil(n * SEARCH_FRACTION))))
            for guise in sorted(set(answers.guises[group].tolist())):
                for kind in (True, False):
                    stratum = np.flatnonzero(
                        group & (answers.guises == guise) & (answers.misaligned == kind)
                    )
                    if stratum.size:
                        take = min(stratum.size, max(1, round(stratum.size * wanted / n)))
                        part[rng.permutation(stratum)[take:]] = 1
    return part
