"""The exact check at the steered layers: the guise edits made exactly (teacher-forced) beside
their first-order estimates, and the cross-lingual guise ablations against exactly ablated
controls that disturb the answers as much.

The first-order estimate of an ablation can fail: setting a component to its typical value
moves the residual far where the prompts vary much along the direction, and the change of an
answer's log-probability is then not linear in the move. So at each of ``probe.steer_layers``:

- **add** (the source language's direction): made exactly, beside the first-order estimate and
  their per-answer correlation (the steering table's ``add`` rows are read through it);
- **ablate** (each language's direction): made exactly on every answer. On the other
  language's answers (the cross-lingual claim, ``en`` on ``ru``, and its replication, ``ru``
  on ``en``) it is compared with ``probe.exact_controls`` controls ablated exactly on the same
  answers. Each control is a random direction whose full ablation displaces the residual at
  the edited positions (every token of the answers' sequences but the first) by as much, in
  mean square, as the guise direction's (:func:`~guiselab.probe._steer_table.
  matched_directions`), and it is then ablated only by the share of the way to its typical
  projection that **disturbs these answers as much as the guise ablation does** (the mean
  absolute change of their log-probability per token; :mod:`guiselab.probe._steer_damage`).
  Displacement alone was not enough: a typical direction moved as far breaks the answers,
  so every guise effect looked small beside it. The statistic compared (misaligned minus
  aligned answers' mean change) is not the one matched, so the question is whether the guise
  direction's disturbance falls on the misaligned answers more than an equally disturbing
  random direction's does. The share is searched on a seeded third of the answers, drawn
  within each guise and judged kind (:func:`search_part`, ``n_search``), and each control is
  then measured once at its share on the rest (a share that misses by more than 1.15 times on
  all the answers gets one corrected pass on all of them); ratios and contrasts are read on
  all of them. Controls whose damage stays off by more than 1.5 times (a nearly inert
  direction that even three times its full ablation cannot make disturb as much, or one whose
  share still misses on all the answers) are left out and counted (``controls_short``,
  ``controls_over``); ``control_share``, ``control_damage_ratio`` and
  ``control_displacement_ratio`` give the kept controls' ranges.

``p_t`` is the prediction-interval p-value (the controls' mean and spread, t with k - 1 degrees
of freedom: the chance that one more control lands as far out; it assumes the controls'
effects are roughly normal), Holm-adjusted over every compared row of the model (both
directions, every steered layer); ``p_rank`` is the rank p-value beside it, which with k
controls cannot go below 2 / (k + 1). ``verdict``: ``beyond`` (outside every control and
``p_holm`` <= alpha), ``outside`` (outside every control, not significant after Holm),
``within``, or ``unmatched`` (fewer than half the drawn controls, or fewer than two, could be
matched in damage, so no verdict). ``primary`` marks the cross-lingual claim's own row (the
source direction on the target language's answers). ``within_prompt`` repeats the comparison
within prompts (each prompt's misaligned minus aligned answers, where it was sampled several
times, so the question and its guise cancel), as a check beside the verdict, not a second
test of it. The controls' contrasts are compared after rescaling each to exactly the guise
ablation's damage (divided by its damage ratio), and damage is read net of the contrast
(:func:`~guiselab.probe._steer_table.net_of_contrast`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numpy as np
from jaxtyping import Float
from scipy.stats import t as t_dist

from guiselab.analysis import holm, rng_for
from guiselab.models import LoadedModel
from guiselab.probe._interventions import edit_of
from guiselab.probe._measure import finite
from guiselab.probe._steer_damage import (
    ACCEPT,
    DamageMatch,
    clip_share,
    damage,
    match_damage,
    miss,
    search_part,
)
from guiselab.probe._steer_table import (
    DirectionSet,
    Matched,
    Sums,
    _deltas,
    displacement_moment,
    guise_displacement,
    language_effect,
    matched_directions,
    net_of_contrast,
    prompt_effect,
    rank_p,
)
from guiselab.probe._steering import (
    SteerAnswers,
    answer_logprobs,
    attributions,
    token_states,
)
from guiselab.progress import Progress

__all__ = ["against_controls", "exact_check"]


MATCH_TOLERANCE = 1.5
"""The controls' damage may differ from the guise ablation's by at most this factor."""


@dataclass(frozen=True, eq=False)
class _Controls:
    """One compared row's controls: their exact changes and how they were matched."""

    effects: Float[np.ndarray, "answer control"]
    displacement_ratio: Float[np.ndarray, " control"]
    """Mean squared displacement of each partial ablation over the guise ablation's."""
    shares: Float[np.ndarray, " control"]
    damage_ratio: Float[np.ndarray, " control"]
    damage: float
    """The guise ablation's damage, which the controls were matched to."""
    passes: float
    """Exact passes per control in the share's search."""
    n_search: int
    """Answers the share was searched on."""

    @property
    def matched(self) -> np.ndarray:
        """The controls whose damage came within :data:`MATCH_TOLERANCE` of the target."""
        r = self.damage_ratio
        out: np.ndarray = np.isfinite(r) & (r >= 1 / MATCH_TOLERANCE) & (r <= MATCH_TOLERANCE)
        return out


