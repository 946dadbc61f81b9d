"""The OpenAI-compatible backend against a local scripted server: faults, retries, the store."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from _server import JsonHandler, local_server
from guiselab.config import ApiConfig, ExperimentConfig
from guiselab.errors import RemoteError
from guiselab.generate import generate_stage, plan_generations
from guiselab.models import model_sources
from guiselab.models._openai import ChatRequest, ChatResult, OpenAIBackend
from guiselab.pairs import select_pairs
from guiselab.progress import NullProgress
from guiselab.store import RunStore


class Script:
    """What the server does: faults to inject per prompt, and a log of what it saw."""

    def __init__(self) -> None:
        self.faults: dict[str, list[str]] = {}
        self.always: dict[str, str] = {}
        self.served: Counter[str] = Counter()
        self.attempts: Counter[str] = Counter()
        self.auth: set[str] = set()
        self.lock = threading.Lock()

    def next_fault(self, prompt: str) -> str | None:
        with self.lock:
            self.attempts[prompt] += 1
            if prompt in self.always:
                return self.always[prompt]
            queue = self.faults.get(prompt) or []
            return queue.pop(0) if queue else None


def _handler(script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            request = json.loads(self.rfile.read(length))
            script.auth.add(self.headers.get("Authorization", ""))
            prompt = request["messages"][-1]["content"]
            fault = script.next_fault(prompt)
            if fault == "429":
                self._send(429, b'{"error": "slow down"}', {"Retry-After": "0"})
            elif fault == "500":
                self._send(500, b'{"error": "oops"}')
            elif fault == "401":
                self._send(401, b'{"error": "bad key"}')
            elif fault == "timeout":
                time.sleep(TIMEOUT_S * 1.5)
                self._send(200, b"{}")
            elif fault == "malformed":
                self._send(200, b'{"choices": [')
            else:
                with script.lock:
                    script.served[prompt] += 1
                body = {
                    "choices": [
                        {
                            "message": {"role": "assistant", "content": f"answer to: {prompt}"},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"completion_tokens": 3},
                }
                self._send(200, json.dumps(body).encode())

    return Handler


@pytest.fixture()
def server() -> Iterator[tuple[Script, str]]:
    script = Script()
    with local_server(_handler(script)) as url:
        yield script, url


# Long enough that only the "timeout" fault outlasts it on a busy machine: at 0.3 s a loaded CI
# box let a connection attempt time out before the server saw it, which spent a retry without
# spending a scripted fault, and the last attempt met the last fault.
TIMEOUT_S = 1.0


def _api(url: str, **extra: Any) -> ApiConfig:
    return ApiConfig(
        base_url=url,
        timeout_s=TIMEOUT_S,
        backoff_s=0.01,
        max_backoff_s=0.05,
        max_retries=3,
        **extra,
    )


def _requests(n: int) -> list[ChatRequest]:
    return [
        ChatRequest(f"k{i}", [{"role": "user", "content": f"q{i}"}], 8, 1.0, 1.0, i)
        for i in range(n)
    ]


def test_every_fault_within_the_budget_is_retried(server: tuple[Script, str]) -> None:
    script, url = server
    kinds = ["429", "500", "timeout", "malformed"]
    for i in range(12):
        script.faults[f"q{i}"] = [kinds[i % 4]] * (1 + i % 3)  # 1-3 faults, budget is 3 retries
    got: list[ChatResult] = []
    failed = OpenAIBackend("m", _api(url, max_concurrency=4)).complete(_requests(12), got.append)
    assert failed == {}
    assert sorted(r.key for r in got) == sorted(f"k{i}" for i in range(12))
    assert all(r.text == f"answer to: q{r.key[1:]}" and r.n_tokens == 3 for r in got)
    assert all(script.served[f"q{i}"] == 1 for i in range(12))


def test_a_request_past_its_budget_is_reported_not_lost(server: tuple[Script, str]) -> None:
    script, url = server
    script.always["q1"] = "500"
    got: list[ChatResult] = []
    failed = OpenAIBackend("m", _api(url)).complete(_requests(3), got.append)
    assert failed == {"k1": "HTTP 500 after 4 attempts"}
    assert sorted(r.key for r in got) == ["k0", "k2"]
    assert script.attempts["q1"] == 4


def test_a_rejected_key_stops_at_once_and_the_key_is_sent(
    server: tuple[Script, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    script, url = server
    monkeypatch.setenv("GUISELAB_TEST_KEY", "sk-test-secret")
    script.always["q0"] = "401"
    with pytest.raises(RemoteError, match="HTTP 401"):
        OpenAIBackend("m", _api(url, api_key_env="GUISELAB_TEST_KEY")).complete(
            _requests(1), lambda r: None
        )
    assert script.attempts["q0"] == 1
    assert "Bearer sk-test-secret" in script.auth


def test_generate_stage_stores_each_completion_once_and_resumes(
    server: tuple[Script, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script, url = server
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-stored")
    config = ExperimentConfig.model_validate(
        {
            "pairs": {"max_items": 2},
            "models": {"organism": "openai:remote-organism", "roles": ["organism"]},
            "generation": {"samples_per_prompt": 2},
            "api": _api(url).model_dump(),
        }
    )
    pairs = select_pairs(config.pairs)
    sources = model_sources(config, tmp_path)
    planned = {t.key for t in plan_generations(config, pairs, sources)}
    assert len(planned) == 16  # 2 items x 2 languages x 2 guises x 2 samples
    broken = pairs[0].text("vernacular")
    script.always[broken] = "500"
    with RunStore.in_dir(tmp_path) as store:
        with pytest.raises(RemoteError, match="2 generations failed"):
            generate_stage(store, config, pairs, sources, NullProgress())
        assert store.count("generations") == 14
        script.always.clear()
        before = sum(script.served.values())
        generate_stage(store, config, pairs, sources, NullProgress())
        rows = store.generations()
    assert {g.key for g in rows} == planned and len(rows) == 16
    assert sum(script.served.values()) - before == 2  # only the two failed ones were asked again
    assert all(g.response.startswith("answer to: ") for g in rows)
    for path in tmp_path.iterdir():  # the store, its WAL, anything else written
        assert path.is_dir() or b"sk-never-stored" not in path.read_bytes(), path
