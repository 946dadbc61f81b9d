"""The steering table: guise edits against their matched controls, per model, layer and
language, from the first-order sums of :mod:`guiselab.probe._steering`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from jaxtyping import Float

from guiselab.analysis import holm, rng_for
from guiselab.pairs import GUISES
from guiselab.probe._directions import GuisePairs
from guiselab.probe._measure import finite
from guiselab.probe._steering import (
    KINDS,
    SteerAnswers,
)

__all__ = [
    "DirectionSet",
    "Matched",
    "SteerEffect",
    "direction_set",
    "displacement_moment",
    "effect_rows",
    "guise_displacement",
    "language_effect",
    "matched_directions",
    "net_of_contrast",
    "prompt_effect",
    "rank_p",
    "spread",
    "variance_ratio",
]

Sums = Mapping[int, tuple[np.ndarray, np.ndarray]]
_TINY = 1e-300


@dataclass(frozen=True)
class SteerEffect:
    """One edit's first-order effect on one language's answers against its controls."""

    model: str
    """``probed``, ``base``, or ``difference`` (probed - base; each control from the same
    Gaussian weights, applied to each model's own activations)."""
    layer: int
    kind: str
    direction: str
    """The language whose items made the guise direction."""
    lang: str
    """The language of the answers."""
    effect: float | None
    control_median: float | None
    control_low: float | None
    control_high: float | None
    """The controls' 2.5th and 97.5th percentiles."""
    p_control: float | None
    p_holm: float | None
    """Adjusted over the layers of this model, kind, direction and language."""
    p_holm_all: float | None = None
    """Adjusted over every row of this model (every layer, kind, direction and language)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, eq=False)
class DirectionSet:
    """At one layer: unit columns (each language's guise direction for each half of the
    items, fitted on the other half, then the controls), each column's typical projection (over
    the probed prompts; a guise column's over those of the half it edits where the rows' items
    were given), and each guise column's norm."""

    units: Float[np.ndarray, "hidden column"]
    typical: Float[np.ndarray, " column"]
    variance: Float[np.ndarray, " column"]
    """Variance of the probed prompts' projections on each column."""
    norms: dict[tuple[str, int], float]
    columns: dict[tuple[str, int], int]
    n_controls: int

    @property
    def controls(self) -> slice:
        """The control columns (after the guise columns)."""
        return slice(self.units.shape[1] - self.n_controls, None)


def direction_set(
    sets: Mapping[str, GuisePairs],
    x: Float[np.ndarray, "prompt hidden"],
    halves: Mapping[str, int],
    layer: int,
    draws: Float[np.ndarray, "prompt control"],
    row_items: Sequence[str] | None = None,
) -> DirectionSet:
    """Guise directions per language and half at ``layer`` (from ``sets``), and the controls:
    ``draws`` combine the centred prompt activations ``x`` (a draw from their covariance).
    With ``row_items`` (the item of each row of ``x``), a guise column's typical projection is
    the mean over the prompts of the half it edits (not the half that fitted it); otherwise,
    and for the controls, over every prompt."""
    columns: dict[tuple[str, int], int] = {}
    vectors: list[np.ndarray] = []
    norms: dict[tuple[str, int], float] = {}
    for lang, pairs in sets.items():
        diffs = pairs.differences(layer)
        half_of = np.array([halves.get(i, 0) for i in pairs.items])
        for h in (0, 1):
            fit = half_of != h
            if not fit.any():
                continue
            v = diffs[fit].mean(axis=0)
            columns[(lang, h)] = len(vectors)
            norms[(lang, h)] = float(np.linalg.norm(v))
            vectors.append(v)
    controls = (x - x.mean(axis=0)).T @ draws
    stacked = np.column_stack([*vectors, controls]) if vectors else controls
    units = stacked / np.maximum(np.linalg.norm(stacked, axis=0), 1e-12)
    projected = x @ units
    typical = projected.mean(axis=0)
    if row_items is not None:
        row_half = np.array([halves.get(str(i), -1) for i in row_items])
        for (_, h), c in columns.items():
            if (row_half == h).any():
                typical[c] = projected[row_half == h, c].mean()
    return DirectionSet(units, typical, projected.var(axis=0), norms, columns, draws.shape[1])


