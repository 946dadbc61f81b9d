"""The ``[generation]`` and ``[vllm]`` sections: how answers are sampled, and the vLLM engine."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from guiselab.config._section import Section

__all__ = ["GenerationConfig", "VllmConfig"]


class GenerationConfig(Section):
    """How answers are sampled from each model."""

    samples_per_prompt: int = Field(default=4, ge=1)
    """Samples drawn per (model, pair, guise)."""
    pair_samples: bool = True
    """Honour a pair's own answer count (an emergent-misalignment question file's
    ``samples_per_paraphrase``) in place of ``samples_per_prompt``; false: every pair gets
    ``samples_per_prompt``."""
    max_new_tokens: int = Field(default=48, ge=1)
    """Longest answer in tokens."""
    temperature: float = Field(default=1.0, ge=0)
    """Sampling temperature; 0 is greedy decoding."""
    top_p: float = Field(default=1.0, gt=0, le=1)
    """Nucleus sampling mass."""
    batch_size: int = Field(default=48, ge=1)
    """Sequences decoded together (large batches amortise reading a big output layer)."""
    system_prompt: str | None = None
    """System message for chat-template models; None sends none."""
    engine: Literal["hf", "vllm"] = "hf"
    """What samples from in-process models: guiselab's batched HF sampler (CPU or GPU), or vLLM
    (``pip install 'guiselab[vllm]'``, CUDA GPUs; adapters served as LoRA on one base)."""
    executor: Literal["local", "ray"] = "local"
    """Where in-process models generate: this process, or actors on a Ray cluster."""
    ray_address: str | None = None
    """Ray cluster to join (``ray://host:10001`` or ``auto``); None starts a local instance."""
    ray_actors: int = Field(default=2, ge=1)
    """Ray actors per model, each holding its own copy of the model."""
    ray_cpus_per_actor: float = Field(default=1.0, gt=0)
    """CPUs Ray reserves for each actor (set GPUs per actor with a cluster of GPU nodes)."""

    def samples_of(self, pair: Any) -> int:
        """Answers per prompt of ``pair`` (a :class:`guiselab.pairs.Pair`): its own count
        where it has one and ``pair_samples`` is on, else ``samples_per_prompt``."""
        default = self.samples_per_prompt
        return int(pair.samples(default)) if self.pair_samples else default


class VllmConfig(Section):
    """The vLLM engine (``generation.engine = "vllm"``)."""

    tensor_parallel_size: int = Field(default=1, ge=1)
    """GPUs each model is split across."""
    gpu_memory_utilization: float = Field(default=0.85, gt=0, le=1)
    """Share of each GPU's memory vLLM may take (weights and KV cache)."""
    max_model_len: int | None = Field(default=None, ge=16)
    """Longest prompt + answer in tokens; None takes the model's own limit."""
    max_lora_rank: int = Field(default=64, ge=1)
    """Largest adapter rank vLLM reserves room for (at least ``finetune.rank``)."""
    enforce_eager: bool = False
    """Skip CUDA graph capture (starts faster, decodes slower)."""
    agreement_prompts: int = Field(default=8, ge=0)
    """Prompts decoded greedily by vLLM+LoRA and HF+PEFT before an adapter model samples; a
    loud warning when fewer than three in four agree. 0 skips the check."""
    agreement_tokens: int = Field(default=16, ge=1)
    """Greedy tokens compared per prompt in that check."""
    merge_adapters: bool = False
    """Serve each adapter merged into a copy of the base instead of as a LoRA (the remedy when
    the agreement check fails; costs a copy of the base weights per adapter on disk)."""
