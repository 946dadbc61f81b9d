"""The probe's lexical baseline and the base model beside the probed one, on a tiny random
model: a guise marked only by a word is not 'beyond the lexical baseline' at any layer, a
planted direction with the same words in both guises is, and a direction the probed model
has and the base lacks shows as a difference from the base."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from _probe_texts import EN, RU
from guiselab.config import AnalysisConfig, ModelsConfig
from guiselab.models import load_model, prompt_ids, render_prompt
from guiselab.probe import collect_activations
from guiselab.probe._directions import GuisePairs
from guiselab.probe._probes import (
    all_layer_scores,
    auroc_band,
    bag_of_tokens,
    layer_comparisons,
    layer_scores,
)

LANGS = ("en", "ru")


def _pairs(std: np.ndarray, ver: np.ndarray, n_en: int) -> dict[str, GuisePairs]:
    """Rows: the English items, then the Russian ones; item i is the same in both languages."""
    items = [f"q{i:02d}" for i in range(n_en)]
    return {
        "en": GuisePairs(items, std[:n_en], ver[:n_en]),
        "ru": GuisePairs(items, std[n_en:], ver[n_en:]),
    }


def _setup(tiny_model_dir: Path, cpu_models: ModelsConfig, marked: int, plant: bool):  # type: ignore[no-untyped-def]
    """Probe scores of both guises per layer, and of their bags of tokens: the vernacular
    prompt is the standard text with a marker word appended to ``marked`` of every 3 items,
    and (``plant``) a fixed vector added at layer 1 to every vernacular prompt."""
    lm = load_model(f"hf:{tiny_model_dir}", cpu_models)
    texts = EN + RU

    def ids(text: str) -> list[int]:
        return prompt_ids(lm.tokenizer, render_prompt(lm.tokenizer, text))

    std_ids = [ids(t) for t in texts]
    ver_ids = [ids(t + (" innit" if i % 3 < marked else "")) for i, t in enumerate(texts)]
    planted = torch.randn(lm.model.config.hidden_size, generator=torch.Generator().manual_seed(3))
    edits = {1: lambda h: h + 3 * planted} if plant else None
    std = collect_activations(lm, std_ids)["mean"].double().numpy()
    ver = collect_activations(lm, ver_ids, edits=edits)["mean"].double().numpy()
    bag = bag_of_tokens(std_ids + ver_ids)[:, None, :]
    n, layers = len(texts), list(range(std.shape[1]))
    scores = all_layer_scores(_pairs(std, ver, len(EN)), layers, LANGS)
    lexical = layer_scores(_pairs(bag[:n], bag[n:], len(EN)), 0, LANGS)
    flat = all_layer_scores(_pairs(std, std, len(EN)), layers, LANGS)  # guises read alike
    return layers, scores, lexical, flat


def test_a_word_marked_guise_is_not_beyond_the_lexical_baseline(
    tiny_model_dir: Path, cpu_models: ModelsConfig
) -> None:
    """The marker word on two items in three, nothing else: the bag of tokens separates the
    guises as well as any layer does, and no layer is reported beyond it."""
    layers, scores, lexical, _ = _setup(tiny_model_dir, cpu_models, marked=2, plant=False)
    out = layer_comparisons(layers, LANGS, AnalysisConfig(), scores, lexical, None)
    assert 0.6 < out["lexical_auroc"]["en"] < 1.0  # partly predictive
    assert set(out["beyond_lexical"]) == {"en", "ru"}  # not across languages: 0.5 by design
    for key in ("en", "ru"):
        for row in out["beyond_lexical"][key]:
            assert row["ci_low"] <= 0 <= row["ci_high"], out["beyond_lexical"][key]
    assert out["band_level"] == 0.95 and "minus_base_auroc" not in out  # no base given


def test_a_planted_direction_with_the_same_words_is_beyond_it_and_beyond_the_base(
    tiny_model_dir: Path, cpu_models: ModelsConfig
) -> None:
    layers, scores, lexical, flat = _setup(tiny_model_dir, cpu_models, marked=0, plant=True)
    out = layer_comparisons(layers, LANGS, AnalysisConfig(), scores, lexical, flat)
    assert out["lexical_auroc"]["en"] == 0.5  # the same tokens in both guises
    for key in ("en", "ru"):
        beyond = out["beyond_lexical"][key]
        assert beyond[0]["ci_low"] <= 0  # the embeddings, before the planted layer
        assert all(row["ci_low"] > 0 and row["diff"] == 0.5 for row in beyond[1:]), beyond
    for key in ("en", "ru", "en_to_ru", "ru_to_en"):
        embeddings = out["beyond_embeddings"][key]
        assert embeddings[0] == {"diff": 0.0, "ci_low": 0.0, "ci_high": 0.0}
        assert all(row["ci_low"] > 0 for row in embeddings[1:]), (key, embeddings)
        minus_base = out["minus_base_auroc"][key]
        assert all(row["ci_low"] > 0 for row in minus_base[1:]), (key, minus_base)


def test_fewer_than_two_items_give_no_interval_and_no_error() -> None:
    one = {lang: GuisePairs(["q00"], np.zeros((1, 2, 4)), np.ones((1, 2, 4))) for lang in LANGS}
    scores = all_layer_scores(one, [0, 1], LANGS)
    band = auroc_band(scores, scores, "en", np.random.default_rng(0), 0.95)
    assert all(row["ci_low"] is None and row["ci_high"] is None for row in band)
