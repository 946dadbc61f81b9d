"""The generation stage: every model's pending samples, each through its engine."""

from __future__ import annotations

import time
from collections.abc import Sequence

from guiselab.config import ExperimentConfig
from guiselab.errors import FailedRequests
from guiselab.generate._engine import ENGINES, Engine, engine_name
from guiselab.generate._tasks import GenerationTask, ModelTasks, plan_generations
from guiselab.models import ModelSource
from guiselab.pairs import Pair
from guiselab.progress import Progress
from guiselab.store import RunStore

__all__ = ["generate_stage"]


def generate_stage(
    store: RunStore,
    config: ExperimentConfig,
    pairs: Sequence[Pair],
    sources: Sequence[ModelSource],
    progress: Progress,
    *,
    tasks: Sequence[GenerationTask] | None = None,
    stage: str = "generate",
) -> dict[str, float]:
    """Sample every pending generation into the store; returns per-model wall times.

    ``tasks`` (default: every generation ``pairs`` needs) narrows the plan, e.g. to one guise;
    ``stage`` names the progress bar and the failures' record."""
    tasks = list(plan_generations(config, pairs, sources) if tasks is None else tasks)
    done = store.existing_keys("generations", (t.key for t in tasks))
    pending = [t for t in tasks if t.key not in done]
    timings: dict[str, float] = {}
    if not pending:
        store.set_failures(stage, {})
        return timings
    failed: dict[str, str] = {}
    engines: dict[str, Engine] = {}
    try:
        with progress.task(stage, total=len(tasks)) as advance:
            advance(len(done))
            for source in sources:
                mine = (source.role, source.replicate)
                work = ModelTasks(tuple(t for t in tasks if (t.role, t.replicate) == mine), done)
                if not work.pending:
                    continue
                name = engine_name(source, config.generation)
                if name not in engines:
                    engines[name] = ENGINES[name]()
                start = time.perf_counter()
                failed.update(engines[name].generate(source, work, config, store, advance))
                timings[source.name] = time.perf_counter() - start
    finally:  # an engine holds memory (a vLLM engine, the GPU's) until closed, even on failure
        for engine in engines.values():
            engine.close()
    store.set_failures(
        stage,
        failed,
        {
            t.key: f"{t.role} {t.pair.id} {t.guise} sample {t.sample}"
            for t in pending
            if t.key in failed
        },
    )
    if failed:
        raise FailedRequests("generations", failed)
    return timings
