"""Probing on a tiny random model: the layer convention, LoRA merged or not, and a planted
guise direction that the probes must find, recover and lose when it is ablated."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from _probe_texts import EN
from guiselab.config import ModelsConfig
from guiselab.models import load_model, prompt_ids, render_prompt
from guiselab.probe import collect_activations, decoder_blocks, n_layers, residual_hooks
from guiselab.probe._measure import ablate, cosine, cv_auroc, guise_direction, transfer_auroc

TEXTS = EN


def _prompts(lm):  # type: ignore[no-untyped-def]
    return [prompt_ids(lm.tokenizer, render_prompt(lm.tokenizer, t)) for t in TEXTS]


def test_layers_are_embeddings_then_block_outputs(
    tiny_model_dir: Path, cpu_models: ModelsConfig
) -> None:
    lm = load_model(f"hf:{tiny_model_dir}", cpu_models)
    ids = torch.tensor([_prompts(lm)[0]])
    captured: dict[int, torch.Tensor] = {}
    with torch.no_grad(), residual_hooks(lm.model, capture=captured):
        reference = lm.model(ids, output_hidden_states=True).hidden_states
    blocks = decoder_blocks(lm.model)
    assert sorted(captured) == list(range(n_layers(lm.model))) == list(range(len(blocks) + 1))
    for layer in range(len(blocks)):  # the last hidden state is after the final norm
        assert torch.allclose(captured[layer], reference[layer], atol=1e-6)
    seen: dict[str, torch.Tensor] = {}
    handle = blocks[-1].register_forward_hook(
        lambda _m, _i, out: seen.__setitem__("out", out[0] if isinstance(out, tuple) else out)
    )
    with torch.no_grad():
        lm.model(ids)
    handle.remove()
    assert torch.allclose(captured[len(blocks)], seen["out"], atol=1e-6)
    # Pooled activations agree with a single unpadded pass, whatever the batch's padding.
    acts = collect_activations(lm, _prompts(lm)[:3], batch_size=3)
    assert torch.allclose(
        acts["last"][0], torch.stack([captured[i][0, -1] for i in sorted(captured)]), atol=1e-5
    )


def test_unmerged_and_merged_lora_give_the_same_activations(
    tiny_model_dir: Path, tmp_path: Path, cpu_models: ModelsConfig
) -> None:
    from peft import LoraConfig, get_peft_model

    base = load_model(f"hf:{tiny_model_dir}", cpu_models)
    torch.manual_seed(2)
    peft = get_peft_model(
        base.model, LoraConfig(r=4, target_modules=["o_proj", "down_proj"], init_lora_weights=False)
    )
    peft.eval()
    prompts = _prompts(base)[:4]
    unmerged = collect_activations(base.__class__(**{**vars(base), "model": peft}), prompts)
    merged_model = peft.merge_and_unload()
    merged = collect_activations(base.__class__(**{**vars(base), "model": merged_model}), prompts)
    assert torch.allclose(unmerged["mean"], merged["mean"], atol=1e-4)
    assert not torch.allclose(unmerged["mean"][:, 1], unmerged["mean"][:, 0])


def test_a_planted_direction_is_found_recovered_and_ablated(
    tiny_model_dir: Path, cpu_models: ModelsConfig
) -> None:
    lm = load_model(f"hf:{tiny_model_dir}", cpu_models)
    prompts = _prompts(lm)
    planted_layer = 1
    hidden = lm.model.config.hidden_size
    planted = torch.randn(hidden, generator=torch.Generator().manual_seed(7)) * 3
    # Both guises read the same text; the vernacular one carries the planted vector.
    standard = collect_activations(lm, prompts)["mean"].double().numpy()
    vernacular = (
        collect_activations(lm, prompts, edits={planted_layer: lambda h: h + planted})["mean"]
        .double()
        .numpy()
    )
    items = [f"q{i}" for i in range(len(prompts))]
    groups = items + items
    y = np.concatenate([np.zeros(len(items)), np.ones(len(items))])
    auroc = [
        cv_auroc(np.vstack([standard[:, layer], vernacular[:, layer]]), y, groups)
        for layer in range(standard.shape[1])
    ]
    assert auroc[0] == 0.5  # nothing to find before the planted layer
    assert auroc[planted_layer] == 1.0 and auroc[-1] == 1.0
    recovered = guise_direction(vernacular[:, planted_layer] - standard[:, planted_layer])
    assert cosine(recovered, planted.double().numpy()) >= 0.9
    # Projected out, the direction takes the probe's signal with it.
    x = np.vstack([standard[:, planted_layer], vernacular[:, planted_layer]])
    cleaned = ablate(x, recovered)
    assert abs(cv_auroc(cleaned, y, groups) - 0.5) <= 0.15
    # A probe trained on one half of the items transfers to the other half.
    half = len(items) // 2
    train = np.r_[0:half, len(items) : len(items) + half]
    test = np.setdiff1d(np.arange(2 * len(items)), train)
    assert transfer_auroc(x[train], y[train], x[test], y[test]) == 1.0


def test_layers_the_model_lacks_or_unmeasured_steering_are_errors() -> None:
    """A probe layer past the model's depth, or the default middle steering layer missing
    from probe.layers, stops the stage with the key to fix instead of dropping it."""
    import pytest

    from guiselab.config import ExperimentConfig
    from guiselab.errors import ConfigError
    from guiselab.probe._stage import check_layers

    def config(**probe: object) -> ExperimentConfig:
        return ExperimentConfig.model_validate({"probe": probe})

    check_layers(config(layers=[0, 1, 2]), 3)  # a 2-block model: residual layers 0-2
    check_layers(config(), 3)
    with pytest.raises(ConfigError, match=r"probe\.layers: layers \[3\] are beyond .* 0-2"):
        check_layers(config(layers=[0, 3]), 3)
    with pytest.raises(ConfigError, match=r"interventions at layer \[1\]"):
        check_layers(config(layers=[0, 2]), 3)  # the middle layer is 3 // 2 = 1
    check_layers(config(layers=[0, 2], interventions=False), 3)
    check_layers(config(layers=[0, 2], steer_layers=[2]), 3)
    with pytest.raises(ConfigError, match=r"probe\.steer_layers: layers \[5\] are beyond"):
        check_layers(config(steer_layers=[5]), 3)  # every layer measured, 5 is not one
