"""What is sampled: one task per (model, pair, guise, sample), its seed, its prompt tokens, the
batches it is decoded in, and the store row its answer becomes."""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from guiselab.config import ExperimentConfig, GenerationConfig
from guiselab.models import ModelSource, prompt_ids, render_prompt
from guiselab.pairs import GUISES, Guise, Pair
from guiselab.store import Generation, content_key

__all__ = [
    "GenerationTask",
    "ModelTasks",
    "batches",
    "encode_tasks",
    "pending_batches",
    "plan_generations",
    "record",
    "sample_seed",
]


@dataclass(frozen=True)
class GenerationTask:
    key: str
    role: str
    pair: Pair
    guise: Guise
    sample: int
    seed: int
    replicate: int = 0
    """The source's training replicate (see ``ModelSource.replicate``)."""


@dataclass(frozen=True)
class ModelTasks:
    """One model's share of the plan: every task of that model, in plan order, and the keys of
    those already in the store."""

    tasks: tuple[GenerationTask, ...]
    done: AbstractSet[str]

    @property
    def pending(self) -> list[GenerationTask]:
        """The tasks not yet stored, in plan order."""
        return [t for t in self.tasks if t.key not in self.done]


def sample_seed(run_seed: int, pair_id: str, guise: str, sample: int) -> int:
    """The seed of one sample: stable across runs, batches and resumes."""
    return int(content_key("seed", run_seed, pair_id, guise, sample)[:15], 16)


def _sampling_params(config: ExperimentConfig) -> dict[str, Any]:
    cfg = config.generation
    return {
        "dtype": config.models.dtype,
        "max_new_tokens": cfg.max_new_tokens,
        "temperature": cfg.temperature,
        "top_p": cfg.top_p,
        "system_prompt": cfg.system_prompt,
    }


def plan_generations(
    config: ExperimentConfig, pairs: Sequence[Pair], sources: Sequence[ModelSource]
) -> list[GenerationTask]:
    """Every generation the experiment needs, keyed by what determines it."""
    params = _sampling_params(config)
    cfg = config.generation
    tasks = []
    for source in sources:
        for pair in pairs:
            # A pair's own system prompt and answer count (an EM question file's ``system``
            # and ``samples_per_paraphrase``) replace the config's; the key holds the prompt
            # asked, so a pair without them keeps its keys.
            system = pair.system_prompt(cfg.system_prompt)
            asked = params if system == cfg.system_prompt else {**params, "system_prompt": system}
            per_prompt = cfg.samples_of(pair)
            # A role's replicates (training seeds) take consecutive sample indices: replicate r
            # answers samples r * per_prompt ... (r + 1) * per_prompt - 1.
            first = source.replicate * per_prompt
            for guise in GUISES:
                for index in range(first, first + per_prompt):
                    seed = sample_seed(config.seed, pair.id, guise, index)
                    key = content_key(
                        "generation",
                        source.role,
                        source.fingerprint,
                        pair.text(guise),
                        asked,
                        index,
                        seed,
                    )
                    tasks.append(
                        GenerationTask(key, source.role, pair, guise, index, seed, source.replicate)
                    )
    return tasks


def encode_tasks(
    tokenizer: Any, tasks: Sequence[GenerationTask], cfg: GenerationConfig
) -> dict[str, list[int]]:
    """Each task's prompt token ids (chat template or plain template), by store key."""
    return {
        t.key: prompt_ids(
            tokenizer,
            render_prompt(tokenizer, t.pair.text(t.guise), t.pair.system_prompt(cfg.system_prompt)),
        )
        for t in tasks
    }


def batches(
    tasks: Sequence[GenerationTask], encoded: dict[str, list[int]], size: int
) -> list[list[GenerationTask]]:
    """Length-bucketed batches: similar lengths waste little compute on padding."""
    ordered = sorted(tasks, key=lambda t: (len(encoded[t.key]), t.key))
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]


def pending_batches(
    tasks: Sequence[GenerationTask],
    encoded: dict[str, list[int]],
    size: int,
    done: AbstractSet[str],
) -> list[list[GenerationTask]]:
    """The batches of *all* of a model's ``tasks`` that still hold a pending one.

    The batches are cut from the whole plan, not from what is left, so a resumed run samples
    every answer in the batch an uninterrupted run put it in: a sample's text depends on its
    batch through matmul rounding, and this keeps a killed-and-resumed run's texts identical.
    A batch is stored in one transaction, so after a kill each is whole or absent.
    """
    return [b for b in batches(tasks, encoded, size) if any(t.key not in done for t in b)]


def record(task: GenerationTask, label: str, text: str, n_tokens: int, finish: str) -> Generation:
    """The store row of one sampled answer."""
    return Generation(
        key=task.key,
        model=task.role,
        model_ref=label,
        pair_id=task.pair.id,
        item=task.pair.item,
        lang=task.pair.lang,
        variety=task.pair.variety,
        category=task.pair.category,
        guise=task.guise,
        sample=task.sample,
        seed=task.seed,
        prompt=task.pair.text(task.guise),
        response=text,
        n_tokens=n_tokens,
        finish_reason=finish,
    )
