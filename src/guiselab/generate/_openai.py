"""Models served by an OpenAI-compatible server (``openai:<model>`` references)."""

from __future__ import annotations

from collections.abc import Callable

from guiselab.config import ExperimentConfig
from guiselab.generate._tasks import GenerationTask, ModelTasks, record
from guiselab.models import ChatRequest, ChatResult, ModelSource
from guiselab.store import RunStore

__all__ = ["OpenAIEngine"]


class OpenAIEngine:
    """Sends every pending task of a remote model to its server as one chat request."""

    def generate(
        self,
        source: ModelSource,
        work: ModelTasks,
        config: ExperimentConfig,
        store: RunStore,
        advance: Callable[[int], None],
    ) -> dict[str, str]:
        """Ask the server for every pending task; each answer is stored the moment it arrives.
        Returns the requests that failed after their retries, by task key."""
        assert source.remote is not None
        cfg = config.generation
        tasks = work.pending
        by_key = {t.key: t for t in tasks}

        def messages(t: GenerationTask) -> list[dict[str, str]]:
            system = t.pair.system_prompt(cfg.system_prompt)  # the pair's own, else the config's
            head = [{"role": "system", "content": system}] if system else []
            return [*head, {"role": "user", "content": t.pair.text(t.guise)}]

        requests = [
            ChatRequest(
                t.key,
                messages(t),
                cfg.max_new_tokens,
                cfg.temperature,
                cfg.top_p,
                t.seed,
            )
            for t in tasks
        ]

        def keep(result: ChatResult) -> None:
            task = by_key[result.key]
            store.add_generations(
                [record(task, source.label, result.text, result.n_tokens, result.finish_reason)]
            )
            advance(1)

        return source.remote.complete(requests, keep)

    def close(self) -> None:
        """The server's connections are the model source's; there is nothing to release."""
