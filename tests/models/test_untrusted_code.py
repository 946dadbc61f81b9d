"""Code shipped beside weights runs only when the config says ``trust_remote_code = true``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from guiselab.config import ModelsConfig
from guiselab.errors import ModelRefError
from guiselab.models import identify, load_model

EVIL = """
from pathlib import Path
Path({sentinel!r}).write_text("ran")
from transformers import LlamaConfig, LlamaForCausalLM


class EvilConfig(LlamaConfig):
    pass


class EvilModel(LlamaForCausalLM):
    config_class = EvilConfig
"""


@pytest.fixture()
def model_with_code(tiny_model_dir: Path, tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    sentinel = tmp_path / "remote-code-ran"
    (folder / "evil.py").write_text(EVIL.format(sentinel=str(sentinel)))
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "evil.EvilConfig", "AutoModelForCausalLM": "evil.EvilModel"}
    (folder / "config.json").write_text(json.dumps(config))
    return folder, sentinel


def test_code_beside_the_weights_does_not_run_by_default(
    model_with_code: tuple[Path, Path],
) -> None:
    folder, sentinel = model_with_code
    lm = load_model(f"hf:{folder}", ModelsConfig(device="cpu", dtype="float32"))
    assert type(lm.model).__name__ == "LlamaForCausalLM"  # the library's own class
    assert not sentinel.exists()


def test_the_config_can_allow_it(model_with_code: tuple[Path, Path]) -> None:
    folder, sentinel = model_with_code
    config = ModelsConfig(device="cpu", dtype="float32", trust_remote_code=True)
    lm = load_model(f"hf:{folder}", config)
    assert sentinel.read_text() == "ran"  # the check above could see it run
    assert type(lm.model).__name__ == "EvilModel"


def test_pickled_base_weights_are_refused(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "pickled"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04not loaded")
    with pytest.raises(ModelRefError, match=r"only pickle checkpoints .* safetensors or GGUF"):
        identify(f"hf:{folder}")
