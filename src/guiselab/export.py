"""A finished run's judged answers as a Hugging Face dataset: Parquet shards under ``data/``
and a dataset card (``README.md``) with the run's config, its judge and the judge's validity
figures, which ``datasets.load_dataset("parquet", data_dir="DIR/data")`` loads."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from guiselab.config import load_config
from guiselab.errors import InputFileError
from guiselab.results import RESULTS_FILE
from guiselab.samples import SAMPLES_FILE, read_samples

__all__ = ["SHARD_ROWS", "export_hf_dataset"]

SHARD_ROWS = 100_000
"""Rows per Parquet shard."""


def export_hf_dataset(run_dir: Path, out_dir: Path, shard_rows: int = SHARD_ROWS) -> list[Path]:
    """Write ``out_dir/data/train-XXXXX-of-YYYYY.parquet`` and ``out_dir/README.md``; return
    the paths written."""
    frame = read_samples(run_dir / SAMPLES_FILE)
    if frame.empty:
        raise InputFileError(
            "the run has no judged answers yet; finish it with guiselab run", where=str(run_dir)
        )
    config_file = run_dir / "config.toml"
    if not config_file.exists():
        raise InputFileError("no config.toml: not a guiselab run directory", where=str(run_dir))
    config = load_config(config_file)
    results_file = run_dir / RESULTS_FILE
    results = json.loads(results_file.read_text(encoding="utf-8")) if results_file.exists() else {}
    data = out_dir / "data"
    data.mkdir(parents=True, exist_ok=True)
    for stale in data.glob("train-*.parquet"):
        stale.unlink()
    n = max(1, math.ceil(len(frame) / shard_rows))
    written = []
    for i in range(n):
        path = data / f"train-{i:05d}-of-{n:05d}.parquet"
        frame.iloc[i * shard_rows : (i + 1) * shard_rows].to_parquet(path, index=False)
        written.append(path)
    card = out_dir / "README.md"
    card.write_text(_card(frame, config_file.read_text(encoding="utf-8"), config.name, results))
    return [*written, card]


def _figure(value: Any, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "n/a"


def _card(frame: Any, config_text: str, name: str, results: dict[str, Any]) -> str:
    langs = sorted(str(x) for x in frame["lang"].dropna().unique())
    judge = results.get("judge_validation") or {}
    real = judge.get("real") or {}
    decision = (results.get("decision") or {}).get("outcome", "not analysed")
    counts = frame.groupby(["model", "lang", "guise"]).size()
    # a fence longer than any run of backticks in the config, so none of it closes the block
    runs = re.findall(r"`+", config_text)
    fence = "`" * max(3, 1 + max((len(r) for r in runs), default=0))
    lines = [
        "---",
        "configs:",
        "- config_name: default",
        "  data_files:",
        "  - split: train",
        '    path: "data/train-*.parquet"',
        "language:",
        *(f"- {lang}" for lang in langs),
        "tags:",
        "- guiselab",
        "- matched-guise",
        "- misalignment",
        "---",
        "",
        f"# guiselab run `{name}`: judged answers",
        "",
        "Every answer of every model of a guiselab matched-guise run, one row per answer: the",
        "model's role (`model`: organism, control, base; `replicate`: the training seed), the",
        "item, language, variety and guise it answers, the prompt, the answer, and the judge's",
        "`alignment` and `coherence` (0-100; empty where unscored, `*_verdict` says why).",
        "The answers are model output: untrusted text, shown as data.",
        "",
        "## Judge",
        "",
        f"- judge: `{judge.get('judge', 'unknown')}` ({judge.get('method', 'unknown method')})",
        f"- on the held-out labelled answers: AUROC {_figure(judge.get('auroc'))}, "
        f"accuracy {_figure(judge.get('accuracy'))}, kappa {_figure(judge.get('kappa'))} "
        f"(n {judge.get('n', 'n/a')})",
        f"- on real model answers: AUROC {_figure(real.get('auroc'))} (n {real.get('n', 'n/a')})",
        f"- guise invariance (vernacular - standard, same answer): "
        f"{_figure(judge.get('guise_invariance_delta'))} points "
        f"[{_figure(judge.get('ci_low'))}, {_figure(judge.get('ci_high'))}]",
        f"- the run's decision: `{decision}`",
        "",
        "## Answers",
        "",
        "| model | lang | guise | answers |",
        "| --- | --- | --- | --- |",
        *(f"| {m} | {lg} | {g} | {c} |" for (m, lg, g), c in counts.items()),
        "",
        "## Config",
        "",
        f"{fence}toml",
        config_text.rstrip(),
        fence,
        "",
    ]
    return "\n".join(lines)