def _span(values: np.ndarray) -> list[float] | None:
    """[min, max] of ``values``, or None when there are none or any is not finite."""
    if not values.size or not np.isfinite(values).all():
        return None
    return [float(values.min()), float(values.max())]


def _answers_at(answers: SteerAnswers, members: np.ndarray) -> SteerAnswers:
    """The answers ``members`` (indices) of ``answers``."""
    return SteerAnswers(
        items=[answers.items[int(i)] for i in members],
        langs=answers.langs[members],
        guises=answers.guises[members],
        misaligned=answers.misaligned[members],
        half=answers.half[members],
        prompts=[answers.prompts[int(i)] for i in members],
        responses=[answers.responses[int(i)] for i in members],
        pair_ids=None if answers.pair_ids is None else [answers.pair_ids[int(i)] for i in members],
    )


def against_controls(effect: float, controls: np.ndarray) -> dict[str, Any]:
    """One effect's place among a few controls' effects: their median and range, the two-sided
    rank p-value (1 + count) / (1 + k), doubled, and the prediction-interval p-value
    2 P(T_{k-1} > |effect - mean| / (sd sqrt(1 + 1/k)))."""
    k = int(controls.size)
    if not np.isfinite(effect) or k < 2 or not np.isfinite(controls).all():
        return {"n_controls": k, "p_rank": None, "p_t": None, "outside": None}
    sd, gap = float(controls.std(ddof=1)), effect - float(controls.mean())
    if sd > 0:
        p_t = float(2 * t_dist.sf(abs(gap / (sd * np.sqrt(1 + 1 / k))), k - 1))
    else:  # every control moved the answers alike: only an effect off that value is beyond
        p_t = 1.0 if gap == 0 else 0.0
    return {
        "n_controls": k,
        "control_median": float(np.median(controls)),
        "control_min": float(controls.min()),
        "control_max": float(controls.max()),
        "p_rank": rank_p(effect, controls),
        "p_t": p_t,
        "outside": bool(effect > controls.max() or effect < controls.min()),
    }


