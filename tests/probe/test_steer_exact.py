"""The exact check at the steered layer: the prediction-interval p-value against scipy's
two-sample t-test and by simulation, controls that reach the guise direction's displacement,
and on a tiny random model a planted direction whose exact ablation on the other language's
answers lies beyond controls matched in damage while unplanted ones do not."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import ttest_ind

from _steer import planted_shift, steer_answers_of, tiny_steer_setup
from guiselab.models import LoadedModel
from guiselab.probe import _steer_damage, collect_activations
from guiselab.probe._crossfit import item_halves
from guiselab.probe._directions import GuisePairs
from guiselab.probe._interventions import edit_of
from guiselab.probe._steer_damage import SEARCH_MIN, damage, search_part
from guiselab.probe._steer_exact import (
    _answers_at,
    _Controls,
    _layer_rows,
    _verdicts,
    against_controls,
    exact_check,
)
from guiselab.probe._steer_table import (
    Matched,
    control_draws,
    direction_set,
    displacement_moment,
    matched_directions,
    net_of_contrast,
)
from guiselab.probe._steering import SteerAnswers, answer_logprobs, attributions
from guiselab.progress import NullProgress

LAYER = 2
LANGS = ["en", "ru"]


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


REPEAT = 4
"""Answers per prompt: 48 answers, 24 per language, so a control's contrast at a given damage
is not decided by a handful of answers."""


def _varied_answers(n_prompts: int) -> list[list[int]]:
    """``REPEAT`` answers of five random tokens per prompt."""
    rng = np.random.default_rng(0)
    return [[int(t) for t in rng.integers(3000, 8000, size=5)] for _ in range(n_prompts * REPEAT)]


def _steer_answers(
    items: list[str], halves: dict[str, int], misaligned: np.ndarray
) -> SteerAnswers:
    """The answers of :func:`_varied_answers` to ``items`` (English, then Russian)."""
    repeated = [i for i in items for _ in range(REPEAT)]
    n = len(repeated)
    langs = np.array(["en"] * (n // 2) + ["ru"] * (n // 2))
    return replace(steer_answers_of(repeated, halves), langs=langs, misaligned=misaligned)


def _ablation(
    lm: LoadedModel,
    prompts: list[list[int]],
    answers: list[list[int]],
    shift: np.ndarray,
    seed: int,
    misaligned: np.ndarray,
    chosen: dict[tuple[int, str], Matched] | None = None,
) -> list[dict[str, object]]:
    """The exact check's rows with the English guise shifted by ``shift``; ``answers`` are
    ``REPEAT`` per prompt, the first half English, the second Russian."""
    acts = collect_activations(lm, prompts)["mean"].double().numpy()
    items = [f"q{i}" for i in range(len(prompts))]
    halves = item_halves(items, seed)
    noise = np.random.default_rng(seed).standard_normal((2, *acts.shape)) * 0.05
    sets = {
        "en": GuisePairs(items, acts, acts + noise[0] + shift),
        "ru": GuisePairs(items, acts, acts + noise[1]),
    }
    x = acts[:, LAYER]
    # each guise column set to its typical value over the prompts of the half it edits
    ds = direction_set(sets, x, halves, LAYER, control_draws(12, 200, seed, LAYER), items)
    repeated = [p for p in prompts for _ in range(REPEAT)]
    _, sums = attributions(lm, repeated, answers, {LAYER: ds.units}, batch_size=8)
    settings = {"scale": 1.0, "batch_size": 8, "n_controls": 20, "alpha": 0.05, "seed": seed}
    return exact_check(
        lm,
        _steer_answers(items, halves, misaligned),
        (repeated, answers),
        sums,
        {LAYER: (ds, x)},
        ["en", "ru"],
        settings,
        NullProgress(),
        chosen,
    )


def _row(rows: list[dict[str, object]], direction: str, lang: str) -> dict[str, object]:
    (row,) = [
        r for r in rows if (r["kind"], r["direction"], r["lang"]) == ("ablate", direction, lang)
    ]
    return row


def _planted(
    lm: LoadedModel, prompts: list[list[int]], answers: list[list[int]]
) -> tuple[np.ndarray, np.ndarray]:
    """A planted English guise shift, and as misaligned (within each language and guise) the
    answers that ablating the planted direction lowers most."""
    shift = planted_shift(lm, len(prompts), LAYER, 1.0)
    unit = shift[0, LAYER]
    x = collect_activations(lm, prompts)["mean"].double().numpy()[:, LAYER]
    edit = edit_of("ablate", unit, float((x @ unit).mean()), 1.0, lm.device)
    repeated = [p for p in prompts for _ in range(REPEAT)]
    change = answer_logprobs(lm, repeated, answers, 8, {LAYER: edit})
    change -= answer_logprobs(lm, repeated, answers, 8)
    items = _items(prompts)
    cells = _steer_answers(items, dict.fromkeys(items, 0), np.zeros(len(answers)))
    misaligned = np.zeros(len(answers), dtype=bool)
    for key in {(lg, g) for lg, g in zip(cells.langs, cells.guises, strict=True)}:
        cell = (cells.langs == key[0]) & (cells.guises == key[1])
        misaligned[cell] = change[cell] < np.median(change[cell])
    return shift, misaligned


def _items(prompts: list[list[int]]) -> list[str]:
    return [f"q{i}" for i in range(len(prompts))]


def test_a_planted_directions_exact_ablation_lies_beyond_controls_matched_in_damage(
    tiny_model_dir: Path,
) -> None:
    lm, prompts, _ = tiny_steer_setup(tiny_model_dir)
    answers = _varied_answers(len(prompts))
    shift, misaligned = _planted(lm, prompts, answers)
    rows = _ablation(lm, prompts, answers, shift, 0, misaligned)
    claim = _row(rows, "en", "ru")  # the source direction removed on the target's answers
    assert claim["primary"] and claim["n_drawn"] == 20 and claim["n_controls"] >= 18
    ru = np.flatnonzero(np.arange(len(answers)) >= len(answers) // 2)
    halves = item_halves(_items(prompts), 0)
    sizes = np.bincount([halves[f"q{i // REPEAT}"] for i in ru], minlength=2)
    assert (sizes <= SEARCH_MIN).all()  # so every Russian answer is searched on
    assert claim["n_search"] == 24
    low, high = claim["control_damage_ratio"]  # type: ignore[misc]
    assert 1 / 1.5 <= low <= high <= 1.5  # the kept controls disturb the answers as much
    assert claim["exact"] < claim["control_min"]  # type: ignore[operator]
    assert claim["verdict"] == "beyond" and claim["p_holm"] < 0.01  # type: ignore[operator]
    # same-language rows are measured exactly but not compared with controls
    assert _row(rows, "en", "en").get("p_t") is None
    assert _row(rows, "ru", "en")["primary"] is False
    # with nothing planted, the guise directions are noise, within their controls
    nothing = np.zeros_like(shift)
    nulls = [
        _row(_ablation(lm, prompts, answers, nothing, s, misaligned), "en", "ru") for s in range(6)
    ]
    assert sum(r["verdict"] == "beyond" for r in nulls) == 0
    assert float(np.median([r["p_t"] for r in nulls])) > 0.2  # type: ignore[misc]


def test_a_share_searched_on_a_third_of_the_answers_is_measured_and_read_on_all(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # search on 4 of each half's answers (a third), then each control at its share on the rest
    monkeypatch.setattr(_steer_damage, "SEARCH_MIN", 2)
    lm, prompts, _ = tiny_steer_setup(tiny_model_dir)
    answers = _varied_answers(len(prompts))
    shift, misaligned = _planted(lm, prompts, answers)
    chosen: dict[tuple[int, str], Matched] = {}
    rows = _ablation(lm, prompts, answers, shift, 0, misaligned, chosen)
    claim = _row(rows, "en", "ru")
    assert 0 < claim["n_search"] < 24  # type: ignore[operator]
    # matched on 4 answers a half, a few controls miss on all 24; most are kept
    assert claim["n_controls"] >= 15 and claim["verdict"] == "beyond"  # type: ignore[operator]
    # a kept control's damage ratio is read on all 24 answers: measured here in one pass
    kept = chosen[(LAYER, "en")]
    assert kept.share is not None
    items = _items(prompts)
    cells = _steer_answers(items, item_halves(items, 0), misaligned)
    ru = np.flatnonzero(cells.langs == "ru")
    repeated = [p for p in prompts for _ in range(REPEAT)]
    ratios = []
    for j in range(kept.units.shape[1]):
        edit = edit_of(
            "ablate", kept.units[:, j], float(kept.typical[j]), 1.0, lm.device, kept.share[j]
        )
        seqs = ([repeated[i] for i in ru], [answers[i] for i in ru])
        change = answer_logprobs(lm, *seqs, 8, {LAYER: edit}) - answer_logprobs(lm, *seqs, 8)
        on = _answers_at(cells, ru)
        ratios.append(damage(net_of_contrast(change, on)) / claim["damage"])  # type: ignore[operator]
    low, high = claim["control_damage_ratio"]  # type: ignore[misc]
    assert np.isclose(min(ratios), low, rtol=1e-3) and np.isclose(max(ratios), high, rtol=1e-3)


def test_the_search_part_is_a_seeded_third_of_each_half_language_guise_and_kind() -> None:
    items = [f"q{i // 3}" for i in range(90)]
    halves = {f"q{i}": i % 2 for i in range(30)}
    rng = np.random.default_rng(0)
    answers = replace(
        steer_answers_of(items, halves),
        langs=np.array(["en", "ru"] * 45, dtype=object),
        misaligned=rng.random(90) < 0.1,  # few misaligned: a small draw could miss them all
    )
    part = search_part(answers, 0)
    assert np.array_equal(part, search_part(answers, 0))
    assert not np.array_equal(part, search_part(answers, 1))
    for h in (0, 1):
        for lang in ("en", "ru"):
            group = (answers.half == h) & (answers.langs == lang)
            n = int(group.sum())
            # about a third, at least SEARCH_MIN (rounding within the strata moves it a little)
            assert abs(int((part[group] == 0).sum()) - max(SEARCH_MIN, n / 3)) <= 3
            for guise in ("standard", "vernacular"):
                for kind in (True, False):
                    cell = group & (answers.guises == guise) & (answers.misaligned == kind)
                    # every guise's misaligned and aligned answers are among the searched ones
                    assert not cell.any() or (part[cell] == 0).any()
    small = replace(answers, langs=np.array(["en"] * 6 + ["ru"] * 84, dtype=object))
    assert (search_part(small, 0)[:6] == 0).all()  # a group below SEARCH_MIN is searched whole


def test_too_few_controls_matched_in_damage_give_no_verdict_and_no_crash() -> None:
    rng = np.random.default_rng(3)
    n, k = 8, 6
    items = [f"q{i}" for i in range(n)]
    halves = {item: i % 2 for i, item in enumerate(items)}
    acts = rng.standard_normal((n, 1, 5))
    pairs = {lang: GuisePairs(items, acts, acts + rng.standard_normal((n, 1, 5))) for lang in LANGS}
    ds = direction_set(pairs, acts[:, 0], halves, 0, control_draws(n, 10, 0, 0), items)
    answers = replace(steer_answers_of(items, halves), langs=np.array(["en"] * 4 + ["ru"] * 4))
    sums = (rng.standard_normal((n, 14)), rng.standard_normal((n, 14)))
    guise = {("ablate", "en"): rng.standard_normal(n)}

    def controls(ratios: list[float]) -> _Controls:
        ratio = np.array(ratios)
        return _Controls(rng.standard_normal((n, k)), ratio**2, ratio, ratio, 0.5, 1.0, n)

    for ratios, verdict in (
        ([0.1] * k, "unmatched"),  # none kept
        ([1.0] + [0.1] * (k - 1), "unmatched"),  # one kept: no spread to compare with
        ([1.0, 1.1, 0.9] + [0.1] * 3, None),  # half kept: compared
    ):
        rows = _verdicts(
            _layer_rows(0, ds, answers, sums, guise, {("en", "ru"): controls(ratios)}, LANGS, 1.0),
            0.05,
        )
        row = next(r for r in rows if r["lang"] == "ru")
        kept = sum(1 / 1.5 <= r <= 1.5 for r in ratios)
        assert row["n_drawn"] == k and row["n_controls"] == kept
        assert row["controls_short"] == k - kept and row["controls_over"] == 0
        if verdict == "unmatched":
            assert row["verdict"] == "unmatched" and row["p_holm"] is None
            assert kept or row["control_share"] is None
        else:
            assert row["verdict"] in ("beyond", "outside", "within") and row["p_holm"] is not None
            assert row["control_damage_ratio"] == [0.9, 1.1]
