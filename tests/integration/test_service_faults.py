"""A whole run against an OpenAI-compatible server on 127.0.0.1 that misbehaves on purpose.

1,000 generations and their judgments meet 429 with ``Retry-After``, 500, connection resets,
answers slower than the client's timeout, truncated JSON bodies, bodies cut short of their
``Content-Length`` and ``top_logprobs`` of the wrong shape. A few requests fail past the retry
budget in the first run; ``guiselab status`` lists them and the second run asks for them (and
only them) again. The server measures what the client does: requests in flight at once,
deliveries per request, the pause after each 429.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import random
import socket
import sqlite3
import struct
import subprocess
import threading
import time
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from _server import JsonHandler, local_server
from _tinyrun import guiselab

pytestmark = pytest.mark.integration

TIMEOUT_S = 1.0  # long enough that only the "slow" fault outlasts it on a busy machine
RETRY_AFTER_S = 0.25
MAX_CONCURRENCY = 6
MAX_RETRIES = 3
SENTINEL = "sk-guiselab-sentinel-7f3a9c"
FAULTS = ("429", "500", "reset", "slow", "truncated", "cut", "shape")
CONFIG = f"""
name = "faults"
[pairs]
max_items = 50
# The request accounting below is of the run's own answers and their judgments; the
# control-guise and attribution prompts would be new generate requests in the resumed run.
controls = []
feature_attribution = false
check_meaning = false
[models]
organism = "openai:remote-organism"
roles = ["organism"]
[generation]
samples_per_prompt = 5
max_new_tokens = 16
[api]
base_url = "{{url}}"
api_key_env = "GUISELAB_SENTINEL_KEY"
max_concurrency = {MAX_CONCURRENCY}
max_retries = {MAX_RETRIES}
timeout_s = {TIMEOUT_S}
backoff_s = 0.01
max_backoff_s = 1.0
[judge]
model = "openai:judge-model"
base_url = "{{url}}"
api_key_env = "GUISELAB_SENTINEL_KEY"
batch_size = 400
[probe]
enabled = false
[analysis]
n_bootstrap = 100
n_permutations = 100
"""


class FaultyServer:
    """The faults each request meets (fixed by its identity) and what the server saw."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.healed = False
        self.attempts: Counter[str] = Counter()
        self.delivered: Counter[str] = Counter()
        self.kind: dict[str, str] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self.after_429: list[float] = []
        self.last_429: dict[str, float] = {}
        self.auth: set[str] = set()
        self.bodies_with_key = 0

    def plan(self, identity: str) -> tuple[list[str], bool]:
        """(faults before the first success, doomed until healed)."""
        digest = int(hashlib.sha256(identity.encode()).hexdigest(), 16)
        rng = random.Random(digest)
        doomed = digest % 97 == 0
        n = rng.choices([0, 1, 2, 3], weights=[55, 25, 12, 8])[0]
        return [rng.choice(FAULTS) for _ in range(n)], doomed

    def enter(self) -> None:
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self) -> None:
        with self.lock:
            self.in_flight -= 1


def _identity(request: dict[str, Any]) -> tuple[str, str]:
    text = request["messages"][-1]["content"]
    kind = "judge" if request.get("logprobs") else "generate"
    return hashlib.sha256(f"{kind}|{request['seed']}|{text}".encode()).hexdigest(), kind


def _success(request: dict[str, Any], identity: str) -> dict[str, Any]:
    if request.get("logprobs"):
        score = int(identity[:8], 16) % 101
        top = [(str(score), 0.7), (str((score + 7) % 101), 0.2), ("The", 0.1)]
        choice: dict[str, Any] = {
            "message": {"content": top[0][0]},
            "logprobs": {
                "content": [
                    {
                        "token": top[0][0],
                        "logprob": math.log(0.7),
                        "top_logprobs": [{"token": t, "logprob": math.log(p)} for t, p in top],
                    }
                ]
            },
            "finish_reason": "stop",
        }
    else:
        choice = {
            "message": {"content": f"answer {request['seed']} ({identity[:12]})"},
            "finish_reason": "stop",
        }
    return {"choices": [choice], "usage": {"prompt_tokens": 50, "completion_tokens": 4}}


