"""The steering measurements of the probe stage: the first-order table for the probed model
and the base on the probed model's scored answers, and the exact check at the steered layers
of each (:mod:`guiselab.probe._steer_table`, :mod:`guiselab.probe._steer_exact`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from jaxtyping import Float

from guiselab.models import LoadedModel
from guiselab.probe._activations import n_layers
from guiselab.probe._context import ProbeContext
from guiselab.probe._directions import GuisePairs
from guiselab.probe._steer_exact import exact_check
from guiselab.probe._steer_table import (
    DirectionSet,
    Matched,
    Sums,
    control_draws,
    direction_set,
    effect_rows,
    spread,
    variance_ratio,
)
from guiselab.probe._steering import answer_sequences, attributions, steer_answers

__all__ = ["steering"]


def steering(
    ctx: ProbeContext,
    sets: Mapping[str, GuisePairs],
    base_sets: Mapping[str, GuisePairs] | None,
    base_x: Float[np.ndarray, "prompt layer hidden"] | None,
    halves: Mapping[str, int],
) -> tuple[dict[str, Any], dict[str, tuple[LoadedModel, dict[tuple[int, str], Matched]]]]:
    """The steering table of the probed model (and the base model on the same answers), and
    the exact check at the steered layers of each; by model (``probed``, ``base``), the model
    and the exact check's damage-matched controls by layer and direction (none where there is
    nothing to steer, and the table is a note saying so)."""
    base = next((s for s in ctx.sources if s.role == "base" and s.remote is None), None)
    models = [("probed", ctx.lm, ctx.x, sets)]
    if base is not None and base_sets is not None and base_x is not None:
        models.append(("base", base.load(), base_x, base_sets))
    answers = steer_answers(ctx, halves)
    if answers is None:
        note = "the probed model has no misaligned and aligned scored answers to steer"
        return {"note": note}, {model: (lm, {}) for model, lm, _, _ in models}
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
                [item for item, _, _ in ctx.meta],
            )
            for layer in ctx.layers
        }
        prompts, responses = answer_sequences(ctx, lm, answers)
        _, sums = attributions(
            lm, prompts, responses, {layer: d.units for layer, d in dsets.items()}, cfg.batch_size
        )
        return sums, dsets, prompts, responses

    steered = cfg.steer_layers or [n_layers(ctx.lm.model) // 2]
    settings = {
        "scale": cfg.steer_scale,
        "batch_size": cfg.batch_size,
        "n_controls": cfg.exact_controls,
        "alpha": ctx.config.analysis.alpha,
        "seed": seed,
    }
    measured: dict[str, tuple[Sums, Mapping[int, DirectionSet]]] = {}
    exact: list[dict[str, Any]] = []
    chosen: dict[str, tuple[LoadedModel, dict[tuple[int, str], Matched]]] = {}
    for model, lm, x, model_sets in models:
        sums, dsets, prompts, responses = measure(lm, x, model_sets)
        measured[model] = (sums, dsets)
        chosen[model] = (lm, {})
        ctx.progress.log(f"probe: exact check at layers {steered} ({model})")
        got = exact_check(
            lm,
            answers,
            (prompts, responses),
            sums,
            {k: (dsets[k], x[:, k]) for k in steered if k in dsets},
            ctx.langs,
            settings,
            ctx.progress,
            chosen[model][1],
        )
        # the cross-lingual claim is the probed model's: the base's rows replicate it, at most
        exact += [{**r, "model": model, "primary": r["primary"] and model == "probed"} for r in got]
    probed_sets = measured["probed"][1]
    rows = effect_rows(answers, ctx.langs, measured, cfg.steer_scale)
    table = {
        "control_dims": {str(layer): spread(ctx.x[:, layer]) for layer in ctx.layers},
        "variance_ratio": {
            str(layer): {lang: variance_ratio(ds, lang) for lang in ctx.langs}
            for layer, ds in probed_sets.items()
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
