"""`guiselab bench --json` prints the promised object (rates measured, not asserted)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


def test_bench_json_has_the_promised_keys(
    tiny_model_dir: Path,
    run_cli: Callable[..., tuple[int, str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from guiselab import bench

    small = bench.BenchSettings(prompts=6, new_tokens=3, batch_size=6, loop_prompts=2)
    monkeypatch.setattr(bench, "QUICK", small)
    code, out, err = run_cli("bench", "--quick", "--json", "--model", f"hf:{tiny_model_dir}")
    assert code == 0, err
    result = json.loads(out)
    assert {
        "model",
        "new_tokens",
        "contenders",
        "ceiling_tok_s",
        "ratio_vs_loop",
        "ratio_vs_batch8",
        "ratio_vs_same_batch",
        "shares_of_ceiling",
    } <= set(result)
    assert result["new_tokens"] == 3 and result["model"] == f"hf:{tiny_model_dir}"
    rates = result["contenders"]
    assert set(rates) == {"loop", "hf_batch8", "hf_same_batch", "guiselab", "llamacpp"}
    assert all(rates[k] > 0 for k in ("loop", "hf_batch8", "hf_same_batch", "guiselab"))
    assert rates["llamacpp"] is None  # a directory model has no GGUF file for llama.cpp
    assert result["llamacpp_status"] in ("no GGUF file", "not installed")
    assert result["ceiling_tok_s"] > 0
    assert result["ratio_vs_loop"] == pytest.approx(rates["guiselab"] / rates["loop"])
    assert result["ratio_vs_same_batch"] == pytest.approx(
        rates["guiselab"] / rates["hf_same_batch"]
    )
    shares = result["shares_of_ceiling"]
    assert shares["guiselab"] == pytest.approx(rates["guiselab"] / result["ceiling_tok_s"])
    assert shares["llamacpp"] is None
    assert result["dtype"] == "float32"


@pytest.fixture
def quick_args(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, ...]:
    """`guiselab bench --quick` on the tiny model, reduced to 4 prompts of 2 tokens."""
    from guiselab import bench

    small = bench.BenchSettings(prompts=4, new_tokens=2, batch_size=4, loop_prompts=1)
    monkeypatch.setattr(bench, "QUICK", small)
    return ("bench", "--quick", "--json", "--model", f"hf:{tiny_model_dir}")


def test_bench_runs_every_contender_in_bfloat16(
    quick_args: tuple[str, ...], run_cli: Callable[..., tuple[int, str, str]]
) -> None:
    args = quick_args
    code, out, err = run_cli(*args, "--dtype", "bfloat16")
    assert code == 0, err
    assert json.loads(out)["dtype"] == "bfloat16"
    code, out, err = run_cli(*args, "--dtype", "float16")
    assert code == 2 and "--dtype" in err and "bfloat16" in err


def test_bench_measures_hf_and_guiselab_at_the_batch_asked(
    quick_args: tuple[str, ...],
    run_cli: Callable[..., tuple[int, str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    args = quick_args
    import guiselab.generate
    import guiselab.models

    hf_batches: list[int] = []
    ours: list[int] = []
    pad_batch, sample_batch = guiselab.models.pad_batch, guiselab.generate.sample_batch

    def counting_pad(batch: Any, *a: Any, **k: Any) -> Any:
        hf_batches.append(len(batch))
        return pad_batch(batch, *a, **k)

    def counting_sample(lm: Any, prompts: Any, *a: Any, **k: Any) -> Any:
        ours.append(len(prompts))
        return sample_batch(lm, prompts, *a, **k)

    monkeypatch.setattr(guiselab.models, "pad_batch", counting_pad)
    monkeypatch.setattr(guiselab.generate, "sample_batch", counting_sample)
    code, out, err = run_cli(*args, "--batch-size", "2")
    assert code == 0, err
    assert json.loads(out)["batch_size"] == 2
    # warm-up 1, the loop 1, HF batch 8 takes all 4, HF at the asked batch 2 + 2
    assert hf_batches == [1, 1, 4, 2, 2]
    assert ours == [2, 2]
    code, out, err = run_cli(*args, "--batch-size", "0")
    assert code == 2 and "--batch-size" in err


def test_a_contender_that_crashes_or_raises_loses_its_figure_not_the_bench() -> None:
    import ctypes

    from guiselab.bench import run_isolated

    assert run_isolated(float, "2.5") == (2.5, "measured")
    assert run_isolated(float, "x") == (None, "failed: ValueError")
    assert run_isolated(print) == (None, "no result")
    rate, status = run_isolated(ctypes.string_at, 0)  # reads address 0: the child segfaults
    assert rate is None and status.startswith("crashed")
    assert run_isolated(time.sleep, 30, timeout=1) == (None, "timed out after 1 s")
