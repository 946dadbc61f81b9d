"""Generation through any OpenAI-compatible chat-completions server (``openai:<model>``).

An async client with bounded concurrency. A request that meets a 429, a 5xx, a timeout, a
dropped connection or a malformed body is retried with exponential backoff (honouring
``Retry-After``) up to ``max_retries`` times; after that it is reported as failed, never
silently dropped. Each completion is handed to the caller as soon as it arrives, so the run
store keeps it even if the run is killed a moment later. The API key is read from the
environment variable the config names, at call time, and is never stored or logged.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from guiselab.config import ApiConfig
from guiselab.errors import ConfigError, RemoteError

__all__ = ["ChatRequest", "ChatResult", "LogprobsRefused", "OpenAIBackend"]

_RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class ChatRequest:
    """One completion to ask for: its store key, messages and sampling settings."""

    key: str
    messages: list[dict[str, str]]
    max_tokens: int
    temperature: float
    top_p: float
    seed: int
    extra: dict[str, Any] = field(default_factory=dict)
    """More body fields (``logprobs``, ``top_logprobs`` for a judge)."""


@dataclass(frozen=True)
class ChatResult:
    key: str
    text: str
    n_tokens: int
    finish_reason: str
    top_logprobs: list[tuple[str, float]] | None = None
    """(token, log-probability) alternatives of the first generated token, when asked for and
    given."""
    prompt_tokens: int = 0


class LogprobsRefused(RemoteError):
    """The server will not return log-probabilities for this model (HTTP 400 saying so)."""


class _Retryable(Exception):
    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.wait = wait


class OpenAIBackend:
    """Chat completions from ``{api.base_url}/chat/completions`` for one model."""

    def __init__(self, model: str, api: ApiConfig) -> None:
        if not api.base_url:
            raise ConfigError(
                f"'openai:{model}' needs api.base_url (the server's /v1 address)",
                where="api.base_url",
            )
        self.model = model
        self.api = api

    def _headers(self) -> dict[str, str]:
        key = os.environ.get(self.api.api_key_env)
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": request.messages,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "seed": request.seed % 2**31,
            "n": 1,
            **request.extra,
        }

    async def _once(self, client: Any, request: ChatRequest) -> ChatResult:
        import httpx

        url = self.api.base_url.rstrip("/") + "/chat/completions"  # type: ignore[union-attr]
        try:
            response = await client.post(url, json=self._body(request), headers=self._headers())
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise _Retryable(type(exc).__name__) from None
        if response.status_code in _RETRY_STATUS:
            wait = response.headers.get("retry-after")
            try:
                seconds = float(wait) if wait is not None else None
            except ValueError:
                seconds = None
            raise _Retryable(f"HTTP {response.status_code}", seconds)
        logprobs_refused = "logprob" in response.text.lower()
        if response.status_code == 400 and request.extra.get("logprobs") and logprobs_refused:
            raise LogprobsRefused(f"'{self.model}' does not return logprobs")
        if response.status_code >= 400:
            # 400/401/403/404: the request or the config is wrong; retrying will not help.
            raise RemoteError(
                f"{url} answered HTTP {response.status_code} for model '{self.model}'; check "
                f"models.*, api.base_url and the key in ${self.api.api_key_env}"
            )
        try:
            data = response.json()
            choice = data["choices"][0]
            text = choice["message"]["content"]
            if not isinstance(text, str):
                raise TypeError
            top = _first_top_logprobs(choice) if request.extra.get("logprobs") else None
            usage = data.get("usage") or {}
            completion_tokens = int(usage.get("completion_tokens") or 0)
            prompt_tokens = int(usage.get("prompt_tokens") or 0)
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise _Retryable("malformed response body") from None
        return ChatResult(
            request.key,
            text.strip(),
            completion_tokens,
            "length" if choice.get("finish_reason") == "length" else "stop",
            top,
            prompt_tokens,
        )

    def run_sync(self, requests: Sequence[ChatRequest]) -> tuple[list[ChatResult], dict[str, str]]:
        """Every request's result (in order of arrival) and the failed ones' reasons."""
        results: list[ChatResult] = []
        failed = self.complete(requests, results.append)
        return results, failed

    async def _with_retries(
        self, client: Any, request: ChatRequest, gate: asyncio.Semaphore, rng: random.Random
    ) -> tuple[str, ChatResult | str]:
        reason = ""
        for attempt in range(self.api.max_retries + 1):
            async with gate:
                try:
                    return request.key, await self._once(client, request)
                except _Retryable as exc:
                    reason = str(exc)
                    wait = exc.wait
            if attempt == self.api.max_retries:
                break
            backoff = self.api.backoff_s * 2**attempt * (1 + rng.random())
            await asyncio.sleep(min(self.api.max_backoff_s, wait if wait is not None else backoff))
        return request.key, f"{reason} after {self.api.max_retries + 1} attempts"

    async def _run(
        self, requests: Sequence[ChatRequest], on_result: Callable[[ChatResult], None]
    ) -> dict[str, str]:
        import httpx

        gate = asyncio.Semaphore(self.api.max_concurrency)
        rng = random.Random(0)
        failed: dict[str, str] = {}
        timeout = httpx.Timeout(self.api.timeout_s)
        async with httpx.AsyncClient(timeout=timeout) as client:
            jobs = [self._with_retries(client, r, gate, rng) for r in requests]
            for done in asyncio.as_completed(jobs):
                key, result = await done
                if isinstance(result, ChatResult):
                    on_result(result)
                else:
                    failed[key] = result
        return failed

    def complete(
        self, requests: Sequence[ChatRequest], on_result: Callable[[ChatResult], None]
    ) -> dict[str, str]:
        """Ask for every request; ``on_result`` gets each completion as it arrives.

        Returns the requests that failed after the retry budget: store key → reason.
        """
        try:
            import httpx  # noqa: F401
        except ImportError:
            raise ConfigError(
                "openai: models need the api extra; pip install 'guiselab[api]'",
                where="models",
            ) from None
        return asyncio.run(self._run(requests, on_result))


def _first_top_logprobs(choice: dict[str, Any]) -> list[tuple[str, float]] | None:
    """The first token's alternatives, None when the server sent no logprobs at all; a
    logprobs object of the wrong shape, no alternatives, or a log-probability that is not one
    (NaN, above 0) is malformed (raises, and the request is retried)."""
    logprobs = choice.get("logprobs")
    if logprobs is None:
        return None
    content = logprobs["content"]
    if not content:
        return None
    top = [(str(t["token"]), float(t["logprob"])) for t in content[0]["top_logprobs"]]
    if not top or any(math.isnan(lp) or lp > 1e-6 for _, lp in top):
        raise ValueError("top_logprobs is empty or holds log-probabilities above 0")
    return [(token, min(lp, 0.0)) for token, lp in top]  # rounding may give a hair above 0
