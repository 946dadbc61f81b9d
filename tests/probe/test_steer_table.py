"""The steering table's parts: bfloat16 and layer-0 gradients, answers of unequal lengths,
the cross-fitting of the guise columns, a missing half, the two-sided control p-value, the
probed - base rows and Holm over the layers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from _probe_texts import EN
from _steer import steer_answers_of
from guiselab.config import ModelsConfig
from guiselab.models import LoadedModel, load_model, prompt_ids, render_prompt
from guiselab.probe import collect_activations
from guiselab.probe._directions import GuisePairs
from guiselab.probe._interventions import edit_of
from guiselab.probe._steer_table import (
    DirectionSet,
    _deltas,
    _row,
    control_draws,
    direction_set,
    effect_rows,
    language_effect,
    net_of_contrast,
    prompt_effect,
    spread,
)
from guiselab.probe._steering import SteerAnswers, answer_logprobs, attributions


def _lm(tiny_model_dir: Path, dtype: str) -> tuple[LoadedModel, list[list[int]]]:
    lm = load_model(f"hf:{tiny_model_dir}", ModelsConfig(device="cpu", dtype=dtype))
    return lm, [prompt_ids(lm.tokenizer, render_prompt(lm.tokenizer, t)) for t in EN]


def _ragged(n: int) -> list[list[int]]:
    """Answers of 1 to 7 tokens, so padding differs from row to row."""
    return [[1000 + 7 * i + j for j in range(1 + i % 7)] for i in range(n)]


def test_first_order_holds_at_layer_0_and_for_answers_of_unequal_length(
    tiny_model_dir: Path,
) -> None:
    lm, prompts = _lm(tiny_model_dir, "float32")
    answers = _ragged(len(prompts))
    u = np.random.default_rng(1).standard_normal((lm.model.config.hidden_size, 1))
    u /= np.linalg.norm(u)
    logp, sums = attributions(lm, prompts, answers, {0: u, 1: u}, batch_size=4)
    unedited = answer_logprobs(lm, prompts, answers, batch_size=4)
    assert np.allclose(logp, unedited, atol=1e-5)
    # each answer alone gives the same value as in its padded batch
    alone = [answer_logprobs(lm, [p], [a], 1)[0] for p, a in zip(prompts, answers, strict=True)]
    assert np.allclose(alone, unedited, atol=1e-4)
    acts = collect_activations(lm, prompts)["mean"].double().numpy()
    for layer in (0, 1):
        step = 0.01 * float(np.linalg.norm(acts[:, layer], axis=1).mean())
        edit = edit_of("add", u[:, 0] * step, 0.0, 1.0, lm.device)
        added = answer_logprobs(lm, prompts, answers, 4, {layer: edit})
        assert np.allclose(added - unedited, step * sums[layer][1][:, 0], rtol=0.05, atol=1e-4)


def test_attributions_run_in_bfloat16_and_agree_with_float32(tiny_model_dir: Path) -> None:
    """A GPU loads models in bfloat16: the gradients are taken in the model's dtype."""
    lm32, prompts = _lm(tiny_model_dir, "float32")
    lm16, _ = _lm(tiny_model_dir, "bfloat16")
    answers = _ragged(len(prompts))
    u = np.random.default_rng(2).standard_normal((lm32.model.config.hidden_size, 3))
    u /= np.linalg.norm(u, axis=0)
    got = {}
    for name, lm in (("32", lm32), ("16", lm16)):
        logp, sums = attributions(lm, prompts, answers, {0: u, 2: u}, batch_size=5)
        got[name] = (logp, sums)
    assert np.allclose(got["16"][0], got["32"][0], atol=0.15)
    for layer in (0, 2):
        g16, g32 = got["16"][1][layer][1].ravel(), got["32"][1][layer][1].ravel()
        assert np.isfinite(g16).all()
        assert np.corrcoef(g16, g32)[0, 1] > 0.95


def _shifted_halves(
    rng: np.random.Generator, hidden: int, a: np.ndarray, b: np.ndarray, n_controls: int
) -> tuple[list[str], dict[str, int], np.ndarray, DirectionSet]:
    """20 items in alternating halves, half 0's vernacular moved along ``a`` and half 1's
    along ``b`` from small random activations at one layer; their direction set."""
    n = 20
    items = [f"q{i}" for i in range(n)]
    halves = {item: i % 2 for i, item in enumerate(items)}
    acts = rng.standard_normal((n, 1, hidden)) * 0.01
    shift = np.array([a if i % 2 == 0 else b for i in range(n)])[:, None, :]
    ds = direction_set(
        {"en": GuisePairs(items, acts, acts + shift)},
        acts[:, 0],
        halves,
        0,
        control_draws(n, n_controls, 0, 0),
    )
    return items, halves, acts, ds


