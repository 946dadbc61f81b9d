"""The exact check at the steered layer: the prediction-interval p-value against scipy's
two-sample t-test and by simulation, controls that reach the guise direction's displacement, and
on a tiny random model a planted direction whose exact ablation on the other language's
answers lies beyond its matched controls while unplanted ones do not."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy.stats import ttest_ind

from _steer import planted_shift, steer_answers_of, tiny_steer_setup
from guiselab.models import LoadedModel
from guiselab.probe import collect_activations
from guiselab.probe._crossfit import item_halves
from guiselab.probe._directions import GuisePairs
from guiselab.probe._steer_exact import against_controls, exact_check
from guiselab.probe._steer_table import (
    control_draws,
    direction_set,
    displacement_moment,
    matched_directions,
)
from guiselab.probe._steering import attributions
from guiselab.progress import NullProgress

LAYER = 2


def test_the_prediction_p_value_is_scipys_one_against_k_t_test() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        controls = rng.normal(0.3, 2.0, 20)
        effect = float(rng.normal(0.3, 4.0))
        got = against_controls(effect, controls)
        assert np.isclose(got["p_t"], ttest_ind([effect], controls).pvalue, rtol=1e-9)
        above, below = (controls >= effect).sum(), (controls <= effect).sum()
        assert got["p_rank"] == min(1.0, 2 * (1 + min(above, below)) / 21)
        assert got["outside"] == (effect > controls.max() or effect < controls.min())


def test_one_more_control_is_called_beyond_the_others_at_the_nominal_rate() -> None:
    rng = np.random.default_rng(1)
    draws = rng.standard_normal((4000, 21))
    p = np.array([against_controls(float(d[0]), d[1:])["p_t"] for d in draws])
    assert 0.04 <= float(np.mean(p <= 0.05)) <= 0.06


def test_matched_directions_reach_the_target_displacement_and_extend_by_prefix() -> None:
    rng = np.random.default_rng(0)
    # tokens that spread much along a few directions and little along the rest
    tokens = rng.standard_normal((300, 3)) @ rng.standard_normal((3, 40)) * 5
    tokens += 0.1 * rng.standard_normal((300, 40))
    centre = rng.standard_normal(40)  # the prompts' mean: ablation sets h.u to centre.u
    moment = displacement_moment(tokens, centre)
    for target in (0.05, 1.0, 30.0):
        got = matched_directions(moment, centre, target, 8, np.random.default_rng(1))
        assert np.allclose(np.linalg.norm(got.units, axis=0), 1.0)
        # measured directly: each token's squared move when its h.u is set to centre.u
        moved = ((tokens @ got.units - centre @ got.units) ** 2).mean(axis=0)
        assert np.allclose(moved, target, rtol=1e-6) and np.allclose(got.displacement, target)
        assert np.allclose(got.typical, centre @ got.units)
    first = matched_directions(moment, centre, 1.0, 3, np.random.default_rng(1)).units
    more = matched_directions(moment, centre, 1.0, 8, np.random.default_rng(1)).units
    assert np.allclose(first, more[:, :3])
    # beyond reach: above what any direction gives, the widest axes are kept and said
    wide = matched_directions(moment, centre, 1e9, 4, np.random.default_rng(2))
    assert (wide.displacement < 1e9).all()


def _ablation(
    lm: LoadedModel,
    prompts: list[list[int]],
    answers: list[list[int]],
    shift: np.ndarray,
    seed: int,
) -> list[dict[str, object]]:
    """The exact check's rows with the English guise shifted by ``shift``: the first six
    answers are English, the last six Russian."""
    acts = collect_activations(lm, prompts)["mean"].double().numpy()
    items = [f"q{i}" for i in range(len(prompts))]
    halves = item_halves(items, seed)
    noise = np.random.default_rng(seed).standard_normal((2, *acts.shape)) * 0.05
    sets = {
        "en": GuisePairs(items, acts, acts + noise[0] + shift),
        "ru": GuisePairs(items, acts, acts + noise[1]),
    }
    x = acts[:, LAYER]
    ds = direction_set(sets, x, halves, LAYER, control_draws(12, 200, seed, LAYER))
    _, sums = attributions(lm, prompts, answers, {LAYER: ds.units}, batch_size=6)
    both = replace(steer_answers_of(items, halves), langs=np.array(["en"] * 6 + ["ru"] * 6))
    settings = {"scale": 1.0, "batch_size": 6, "n_controls": 20, "alpha": 0.05, "seed": seed}
    return exact_check(
        lm, both, (prompts, answers), sums, {LAYER: (ds, x)}, ["en", "ru"], settings, NullProgress()
    )


def _row(rows: list[dict[str, object]], direction: str, lang: str) -> dict[str, object]:
    (row,) = [
        r for r in rows if (r["kind"], r["direction"], r["lang"]) == ("ablate", direction, lang)
    ]
    return row


def test_a_planted_directions_exact_ablation_lies_beyond_its_matched_controls(
    tiny_model_dir: Path,
) -> None:
    lm, prompts, answers = tiny_steer_setup(tiny_model_dir)
    # setting the planted component to its typical value moves the misaligned answers most
    shift = planted_shift(lm, len(prompts), LAYER, 1.0)
    rows = _ablation(lm, prompts, answers, shift, seed=0)
    claim = _row(rows, "en", "ru")  # the source direction removed on the target's answers
    assert claim["primary"] and claim["n_controls"] == 20
    low, high = claim["control_displacement_ratio"]  # type: ignore[misc]
    assert 0.99 < low <= high < 1.01  # matched in how far the ablation moves the residual
    assert claim["exact"] < claim["control_min"]  # type: ignore[operator]
    assert claim["verdict"] == "beyond" and claim["p_holm"] < 0.01  # type: ignore[operator]
    # same-language rows are measured exactly but not compared with controls
    assert _row(rows, "en", "en").get("p_t") is None
    assert _row(rows, "ru", "en")["primary"] is False
    # with nothing planted, the guise directions are noise, within their controls
    nothing = np.zeros_like(shift)
    nulls = [_row(_ablation(lm, prompts, answers, nothing, s), "en", "ru") for s in range(8)]
    assert sum(r["verdict"] == "beyond" for r in nulls) <= 1
    assert float(np.median([r["p_t"] for r in nulls])) > 0.2  # type: ignore[misc]
