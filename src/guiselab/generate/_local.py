"""The in-process HF engine (``generation.engine = "hf"``, ``executor = "local"``)."""

from __future__ import annotations

from collections.abc import Callable

from guiselab.config import ExperimentConfig
from guiselab.generate._sampler import sample_batch
from guiselab.generate._tasks import ModelTasks, encode_tasks, pending_batches, record
from guiselab.models import ModelSource
from guiselab.store import RunStore

__all__ = ["HfEngine"]


class HfEngine:
    """Loads each model in this process and samples its pending batches with ``sample_batch``."""

    def generate(
        self,
        source: ModelSource,
        work: ModelTasks,
        config: ExperimentConfig,
        store: RunStore,
        advance: Callable[[int], None],
    ) -> dict[str, str]:
        """Sample the pending ones of ``work`` batch by batch, in the batches cut from all of
        the model's tasks; each batch is stored as one transaction."""
        cfg = config.generation
        lm = source.load()
        encoded = encode_tasks(lm.tokenizer, work.tasks, cfg)
        for batch in pending_batches(work.tasks, encoded, cfg.batch_size, work.done):
            completions = sample_batch(
                lm, [encoded[t.key] for t in batch], [t.seed for t in batch], cfg
            )
            store.add_generations(  # rows already stored are ignored: same key, same text
                record(t, source.label, c.text, len(c.token_ids), c.finish_reason)
                for t, c in zip(batch, completions, strict=True)
            )
            advance(sum(t.key not in work.done for t in batch))
        return {}

    def close(self) -> None:
        """Nothing outlives a model: each is dropped when its ``generate`` returns."""