def test_each_half_is_edited_along_the_direction_fitted_on_the_other() -> None:
    a, b = np.eye(16)[0], np.eye(16)[1]
    _, _, _, ds = _shifted_halves(np.random.default_rng(3), 16, a, b, 30)
    # half 0's items moved along a, half 1's along b: half 0 is edited along b, half 1 along a
    assert abs(ds.units[:, ds.columns[("en", 0)]] @ b) > 0.99
    assert abs(ds.units[:, ds.columns[("en", 1)]] @ a) > 0.99


def test_a_guise_columns_typical_value_comes_from_the_half_it_edits() -> None:
    rng = np.random.default_rng(6)
    a, b = np.eye(16)[0], np.eye(16)[1]
    items, halves, acts, _ = _shifted_halves(rng, 16, a, b, 30)
    x = acts[:, 0] + np.array([3.0 * a if i % 2 else -3.0 * a for i in range(20)])
    pairs = {"en": GuisePairs(items, acts, acts + np.array([a, b] * 10)[:, None, :])}
    draws = control_draws(20, 30, 0, 0)
    ds = direction_set(pairs, x, halves, 0, draws, items)
    everywhere = direction_set(pairs, x, halves, 0, draws)
    for h in (0, 1):
        col = ds.columns[("en", h)]
        own = np.array([halves[i] == h for i in items])
        assert np.isclose(ds.typical[col], (x[own] @ ds.units[:, col]).mean())
    # half 1 is edited along a (fitted on half 0), where the halves sit 6 apart: the mean over
    # every prompt would set it to the middle, 3 from where its own prompts are
    col = ds.columns[("en", 1)]
    assert abs(ds.typical[col] - everywhere.typical[col]) > 2.5
    assert np.allclose(ds.typical[ds.controls], everywhere.typical[everywhere.controls])


def test_a_half_without_a_direction_is_left_out_not_a_crash() -> None:
    rng = np.random.default_rng(4)
    n, hidden = 12, 8
    items = [f"q{i}" for i in range(n)]
    pair_halves = dict.fromkeys(items, 1)  # every pair in half 1: only half 0 gets a direction
    acts = rng.standard_normal((n, 1, hidden))
    ds = direction_set(
        {"en": GuisePairs(items, acts, acts + 1.0)},
        acts[:, 0],
        pair_halves,
        0,
        control_draws(n, 10, 0, 0),
    )
    assert set(ds.columns) == {("en", 0)}
    sums = (
        rng.standard_normal((n, ds.units.shape[1])),
        rng.standard_normal((n, ds.units.shape[1])),
    )
    in_half_0 = steer_answers_of(items, dict.fromkeys(items, 0))
    got = _deltas(sums, ds, in_half_0, "add", "en", 2.0)
    assert got is not None
    assert np.allclose(got[1], 2.0 * ds.norms[("en", 0)] * sums[1][:, 1:])
    assert _deltas(sums, ds, steer_answers_of(items, pair_halves), "add", "en", 2.0) is None


def test_the_control_p_value_is_two_sided_around_the_controls_not_around_zero() -> None:
    controls = np.random.default_rng(5).normal(5.0, 1.0, 999)
    typical = _row("probed", 0, "ablate", "en", "en", 5.0, controls)
    assert typical.p_control is not None and typical.p_control > 0.9  # a generic ablation
    low = _row("probed", 0, "ablate", "en", "en", 0.0, controls)  # far below every control
    assert low.p_control == pytest.approx(2 / 1000)
    assert low.control_median == pytest.approx(5.0, abs=0.1)
    # the p-value matches the rank of the effect in the controls, by its smaller tail
    for effect in (3.5, 6.2):
        tail = min((controls >= effect).sum(), (controls <= effect).sum())
        got = _row("probed", 0, "add", "en", "en", effect, controls).p_control
        assert got == pytest.approx(2 * (1 + tail) / 1000)


