"""The exact check at the steered layer: the prediction-interval p-value against scipy's
two-sample t-test and by simulation, the variance matching of the controls, and on a tiny
random model a planted direction whose exact ablation lies beyond its matched controls while
unplanted ones do not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.stats import ttest_ind

from _probe_texts import EN
from _steer import steer_answers_of
from guiselab.config import ModelsConfig
from guiselab.models import LoadedModel, load_model, prompt_ids, render_prompt
from guiselab.probe import collect_activations
from guiselab.probe._crossfit import item_halves
from guiselab.probe._directions import GuisePairs
from guiselab.probe._steer_exact import against_controls, exact_check
from guiselab.probe._steer_table import (
    DirectionSet,
    control_draws,
    direction_set,
    matched_controls,
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


def test_the_controls_nearest_the_guise_variance_are_picked() -> None:
    variance = np.array([4.0, 1.0, 0.01, 100.0, 3.5, 0.5, 5.0, 2.0])
    ds = DirectionSet(
        units=np.eye(8),
        typical=np.zeros(8),
        variance=variance,
        norms={("en", 0): 1.0, ("en", 1): 1.0},
        columns={("en", 0): 0, ("en", 1): 1},
        n_controls=6,
    )
    # the guise columns' geometric mean variance is 2; on the log scale the nearest controls
    # are 2.0 (column 7), 3.5 (column 4, 1.75x) and 5.0 (column 6, 2.5x); 0.5 is 4x below
    assert matched_controls(ds, ["en"], 3).tolist() == [4, 6, 7]
    assert matched_controls(ds, ["en"], 6).tolist() == [2, 3, 4, 5, 6, 7]


def _lm(tiny_model_dir: Path) -> tuple[LoadedModel, list[list[int]], list[list[int]], int]:
    lm = load_model(f"hf:{tiny_model_dir}", ModelsConfig(device="cpu", dtype="float32"))
    prompts = [prompt_ids(lm.tokenizer, render_prompt(lm.tokenizer, t)) for t in EN]
    bad, good = 1000, 2000
    answers = [[bad] * 5 if i % 2 else [good] * 5 for i in range(len(prompts))]
    return lm, prompts, answers, bad


def _ablation(
    lm: LoadedModel,
    prompts: list[list[int]],
    answers: list[list[int]],
    shift: np.ndarray,
    seed: int,
) -> dict[str, object]:
    acts = collect_activations(lm, prompts)["mean"].double().numpy()
    items = [f"q{i}" for i in range(len(prompts))]
    halves = item_halves(items, seed)
    noise = np.random.default_rng(seed).standard_normal(acts.shape) * 0.05
    sets = {"en": GuisePairs(items, acts, acts + noise + shift)}
    ds = direction_set(sets, acts[:, LAYER], halves, LAYER, control_draws(12, 200, seed, LAYER))
    _, sums = attributions(lm, prompts, answers, {LAYER: ds.units}, batch_size=6)
    settings = {"scale": 1.0, "batch_size": 6, "n_controls": 20, "alpha": 0.05}
    rows = exact_check(
        lm,
        steer_answers_of(items, halves),
        (prompts, answers),
        sums,
        {LAYER: ds},
        ["en"],
        settings,
        NullProgress(),
    )
    (row,) = [r for r in rows if r["kind"] == "ablate"]
    return row


def test_a_planted_directions_exact_ablation_lies_beyond_its_matched_controls(
    tiny_model_dir: Path,
) -> None:
    lm, prompts, answers, bad = _lm(tiny_model_dir)
    hidden = lm.model.config.hidden_size
    # the vernacular guise is shifted along the misaligned answers' token's output row:
    # setting that component to its typical value moves those answers' probability most
    row = lm.model.get_output_embeddings().weight[bad].detach().double().numpy()
    shift = np.zeros((len(prompts), 3, hidden))
    shift[:, LAYER] = row / np.linalg.norm(row)
    planted = _ablation(lm, prompts, answers, shift, seed=0)
    assert planted["n_controls"] == 20 and planted["outside"]
    assert planted["exact"] < planted["control_min"]  # type: ignore[operator]
    assert planted["beyond_controls"] and planted["p_holm"] < 0.001  # type: ignore[operator]
    low, high = planted["control_variance_ratio"]  # type: ignore[misc]
    assert 0 < low <= high
    # with nothing planted, the guise directions are noise, within their controls
    nulls = [_ablation(lm, prompts, answers, np.zeros_like(shift), seed) for seed in range(8)]
    assert sum(bool(r["beyond_controls"]) for r in nulls) <= 1
    assert float(np.median([r["p_t"] for r in nulls])) > 0.3  # type: ignore[misc]
