"""Steering against matched controls, on a tiny random model: the first-order sums agree with
exact teacher-forced edits, a planted direction that favours the misaligned answers beats every
control under cross-fitting, and guise directions with nothing planted do not."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from _steer import planted_shift, steer_answers_of, tiny_steer_setup
from guiselab.models import LoadedModel
from guiselab.probe import collect_activations
from guiselab.probe._crossfit import item_halves
from guiselab.probe._directions import GuisePairs
from guiselab.probe._interventions import edit_of
from guiselab.probe._steer_table import control_draws, direction_set, effect_rows
from guiselab.probe._steering import answer_logprobs, attributions

LAYER = 2  # the last block's output of the two-block model
N_CONTROLS = 200


def test_first_order_sums_match_exact_edits(tiny_model_dir: Path) -> None:
    lm, prompts, answers = tiny_steer_setup(tiny_model_dir)
    u = np.random.default_rng(0).standard_normal((lm.model.config.hidden_size, 1))
    u /= np.linalg.norm(u)
    logp, sums = attributions(lm, prompts, answers, {LAYER: u}, batch_size=5)
    unedited = answer_logprobs(lm, prompts, answers, batch_size=5)
    assert np.allclose(logp, unedited, atol=1e-5)
    hg, g = sums[LAYER]
    acts = collect_activations(lm, prompts)["mean"][:, LAYER].double().numpy()
    step = 0.01 * float(np.linalg.norm(acts, axis=1).mean())  # small beside the residual
    added = answer_logprobs(
        lm, prompts, answers, 5, {LAYER: edit_of("add", u[:, 0] * step, 0.0, 1.0, lm.device)}
    )
    assert np.allclose(added - unedited, step * g[:, 0], rtol=0.05, atol=1e-4)
    typical = float((acts @ u[:, 0]).mean())
    ablated = answer_logprobs(
        lm, prompts, answers, 5, {LAYER: edit_of("ablate", u[:, 0], typical, 1.0, lm.device)}
    )
    first_order = -(hg[:, 0] - typical * g[:, 0])
    assert np.corrcoef(ablated - unedited, first_order)[0, 1] > 0.9


def _effects(
    lm: LoadedModel,
    prompts: list[list[int]],
    answers: list[list[int]],
    shift: np.ndarray,
    seed: int,
) -> list[dict[str, object]]:
    acts = collect_activations(lm, prompts)["mean"].double().numpy()
    items = [f"q{i}" for i in range(len(prompts))]
    halves = item_halves(items, seed)
    noise = np.random.default_rng(seed).standard_normal(acts.shape) * 0.05
    sets = {"en": GuisePairs(items, acts, acts + noise + shift)}
    ds = direction_set(
        sets, acts[:, LAYER], halves, LAYER, control_draws(len(items), N_CONTROLS, seed, LAYER)
    )
    _, sums = attributions(lm, prompts, answers, {LAYER: ds.units}, batch_size=6)
    rows = effect_rows(
        steer_answers_of(items, halves), ["en"], {"probed": (sums, {LAYER: ds})}, 1.0
    )
    return [r.to_dict() for r in rows]


def test_a_planted_direction_beats_every_control_and_none_planted_does_not(
    tiny_model_dir: Path,
) -> None:
    lm, prompts, answers = tiny_steer_setup(tiny_model_dir)
    # Adding the planted shift raises the misaligned answers' token, so it favours them.
    shift = planted_shift(lm, len(prompts), LAYER, 4.0)
    planted = {r["kind"]: r for r in _effects(lm, prompts, answers, shift, seed=0)}
    add = planted["add"]
    assert add["effect"] > add["control_high"]  # type: ignore[operator]
    assert add["p_control"] == 2 / (N_CONTROLS + 1)  # two-sided: the smallest it can be
    # With nothing planted, the guise directions are noise: their p-values are not small.
    nulls = [
        r["p_control"]
        for seed in range(8)
        for r in _effects(lm, prompts, answers, np.zeros_like(shift), seed)
        if r["kind"] == "add"
    ]
    assert sum(p <= 0.05 for p in nulls) <= 2  # type: ignore[operator]
    assert float(np.median(nulls)) > 0.2  # type: ignore[arg-type]