def test_difference_rows_and_holm_over_the_layers() -> None:
    rng = np.random.default_rng(6)
    n, hidden, k = 16, 8, 50
    items = [f"q{i}" for i in range(n)]
    halves = {item: i % 2 for i, item in enumerate(items)}
    acts = rng.standard_normal((n, 3, hidden))
    pairs = {"en": GuisePairs(items, acts, acts + rng.standard_normal((n, 3, hidden)))}
    sets = {
        layer: direction_set(pairs, acts[:, layer], halves, layer, control_draws(n, k, 0, layer))
        for layer in range(3)
    }
    sums = {
        layer: (rng.standard_normal((n, 2 + k)), rng.standard_normal((n, 2 + k)))
        for layer in range(3)
    }
    answers = steer_answers_of(items, halves)
    rows = effect_rows(answers, ["en"], {"probed": (sums, sets), "base": (sums, sets)}, 1.0)
    diff = [r for r in rows if r.model == "difference"]
    assert len(diff) == 3 * 2  # layers x kinds
    assert all(r.effect == 0.0 and r.p_control == 1.0 for r in diff)  # the same model twice
    for kind in ("add", "ablate"):
        family = sorted(
            (r for r in rows if (r.model, r.kind) == ("probed", kind)), key=lambda r: r.layer
        )
        raw = [r.p_control for r in family]
        expected = multipletests(raw, method="holm")[1]
        assert [r.p_holm for r in family] == pytest.approx(list(expected))
    # and over every row of a model at once (layers x kinds x the one direction and language)
    probed = [r for r in rows if r.model == "probed"]
    expected = multipletests([r.p_control for r in probed], method="holm")[1]
    assert [r.p_holm_all for r in probed] == pytest.approx(list(expected))
    assert all(r.p_holm_all >= r.p_holm for r in probed)  # type: ignore[operator]


def test_the_within_prompt_contrast_pairs_answers_of_one_item_and_guise() -> None:
    answers = SteerAnswers(
        items=["a", "a", "a", "b", "b", "c", "d"],
        langs=np.array(["ru"] * 6 + ["en"]),
        guises=np.array(["standard"] * 3 + ["standard", "vernacular", "standard", "standard"]),
        misaligned=np.array([True, False, False, True, False, True, True]),
        half=np.zeros(7, dtype=int),
        prompts=[""] * 7,
        responses=[""] * 7,
    )
    delta = np.array([1.0, 0.5, 1.5, 2.0, -1.0, 9.0, 7.0])
    # only (a, standard) has both kinds: 1.0 - mean(0.5, 1.5). Item b's misaligned and
    # aligned answers are in different guises, so they are not paired; c has no aligned one
    effect, n_prompts = prompt_effect(delta, answers, "ru")
    assert n_prompts == 1 and effect == pytest.approx(0.0)
    both, _ = prompt_effect(np.column_stack([delta, delta**2]), answers, "ru")
    assert np.allclose(both, [0.0, 1.0 - 1.25])
    assert prompt_effect(delta, answers, "en")[1] == 0


def test_net_of_contrast_removes_the_groups_difference_and_keeps_the_rest() -> None:
    items = [f"q{i}" for i in range(8)]
    answers = steer_answers_of(items, dict.fromkeys(items, 0))
    rng = np.random.default_rng(9)
    delta = rng.standard_normal((8, 3))
    net = net_of_contrast(delta, answers)
    # the contrast is gone: within each guise both groups now have the same mean
    assert np.allclose(language_effect(net, answers, "en"), 0.0)
    # what every answer shares and each answer's scatter within its group are kept
    for guise in ("standard", "vernacular"):
        cell = answers.guises == guise
        assert np.allclose(net[cell].mean(axis=0), delta[cell].mean(axis=0))
        for group in (answers.misaligned, ~answers.misaligned):
            part = cell & group
            assert np.allclose(net[part] - net[part].mean(0), delta[part] - delta[part].mean(0))
    # a shift of every answer alike is all damage and no contrast
    assert np.allclose(net_of_contrast(np.full((8, 1), -0.3), answers), -0.3)


def test_spread_counts_the_dimensions_the_activations_vary_in() -> None:
    rng = np.random.default_rng(7)
    iso = rng.standard_normal((400, 10))
    assert spread(iso) == pytest.approx(10, rel=0.15)
    one = np.outer(rng.standard_normal(400), rng.standard_normal(10))
    assert spread(one) == pytest.approx(1.0, abs=1e-6)


def test_each_answer_is_edited_along_the_other_halfs_direction() -> None:
    """Half 0's items moved along a, half 1's along b: an answer of half 0 must get the
    direction fitted on half 1 (b), never its own half's (a)."""
    n, hidden = 20, 8
    a, b = np.eye(hidden)[0] * 2.0, np.eye(hidden)[1] * 3.0
    rng = np.random.default_rng(9)
    items, halves, acts, ds = _shifted_halves(rng, hidden, a, b, 10)
    grad = rng.standard_normal((n, hidden))  # each answer's gradient at the layer
    sums = ((acts[:, 0] @ ds.units) * (grad @ ds.units), grad @ ds.units)
    got = _deltas(sums, ds, steer_answers_of(items, halves), "add", "en", 1.0)
    assert got is not None
    other = np.array([b if i % 2 == 0 else a for i in range(n)])  # the other half's shift
    expected = (grad * other).sum(axis=1)  # scale 1 x the other half's difference
    assert np.allclose(got[0], expected, rtol=0.05, atol=0.05)
