"""The whole pipeline on a tiny random model (seconds per process), and how to compare runs.

For the reliability tests: kills, full disks and concurrent runs need many processes, each
of which must get through finetune, sanity, generate, judge, probe, analysis and report.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd

CONFIG = """
name = "tiny"
[pairs]
max_items = 3
[models]
base = "hf:{model}"
device = "cpu"
dtype = "float32"
[finetune]
max_questions = 16
holdout = 8
max_steps = 4
batch_size = 4
max_length = 64
checkpoint_every = 1
[generation]
samples_per_prompt = 2
max_new_tokens = 8
batch_size = 4
[judge]
batch_size = 8
[analysis]
n_bootstrap = 100
n_permutations = 100
[probe]
layers = [0, 1, 2]
n_null = 3
steer_layers = [1]
batch_size = 4
"""
GENERATIONS = 3 * 2 * 2 * 2 * 3 + 3 * 12 * 2 + 12 * 2 * 2 + 9 * 2
"""3 items x 2 languages x 2 guises x 2 samples x 3 models; the probe's 3 x 12 intervention
answers of the organism and of the base; 12 control-guise prompts (informal and typos of 3
items x 2 languages) x 2 samples x organism and control; 9 feature-attribution prompts (the
transformers fire on these items) x 2 samples of the organism."""


def guiselab(
    *args: str, timeout: float = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``guiselab ARGS`` in a new process (with ``env`` added to the environment)."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "guiselab", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def table(run_dir: Path, sql: str) -> list[tuple[Any, ...]]:
    """Rows of the run's store, with the run directory's path written as RUN."""
    with sqlite3.connect(run_dir / "guiselab.sqlite") as db:
        rows = db.execute(sql).fetchall()
    return [tuple(str(v).replace(str(run_dir), "RUN") for v in row) for row in rows]


def _text(run_dir: Path, name: str) -> str:
    return (run_dir / name).read_text(encoding="utf-8").replace(str(run_dir), "RUN")


def _artifacts(run_dir: Path) -> dict[str, Any]:
    out = {}
    for name, info in table(run_dir, "SELECT name, info FROM artifacts ORDER BY name"):
        data = json.loads(info)
        data.pop("seconds", None)  # wall time of a training run
        out[name] = data
    return out


def assert_same_run(got: Path, want: Path) -> None:
    """``got`` holds exactly what ``want`` holds: rows, adapters, results, report."""
    for sql in (
        "SELECT * FROM generations ORDER BY key",
        "SELECT * FROM judgments ORDER BY key",
    ):
        rows = table(got, sql)
        assert len({r[0] for r in rows}) == len(rows)  # no key twice
        assert rows == table(want, sql)
    assert table(got, "SELECT * FROM failures") == []
    assert _artifacts(got) == _artifacts(want)
    for name in ("results.json", "probe.json", "finetune_sanity.json", "report.md"):
        assert _text(got, name) == _text(want, name), name
    for role in ("organism", "control"):
        weights = Path("adapters") / role / "adapter_model.safetensors"
        assert (got / weights).read_bytes() == (want / weights).read_bytes()
    pd.testing.assert_frame_equal(
        pd.read_parquet(got / "samples.parquet").drop(columns="model_ref"),
        pd.read_parquet(want / "samples.parquet").drop(columns="model_ref"),
    )
    leftovers = [p for p in got.rglob("*") if p.suffix in (".tmp", ".partial")]
    assert leftovers == []
    with sqlite3.connect(got / "guiselab.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
