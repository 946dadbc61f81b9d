"""`guiselab bench --json` prints the promised object (rates measured, not asserted)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from guiselab import cli


def test_bench_json_has_the_promised_keys(
    tiny_model_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from guiselab import bench

    small = bench.BenchSettings(prompts=6, new_tokens=3, batch_size=6, loop_prompts=2)
    monkeypatch.setattr(bench, "QUICK", small)
    monkeypatch.setattr(
        sys, "argv", ["guiselab", "bench", "--quick", "--json", "--model", f"hf:{tiny_model_dir}"]
    )
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 0
    result = json.loads(capsys.readouterr().out)
    assert {
        "model",
        "new_tokens",
        "contenders",
        "ceiling_tok_s",
        "ratio_vs_loop",
        "ratio_vs_batch8",
    } <= set(result)
    assert result["new_tokens"] == 3 and result["model"] == f"hf:{tiny_model_dir}"
    rates = result["contenders"]
    assert set(rates) == {"loop", "hf_batch8", "guiselab", "llamacpp"}
    assert all(rates[k] > 0 for k in ("loop", "hf_batch8", "guiselab"))
    assert rates["llamacpp"] is None  # a directory model has no GGUF file for llama.cpp
    assert result["ceiling_tok_s"] > 0
    assert result["ratio_vs_loop"] == pytest.approx(rates["guiselab"] / rates["loop"])