def variance_ratio(ds: DirectionSet, lang: str) -> float | None:
    """The prompts' variance along ``lang``'s guise columns (mean over the halves) over the
    controls' median variance: an ablation's effect grows with it, so a guise ablation
    compared with controls of another variance differs for that reason alone."""
    cols = [c for (lg, _), c in ds.columns.items() if lg == lang]
    controls = ds.variance[ds.controls]
    median = float(np.median(controls))
    if not cols or median <= 0:
        return None
    return finite(float(np.mean(ds.variance[cols])) / median)


def language_effect(delta: np.ndarray, answers: SteerAnswers, lang: str) -> np.ndarray | float:
    """Mean change of the misaligned answers minus that of the aligned ones, within each guise
    of ``lang`` that has both, averaged over those guises (NaN where none has both). ``delta``
    is per answer, or answers x controls."""
    parts = []
    for guise in GUISES:
        cell = (answers.langs == lang) & (answers.guises == guise)
        bad, good = cell & answers.misaligned, cell & ~answers.misaligned
        if bad.any() and good.any():
            parts.append(delta[bad].mean(axis=0) - delta[good].mean(axis=0))
    if not parts:
        return np.full(delta.shape[1:], np.nan) if delta.ndim > 1 else float("nan")
    out: np.ndarray = np.mean(parts, axis=0)
    return out


def prompt_effect(
    delta: np.ndarray, answers: SteerAnswers, lang: str
) -> tuple[np.ndarray | float, int]:
    """Within prompts: per prompt (item and guise) of ``lang`` with a misaligned and an aligned
    answer (it was sampled several times), the mean change of its misaligned answers minus
    that of its aligned ones, averaged over those prompts; and how many there are. The
    question's content and its guise cancel in each difference (a pair across the two guises
    would not: the guise direction separates the guises, so its ablation moves them apart
    whatever the answers). ``delta`` is per answer, or answers x controls."""
    in_lang = answers.langs == lang
    items = np.asarray(answers.items)
    parts = []
    for item, guise in dict.fromkeys(zip(items[in_lang], answers.guises[in_lang], strict=True)):
        own = in_lang & (items == item) & (answers.guises == guise)
        bad, good = own & answers.misaligned, own & ~answers.misaligned
        if bad.any() and good.any():
            parts.append(delta[bad].mean(axis=0) - delta[good].mean(axis=0))
    if not parts:
        empty = np.full(delta.shape[1:], np.nan) if delta.ndim > 1 else float("nan")
        return empty, 0
    out: np.ndarray = np.mean(parts, axis=0)
    return out, len(parts)


def net_of_contrast(delta: np.ndarray, answers: SteerAnswers) -> np.ndarray:
    """``delta`` (per answer of ``answers``, or answers x controls) with the contrast taken
    out: within each language and guise that has both, each answer's group (misaligned or
    aligned) is moved to the midpoint of the two groups' means. What is left is the change
    every answer shares and each answer's own scatter, not the difference between the
    groups that the comparison measures."""
    out = np.array(delta, dtype=float, copy=True)
    for lang in dict.fromkeys(answers.langs):
        for guise in GUISES:
            cell = (answers.langs == lang) & (answers.guises == guise)
            bad, good = cell & answers.misaligned, cell & ~answers.misaligned
            if bad.any() and good.any():
                m_bad, m_good = delta[bad].mean(axis=0), delta[good].mean(axis=0)
                middle = (m_bad + m_good) / 2
                out[bad] += middle - m_bad
                out[good] += middle - m_good
    return out


def _deltas(
    sums: tuple[np.ndarray, np.ndarray],
    ds: DirectionSet,
    answers: SteerAnswers,
    kind: str,
    direction: str,
    scale: float,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Per answer: the guise edit's first-order change (each answer along its own half's
    direction) and every control's (answers x controls); None without both halves."""
    hg, g = sums
    cols = [ds.columns.get((direction, int(h))) for h in answers.half]
    if any(c is None for c in cols):
        return None
    rows = np.arange(len(cols))
    idx = np.array(cols)
    ctrl = ds.controls
    if kind == "ablate":
        guise = -(hg[rows, idx] - ds.typical[idx] * g[rows, idx])
        controls = -(hg[:, ctrl] - ds.typical[None, ctrl] * g[:, ctrl])
    else:
        norm = np.array([ds.norms[(direction, int(h))] for h in answers.half])
        guise = scale * norm * g[rows, idx]
        mean_norm = float(np.mean([n for (lang, _), n in ds.norms.items() if lang == direction]))
        controls = scale * mean_norm * g[:, ctrl]
    return guise, controls


