"""The exact check at the steered layers: the guise edits made exactly (teacher-forced) beside
their first-order estimates, and the cross-lingual guise ablations against exactly ablated
controls that move the residual as far.

The first-order estimate of an ablation can fail: setting a component to its typical value
moves the residual far where the prompts vary much along the direction, and the change of an
answer's log-probability is then not linear in the move. So at each of ``probe.steer_layers``:

- **add** (the source language's direction): made exactly, beside the first-order estimate and
  their per-answer correlation (the steering table's ``add`` rows are read through it);
- **ablate** (each language's direction): made exactly on every answer. On the other
  language's answers (the cross-lingual claim, ``en`` on ``ru``, and its replication, ``ru``
  on ``en``) it is compared with ``probe.exact_controls`` controls ablated exactly on the same
  answers: random directions whose ablation displaces the residual at the edited positions
  (every token of the answers' sequences but the first) by exactly as much, in mean square,
  as the guise direction's does (:func:`~guiselab.probe._steer_table.matched_directions`),
  each set to its own typical projection. An ablation's effect grows with how far it moves the
  residual, so that is the one thing the controls must share; ``control_displacement_ratio``
  reports how close the match came (1 unless the target was out of reach).

``p_t`` is the prediction-interval p-value (the controls' mean and spread, t with k - 1 degrees
of freedom: the chance that one more control lands as far out; it assumes the controls'
effects are roughly normal), Holm-adjusted over every compared row (both directions, every
steered layer); ``p_rank`` is the rank p-value beside it, which with k controls cannot go below
2 / (k + 1). ``verdict``: ``beyond`` (outside every control and ``p_holm`` <= alpha),
``outside`` (outside every control, not significant after Holm), ``within``, or ``unmatched``
(the controls' displacement is off the guise direction's by more than 1.5 times either way, so
no verdict). ``primary`` marks the cross-lingual claim's own row (the source direction on the
target language's answers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from jaxtyping import Float
from scipy.stats import t as t_dist

from guiselab.analysis import holm, rng_for
from guiselab.models import LoadedModel
from guiselab.probe._activations import n_layers
from guiselab.probe._context import ProbeContext
from guiselab.probe._directions import GuisePairs
from guiselab.probe._interventions import edit_of
from guiselab.probe._measure import finite
from guiselab.probe._steer_table import (
    DirectionSet,
    Matched,
    Sums,
    _deltas,
    control_draws,
    direction_set,
    displacement_moment,
    effect_rows,
    guise_displacement,
    language_effect,
    matched_directions,
    rank_p,
    spread,
    variance_ratio,
)
from guiselab.probe._steering import (
    SteerAnswers,
    answer_logprobs,
    answer_sequences,
    attributions,
    steer_answers,
    token_states,
)
from guiselab.progress import Progress

__all__ = ["against_controls", "exact_check", "steering"]


MATCH_TOLERANCE = 1.5
"""The controls' mean squared displacement may differ from the guise direction's by at most
this factor."""


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
    # Answers are scored in groups of one half and one language; each group answers unedited
    # in the same batches as it answers edited, so padding and batch composition cannot show
    # up as an effect.
    groups = {
        (h, lang): members
        for h in (0, 1)
        for lang in langs
        if len(members := np.flatnonzero((answers.half == h) & (answers.langs == lang)))
    }
    seqs = {
        g: ([sequences[0][int(i)] for i in members], [sequences[1][int(i)] for i in members])
        for g, members in groups.items()
    }
    unedited = {g: answer_logprobs(lm, *seq, batch) for g, seq in seqs.items()}
    states = token_states(lm, *sequences, list(dsets), batch)

    def edited(layer: int, edits: Mapping[int, Any], only: str | None = None) -> np.ndarray:
        """Per answer: the change under the edit ``edits[h]`` of its half ``h`` at ``layer``
        (NaN outside language ``only`` where given)."""
        out = np.full(len(answers.items), np.nan)
        for (h, lang), members in groups.items():
            if only is None or lang == only:
                change = answer_logprobs(lm, *seqs[(h, lang)], batch, {layer: edits[h]})
                out[members] = change - unedited[(h, lang)]
        return out

    halves = sorted({h for h, _ in groups})
    rows: list[dict[str, Any]] = []
    for layer, (ds, x) in dsets.items():
        ready = [lang for lang in langs if all((lang, h) in ds.columns for h in halves)]
        others = {d: [lang for lang in langs if lang != d] for d in ready}
        total = 1 + len(ready) + k * sum(len(o) for o in others.values())
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
            controls: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
            moment = displacement_moment(states[layer], x.mean(axis=0))
            for direction in ready:
                target = guise_displacement(ds, direction, moment) or 0.0
                matched = matched_directions(
                    moment,
                    x.mean(axis=0),
                    target,
                    k,
                    rng_for(settings["seed"], "exact-controls", str(layer), direction),
                )
                chosen[(layer, direction)] = matched
                ratio = matched.displacement / target if target > 0 else np.full(k, np.nan)
                for lang in others[direction]:
                    effects = np.full((len(answers.items), k), np.nan)
                    for j in range(k):
                        edit = edit_of(
                            "ablate", matched.units[:, j], float(matched.typical[j]), 1.0, lm.device
                        )
                        effects[:, j] = edited(layer, dict.fromkeys(halves, edit), only=lang)
                        advance(1)
                    controls[(direction, lang)] = (effects, ratio)
        rows += _layer_rows(layer, ds, answers, sums[layer], guise, controls, langs, scale)
    return _verdicts(rows, float(settings["alpha"]))


def _layer_rows(
    layer: int,
    ds: DirectionSet,
    answers: SteerAnswers,
    sums: tuple[np.ndarray, np.ndarray],
    guise: Mapping[tuple[str, str], np.ndarray],
    controls: Mapping[tuple[str, str], tuple[np.ndarray, np.ndarray]],
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
                effects, ratio = compared
                row |= against_controls(
                    effect, np.asarray(language_effect(effects, answers, lang), dtype=float)
                )
                row["control_displacement_ratio"] = (
                    [float(ratio.min()), float(ratio.max())] if np.isfinite(ratio).all() else None
                )
            out.append(row)
    return out


def _verdicts(rows: list[dict[str, Any]], alpha: float) -> list[dict[str, Any]]:
    """``p_holm``: ``p_t`` adjusted over every row compared with controls; ``verdict`` as the
    module docstring says."""
    compared = [i for i, r in enumerate(rows) if r.get("p_t") is not None]
    adjusted = holm([rows[i]["p_t"] for i in compared])
    for i, p in zip(compared, adjusted, strict=True):
        r = rows[i]
        r["p_holm"] = finite(float(p))
        ratio = r.get("control_displacement_ratio")
        low, high = ratio if ratio is not None else (0.0, np.inf)
        if not 1 / MATCH_TOLERANCE <= low <= high <= MATCH_TOLERANCE:
            r["verdict"] = "unmatched"
        elif r["outside"] and p <= alpha:
            r["verdict"] = "beyond"
        else:
            r["verdict"] = "outside" if r["outside"] else "within"
    return rows


def steering(
    ctx: ProbeContext,
    sets: Mapping[str, GuisePairs],
    base_sets: Mapping[str, GuisePairs] | None,
    base_x: Float[np.ndarray, "prompt layer hidden"] | None,
    halves: Mapping[str, int],
) -> tuple[dict[str, Any], dict[tuple[int, str], Matched]]:
    """The steering table of the probed model (and the base model on the same answers), and
    the exact check at the steered layers, with its controls by layer and direction; a note
    where there is nothing to steer."""
    answers = steer_answers(ctx, halves)
    if answers is None:
        note = "the probed model has no misaligned and aligned scored answers to steer"
        return {"note": note}, {}
    cfg, seed = ctx.cfg, ctx.config.analysis.seed
    ctx.progress.log(
        f"probe: steering against {cfg.n_controls} controls on {len(answers.items)} answers"
    )

    def measure(
        lm: LoadedModel, x: np.ndarray, model_sets: Mapping[str, GuisePairs]
    ) -> tuple[Sums, dict[int, DirectionSet], list[list[int]], list[list[int]]]:
        dsets = {
            layer: direction_set(
                model_sets,
                x[:, layer],
                halves,
                layer,
                control_draws(len(x), cfg.n_controls, seed, layer),
            )
            for layer in ctx.layers
        }
        prompts, responses = answer_sequences(ctx, lm, answers)
        _, sums = attributions(
            lm, prompts, responses, {layer: d.units for layer, d in dsets.items()}, cfg.batch_size
        )
        return sums, dsets, prompts, responses

    sums, dsets, prompts, responses = measure(ctx.lm, ctx.x, sets)
    models: dict[str, tuple[Sums, Mapping[int, DirectionSet]]] = {"probed": (sums, dsets)}
    base = next((s for s in ctx.sources if s.role == "base" and s.remote is None), None)
    if base is not None and base_sets is not None and base_x is not None:
        base_sums, base_dsets, _, _ = measure(base.load(), base_x, base_sets)
        models["base"] = (base_sums, base_dsets)
    rows = effect_rows(answers, ctx.langs, models, cfg.steer_scale)
    steered = cfg.steer_layers or [n_layers(ctx.lm.model) // 2]
    chosen: dict[tuple[int, str], Matched] = {}
    exact = exact_check(
        ctx.lm,
        answers,
        (prompts, responses),
        sums,
        {k: (dsets[k], ctx.x[:, k]) for k in steered if k in dsets},
        ctx.langs,
        {
            "scale": cfg.steer_scale,
            "batch_size": cfg.batch_size,
            "n_controls": cfg.exact_controls,
            "alpha": ctx.config.analysis.alpha,
            "seed": seed,
        },
        ctx.progress,
        chosen,
    )
    table = {
        "control_dims": {str(layer): spread(ctx.x[:, layer]) for layer in ctx.layers},
        "variance_ratio": {
            str(layer): {lang: variance_ratio(ds, lang) for lang in ctx.langs}
            for layer, ds in dsets.items()
        },
        "exact_layers_unprobed": sorted(set(steered) - set(ctx.layers)),
        "tokens": cfg.steer_tokens,
        "alpha": ctx.config.analysis.alpha,
        "n_controls": cfg.n_controls,
        "exact_controls": cfg.exact_controls,
        # the smallest p_holm any layer can reach: 2 / (1 + n) times the layers
        "p_holm_floor": min(1.0, 2 * len(ctx.layers) / (1 + cfg.n_controls)),
        "n_misaligned": int(answers.misaligned.sum()),
        "n_aligned": int((~answers.misaligned).sum()),
        "effects": [r.to_dict() for r in rows],
        "exact": exact,
    }
    return table, chosen
