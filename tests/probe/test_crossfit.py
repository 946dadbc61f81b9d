"""Cross-fitted guise separation: measured on the half of the items the direction was not
fitted on, so noise shows none (where the same data would show some), and a planted
direction in a tiny model is recovered, beyond a base model that lacks it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from _probe_texts import EN, RU
from guiselab.config import AnalysisConfig, ModelsConfig
from guiselab.models import load_model, prompt_ids, render_prompt
from guiselab.probe import collect_activations
from guiselab.probe._crossfit import (
    cross_fitted,
    item_halves,
    separation_table,
)
from guiselab.probe._directions import GuisePairs
from guiselab.probe._measure import guise_direction


def separation(values: np.ndarray) -> float:
    """d_z written out: mean over standard deviation (ddof 1), the reference the vectorised
    count-weighted computation is checked against."""
    return float(np.mean(values) / np.std(values, ddof=1))


def test_halves_are_balanced_seeded_and_keep_an_item_whole() -> None:
    items = [f"q{i:03d}" for i in range(61)]
    halves = item_halves(items + items, seed=0)  # an item listed twice: one half
    assert set(halves) == set(items)
    assert abs(sum(halves.values()) - 61 / 2) <= 0.5
    assert halves == item_halves(reversed(items), seed=0)
    assert halves != item_halves(items, seed=1)


def test_noise_separates_in_sample_but_not_cross_fitted() -> None:
    """With no guise signal at all, the mean difference projected on itself is positive by
    construction; on the other half's direction it is not."""
    rng = np.random.default_rng(0)
    n, d = 60, 64
    items = [f"q{i:02d}" for i in range(n)]
    std, ver = rng.standard_normal((n, 1, d)), rng.standard_normal((n, 1, d))
    pairs = GuisePairs(items, std, ver)
    diffs = pairs.differences(0)
    direction = guise_direction(diffs)
    in_sample = separation(diffs @ (direction / np.linalg.norm(direction)))
    assert in_sample > 0.5
    halves = item_halves(items, seed=0)
    dz, _, _ = cross_fitted(pairs, pairs, 0, halves, np.ones((1, n), dtype=int))
    # The same figure by hand: each half on the mean difference of the other half.
    by_hand = []
    for half in (0, 1):
        other = [i for i, item in enumerate(items) if halves[item] != half]
        unit = diffs[other].mean(axis=0) / np.linalg.norm(diffs[other].mean(axis=0))
        by_hand += [diffs[i] @ unit for i, item in enumerate(items) if halves[item] == half]
    assert dz[0] == pytest.approx(separation(np.array(by_hand)))
    out = separation_table(
        [0], ("en", "ru"), AnalysisConfig(), {"en": pairs, "ru": pairs}, None, halves
    )
    row = out["guise_separation"]["en"][0]
    assert row["ci_low"] < 0 < row["ci_high"]
    assert abs(row["value"]) < in_sample / 2


def test_a_planted_direction_is_recovered_cross_fitted_and_beyond_the_base(
    tiny_model_dir: Path, cpu_models: ModelsConfig
) -> None:
    lm = load_model(f"hf:{tiny_model_dir}", cpu_models)
    texts = EN + RU
    ids = [prompt_ids(lm.tokenizer, render_prompt(lm.tokenizer, t)) for t in texts]
    planted = torch.randn(lm.model.config.hidden_size, generator=torch.Generator().manual_seed(5))
    std = collect_activations(lm, ids)["mean"].double().numpy()
    noise = torch.Generator().manual_seed(6)

    def jitter(h: torch.Tensor) -> torch.Tensor:  # item-to-item spread around the direction
        return h + 3 * planted + torch.randn(h.shape, generator=noise) * 0.5

    ver = collect_activations(lm, ids, edits={1: jitter})["mean"].double().numpy()
    items = [f"q{i:02d}" for i in range(len(EN))]

    def sets(s: np.ndarray, v: np.ndarray) -> dict[str, GuisePairs]:
        n = len(EN)
        return {"en": GuisePairs(items, s[:n], v[:n]), "ru": GuisePairs(items, s[n:], v[n:])}

    halves = item_halves(items, seed=0)
    base = sets(std, std + 1e-3 * np.random.default_rng(1).standard_normal(std.shape))
    out = separation_table([0, 1, 2], ("en", "ru"), AnalysisConfig(), sets(std, ver), base, halves)
    for key in ("en", "ru", "en_to_ru", "ru_to_en"):
        own, minus = out["guise_separation"][key], out["separation_minus_base"][key]
        assert own[0]["value"] is None  # no difference at all at the embeddings
        assert all(r["ci_low"] > 1 for r in own[1:]), (key, own)
        assert all(r["ci_low"] > 0 for r in minus[1:]), (key, minus)


def test_resample_counts_equal_repeating_the_drawn_items() -> None:
    """The count-weighted d_z is the plain one on the resample written out row by row: each
    half's direction the mean of the other half's drawn rows, each drawn row measured."""
    rng = np.random.default_rng(2)
    n, d = 24, 16
    items = [f"q{i:02d}" for i in range(n)]
    shift = rng.standard_normal(d)
    std = rng.standard_normal((n, 1, d))
    pairs = GuisePairs(items, std, std + shift + rng.standard_normal((n, 1, d)))
    removed = GuisePairs(items, std, std + rng.standard_normal((n, 1, d)))
    halves = item_halves(items, seed=3)
    counts = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(20)])
    diffs, other = pairs.differences(0), removed.differences(0)
    for remove in (None, removed):
        got = cross_fitted(pairs, pairs, 0, halves, counts, remove)[0]
        for row, c in zip(got, counts, strict=True):
            values = []
            for half in (0, 1):
                train = np.repeat(
                    [i for i in range(n) if halves[items[i]] != half],
                    c[[i for i in range(n) if halves[items[i]] != half]],
                )
                test = np.repeat(
                    [i for i in range(n) if halves[items[i]] == half],
                    c[[i for i in range(n) if halves[items[i]] == half]],
                )
                direction = diffs[train].mean(axis=0)
                if remove is not None:
                    unit = other[train].mean(axis=0)
                    unit /= np.linalg.norm(unit)
                    direction = direction - (direction @ unit) * unit
                values += list(diffs[test] @ (direction / np.linalg.norm(direction)))
            assert row == pytest.approx(separation(np.array(values)), rel=1e-9)


def test_a_dialect_direction_that_is_the_informal_one_does_not_survive_its_removal() -> None:
    from guiselab.probe._register import register_table

    rng = np.random.default_rng(4)
    n, d = 40, 32
    items = [f"q{i:02d}" for i in range(n)]
    std = rng.standard_normal((n, 1, d))
    register_shift = 3 * rng.standard_normal(d)
    dialect = GuisePairs(items, std, std + register_shift + rng.standard_normal((n, 1, d)))
    informal = GuisePairs(items, std, std + register_shift + rng.standard_normal((n, 1, d)))
    unrelated = GuisePairs(items, std, std + 3 * rng.standard_normal((n, 1, d)))
    halves = item_halves(items, seed=0)
    out = register_table(
        [0],
        AnalysisConfig(),
        {"en": dialect},
        {"informal": {"en": informal}, "typos": {"en": unrelated}},
        halves,
    )
    same = out["informal"]["dialect_beyond"]["en"][0]
    assert out["informal"]["cos"]["en"][0] > 0.9
    assert same["ci_low"] < 0 < same["ci_high"]  # nothing of the dialect is left
    other = out["typos"]["dialect_beyond"]["en"][0]
    assert other["ci_low"] > 1  # an unrelated direction takes nothing away
