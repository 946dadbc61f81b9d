"""Shared fixtures: tiny random HF models built in memory (no hub), the embedded tokenizer."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from guiselab.config import ModelsConfig


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer random Llama with the SmolLM2 tokenizer, saved as safetensors."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from guiselab.models import materialize

    folder, _ = materialize("smollm2")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    model = LlamaForCausalLM(config)
    out = tmp_path_factory.mktemp("tiny") / "model"
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture()
def cpu_models() -> ModelsConfig:
    return ModelsConfig(device="cpu", dtype="float32")


CliResult = tuple[int, str, str]


@pytest.fixture()
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run ``guiselab ARGS`` in this process through its real entry point: (exit code, out, err)."""
    from guiselab import cli

    def run(*args: str) -> CliResult:
        argv = sys.argv
        sys.argv = ["guiselab", *args]
        try:
            cli.main()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        finally:
            sys.argv = argv
        out, err = capsys.readouterr()
        return code, out, err

    return run
