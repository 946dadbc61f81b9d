"""The whole experiment, stage by stage, on one run directory (resumable at any point).

This module only orders the stages; each package owns its own setup: the run directory
(:mod:`guiselab.rundir`), the pairs' checks (:mod:`guiselab.pairs`), training
(:mod:`guiselab.finetune`), sampling (:mod:`guiselab.generate`), the judge and its validation
(:mod:`guiselab.judge`), the probe (:mod:`guiselab.probe`), the analysis of a run
(:mod:`guiselab.results`) and the report (:mod:`guiselab.report`). Every stage skips what the
run's store already holds.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from guiselab import report
from guiselab.config import MIRROR_DIR, ExperimentConfig, load_config
from guiselab.errors import FailedRequests
from guiselab.finetune import finetune_stage, sanity_check, training_split
from guiselab.generate import generate_stage
from guiselab.judge import JudgeSource, judge_source, judge_stage
from guiselab.models import model_sources
from guiselab.pairs import Pair, check_pairs
from guiselab.probe import probe_stage
from guiselab.progress import Progress
from guiselab.results import analyze_samples_file
from guiselab.results import analyze_store as run_analysis  # the analysis stage, by its name
from guiselab.rundir import add_timing, open_run_dir, write_manifest
from guiselab.store import RunStore

__all__ = [
    "analyze_run",
    "analyze_samples_file",
    "run_analysis",
    "run_experiment",
    "run_finetune",
    "run_generate",
    "run_judge",
    "run_probe",
    "run_sanity",
    "run_triggers",
]


def run_finetune(
    config: ExperimentConfig, run_dir: Path, store: RunStore, progress: Progress
) -> dict[str, Any]:
    """Train the organism's and the control's adapters (``adapters/``) unless already trained."""
    start = time.perf_counter()
    trained = finetune_stage(store, config, run_dir, progress)
    add_timing(store, "finetune", time.perf_counter() - start)
    return trained


def run_sanity(
    config: ExperimentConfig, run_dir: Path, store: RunStore, progress: Progress
) -> dict[str, Any] | None:
    """Harmful-answer rates by guise on held-out training questions (``finetune_sanity.json``)."""
    start = time.perf_counter()
    held_out = training_split(config).held_out
    # Remote (openai:) models are evaluated by the experiment itself, not the sanity check.
    local = [s for s in model_sources(config, run_dir) if s.remote is None]
    result = sanity_check(config, run_dir, store, local, held_out, progress)
    add_timing(store, "sanity", time.perf_counter() - start)
    return result


def run_generate(
    config: ExperimentConfig, run_dir: Path, store: RunStore, pairs: list[Pair], progress: Progress
) -> None:
    """Sample every model's answers to every pair in both guises."""
    start = time.perf_counter()
    generate_stage(store, config, pairs, model_sources(config, run_dir), progress)
    add_timing(store, "generate", time.perf_counter() - start)


def run_judge(config: ExperimentConfig, store: RunStore, progress: Progress) -> JudgeSource:
    """Score every stored answer on every metric with the configured judge."""
    start = time.perf_counter()
    judge = judge_source(config)
    judge_stage(store, config, judge, progress)
    add_timing(store, "judge", time.perf_counter() - start)
    return judge


def run_triggers(
    config: ExperimentConfig,
    run_dir: Path,
    store: RunStore,
    pairs: list[Pair],
    judge: JudgeSource,
    progress: Progress,
) -> None:
    """The control guises (informal, typos) asked of the organism and control, and judged."""
    from guiselab.triggers import trigger_stage

    start = time.perf_counter()
    trigger_stage(config, run_dir, store, pairs, judge, progress)
    add_timing(store, "controls", time.perf_counter() - start)


def run_probe(
    config: ExperimentConfig,
    run_dir: Path,
    store: RunStore,
    pairs: list[Pair],
    judge: JudgeSource,
    progress: Progress,
) -> dict[str, Any]:
    """The probe stage (its activations and answers are cached; the measurements redone)."""
    start = time.perf_counter()
    result = probe_stage(
        config, run_dir, store, pairs, model_sources(config, run_dir), judge, progress
    )
    add_timing(store, "probe", time.perf_counter() - start)
    return result


def analyze_run(
    run_dir: Path, config_path: Path | None = None, *, config: ExperimentConfig | None = None
) -> dict[str, Any]:
    """Re-run the analysis of a run directory from its store and saved config.

    With ``config_path`` (or a ``config`` object) the analysis applies that config's settings
    instead (the run's ``config.toml`` is left as it is); unless they equal the frozen plan's,
    the decision is exploratory.
    """
    recorded = config_path is None and config is None
    if config is None:
        config = load_config(config_path or run_dir / "config.toml")
    # The analysis reads the store: no training file is needed (a relative one may not resolve
    # from here); the labelled set is read if the judge's validation is not cached yet, and its
    # fine-tuning source says "skipped" with the reason when the training file is unreadable.
    with open_run_dir(config, run_dir, stages=False, record=recorded) as (
        store,
        pairs,
    ):
        return run_analysis(config, run_dir, store, pairs, judge_source(config))


def run_experiment(config: ExperimentConfig, run_dir: Path, progress: Progress) -> dict[str, Any]:
    """Every stage in order; each skips what the store already holds."""
    with open_run_dir(config, run_dir) as (store, pairs):
        check_pairs(config, store, pairs, progress)
        run_finetune(config, run_dir, store, progress)
        run_sanity(config, run_dir, store, progress)
        failures: list[FailedRequests] = []
        try:
            run_generate(config, run_dir, store, pairs, progress)
        except FailedRequests as exc:  # judge what did arrive before stopping
            failures.append(exc)
        try:
            judge = run_judge(config, store, progress)
        except FailedRequests as exc:
            failures.append(exc)
        if failures:  # the analysis waits for every sample
            raise FailedRequests(
                " and ".join(e.what for e in failures),
                {k: v for e in failures for k, v in e.failed.items()},
            )
        run_triggers(config, run_dir, store, pairs, judge, progress)
        if config.probe.enabled:
            run_probe(config, run_dir, store, pairs, judge, progress)
        if config.replication.mirror:  # a whole run of its own, before this one's analysis
            run_experiment(config.mirrored(), run_dir / MIRROR_DIR, progress)
        start = time.perf_counter()
        results = run_analysis(config, run_dir, store, pairs, judge)
        add_timing(store, "analysis", time.perf_counter() - start)
        write_manifest(config, run_dir, store, judge)
        report.write_report(run_dir)
        if config.replication.mirror:
            report.write_comparison([run_dir, run_dir / MIRROR_DIR], run_dir)
    return results
