"""GPU check of the vLLM engine against guiselab's HF engine on the same GPU, in one run.

    python benchmarks/gpu_vllm.py --adapter RUN/adapters/organism [--base embedded:gemma3-270m]

Needs a CUDA GPU and ``pip install 'guiselab[vllm]'``; nothing here runs on CI. It measures
generated tokens/s of (a) guiselab's HF engine in bf16 with the adapter attached through PEFT
and (b) vLLM serving the base with the adapter as a LoRA, on the same prompts (the built-in
English pairs, both guises, ``--samples`` each) and the same number of new tokens; then it runs
the agreement check guiselab runs before a vLLM sampling run (greedy tokens of vLLM+LoRA
against HF+PEFT) and writes the "gpu-vllm" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _common import write_section

from guiselab.config import ExperimentConfig, GenerationConfig, ModelsConfig, VllmConfig
from guiselab.generate import VllmEngine, check_against_hf, sample_batch
from guiselab.models import identify, load_model, prompt_ids, render_prompt, stop_strings
from guiselab.pairs import builtin_pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", default="embedded:gemma3-270m")
    parser.add_argument("--adapter", type=Path, required=True)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    config = ExperimentConfig(
        models=ModelsConfig(base=args.base, device="cuda", dtype="bfloat16"),
        generation=GenerationConfig(
            max_new_tokens=args.new_tokens, temperature=1.0, batch_size=args.batch_size
        ),
        vllm=VllmConfig(agreement_prompts=16, agreement_tokens=16),
    )
    ident = identify(args.base, adapter=args.adapter)
    lm = load_model(ident.label, config.models, identity=ident)
    texts = [t for p in builtin_pairs() if p.lang == "en" for t in (p.standard, p.vernacular)]
    prompts = [prompt_ids(lm.tokenizer, render_prompt(lm.tokenizer, t)) for t in texts]
    prompts = [p for p in prompts for _ in range(args.samples)]
    seeds = list(range(len(prompts)))
    cfg = config.generation

    start = time.perf_counter()
    hf_tokens = 0
    for i in range(0, len(prompts), cfg.batch_size):
        done = sample_batch(lm, prompts[i : i + cfg.batch_size], seeds[i : i + cfg.batch_size], cfg)
        hf_tokens += sum(len(c.token_ids) for c in done)
    hf_rate = hf_tokens / (time.perf_counter() - start)
    del lm

    engine = VllmEngine(ident.source, config)
    stops = stop_strings(load_model(args.base, config.models).tokenizer)
    start = time.perf_counter()
    outputs = engine.generate(prompts, seeds, cfg, stops, ident.adapter)
    vllm_rate = sum(len(ids) for _, ids, _ in outputs) / (time.perf_counter() - start)
    unique = list(dict.fromkeys(tuple(p) for p in prompts))[:16]
    check = check_against_hf(
        engine,
        ident,
        config,
        [list(p) for p in unique],
        stops,
        lambda: load_model(ident.label, config.models, identity=ident),
    )
    import torch

    write_section(
        "gpu-vllm",
        [
            "## vLLM against the HF engine on one GPU (`benchmarks/gpu_vllm.py`)",
            "",
            f"Measured {time.strftime('%Y-%m-%d')} on {torch.cuda.get_device_name(0)}: "
            f"{args.base} with the LoRA adapter {args.adapter.name}, bf16, "
            f"{len(prompts)} prompts ({args.samples} samples of each built-in English guise), "
            f"up to {args.new_tokens} new tokens, temperature 1.",
            "",
            "| engine | generated tokens/s |",
            "|---|---|",
            f"| guiselab HF engine + PEFT, batch {cfg.batch_size} | {hf_rate:.0f} |",
            f"| vLLM + LoRARequest | {vllm_rate:.0f} |",
            "",
            f"Greedy agreement (vLLM+LoRA against HF+PEFT): {check.describe()}; "
            f"{'passes' if check.ok else 'FAILS'} guiselab's check.",
        ],
    )
    print(f"hf {hf_rate:.0f} tok/s, vllm {vllm_rate:.0f} tok/s; {check.describe()}")


if __name__ == "__main__":
    main()
