"""``guiselab bench``: generation throughput of guiselab's sampler beside other ways."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from guiselab.errors import ConfigError

__all__ = ["bench"]


def bench(
    quick: Annotated[
        bool, typer.Option(help="A reduced run (under 3 minutes on 2 cores).")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    model: Annotated[str, typer.Option(help="Model reference to measure.")] = "embedded:smollm2",
    dtype: Annotated[
        str, typer.Option(help="float32 or bfloat16: the dtype every contender computes in.")
    ] = "float32",
    batch_size: Annotated[
        int | None,
        typer.Option(help="guiselab's and HF's same batch (default: 48, or 32 with --quick)."),
    ] = None,
) -> None:
    """Generation tokens/s side by side: per-prompt loop, HF batch 8, HF and guiselab at the
    same batch, llama.cpp."""
    if dtype not in ("float32", "bfloat16"):
        raise ConfigError(
            f"{dtype!r} is not a bench dtype: use float32 or bfloat16", where="--dtype"
        )
    if batch_size is not None and batch_size < 1:
        raise ConfigError(
            f"batch size {batch_size} is below 1; give 1 or more", where="--batch-size"
        )
    from dataclasses import replace

    from guiselab.bench import QUICK, BenchSettings, run_bench

    settings = replace(
        QUICK if quick else BenchSettings(),
        model=model,
        dtype="bfloat16" if dtype == "bfloat16" else "float32",
    )
    if batch_size is not None:
        settings = replace(settings, batch_size=batch_size)
    result = run_bench(settings, (lambda _: None) if json_out else typer.echo)
    if json_out:
        typer.echo(json.dumps(result))
        return
    shares = result["shares_of_ceiling"]
    for name, rate in result["contenders"].items():
        shown = (
            result["llamacpp_status"]
            if rate is None
            else f"{rate:8.1f} tok/s, {shares[name]:4.0%} of the ceiling"
        )
        typer.echo(f"{name:<14} {shown}")
    typer.echo(
        f"ceiling        {result['ceiling_tok_s']:8.1f} tok/s "
        f"({result['matmul_gflops']:.0f} GFLOP/s {dtype} matmul); guiselab reaches "
        f"{result['share_of_ceiling']:.0%} of it, {result['ratio_vs_same_batch']:.2f}x HF "
        f"generate at its batch ({result['batch_size']}), {result['ratio_vs_batch8']:.1f}x HF "
        f"batch 8, {result['ratio_vs_loop']:.1f}x the loop"
    )
