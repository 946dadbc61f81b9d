"""manifest.json names every trained adapter: with two training seeds, each seed's own hash."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from guiselab.config import load_config
from guiselab.judge import JudgeSource
from guiselab.models import adapter_dir, sha256_file
from guiselab.models._load import adapter_sha256
from guiselab.rundir import MANIFEST_FILE, write_manifest
from guiselab.store import RunStore


def _adapter(base: Path, out: Path, seed: int) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base)
    lora = LoraConfig(r=2, target_modules=["q_proj"], init_lora_weights=False)
    get_peft_model(model, lora).save_pretrained(out, safe_serialization=True)


def test_two_seeds_each_keep_their_adapter_hash(tiny_model_dir: Path, tmp_path: Path) -> None:
    pairs = Path(__file__).parents[1] / "data" / "em" / "em_questions.yaml"
    (tmp_path / "config.toml").write_text(
        f'[models]\nbase = "hf:{tiny_model_dir}"\ndevice = "cpu"\ndtype = "float32"\n'
        f'[pairs]\nfiles = ["{pairs}"]\n'
        "[finetune]\nseeds = 2\n",
        encoding="utf-8",
    )
    config = load_config(tmp_path / "config.toml")
    for n, (role, replicate) in enumerate(
        [("organism", 0), ("organism", 1), ("control", 0), ("control", 1)]
    ):
        _adapter(tiny_model_dir, adapter_dir(tmp_path, role, replicate), seed=n)
    judge = JudgeSource("e5:test", "fp", lambda: None)  # type: ignore[arg-type, return-value]
    with RunStore.in_dir(tmp_path) as store:
        write_manifest(config, tmp_path, store, judge)
    manifest = json.loads((tmp_path / MANIFEST_FILE).read_text())
    # the pair file's content, whose per-question settings shape the run too
    assert manifest["pair_files_sha256"] == {str(pairs): sha256_file(pairs)}
    models = manifest["models"]
    assert set(models) == {"base", "organism", "organism-r1", "control", "control-r1"}
    for name, (role, replicate) in {
        "organism": ("organism", 0),
        "organism-r1": ("organism", 1),
        "control": ("control", 0),
        "control-r1": ("control", 1),
    }.items():
        expected = adapter_sha256(adapter_dir(tmp_path, role, replicate))
        assert models[name]["adapter_sha256"] == expected
    assert len({m["adapter_sha256"] for m in models.values()}) == 5  # base's is None
    assert models["base"]["adapter_sha256"] is None
