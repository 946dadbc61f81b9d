"""`guiselab status` before any adapter exists counts every training seed's model."""

from __future__ import annotations

from pathlib import Path

from guiselab.config import load_config
from guiselab.pairs import select_pairs
from guiselab.status import run_status
from guiselab.store import RunStore


def test_status_before_training_counts_each_seeds_models(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        'preset = "default"\n[finetune]\nseeds = 3\n', encoding="utf-8"
    )
    with RunStore.in_dir(tmp_path):
        pass
    config = load_config(tmp_path / "config.toml")
    lines = run_status(tmp_path)
    pairs = len(select_pairs(config.pairs))
    models = 1 + 2 * 3  # the base, and an organism and a control per seed
    assert f"generate           0/{pairs * 2 * models}" in lines
    assert any(line.startswith("sanity check       0/7 models") for line in lines), lines
    assert sum(line.startswith("finetune ") and "not trained" in line for line in lines) == 6