def exact_check(
    lm: LoadedModel,
    answers: SteerAnswers,
    sequences: tuple[Sequence[list[int]], Sequence[list[int]]],
    sums: Sums,
    dsets: Mapping[int, tuple[DirectionSet, np.ndarray]],
    langs: Sequence[str],
    settings: Mapping[str, Any],
    progress: Progress,
    chosen: dict[tuple[int, str], Matched] | None = None,
) -> list[dict[str, Any]]:
    """The rows of the exact check at each layer of ``dsets`` (its direction set and the probed
    prompts' activations there; see the module docstring). ``sequences``: every answer's
    prompt and answer token ids; ``settings``: ``scale``, ``batch_size``, ``n_controls``,
    ``alpha`` and ``seed``; ``chosen`` receives the controls by layer and direction."""
    scale, batch, k = settings["scale"], settings["batch_size"], settings["n_controls"]
    chosen = {} if chosen is None else chosen
    part = search_part(answers, settings["seed"])
    # Answers are scored in groups of one half, one language and one part (the controls'
    # share is searched on part 0); each group answers unedited in the same batches as it
    # answers edited, so padding and batch composition cannot show up as an effect.
    groups = {
        (h, lang, p): members
        for h in (0, 1)
        for lang in langs
        for p in (0, 1)
        if len(
            members := np.flatnonzero((answers.half == h) & (answers.langs == lang) & (part == p))
        )
    }
    seqs = {
        g: ([sequences[0][int(i)] for i in members], [sequences[1][int(i)] for i in members])
        for g, members in groups.items()
    }
    unedited = {g: answer_logprobs(lm, *seq, batch) for g, seq in seqs.items()}
    states = token_states(lm, *sequences, list(dsets), batch)

    def edited(
        layer: int,
        edits: Mapping[int, Any] | Any,
        only: str | None = None,
        within: int | None = None,
    ) -> np.ndarray:
        """Per answer: the change under the edit ``edits[h]`` of its half ``h`` at ``layer``
        (one edit for every half where ``edits`` is not a mapping; NaN outside language
        ``only`` and part ``within`` where given)."""
        out = np.full(len(answers.items), np.nan)
        for (h, lang, p), members in groups.items():
            if (only is None or lang == only) and (within is None or p == within):
                edit = edits[h] if isinstance(edits, Mapping) else edits
                change = answer_logprobs(lm, *seqs[(h, lang, p)], batch, {layer: edit})
                out[members] = change - unedited[(h, lang, p)]
        return out

    halves = sorted({h for h, _, _ in groups})
    rows: list[dict[str, Any]] = []
    for layer, (ds, x) in dsets.items():
        ready = [lang for lang in langs if all((lang, h) in ds.columns for h in halves)]
        others = {d: [lang for lang in langs if lang != d] for d in ready}
        total = 1 + len(ready) + 2 * k * sum(len(o) for o in others.values())
        with progress.task(f"probe: exact edits at layer {layer}", total) as advance:
            guise: dict[tuple[str, str], np.ndarray] = {}
            for kind, direction in [("add", langs[0]), *(("ablate", d) for d in ready)]:
                if direction in ready:
                    edits = {}
                    for h in halves:
                        c = ds.columns[(direction, h)]
                        vector = ds.units[:, c] * ds.norms[(direction, h)]
                        typical = float(ds.typical[c])
                        edits[h] = edit_of(kind, vector, typical, scale, lm.device)
                    guise[(kind, direction)] = edited(layer, edits)
                advance(1)
            controls: dict[tuple[str, str], _Controls] = {}
            centre = x.mean(axis=0)
            moment = displacement_moment(states[layer], centre)
            offset = states[layer].mean(axis=0) - centre
            for direction in ready:
                target = guise_displacement(ds, direction, moment, offset, centre) or 0.0
                matched = matched_directions(
                    moment,
                    x.mean(axis=0),
                    target,
                    k,
                    rng_for(settings["seed"], "exact-controls", str(layer), direction),
                )
                for lang in others[direction]:
                    members = np.flatnonzero(answers.langs == lang)
                    compared = _answers_at(answers, members)
                    ablated = guise[("ablate", direction)]
                    goal = damage(net_of_contrast(ablated[members], compared))
                    found = _damage_matched(
                        lm,
                        partial(edited, layer, only=lang),
                        (layer, members, part[members] == 0),
                        (ablated, goal, compared),
                        matched,
                        sequences,
                        (batch, advance),
                    )
                    effects = np.full((len(answers.items), k), np.nan)
                    effects[members] = found.effects
                    shown = found.shares**2 * matched.displacement
                    controls[(direction, lang)] = _Controls(
                        effects,
                        shown / target if target > 0 else np.full(k, np.nan),
                        found.shares,
                        found.damage_ratio,
                        goal,
                        found.passes / k,
                        int((part[members] == 0).sum()),
                    )
                    if lang == langs[-1] or (layer, direction) not in chosen:
                        chosen[(layer, direction)] = replace(matched, share=found.shares).take(
                            controls[(direction, lang)].matched
                        )
        rows += _layer_rows(layer, ds, answers, sums[layer], guise, controls, langs, scale)
    return _verdicts(rows, float(settings["alpha"]))


