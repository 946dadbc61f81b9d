"""The vLLM engine's parts that run without a GPU: up-front refusal, config cross-checks, the
greedy agreement measure and the adapter merge it offers as the remedy.

The engine itself (``VllmEngine``) needs vLLM and a CUDA GPU; ``benchmarks/gpu_vllm.py`` runs
it where one is lent.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from guiselab.config import ExperimentConfig, ModelsConfig, load_config
from guiselab.errors import ConfigError
from guiselab.generate import agreement, merge_adapter, sampling_kwargs
from guiselab.models import identify, load_model

HAS_VLLM = importlib.util.find_spec("vllm") is not None


@pytest.mark.skipif(HAS_VLLM, reason="vllm is installed: the refusal does not apply")
def test_vllm_engine_without_vllm_fails_before_any_work(
    tmp_path: Path, run_cli: Callable[..., tuple[int, str, str]]
) -> None:
    config = tmp_path / "exp.toml"
    config.write_text('preset = "smoke"\n[generation]\nengine = "vllm"\n', encoding="utf-8")
    run_dir = tmp_path / "run"
    code, _, err = run_cli("run", str(config), "--out", str(run_dir), "--quiet")
    assert code == 2
    line = err.strip().splitlines()[-1]
    assert line.startswith("error: generation.engine:") and "guiselab[vllm]" in line
    assert not run_dir.exists()  # refused before the run directory was touched


def test_config_refuses_vllm_with_ray_and_too_small_lora_rank(tmp_path: Path) -> None:
    config = tmp_path / "exp.toml"
    config.write_text('[generation]\nengine = "vllm"\nexecutor = "ray"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="executor = local"):
        load_config(config)
    config.write_text(
        '[generation]\nengine = "vllm"\n[finetune]\nrank = 128\n[vllm]\nmax_lora_rank = 64\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="max_lora_rank"):
        load_config(config)


def test_agreement_counts_identical_starts() -> None:
    same = [[1, 2, 3, 4], [5, 6, 7, 8], [9, 9, 9, 9], [1, 1, 1, 1]]
    result = agreement(same, same, tokens=4)
    assert (result.agreed, result.mean_common_prefix, result.ok) == (4, 4.0, True)
    # One late near-tie flip in four prompts is tolerated; differences from the start are not.
    late = [[1, 2, 3, 0], *same[1:]]
    assert agreement(late, same, tokens=4).ok
    assert agreement(late, same, tokens=4).agreed == 3
    broken = [[0, 2, 3, 4], [0, 6, 7, 8], [9, 9, 9, 9], [1, 1, 1, 1]]
    result = agreement(broken, same, tokens=4)
    assert (result.agreed, result.mean_common_prefix, result.ok) == (2, 2.0, False)
    # Only the first ``tokens`` count; an early stop agrees with itself.
    assert agreement([[1, 2, 7]], [[1, 2, 8]], tokens=2).agreed == 1
    assert agreement([[1, 2]], [[1, 2]], tokens=16).ok


def test_sampling_kwargs_carry_the_sample_seed_and_stops() -> None:
    cfg = ExperimentConfig().generation.model_copy(
        update={"temperature": 0.7, "top_p": 0.9, "max_new_tokens": 40}
    )
    kwargs = sampling_kwargs(cfg, 123, ["\nUser:"])
    assert kwargs == {
        "n": 1,
        "temperature": 0.7,
        "top_p": 0.9,
        "max_tokens": 40,
        "seed": 123,
        "stop": ["\nUser:"],
        "skip_special_tokens": True,
    }


def _random_adapter(model_dir: Path, out: Path) -> Path:
    """A LoRA adapter on the tiny model with non-zero weights (so merging changes outputs)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    peft = get_peft_model(
        model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    peft.save_pretrained(str(out), safe_serialization=True)
    return out


def test_merged_adapter_computes_what_peft_computes(
    tiny_model_dir: Path, tmp_path: Path, cpu_models: ModelsConfig
) -> None:
    adapter = _random_adapter(tiny_model_dir, tmp_path / "adapter")
    ident = identify(f"hf:{tiny_model_dir}", adapter=adapter)
    config = ExperimentConfig(models=cpu_models)
    merged = merge_adapter(ident, config, tmp_path / "merged")
    assert not list(merged.glob("*.bin")) and list(merged.glob("*.safetensors"))
    ids = torch.tensor([[1, 400, 2000, 17, 99, 3000]])
    with torch.no_grad():
        peft = load_model(ident.label, cpu_models, identity=ident).model(ids).logits
        flat = load_model(f"hf:{merged}", cpu_models).model(ids).logits
        base = load_model(f"hf:{tiny_model_dir}", cpu_models).model(ids).logits
    assert torch.allclose(flat, peft, atol=1e-4)
    assert not torch.allclose(flat, base, atol=1e-3)  # the adapter is really in there
    stamp = (merged / "model.safetensors").stat().st_mtime_ns
    assert merge_adapter(ident, config, tmp_path / "merged") == merged
    assert (merged / "model.safetensors").stat().st_mtime_ns == stamp  # reused, not redone
