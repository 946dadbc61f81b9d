"""Cross-fitted guise separation: measured on the half of the items the direction was not
fitted on, so noise shows none (where the same data would show some), and a planted
direction in a tiny model is recovered, beyond a base model that lacks it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from _probe_texts import EN, RU
from guiselab.config import AnalysisConfig, ModelsConfig
from guiselab.models import load_model, prompt_ids, render_prompt
from guiselab.probe import collect_activations
from guiselab.probe._crossfit import (
    held_out_projections,
    item_halves,
    separation,
    separation_table,
)
from guiselab.probe._directions import GuisePairs
from guiselab.probe._measure import guise_direction


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
    held = held_out_projections(pairs, pairs, 0, halves)
    assert sorted(held) == items
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