def _damage_matched(
    lm: LoadedModel,
    edited: Callable[..., np.ndarray],
    where: tuple[int, np.ndarray, np.ndarray],
    target: tuple[np.ndarray, float, SteerAnswers],
    matched: Matched,
    sequences: tuple[Sequence[list[int]], Sequence[list[int]]],
    run: tuple[int, Callable[[int], None]],
) -> DamageMatch:
    """The controls ``matched`` ablated in part at the layer of ``where``, matched in damage
    to the guise ablation on its answers (``members``, indices into ``sequences``).

    The share is searched on the answers ``searched`` marks (the guise ablation's damage on
    the same answers is the search's target), and each control is then measured at its share
    on the rest, so a pass that misses costs a third of the answers, not all of them; the
    damage ratio reported is read on every answer. ``edited(edit, within=part)`` gives every
    answer's exact change under ``edit`` (NaN outside ``part`` where given); ``target``: the
    guise ablation's changes, its damage on every answer and those answers; ``run``: the batch
    size and the progress callback."""
    (layer, members, searched), (batch, advance) = where, run
    guise, goal, compared = target
    search = members[searched]

    def damage_of(changes: np.ndarray, on: SteerAnswers) -> float:
        return damage(net_of_contrast(changes, on))

    on_search = _answers_at(compared, np.flatnonzero(searched))
    _, first = attributions(
        lm,
        [sequences[0][int(i)] for i in search],
        [sequences[1][int(i)] for i in search],
        {layer: matched.units},
        batch,
    )
    hg, g = first[layer]

    def ablation(j: int, share: float) -> Any:
        unit, typical = matched.units[:, j], float(matched.typical[j])
        return edit_of("ablate", unit, typical, 1.0, lm.device, share)

    def measure(j: int, share: float) -> np.ndarray:
        out: np.ndarray = edited(ablation(j, share), within=0)[search]
        return out

    first_order = -(hg - matched.typical[None, :] * g)
    found = match_damage(
        damage_of(guise[search], on_search),
        first_order,
        measure,
        advance,
        partial(damage_of, on=on_search),
    )
    effects = np.full((members.size, found.shares.size), np.nan)
    effects[searched] = found.effects
    shares = found.shares.copy()
    valid = bool(np.isfinite(goal) and goal > 0 and np.isfinite(found.damage_ratio).any())
    ratios = np.full(shares.size, np.nan)
    passes = found.passes
    for j in range(shares.size):
        if (~searched).any():
            rest = edited(ablation(j, float(shares[j])), within=1)
            effects[~searched, j] = rest[members[~searched]]
        if valid:
            ratios[j] = damage_of(effects[:, j], compared) / goal
            # a share found on a third of the answers that misses on all of them gets one
            # more pass on all of them, rescaled by the miss; the closer of the two is kept
            if np.isfinite(ratios[j]) and ratios[j] > 0 and miss(ratios[j], 1.0) > np.log(ACCEPT):
                share = clip_share(shares[j] / ratios[j])
                again = edited(ablation(j, share))[members]
                passes += 1
                ratio = damage_of(again, compared) / goal
                if miss(ratio, 1.0) < miss(ratios[j], 1.0):
                    shares[j], ratios[j], effects[:, j] = share, ratio, again
        advance(1)
    return replace(found, effects=effects, shares=shares, damage_ratio=ratios, passes=passes)


