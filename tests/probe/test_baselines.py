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
from guiselab.probe._probes import bag_of_tokens, layer_comparisons

LANGS = ("en", "ru")


def _pairs(
    std: np.ndarray, ver: np.ndarray, n_en: int
) -> dict[str, GuisePairs]:  # rows: en items, then ru items
    return {
        "en": GuisePairs([f"en{i:02d}" for i in range(n_en)], std[:n_en], ver[:n_en]),
        "ru": GuisePairs([f"ru{i:02d}" for i in range(len(std) - n_en)], std[n_en:], ver[n_en:]),
    }


def _setup(tiny_model_dir: Path, cpu_models: ModelsConfig, marker: str, plant: bool):  # type: ignore[no-untyped-def]
    """Activations and bags of tokens of both guises: the vernacular prompt is the standard
    text with ``marker`` appended, and (``plant``) a fixed vector added at layer 1."""
    lm = load_model(f"hf:{tiny_model_dir}", cpu_models)
    texts = EN + RU

    def ids(text: str) -> list[int]:
        return prompt_ids(lm.tokenizer, render_prompt(lm.tokenizer, text))

    std_ids = [ids(t) for t in texts]
    ver_ids = [ids(t + marker) for t in texts]
    planted = torch.randn(lm.model.config.hidden_size, generator=torch.Generator().manual_seed(3))
    edits = {1: lambda h: h + 3 * planted} if plant else None
    std = collect_activations(lm, std_ids)["mean"].double().numpy()
    ver = collect_activations(lm, ver_ids, edits=edits)["mean"].double().numpy()
    bag = bag_of_tokens(std_ids + ver_ids)[:, None, :]
    n = len(texts)
    return std, ver, bag[:n], bag[n:]


def _lows(out: dict, table: str, key: str) -> list[float]:  # type: ignore[type-arg]
    return [row["ci_low"] for row in out[table][key]]


def test_a_word_marked_guise_is_not_beyond_the_lexical_baseline(
    tiny_model_dir: Path, cpu_models: ModelsConfig
) -> None:
    std, ver, bag_std, bag_ver = _setup(tiny_model_dir, cpu_models, " innit", plant=False)
    layers = list(range(std.shape[1]))
    out = layer_comparisons(
        layers,
        LANGS,
        AnalysisConfig(),
        _pairs(std, ver, len(EN)),
        _pairs(bag_std, bag_ver, len(EN)),
        _pairs(std, ver, len(EN)),  # the "base" is the same model
    )
    assert out["lexical_auroc"]["en"] == 1.0 and out["lexical_auroc"]["ru"] == 1.0
    for key in ("en", "ru"):
        assert all(low <= 0 for low in _lows(out, "beyond_lexical", key)), out["beyond_lexical"]
        assert all(row["diff"] == 0 for row in out["minus_base_auroc"][key])
    assert out["layer_ci_level"] == 1 - 0.05 / len(layers)


def test_a_planted_direction_with_the_same_words_is_beyond_it_and_beyond_the_base(
    tiny_model_dir: Path, cpu_models: ModelsConfig
) -> None:
    std, ver, bag_std, bag_ver = _setup(tiny_model_dir, cpu_models, "", plant=True)
    layers = list(range(std.shape[1]))
    out = layer_comparisons(
        layers,
        LANGS,
        AnalysisConfig(),
        _pairs(std, ver, len(EN)),
        _pairs(bag_std, bag_ver, len(EN)),
        _pairs(std, std, len(EN)),  # a base without the direction: its guises read alike
    )
    assert out["lexical_auroc"]["en"] == 0.5  # the same tokens in both guises
    for key in ("en", "ru", "en_to_ru", "ru_to_en"):
        beyond = out["beyond_lexical"][key]
        assert beyond[0]["ci_low"] <= 0  # the embeddings, before the planted layer
        assert all(row["ci_low"] > 0 for row in beyond[1:]), (key, beyond)
        assert all(row["diff"] == 0.5 for row in beyond[1:])
        minus_base = out["minus_base_auroc"][key]
        assert all(row["ci_low"] > 0 for row in minus_base[1:]), (key, minus_base)