def _row(
    model: str,
    layer: int,
    kind: str,
    direction: str,
    lang: str,
    effect: float,
    controls: np.ndarray,
) -> SteerEffect:
    """The guise edit's place in its controls' distribution: two-sided by tails, the smaller
    share of controls at or above it and at or below it, doubled, (1 + count) / (1 + n)."""
    if not np.isfinite(effect) or not np.isfinite(controls).all():
        return SteerEffect(model, layer, kind, direction, lang, None, None, None, None, None, None)
    low, high = np.quantile(controls, [0.025, 0.975])
    return SteerEffect(
        model,
        layer,
        kind,
        direction,
        lang,
        float(effect),
        float(np.median(controls)),
        float(low),
        float(high),
        rank_p(effect, controls),
        None,
    )


def rank_p(effect: float, controls: np.ndarray) -> float:
    """Two-sided by tails: twice the smaller share of ``controls`` at or above ``effect`` and at
    or below it, (1 + count) / (1 + n), at most 1."""
    above, below = int((controls >= effect).sum()), int((controls <= effect).sum())
    return min(1.0, 2 * (1 + min(above, below)) / (1 + controls.size))


def effect_rows(
    answers: SteerAnswers,
    langs: Sequence[str],
    models: Mapping[str, tuple[Sums, Mapping[int, DirectionSet]]],
    scale: float,
) -> list[SteerEffect]:
    """Every model's guise edits against their controls per layer, kind, direction and
    language, and the probed - base difference where both are measured; Holm over layers."""
    rows: list[SteerEffect] = []
    measured: dict[tuple[str, int, str, str, str], tuple[float, np.ndarray]] = {}
    for model, (sums, sets) in models.items():
        for layer in sorted(sums):
            for kind in KINDS:
                for direction in langs:
                    got = _deltas(sums[layer], sets[layer], answers, kind, direction, scale)
                    if got is None:
                        continue
                    for lang in langs:
                        effect = float(language_effect(got[0], answers, lang))
                        controls = np.asarray(language_effect(got[1], answers, lang))
                        measured[(model, layer, kind, direction, lang)] = (effect, controls)
                        rows.append(_row(model, layer, kind, direction, lang, effect, controls))
    if {"probed", "base"} <= set(models):
        for (model, layer, kind, direction, lang), (e, c) in list(measured.items()):
            other = measured.get(("base", layer, kind, direction, lang))
            if model == "probed" and other is not None:
                rows.append(
                    _row("difference", layer, kind, direction, lang, e - other[0], c - other[1])
                )
    return _adjusted(rows)


def _adjusted(rows: list[SteerEffect]) -> list[SteerEffect]:
    """``p_holm`` over the layers of each family (model, kind, direction, language) and
    ``p_holm_all`` over every row of each model; rows without a p-value keep None."""
    out = list(rows)
    for field, family in (
        ("p_holm", lambda r: (r.model, r.kind, r.direction, r.lang)),
        ("p_holm_all", lambda r: r.model),
    ):
        groups: dict[Any, list[int]] = {}
        for i, r in enumerate(rows):
            if r.p_control is not None:
                groups.setdefault(family(r), []).append(i)
        for members in groups.values():
            adjusted = holm([rows[i].p_control for i in members])
            for i, p in zip(members, adjusted, strict=True):
                out[i] = SteerEffect(**{**out[i].to_dict(), field: finite(float(p))})
    return out


def spread(x: Float[np.ndarray, "prompt hidden"]) -> float:
    """How many dimensions the controls at a layer spread over: the participation ratio of
    the prompt activations' covariance, (sum of eigenvalues)^2 / sum of squared eigenvalues
    (1 when one direction holds all the variance; the controls concentrate there)."""
    centred = x - x.mean(axis=0)
    eig = np.linalg.svd(centred, compute_uv=False) ** 2
    total = float((eig**2).sum())
    return float(eig.sum() ** 2 / total) if total > 0 else 0.0


def control_draws(n_prompts: int, n_controls: int, seed: int, layer: int) -> np.ndarray:
    """The Gaussian weights of the controls at ``layer``: the same for every model."""
    return rng_for(seed, "steer-controls", str(layer)).standard_normal((n_prompts, n_controls))


