"""Generation sharded over a Ray cluster: actors hold a model, the driver keeps the store.

The pending tasks of one model are cut into length-bucketed batches and handed out to
``generation.ray_actors`` actors, each of which loads the model once. The driver writes each
batch's answers to the run store as soon as that batch comes back, keyed exactly as in-process
generation keys them, so a killed run resumes from what reached the store and a batch that
came back twice is stored once. ``ray.init()`` starts a local Ray instance unless
``generation.ray_address`` names a cluster.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from guiselab.config import ExperimentConfig, GenerationConfig
from guiselab.errors import ConfigError
from guiselab.generate._sampler import sample_batch
from guiselab.generate._tasks import (
    GenerationTask,
    ModelTasks,
    encode_tasks,
    pending_batches,
    record,
)
from guiselab.models import ModelSource
from guiselab.store import RunStore

__all__ = ["RayEngine"]


class _Worker:
    """A Ray actor's state: one loaded model."""

    def __init__(self, source: ModelSource) -> None:
        self.lm = source.load()

    def encode(self, tasks: list[GenerationTask], cfg: GenerationConfig) -> dict[str, list[int]]:
        return encode_tasks(self.lm.tokenizer, tasks, cfg)

    def sample(
        self, prompts: list[list[int]], seeds: list[int], cfg: GenerationConfig
    ) -> list[tuple[str, int, str]]:
        done = sample_batch(self.lm, prompts, seeds, cfg)
        return [(c.text, len(c.token_ids), c.finish_reason) for c in done]


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "generation.executor = 'ray' needs Ray; pip install 'guiselab[ray]'",
            where="generation.executor",
        ) from None
    return ray


class RayEngine:
    """guiselab's HF sampler on Ray actors (``generation.executor = "ray"``)."""

    def generate(
        self,
        source: ModelSource,
        work: ModelTasks,
        config: ExperimentConfig,
        store: RunStore,
        advance: Callable[[int], None],
    ) -> dict[str, str]:
        """Sample the pending ones of ``work`` on Ray actors, in the batches a local run cuts
        from all of the model's tasks; every batch is stored as soon as it returns."""
        cfg = config.generation
        ray = _ray()
        if not ray.is_initialized():
            ray.init(address=cfg.ray_address, include_dashboard=False, log_to_driver=False)
        actor = ray.remote(num_cpus=cfg.ray_cpus_per_actor)(_Worker)
        workers = [actor.remote(source) for _ in range(cfg.ray_actors)]
        try:
            encoded: dict[str, list[int]] = ray.get(workers[0].encode.remote(list(work.tasks), cfg))
            pending: dict[Any, list[GenerationTask]] = {}
            for index, batch in enumerate(
                pending_batches(work.tasks, encoded, cfg.batch_size, work.done)
            ):
                worker = workers[index % len(workers)]
                ref = worker.sample.remote(
                    [encoded[t.key] for t in batch], [t.seed for t in batch], cfg
                )
                pending[ref] = batch
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                batch = pending.pop(ready[0])
                answers = ray.get(ready[0])
                store.add_generations(
                    record(t, source.label, text, n_tokens, finish)
                    for t, (text, n_tokens, finish) in zip(batch, answers, strict=True)
                )
                advance(sum(t.key not in work.done for t in batch))
        finally:
            for worker in workers:
                ray.kill(worker)
        return {}

    def close(self) -> None:
        """The actors of each model are killed when its ``generate`` returns; the Ray instance
        stays up for the rest of the process."""
