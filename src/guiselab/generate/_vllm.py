"""vLLM generation (``generation.engine = "vllm"``): one engine per base model, adapters as LoRA.

vLLM is imported only when this engine is used, so guiselab works without it. The base, the
organism and the control are served from one ``LLM`` holding the base weights; the organism's
and the control's adapters ride along as ``LoRARequest``s. Prompts are rendered and tokenized
by guiselab (the same token ids the HF engine sees) and each sample is its own request with
its own seed, so a resumed run draws what an uninterrupted one would have; vLLM's prefix cache
shares the prefill of the samples of one prompt.

vLLM's LoRA path has diverged from PEFT on some architectures, so before the first sampled
answer of an adapter model guiselab decodes a few prompts greedily with vLLM+LoRA and with
HF+PEFT and compares the tokens (``agreement``); when they disagree it warns loudly, and
``vllm.merge_adapters = true`` serves weights with the adapter merged in instead.
"""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from guiselab.config import ExperimentConfig, GenerationConfig, VllmConfig
from guiselab.errors import ConfigError, ModelRefError
from guiselab.generate._sampler import sample_batch
from guiselab.generate._tasks import ModelTasks, batches, encode_tasks, record
from guiselab.models import ModelIdentity, ModelSource, load_model, stop_strings
from guiselab.store import RunStore, write_atomic

__all__ = [
    "Agreement",
    "SharedVllmEngine",
    "VllmEngine",
    "agreement",
    "check_against_hf",
    "merge_adapter",
    "require_vllm",
    "sampling_kwargs",
]


def require_vllm() -> None:
    """Fail up front, before any stage runs, when the vLLM engine is asked for but absent."""
    try:
        import vllm  # noqa: F401
    except ImportError:
        raise ConfigError(
            "the vLLM engine needs the vllm package, which is not installed: pip install "
            "'guiselab[vllm]' on a machine with a CUDA GPU, or set engine = \"hf\"",
            where="generation.engine",
        ) from None


def sampling_kwargs(cfg: GenerationConfig, seed: int, stops: Sequence[str]) -> dict[str, Any]:
    """``SamplingParams`` arguments of one sample: the same distribution the HF engine uses."""
    return {
        "n": 1,
        "temperature": cfg.temperature,
        "top_p": cfg.top_p,
        "max_tokens": cfg.max_new_tokens,
        "seed": seed,
        "stop": list(stops),
        "skip_special_tokens": True,
    }


@dataclass(frozen=True)
class Agreement:
    """Greedy decodes of the same prompts by vLLM and by HF+PEFT, compared token by token."""

    prompts: int
    agreed: int
    """Prompts whose first ``tokens`` greedy tokens are identical in both engines."""
    tokens: int
    mean_common_prefix: float
    """Mean length of the identical start of both decodes, in tokens."""

    @property
    def ok(self) -> bool:
        # Greedy decoding in bf16 may flip a near-tie now and then; a LoRA path that is not
        # applied or is applied wrongly changes most prompts from the first tokens on.
        return self.agreed * 4 >= self.prompts * 3

    def describe(self) -> str:
        return (
            f"{self.agreed}/{self.prompts} prompts give the same first {self.tokens} greedy "
            f"tokens (mean common start {self.mean_common_prefix:.1f} tokens)"
        )


def agreement(
    ours: Sequence[Sequence[int]], reference: Sequence[Sequence[int]], tokens: int
) -> Agreement:
    """Compare two engines' greedy token ids prompt by prompt over the first ``tokens``."""
    agreed, prefixes = 0, []
    for a, b in zip(ours, reference, strict=True):
        a, b = list(a[:tokens]), list(b[:tokens])
        common = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
        prefixes.append(min(len(a), len(b)) if common is None else common)
        agreed += int(a == b)
    mean = sum(prefixes) / len(prefixes) if prefixes else 0.0
    return Agreement(len(prefixes), agreed, tokens, mean)