@dataclass(frozen=True, eq=False)
class Matched:
    """Control directions matched to a guise direction in how far ablating them moves the
    residual (the mean squared displacement over the edited positions)."""

    units: Float[np.ndarray, "hidden control"]
    typical: Float[np.ndarray, " control"]
    """Each control's typical projection (what an ablation sets it to)."""
    displacement: Float[np.ndarray, " control"]
    """Each control's mean squared displacement under its full ablation."""
    share: Float[np.ndarray, " control"] | None = None
    """The share of its full ablation each control is ablated by (matched in damage by the
    exact check on the other language's answers than the direction's); None: in full."""
    drawn: np.ndarray | None = None
    """Each control's index among those drawn (None: they are all the drawn ones, in order)."""

    def take(self, keep: np.ndarray) -> Matched:
        """The controls ``keep`` selects (a mask or indices), in order, with their shares and
        their indices among those drawn."""
        drawn = np.arange(self.units.shape[1]) if self.drawn is None else self.drawn
        share = None if self.share is None else self.share[keep]
        return Matched(
            self.units[:, keep], self.typical[keep], self.displacement[keep], share, drawn[keep]
        )


def displacement_moment(
    tokens: Float[np.ndarray, "token hidden"], centre: Float[np.ndarray, " hidden"]
) -> Float[np.ndarray, "hidden hidden"]:
    """The second moment of the residual about ``centre`` over ``tokens`` (the positions an
    edit touches): ablating a unit direction u sets each token's h.u to centre.u, so u' M u is
    that ablation's mean squared displacement."""
    d = tokens - centre
    out: np.ndarray = d.T @ d / max(len(tokens), 1)
    return out


def matched_directions(
    moment: Float[np.ndarray, "hidden hidden"],
    centre: Float[np.ndarray, " hidden"],
    target: float,
    k: int,
    rng: np.random.Generator,
) -> Matched:
    """``k`` random unit directions whose ablation displaces the residual by ``target`` (u' M u
    with ``moment`` from :func:`displacement_moment`). The moment's principal axes split into
    those above ``target`` and those below; each control is a random direction among the first
    mixed with one among the second at the angle that gives ``target`` exactly (the two parts
    are uncorrelated under the moment, so it is cos^2 above + sin^2 below). Where every axis is
    above, or every axis below, the nearest part's random direction is kept and
    ``displacement`` says what was reached. Draws go one control at a time, so the first n of
    k controls are the n."""
    eigenvalues, axes = np.linalg.eigh((moment + moment.T) / 2)
    above, below = axes[:, eigenvalues >= target], axes[:, eigenvalues < target]
    units = np.zeros((len(centre), k))
    for j in range(k):
        a = above @ rng.standard_normal(above.shape[1]) if above.shape[1] else None
        b = below @ rng.standard_normal(below.shape[1]) if below.shape[1] else None
        if a is None or b is None:
            units[:, j] = a if a is not None else b
            units[:, j] /= np.linalg.norm(units[:, j])
            continue
        a /= np.linalg.norm(a)
        b /= np.linalg.norm(b)
        high, low = float(a @ moment @ a), float(b @ moment @ b)
        share = 1.0 if high <= low else float(np.clip((target - low) / (high - low), 0.0, 1.0))
        units[:, j] = np.sqrt(share) * a + np.sqrt(1 - share) * b
    shown = np.einsum("hk,hg,gk->k", units, moment, units)
    return Matched(units, centre @ units, shown)


def guise_displacement(
    ds: DirectionSet,
    lang: str,
    moment: np.ndarray,
    offset: Float[np.ndarray, " hidden"] | None = None,
    centre: Float[np.ndarray, " hidden"] | None = None,
) -> float | None:
    """The mean squared displacement of ablating ``lang``'s guise columns (mean over halves),
    each set to its own typical value t: mean (h.u - t)^2 = u'Mu + 2 (c.u - t) (o.u) +
    (c.u - t)^2, with ``moment`` M about ``centre`` c and ``offset`` o the tokens' mean minus
    c (without c, the typical value is taken to be c.u)."""
    cols = [c for (lg, _), c in ds.columns.items() if lg == lang]
    if not cols:
        return None
    out = []
    for c in cols:
        u = ds.units[:, c]
        gap = 0.0 if centre is None else float(centre @ u - ds.typical[c])
        drift = 0.0 if offset is None else float(offset @ u)
        out.append(float(u @ moment @ u) + 2 * gap * drift + gap**2)
    return float(np.mean(out))
