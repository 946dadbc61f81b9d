"""Generation tokens/s, side by side in one run: per-prompt loop, HF batch 8, HF and guiselab
at the same batch, llama.cpp.

    python benchmarks/generation.py [--models embedded:smollm2 embedded:gemma3-270m]
        [--dtypes float32 bfloat16] [--batch-sizes 48] [--quick]

Each model and dtype is measured by ``guiselab.bench.run_bench`` (the same code as
``guiselab bench``); writes the "generation" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import replace

from _common import cpu_name, write_section

from guiselab.bench import QUICK, BenchSettings, run_bench


def _fmt(rate: float | None, status: str = "not installed") -> str:
    return status if rate is None else f"{rate:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", nargs="+", default=["embedded:smollm2", "embedded:gemma3-270m"])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument(
        "--batch-sizes", nargs="+", type=int, help="default: the bench's (the default preset's)"
    )
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    base = QUICK if args.quick else BenchSettings()
    results = []
    for model in args.models:
        for batch in args.batch_sizes or [base.batch_size]:
            for dtype in args.dtypes:
                settings = replace(base, model=model, dtype=dtype, batch_size=batch)
                label = f"{model} {dtype} batch {batch}"
                result = run_bench(
                    settings, lambda m, label=label: print(f"{label}: {m}", flush=True)
                )
                print(json.dumps(result), flush=True)
                results.append(result)
    lines = [
        "## Generation (`benchmarks/generation.py`, `guiselab bench`)",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores ({cpu_name()}), Python "
        f"{platform.python_version()}, no GPU, torch threads {results[0]['threads']}. Same "
        "prompts (built-in English pairs, both guises), temperature 1, exactly "
        f"{results[0]['new_tokens']} new tokens per prompt (end tokens cannot stop a row), "
        f"{results[0]['prompts']} prompts (the per-prompt loop: the first "
        f"{base.loop_prompts}). Weights are dequantized from the embedded GGUF files to the "
        "row's dtype, and every HF contender of a row computes in it; llama.cpp runs the GGUF "
        "file itself (quantized), one prompt at a time, measured again on every row and "
        "independent of the row's dtype and batch. "
        "Generated tokens per second:",
        "",
        "| model | dtype | batch | per-prompt loop | HF generate, batch 8 | HF generate, same "
        "batch | guiselab | llama.cpp | ceiling | share of ceiling: HF same batch / guiselab "
        "| guiselab vs HF same batch |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        c, share = r["contenders"], r["shares_of_ceiling"]
        lines.append(
            f"| {r['model']} | {r['dtype']} | {r['batch_size']} | {_fmt(c['loop'])} | "
            f"{_fmt(c['hf_batch8'])} | {_fmt(c['hf_same_batch'])} | {_fmt(c['guiselab'])} | "
            f"{_fmt(c['llamacpp'], r['llamacpp_status'])} | {r['ceiling_tok_s']:.0f} | "
            f"{share['hf_same_batch']:.0%} / {share['guiselab']:.0%} | "
            f"{r['ratio_vs_same_batch']:.2f}x |"
        )
    lines += [
        "",
        "Ceiling: the matmul rate measured in the row's dtype ("
        + ", ".join(f"{r['dtype']} {r['matmul_gflops']:.0f}" for r in results[: len(args.dtypes)])
        + " GFLOP/s) divided by 2 × parameters per token (output layer counted); attention and "
        "sampling are not in it, so no engine reaches it.",
    ]
    write_section("generation", lines)


if __name__ == "__main__":
    main()