def merge_adapter(ident: ModelIdentity, config: ExperimentConfig, out: Path) -> Path:
    """Write the base with ``ident``'s adapter merged in as a safetensors directory at ``out``.

    Reused when ``out`` already holds the merge of this exact base and adapter.
    """
    marker = out / "guiselab-merged-from.txt"
    if marker.exists() and marker.read_text(encoding="utf-8") == ident.fingerprint:
        return out
    lm = load_model(ident.label, config.models.model_copy(update={"device": "cpu"}), identity=ident)
    model = lm.model.merge_and_unload() if ident.adapter is not None else lm.model
    # Weights dequantized from GGUF carry a quantizer that refuses to save; they are plain
    # floats by now.
    model.hf_quantizer = None
    if getattr(model.config, "quantization_config", None) is not None:
        del model.config.quantization_config
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    lm.tokenizer.save_pretrained(out)
    marker.write_text(ident.fingerprint, encoding="utf-8")
    return out


class VllmEngine:
    """One vLLM ``LLM`` over a base model, sampling for the base and for LoRA adapters on it."""

    def __init__(self, source: str, config: ExperimentConfig) -> None:
        require_vllm()
        from vllm import LLM

        cfg: VllmConfig = config.vllm
        dtype = "auto" if config.models.dtype == "auto" else config.models.dtype
        self.source = source
        self._lora_ids: dict[Path, int] = {}
        self.llm = LLM(
            model=source,
            tokenizer=source,
            dtype=dtype,
            seed=config.seed,
            tensor_parallel_size=cfg.tensor_parallel_size,
            gpu_memory_utilization=cfg.gpu_memory_utilization,
            max_model_len=cfg.max_model_len,
            enforce_eager=cfg.enforce_eager,
            trust_remote_code=config.models.trust_remote_code,
            enable_lora=True,
            max_lora_rank=cfg.max_lora_rank,
            max_loras=2,
            enable_prefix_caching=True,
        )

    def _lora(self, adapter: Path | None) -> Any:
        if adapter is None:
            return None
        from vllm.lora.request import LoRARequest

        lora_id = self._lora_ids.setdefault(adapter, len(self._lora_ids) + 1)
        return LoRARequest(f"adapter-{lora_id}", lora_id, str(adapter))

    def generate(
        self,
        prompts: Sequence[list[int]],
        seeds: Sequence[int],
        cfg: GenerationConfig,
        stops: Sequence[str],
        adapter: Path | None,
    ) -> list[tuple[str, list[int], str]]:
        """(text, token ids, finish reason ``stop``/``length``) per prompt, in order."""
        from vllm import SamplingParams

        params = [SamplingParams(**sampling_kwargs(cfg, s, stops)) for s in seeds]
        outputs = self.llm.generate(
            [{"prompt_token_ids": list(p)} for p in prompts],
            params,
            lora_request=self._lora(adapter),
            use_tqdm=False,
        )
        results = []
        for out in outputs:
            first = out.outputs[0]
            finish = "length" if first.finish_reason == "length" else "stop"
            results.append((first.text.strip(), list(first.token_ids), finish))
        return results

    def close(self) -> None:
        """Free the engine's GPU memory before another engine (another base) starts."""
        del self.llm
        gc.collect()
        try:
            import torch

            torch.cuda.empty_cache()
        except (ImportError, RuntimeError):
            pass


def check_against_hf(
    engine: VllmEngine,
    ident: ModelIdentity,
    config: ExperimentConfig,
    prompts: Sequence[list[int]],
    stops: Sequence[str],
    load_reference: Callable[[], Any],
) -> Agreement:
    """Greedy decodes of ``prompts`` by vLLM (+LoRA) and by HF (+PEFT), compared."""
    greedy = config.generation.model_copy(
        update={"temperature": 0.0, "max_new_tokens": config.vllm.agreement_tokens}
    )
    seeds = list(range(len(prompts)))
    ours = [ids for _, ids, _ in engine.generate(prompts, seeds, greedy, stops, ident.adapter)]
    lm = load_reference()
    try:
        theirs = [c.token_ids for c in sample_batch(lm, prompts, seeds, greedy)]
    finally:
        del lm
        gc.collect()
    return agreement(ours, theirs, config.vllm.agreement_tokens)