def _layer_rows(
    layer: int,
    ds: DirectionSet,
    answers: SteerAnswers,
    sums: tuple[np.ndarray, np.ndarray],
    guise: Mapping[tuple[str, str], np.ndarray],
    controls: Mapping[tuple[str, str], _Controls],
    langs: Sequence[str],
    scale: float,
) -> list[dict[str, Any]]:
    out = []
    for (kind, direction), exact in guise.items():
        got = _deltas(sums, ds, answers, kind, direction, scale)
        first = got[0] if got is not None else np.full(len(exact), np.nan)
        ok = np.isfinite(first) & np.isfinite(exact)
        corr = (
            np.corrcoef(first[ok], exact[ok])[0, 1]
            if ok.sum() > 1 and np.std(exact[ok]) > 0 and np.std(first[ok]) > 0
            else float("nan")
        )
        for lang in langs:
            effect = float(language_effect(exact, answers, lang))
            row: dict[str, Any] = {
                "layer": layer,
                "kind": kind,
                "direction": direction,
                "lang": lang,
                "primary": kind == "ablate" and (direction, lang) == (langs[0], langs[-1]),
                "first_order": finite(float(language_effect(first, answers, lang))),
                "exact": finite(effect),
                "answer_correlation": finite(float(corr)),
            }
            compared = controls.get((direction, lang)) if kind == "ablate" else None
            if compared is not None:
                keep = compared.matched
                # each kept control's contrast at exactly the guise's damage (the contrast
                # scales with the share near the match, so by 1 / its damage ratio)
                scale_to = compared.damage_ratio[keep]
                theirs = np.asarray(language_effect(compared.effects, answers, lang), dtype=float)
                row |= against_controls(effect, theirs[keep] / scale_to)
                own, n_prompts = prompt_effect(exact, answers, lang)
                within, _ = prompt_effect(compared.effects, answers, lang)
                row["within_prompt"] = {
                    "n_prompts": n_prompts,
                    "exact": finite(float(own)),
                    **against_controls(
                        float(own), np.asarray(within, dtype=float)[keep] / scale_to
                    ),
                }
                row["n_drawn"] = int(keep.size)
                ratio = compared.damage_ratio
                row["controls_short"] = int((~(ratio >= 1 / MATCH_TOLERANCE)).sum())
                row["controls_over"] = int((ratio > MATCH_TOLERANCE).sum())
                row["damage"] = finite(compared.damage)
                row["search_passes"] = finite(compared.passes)
                row["n_search"] = compared.n_search
                row["control_share"] = _span(compared.shares[keep])
                row["control_damage_ratio"] = _span(compared.damage_ratio[keep])
                row["control_displacement_ratio"] = _span(compared.displacement_ratio[keep])
            out.append(row)
    return out


def _verdicts(rows: list[dict[str, Any]], alpha: float) -> list[dict[str, Any]]:
    """``p_holm``: ``p_t`` adjusted over every row compared with enough matched controls;
    ``verdict`` as the module docstring says."""
    drawn = [r for r in rows if "n_drawn" in r]
    for r in drawn:
        if r["n_controls"] < 2 or 2 * r["n_controls"] < r["n_drawn"]:
            r["verdict"], r["p_holm"] = "unmatched", None
        elif r.get("p_t") is None:  # no effect to compare (a language without both kinds)
            r["verdict"], r["p_holm"] = None, None
    compared = [i for i, r in enumerate(rows) if "n_drawn" in r and "verdict" not in r]
    adjusted = holm([rows[i]["p_t"] for i in compared])
    for i, p in zip(compared, adjusted, strict=True):
        r = rows[i]
        r["p_holm"] = finite(float(p))
        if r["outside"] and p <= alpha:
            r["verdict"] = "beyond"
        else:
            r["verdict"] = "outside" if r["outside"] else "within"
    return rows
