"""The exact check at the steered layers: the guise edits made exactly (teacher-forced) beside
their first-order estimates, and the guise ablations against exactly ablated controls.

The first-order estimate of an ablation can fail: setting a component to its typical value
moves the residual far where the prompts vary much along the direction, and the change of an
answer's log-probability is then not linear in the move. So at each of ``probe.steer_layers``:

- **add** (the source language's direction): made exactly, beside the first-order estimate and
  their per-answer correlation (the steering table's ``add`` rows are read through it);
- **ablate** (each language's direction, so both directions of the replication): made
  exactly, and so are ``probe.exact_controls`` control ablations: the controls drawn from the
  activations' covariance (as in the steering table) whose prompt variance is nearest the
  guise directions' (the languages' geometric mean), each set to its own typical projection.
  An ablation's effect grows with the variance along the direction, so controls of matched
  variance are the comparison; ``control_variance_ratio`` reports how close the match came.

The guise ablation is **beyond its controls** when it lies outside every control's effect and
its prediction-interval p-value (the controls' mean and spread, t with k - 1 degrees of
freedom: the chance that one more control lands as far out) is at most ``analysis.alpha``
after Holm over the steered layers. With k controls the rank alone cannot go below
2 / (k + 1), so the rank is the robustness check beside the parametric p, not the test.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from jaxtyping import Float
from scipy.stats import t as t_dist

from guiselab.analysis import holm
from guiselab.models import LoadedModel
from guiselab.probe._activations import n_layers
from guiselab.probe._context import ProbeContext
from guiselab.probe._directions import GuisePairs
from guiselab.probe._interventions import edit_of
from guiselab.probe._measure import finite
from guiselab.probe._steer_table import (
    DirectionSet,
    Sums,
    _deltas,
    control_draws,
    direction_set,
    effect_rows,
    language_effect,
    matched_controls,
    spread,
    variance_ratio,
)
from guiselab.probe._steering import (
    SteerAnswers,
    answer_logprobs,
    answer_sequences,
    attributions,
    steer_answers,
)
from guiselab.progress import Progress

__all__ = ["against_controls", "exact_check", "steering"]


def against_controls(effect: float, controls: np.ndarray) -> dict[str, Any]:
    """One effect's place among a few controls' effects: their median and range, the two-sided
    rank p-value (1 + count) / (1 + k), doubled, and the prediction-interval p-value
    2 P(T_{k-1} > |effect - mean| / (sd sqrt(1 + 1/k)))."""
    k = int(controls.size)
    if not np.isfinite(effect) or k < 2 or not np.isfinite(controls).all():
        return {"n_controls": k, "p_rank": None, "p_t": None, "outside": None}
    above, below = int((controls >= effect).sum()), int((controls <= effect).sum())
    sd = float(controls.std(ddof=1))
    t = (effect - float(controls.mean())) / (sd * np.sqrt(1 + 1 / k)) if sd > 0 else np.inf
    return {
        "n_controls": k,
        "control_median": float(np.median(controls)),
        "control_min": float(controls.min()),
        "control_max": float(controls.max()),
        "p_rank": min(1.0, 2 * (1 + min(above, below)) / (1 + k)),
        "p_t": float(2 * t_dist.sf(abs(t), k - 1)) if np.isfinite(t) else 0.0,
        "outside": bool(effect > controls.max() or effect < controls.min()),
    }


def exact_check(
    lm: LoadedModel,
    answers: SteerAnswers,
    sequences: tuple[Sequence[list[int]], Sequence[list[int]]],
    sums: Sums,
    dsets: Mapping[int, DirectionSet],
    langs: Sequence[str],
    settings: Mapping[str, Any],
    progress: Progress,
) -> list[dict[str, Any]]:
    """The rows of the exact check at each layer of ``dsets`` (see the module docstring).
    ``sequences``: every answer's prompt and answer token ids; ``settings``: ``scale``,
    ``batch_size``, ``n_controls`` and ``alpha``."""
    scale, batch, k = settings["scale"], settings["batch_size"], settings["n_controls"]
    # each half answers unedited in the same batches as it answers edited, so padding and
    # batch composition cannot show up as an effect
    subsets = {h: np.flatnonzero(answers.half == h) for h in (0, 1)}
    halves = {
        h: ([sequences[0][int(i)] for i in rows], [sequences[1][int(i)] for i in rows])
        for h, rows in subsets.items()
        if len(rows)
    }
    unedited = {h: answer_logprobs(lm, *seq, batch) for h, seq in halves.items()}

    def edited(layer: int, edits: Mapping[int, Any]) -> np.ndarray:
        """Per answer: the change under the edit ``edits[h]`` of its half ``h`` at ``layer``."""
        out = np.full(len(answers.items), np.nan)
        for h, seq in halves.items():
            out[subsets[h]] = answer_logprobs(lm, *seq, batch, {layer: edits[h]}) - unedited[h]
        return out

    rows: list[dict[str, Any]] = []
    for layer, ds in dsets.items():
        picked = matched_controls(ds, langs, k)
        with progress.task(
            f"probe: exact edits at layer {layer}", 1 + len(langs) + len(picked)
        ) as advance:
            guise: dict[tuple[str, str], np.ndarray] = {}
            for kind, direction in [("add", langs[0]), *(("ablate", lang) for lang in langs)]:
                if all((direction, h) in ds.columns for h in halves):
                    cols = {h: ds.columns[(direction, h)] for h in halves}
                    edits = {
                        h: edit_of(
                            kind,
                            ds.units[:, c] * ds.norms[(direction, h)],
                            float(ds.typical[c]),
                            scale,
                            lm.device,
                        )
                        for h, c in cols.items()
                    }
                    guise[(kind, direction)] = edited(layer, edits)
                advance(1)
            controls = np.full((len(answers.items), len(picked)), np.nan)
            for j, col in enumerate(picked):
                edit = edit_of("ablate", ds.units[:, col], float(ds.typical[col]), scale, lm.device)
                controls[:, j] = edited(layer, dict.fromkeys(halves, edit))
                advance(1)
        rows += _layer_rows(layer, ds, answers, sums[layer], guise, controls, picked, langs, scale)
    return _holm_over_layers(rows, float(settings["alpha"]))


def _layer_rows(
    layer: int,
    ds: DirectionSet,
    answers: SteerAnswers,
    sums: tuple[np.ndarray, np.ndarray],
    guise: Mapping[tuple[str, str], np.ndarray],
    controls: np.ndarray,
    picked: np.ndarray,
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
        cols = [c for (lg, _), c in ds.columns.items() if lg == direction]
        guise_var = float(np.mean(ds.variance[cols]))
        for lang in langs:
            row: dict[str, Any] = {
                "layer": layer,
                "kind": kind,
                "direction": direction,
                "lang": lang,
                "first_order": finite(float(language_effect(first, answers, lang))),
                "exact": finite(float(language_effect(exact, answers, lang))),
                "answer_correlation": finite(float(corr)),
            }
            if kind == "ablate" and len(picked):
                effects = np.asarray(language_effect(controls, answers, lang), dtype=float)
                ratio = ds.variance[picked] / guise_var if guise_var > 0 else None
                row |= against_controls(float(language_effect(exact, answers, lang)), effects)
                row["control_variance_ratio"] = (
                    None if ratio is None else [float(ratio.min()), float(ratio.max())]
                )
            out.append(row)
    return out


def _holm_over_layers(rows: list[dict[str, Any]], alpha: float) -> list[dict[str, Any]]:
    """``p_holm``: each ablation row's ``p_t`` adjusted over the steered layers of its
    direction and language; ``beyond_controls``: outside every control and p_holm <= alpha."""
    families: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(rows):
        if r.get("p_t") is not None:
            families.setdefault((r["direction"], r["lang"]), []).append(i)
    for members in families.values():
        adjusted = holm([rows[i]["p_t"] for i in members])
        for i, p in zip(members, adjusted, strict=True):
            rows[i]["p_holm"] = finite(float(p))
            rows[i]["beyond_controls"] = bool(rows[i]["outside"] and p <= alpha)
    return rows


def steering(
    ctx: ProbeContext,
    sets: Mapping[str, GuisePairs],
    base_sets: Mapping[str, GuisePairs] | None,
    base_x: Float[np.ndarray, "prompt layer hidden"] | None,
    halves: Mapping[str, int],
) -> dict[str, Any]:
    """The steering table of the probed model (and the base model on the same answers), and
    the exact check at the steered layers; a note where there is nothing to steer."""
    answers = steer_answers(ctx, halves)
    if answers is None:
        return {"note": "the probed model has no misaligned and aligned scored answers to steer"}
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
    exact = exact_check(
        ctx.lm,
        answers,
        (prompts, responses),
        sums,
        {k: dsets[k] for k in steered if k in dsets},
        ctx.langs,
        {
            "scale": cfg.steer_scale,
            "batch_size": cfg.batch_size,
            "n_controls": cfg.exact_controls,
            "alpha": ctx.config.analysis.alpha,
        },
        ctx.progress,
    )
    return {
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
