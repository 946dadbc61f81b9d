"""The engines that sample answers, one interface, and which engine samples which model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from guiselab.config import ExperimentConfig, GenerationConfig
from guiselab.generate._local import HfEngine
from guiselab.generate._openai import OpenAIEngine
from guiselab.generate._ray import RayEngine
from guiselab.generate._tasks import ModelTasks
from guiselab.generate._vllm import SharedVllmEngine
from guiselab.models import ModelSource
from guiselab.store import RunStore

__all__ = ["ENGINES", "Engine", "engine_name"]


class Engine(Protocol):
    """Samples models' answers into the run store, one model per ``generate`` call.

    The generation stage makes at most one engine of each kind per run, hands it the models it
    serves one after another, and closes it after the last one.
    """

    def generate(
        self,
        source: ModelSource,
        work: ModelTasks,
        config: ExperimentConfig,
        store: RunStore,
        advance: Callable[[int], None],
    ) -> dict[str, str]:
        """Store an answer for every pending task of ``work`` (``source``'s tasks), calling
        ``advance`` with the number of answers newly stored as they reach the store.

        Returns the requests that failed for good, by task key; engines that fail by raising
        return an empty dict.
        """
        ...

    def close(self) -> None:
        """Release what the engine holds across models (a vLLM engine's GPU memory)."""
        ...


ENGINES: dict[str, Callable[[], Engine]] = {
    "hf": HfEngine,
    "openai": OpenAIEngine,
    "ray": RayEngine,
    "vllm": SharedVllmEngine,
}
"""Each engine's constructor, by the name ``engine_name`` gives."""


def engine_name(source: ModelSource, cfg: GenerationConfig) -> str:
    """The engine that samples ``source``: its server when it is served remotely, else vLLM
    when ``generation.engine`` asks for it, else the HF sampler on Ray actors
    (``generation.executor = "ray"``) or in this process."""
    if source.remote is not None:
        return "openai"
    if cfg.engine == "vllm":
        return "vllm"
    return "ray" if cfg.executor == "ray" else "hf"
