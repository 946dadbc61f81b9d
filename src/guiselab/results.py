"""The analysis of a run: its samples table, the analysis under the frozen plan, and
``results.json`` with everything a report states beside the decision (judge validation and
usage, training summaries, the sanity check, the probe, prompt perplexity)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from guiselab.analysis import (
    PLAN_FILE,
    AnalysisPlan,
    analyze,
    direction_summary,
    perplexity_table,
    read_plan,
    replication_summary,
)
from guiselab.config import MIRROR_DIR, ExperimentConfig
from guiselab.finetune import SANITY_FILE
from guiselab.generate import plan_generations
from guiselab.judge import JudgeSource, judge_validation, judged_samples
from guiselab.models import model_sources, prompt_nll
from guiselab.pairs import Pair
from guiselab.probe import PROBE_FILE
from guiselab.rundir import frozen_plan
from guiselab.samples import GUISES, SAMPLES_FILE, UNRATED_VERDICTS, read_samples
from guiselab.store import RunStore, content_key, write_atomic

RESULTS_FILE = "results.json"

__all__ = [
    "RESULTS_FILE",
    "analyze_samples_file",
    "analyze_store",
    "samples_frame",
    "write_results",
]


def samples_frame(
    config: ExperimentConfig, run_dir: Path, store: RunStore, pairs: list[Pair], judge: JudgeSource
) -> pd.DataFrame:
    """One row per planned generation with its judgments (the samples table)."""
    planned = plan_generations(config, pairs, model_sources(config, run_dir))
    frame = judged_samples(config, store, store.generations(t.key for t in planned), judge)
    if not frame.empty:  # which training replicate (seed) answered: a level of the design
        replicate = {t.key: t.replicate for t in planned}
        frame["replicate"] = frame["key"].map(replicate).astype("int64")
    return frame


def _prompt_perplexity(
    config: ExperimentConfig, run_dir: Path, store: RunStore, pairs: list[Pair]
) -> dict[str, Any] | None:
    """The base model's perplexity of every prompt per guise (cached in the store), or None
    when the base is not a local model."""
    base = next(
        (s for s in model_sources(config, run_dir) if s.role == "base" and s.remote is None),
        None,
    )
    if base is None:
        return None
    texts = [(p.item, p.lang, g, p.text(g)) for p in pairs for g in GUISES]
    name = "prompt_perplexity:" + content_key(base.fingerprint, texts)[:24]
    cached = store.get_artifact(name)
    if cached is None:
        nll = prompt_nll(base.load(), [t for *_, t in texts])
        cached = perplexity_table(
            [(item, lang, g, v) for (item, lang, g, _), v in zip(texts, nll, strict=True)]
        )
        cached["model"] = base.label
        store.put_artifact(name, cached)
    return cached


def analyze_store(
    config: ExperimentConfig,
    run_dir: Path,
    store: RunStore,
    pairs: list[Pair],
    judge: JudgeSource,
) -> dict[str, Any]:
    """Analyze what the run's store holds under the config's settings; write
    ``samples.parquet`` and ``results.json`` and return the results.

    The decision is confirmatory only when the settings equal the plan frozen before the run's
    first answer and its file is intact.
    """
    frame = samples_frame(config, run_dir, store, pairs, judge)
    _write_samples(run_dir, frame)
    sources = model_sources(config, run_dir)
    validation = {
        **judge_validation(
            config, judge, store, {s.name: s.role for s in sources if s.remote is None}
        ),
        "n_unscored_run": int(
            (frame["alignment"].isna() & ~frame["alignment_verdict"].isin(UNRATED_VERDICTS)).sum()
        ),
    }
    frozen, note = frozen_plan(run_dir, store)
    results = analyze(
        frame, AnalysisPlan.from_config(config), judge_validation=validation, frozen=frozen
    )
    results["decision"]["plan_provenance"] = (
        f"frozen in the run's store before its first answer ({PLAN_FILE})"
        if frozen is not None
        else None
    )
    if note is not None:
        _mark_exploratory(results, note)
    perplexity = _prompt_perplexity(config, run_dir, store, pairs)
    if perplexity is not None:
        results["confounds"]["prompt_perplexity"] = perplexity
    results["judge_validation"] = validation
    usage = store.get_artifact(f"judge_usage:{judge.fingerprint[:16]}")
    if usage is not None:
        j = config.judge
        usage["usd"] = (
            usage.get("prompt_tokens", 0) * j.usd_per_million_input_tokens
            + usage.get("completion_tokens", 0) * j.usd_per_million_output_tokens
        ) / 1e6
        results["judge_usage"] = usage
    results["finetune"] = {
        source.name: {
            k: info.get(k)
            for k in ("steps", "first_loss", "final_loss", "n_examples", "mode", "replicate")
        }
        for source in sources
        if source.role in ("organism", "control")
        and (info := store.get_artifact(f"adapter:{source.name}"))
    }
    from guiselab.triggers import trigger_results

    triggers = trigger_results(config, run_dir, store, pairs, judge, frame)
    if triggers is not None:
        results["trigger_controls"] = triggers
    probe = run_dir / PROBE_FILE
    if probe.exists():
        results["probe"] = json.loads(probe.read_text(encoding="utf-8"))
    sanity = run_dir / SANITY_FILE
    if sanity.exists():
        results["finetune_sanity"] = json.loads(sanity.read_text(encoding="utf-8"))
    replication = _replication(config, run_dir, results)
    if replication is not None:
        results["replication"] = replication
    write_results(run_dir, results)
    return results


def _replication(
    config: ExperimentConfig, run_dir: Path, results: dict[str, Any]
) -> dict[str, Any] | None:
    """Both directions side by side, once the mirrored direction (``replication.mirror``)
    has its own results in ``RUN/mirror``."""
    mirror_file = run_dir / MIRROR_DIR / RESULTS_FILE
    if not config.replication.mirror or not mirror_file.exists():
        return None
    mirrored = json.loads(mirror_file.read_text(encoding="utf-8"))
    a = config.analysis
    return replication_summary(
        [
            direction_summary(results, a.source_lang, a.target_lang, "."),
            direction_summary(mirrored, a.target_lang, a.source_lang, MIRROR_DIR),
        ]
    )


def _write_samples(folder: Path, frame: pd.DataFrame) -> None:
    tmp = folder / f"{SAMPLES_FILE}.tmp"
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, folder / SAMPLES_FILE)


def write_results(folder: Path, results: dict[str, Any]) -> None:
    """``results.json`` in ``folder``, written atomically (NaN refused: it is not JSON)."""
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=2, ensure_ascii=False, allow_nan=False)
    write_atomic(folder / RESULTS_FILE, text)


def _mark_exploratory(results: dict[str, Any], note: str) -> None:
    decision = results["decision"]
    decision["confirmatory"] = False
    earlier = decision.get("exploratory_reason")
    decision["exploratory_reason"] = f"{earlier}; {note}" if earlier else note


def analyze_samples_file(
    samples: Path,
    out: Path,
    config: ExperimentConfig | None,
    plan_path: Path | None = None,
) -> dict[str, Any]:
    """The analysis of samples judged elsewhere (CSV or Parquet), written to ``out``.

    ``plan_path`` is a frozen analysis plan (``guiselab plan --analysis-plan``): alone, the
    analysis applies it and is confirmatory; with a ``config`` whose settings differ, the
    config's settings are applied and the decision is exploratory.
    """
    frozen = read_plan(plan_path) if plan_path is not None else None
    frame = read_samples(samples)
    if config is not None:
        plan = AnalysisPlan.from_config(config)
    else:
        plan = frozen if frozen is not None else AnalysisPlan.from_config(ExperimentConfig())
    results = analyze(frame, plan, frozen=frozen)
    if plan_path is not None:
        digest = hashlib.sha256(plan_path.read_bytes()).hexdigest()
        results["decision"]["plan_provenance"] = (
            f"supplied with --plan {plan_path.name} (sha256 {digest[:12]}); when it was frozen "
            "is not verified by guiselab"
        )
    write_results(out, results)
    _write_samples(out, frame)
    return results
