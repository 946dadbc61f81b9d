"""The judged-samples table: generations joined with their stored judgments."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import pandas as pd

from guiselab.config import ExperimentConfig
from guiselab.judge._prompts import METRICS
from guiselab.judge._stage import JudgeSource, plan_judgments
from guiselab.store import Generation, RunStore

__all__ = ["judged_samples"]


def judged_samples(
    config: ExperimentConfig,
    store: RunStore,
    generations: Sequence[Generation],
    judge: JudgeSource,
) -> pd.DataFrame:
    """One row per generation, in order: every field of the generation, then per metric its
    score (``alignment``, ``coherence``: numbers, NaN where not judged) and verdict
    (``alignment_verdict``, ...: ``unscored`` where not judged), and the ``judge``'s label.

    This is the table ``samples.parquet`` holds and the probe reads its answers from.
    """
    rows: dict[str, dict[str, Any]] = {g.key: asdict(g) for g in generations}
    by_key = {j.key: j for j in store.judgments()}
    for task in plan_judgments(config, generations, judge):
        judgment = by_key.get(task.key)
        row = rows[task.generation.key]
        row[task.metric] = judgment.score if judgment else None
        row[f"{task.metric}_verdict"] = judgment.verdict if judgment else "unscored"
        row["judge"] = judge.label
    frame = pd.DataFrame(list(rows.values()))
    for metric in METRICS:
        values = frame[metric] if metric in frame else pd.Series(float("nan"), index=frame.index)
        frame[metric] = pd.to_numeric(values, errors="coerce")
    return frame