def _wrong_shape(body: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    content = body["choices"][0]["logprobs"]["content"][0]
    content["top_logprobs"] = rng.choice(
        [
            {"80": -0.1},  # a mapping, not a list
            [["80", -0.1]],  # lists, not objects
            [{"token": "80"}],  # no logprob
            [{"token": "80", "logprob": "high"}],  # not a number
            [{"token": "80", "logprob": 2.5}],  # not a log-probability
            [],  # no alternatives at all
        ]
    )
    return body


def _handler(server: FaultyServer) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        def handle(self) -> None:
            with contextlib.suppress(OSError, ValueError):  # a reset made on purpose
                super().handle()

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            request = json.loads(body)
            identity, kind = _identity(request)
            faults, doomed = server.plan(identity)
            now = time.monotonic()
            with server.lock:
                server.auth.add(self.headers.get("Authorization", ""))
                attempt = server.attempts[identity]
                server.attempts[identity] += 1
                server.kind[identity] = kind
                if identity in server.last_429:
                    server.after_429.append(now - server.last_429.pop(identity))
                healed = server.healed
            fault = faults[attempt] if attempt < len(faults) else None
            if doomed and not healed:
                fault = "500"
            if fault == "shape" and kind != "judge":
                fault = "truncated"
            server.enter()
            self.counted = True
            try:
                self._answer(request, identity, fault)
            finally:
                self._leave()

        def _leave(self) -> None:
            """Out of the in-flight count before the client can see a byte of the answer: once
            it has the answer its slot is free, and a new request may arrive at once."""
            if self.counted:
                self.counted = False
                server.leave()

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self._leave()
            super()._send(status, body, headers)

        def _answer(self, request: dict[str, Any], identity: str, fault: str | None) -> None:
            payload = _success(request, identity)
            rng = random.Random(identity)
            if fault == "429":
                with server.lock:
                    server.last_429[identity] = time.monotonic()
                self._send(429, b'{"error": "rate limited"}', {"Retry-After": str(RETRY_AFTER_S)})
            elif fault == "500":
                self._send(500, b'{"error": "internal"}')
            elif fault == "reset":
                self.close_connection = True
                linger = struct.pack("ii", 1, 0)  # close with RST, not FIN
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                self._leave()
                self.connection.close()
            elif fault == "slow":
                # Counted in flight while the client surely still waits for it.
                time.sleep(TIMEOUT_S / 2)
                self._leave()
                time.sleep(TIMEOUT_S)
                self._send(200, json.dumps(payload).encode())
            elif fault == "truncated":
                text = json.dumps(payload).encode()
                self._send(200, text[: len(text) // 2])
            elif fault == "cut":
                text = json.dumps(payload).encode()
                self._leave()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text[: len(text) // 3])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
            elif fault == "shape":
                self._send(200, json.dumps(_wrong_shape(payload, rng)).encode())
            else:
                with server.lock:
                    server.delivered[identity] += 1
                self._send(200, json.dumps(payload).encode())

    return Handler


def _guiselab(*args: str) -> subprocess.CompletedProcess[str]:
    return guiselab(*args, timeout=900, env={"GUISELAB_SENTINEL_KEY": SENTINEL})


def test_no_request_lost_or_counted_twice_under_faults(tmp_path: Path) -> None:
    server = FaultyServer()
    run_dir = tmp_path / "run"
    with local_server(_handler(server)) as url:
        config = tmp_path / "faults.toml"
        config.write_text(CONFIG.format(url=url))
        args = ("run", str(config), "--out", str(run_dir), "--quiet")
        first = _guiselab(*args)
        assert first.returncode == 1, first.stderr[-3000:]
        error = first.stderr.strip().splitlines()[-1]
        assert error.startswith("error: ") and "failed after retries" in error
        status = _guiselab("status", str(run_dir))
        assert status.returncode == 0, status.stderr
        doomed = {i for i in server.attempts if server.plan(i)[1]}
        doomed_generations = sum(server.kind[i] == "generate" for i in doomed)
        assert doomed_generations and len(doomed) > doomed_generations  # both stages met some
        for identity in doomed:  # each was tried exactly its budget, then given up
            assert server.attempts[identity] == MAX_RETRIES + 1
        assert f"failed generate    {doomed_generations} after retries" in status.stdout
        assert "failed judge" in status.stdout and "HTTP 500 after 4 attempts" in status.stdout
        with sqlite3.connect(run_dir / "guiselab.sqlite") as db:
            assert db.execute("SELECT COUNT(*) FROM generations").fetchone()[0] == (
                1000 - doomed_generations
            )

        server.healed = True
        attempts_before = Counter(server.attempts)
        second = _guiselab(*args)
        assert second.returncode == 0, second.stderr[-3000:]
        status = _guiselab("status", str(run_dir))
        assert "failed" not in status.stdout

    asked_again = {i for i in server.attempts if server.attempts[i] > attempts_before[i]}
    new = {i for i in asked_again if attempts_before[i] == 0}
    # Only the failed requests (and the answers they brought, to be judged) were asked again,
    # besides the judge's one logprobs check per process.
    assert doomed <= asked_again
    assert all(server.kind[i] == "judge" for i in new)
    assert len(asked_again - doomed - new) <= 2
    with sqlite3.connect(run_dir / "guiselab.sqlite") as db:
        generations = db.execute("SELECT key, seed, response FROM generations").fetchall()
        judgments = db.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM judgments").fetchone()
        usage = json.loads(
            db.execute("SELECT info FROM artifacts WHERE name LIKE 'judge_usage:%'").fetchone()[0]
        )
    assert len(generations) == len({k for k, _, _ in generations}) == 1000
    assert all(text.startswith(f"answer {seed % 2**31} (") for _, seed, text in generations)
    assert judgments[0] == judgments[1] == 2 * len({t for _, _, t in generations})
    # Every generation was delivered once; a judge prompt more than once only when the same
    # (prompt, answer) was asked by the logprobs check of a process and then by its batch.
    generate_ids = [i for i, k in server.kind.items() if k == "generate"]
    assert len(generate_ids) == 1000 and all(server.delivered[i] == 1 for i in generate_ids)
    judge_deliveries = sum(n for i, n in server.delivered.items() if server.kind[i] == "judge")
    assert usage["requests"] == judge_deliveries  # tokens counted once per delivered answer
    assert sum(n > 1 for i, n in server.delivered.items()) <= 3
    assert 2 <= server.max_in_flight <= MAX_CONCURRENCY
    assert server.after_429 and min(server.after_429) >= RETRY_AFTER_S - 0.01
    # The key went to the server and nowhere else.
    assert server.auth == {f"Bearer {SENTINEL}"}
    for output in (first.stdout, first.stderr, second.stdout, second.stderr, status.stdout):
        assert SENTINEL not in output
    for path in run_dir.rglob("*"):
        assert path.is_dir() or SENTINEL.encode() not in path.read_bytes(), path
    totals: dict[str, int] = defaultdict(int)
    for identity, n in server.attempts.items():
        totals[server.kind[identity]] += n
    print(f"requests: {dict(totals)}, max in flight {server.max_in_flight}")