def refuse_gguf(ident: ModelIdentity, key: str) -> None:
    """vLLM serves HF directories and hub ids; guiselab hands it no single-file GGUF."""
    if "gguf_file" in ident.kwargs:
        raise ModelRefError(
            "the vLLM engine serves safetensors directories or hub ids, not GGUF files: use an "
            'hf: reference or engine = "hf"',
            where=key,
        )


def _tokenizer(ident: ModelIdentity, config: ExperimentConfig) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(
        ident.source, trust_remote_code=config.models.trust_remote_code, **ident.kwargs
    )
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


class SharedVllmEngine:
    """The vLLM engine of a run: the base, organism and control share one ``VllmEngine`` over
    the base weights, replaced only when a model on another base (or a merged adapter) comes."""

    def __init__(self) -> None:
        self._engine: VllmEngine | None = None

    def generate(
        self,
        source: ModelSource,
        work: ModelTasks,
        config: ExperimentConfig,
        store: RunStore,
        advance: Callable[[int], None],
    ) -> dict[str, str]:
        """Sample the pending ones of ``work`` with vLLM into the store."""
        ident = source.identity
        if ident is None:
            raise ModelRefError(
                "this model cannot be served by vLLM", where=f"models.{source.role}"
            )
        refuse_gguf(ident, f"models.{source.role}")
        run_dir = store.path.parent
        serve, adapter = ident.source, ident.adapter
        if adapter is not None and config.vllm.merge_adapters:
            merged = merge_adapter(ident, config, run_dir / "merged" / source.name)
            serve, adapter = str(merged), None
        engine = self._engine
        if engine is None or engine.source != serve:
            if engine is not None:
                engine.close()
            engine = self._engine = VllmEngine(serve, config)
        cfg = config.generation
        tasks = work.pending
        tokenizer = _tokenizer(ident, config)
        stops = stop_strings(tokenizer)
        encoded = encode_tasks(tokenizer, tasks, cfg)
        if adapter is not None and config.vllm.agreement_prompts:
            prompts = list(encoded.values())
            _require_agreement(engine, source, ident, config, run_dir, prompts, stops)
        # vLLM schedules its own batches; chunks bound how much is lost to a crash.
        for chunk in batches(tasks, encoded, max(cfg.batch_size, 256)):
            outputs = engine.generate(
                [encoded[t.key] for t in chunk], [t.seed for t in chunk], cfg, stops, adapter
            )
            store.add_generations(
                record(t, source.label, text, len(ids), finish)
                for t, (text, ids, finish) in zip(chunk, outputs, strict=True)
            )
            advance(len(chunk))
        return {}

    def close(self) -> None:
        """Free the last base's engine."""
        if self._engine is not None:
            self._engine.close()
            self._engine = None


def _require_agreement(
    engine: VllmEngine,
    source: ModelSource,
    ident: ModelIdentity,
    config: ExperimentConfig,
    run_dir: Path,
    prompts: list[list[int]],
    stops: Sequence[str],
) -> None:
    """Greedy vLLM+LoRA against HF+PEFT on a few prompts; recorded, and a stop on failure."""
    unique = list(dict.fromkeys(tuple(p) for p in prompts))[: config.vllm.agreement_prompts]
    result = check_against_hf(engine, ident, config, [list(p) for p in unique], stops, source.load)
    path = run_dir / "vllm_agreement.json"
    saved = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    saved[source.name] = {**asdict(result), "ok": result.ok, "adapter": str(ident.adapter)}
    write_atomic(path, json.dumps(saved, indent=2) + "\n")
    print(f"vLLM agreement check ({source.name}): {result.describe()}", file=sys.stderr)
    if not result.ok:
        raise ConfigError(
            f"vLLM+LoRA disagrees with HF+PEFT on the {source.role} adapter: "
            f"{result.describe()}; its samples would not be the adapter's. Set "
            "merge_adapters = true (serves the adapter merged into the base) or "
            'generation.engine = "hf", and run again',
            where="vllm.merge_adapters",
        )
