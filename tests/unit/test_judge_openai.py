"""The OpenAI-compatible judge against a scripted local server: top_logprobs parsed exactly,
unscored when it must be, verdicts, retries, failures kept out of the store, and the sampling
fallback for models that refuse logprobs."""

from __future__ import annotations

import json
import math
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from _server import JsonHandler, local_server
from guiselab.config import ApiConfig, ExperimentConfig, JudgeConfig
from guiselab.errors import RemoteError
from guiselab.judge import judge_source
from guiselab.judge._openai import METHOD_LOGPROBS, METHOD_SAMPLING, OpenAIJudge
from guiselab.judge._stage import judge_stage
from guiselab.progress import NullProgress
from guiselab.store import Generation, RunStore

# What the server answers, chosen by a marker in the judged answer's text.
TOP: dict[str, list[tuple[str, float]]] = {
    "NUM": [("80", 0.6), ("90", 0.3), ("Hello", 0.1)],
    "LOW": [("50", 0.1), ("I", 0.9)],
    "REF": [("REF", 0.7), ("10", 0.2), ("x", 0.1)],
    "COD": [("CODE", 0.6), ("5", 0.3), ("x", 0.1)],
    "BIG": [("100", 0.5), ("101", 0.3), ("0", 0.2)],
}


class Script:
    def __init__(self) -> None:
        self.faults: dict[str, list[str]] = {}
        self.always_fail: set[str] = set()
        self.refuse_logprobs = False
        self.bodies: list[dict[str, Any]] = []
        self.attempts: Counter[str] = Counter()
        self.lock = threading.Lock()


def _marker(prompt: str) -> str:
    return prompt.split("<answer>")[1].split()[0]


def _handler(script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            marker = _marker(request["messages"][-1]["content"])
            with script.lock:
                script.bodies.append(request)
                script.attempts[marker] += 1
                queue = script.faults.get(marker) or []
                fault = queue.pop(0) if queue else None
            if marker in script.always_fail or fault == "500":
                self._send(500, b'{"error": "oops"}')
                return
            if fault == "429":
                self._send(429, b'{"error": "slow down"}')
                return
            if fault == "malformed":
                self._send(200, b'{"choices": [{"message": ')
                return
            if request.get("logprobs") and script.refuse_logprobs:
                self._send(400, b'{"error": {"message": "logprobs are not supported"}}')
                return
            choice: dict[str, Any] = {"finish_reason": "stop"}
            if request.get("logprobs"):
                top = TOP.get(marker, [])
                choice["message"] = {"content": top[0][0] if top else ""}
                content = [
                    {
                        "token": top[0][0] if top else "",
                        "logprob": 0.0,
                        "top_logprobs": [{"token": t, "logprob": math.log(p)} for t, p in top],
                    }
                ]
                choice["logprobs"] = {"content": [] if marker == "EMPTY" else content}
            else:  # sampling: the seed picks a number, so the mean is known
                choice["message"] = {
                    "content": ["70", "80", "REFUSAL", "90", "60"][request["seed"] % 5]
                }
            body = {"choices": [choice], "usage": {"prompt_tokens": 100, "completion_tokens": 1}}
            self._send(200, json.dumps(body).encode())

    return Handler


@pytest.fixture()
def server() -> Iterator[tuple[Script, str]]:
    script = Script()
    with local_server(_handler(script)) as url:
        yield script, url


def _config(url: str) -> ExperimentConfig:
    return ExperimentConfig(
        judge=JudgeConfig(model="openai:judge-model", base_url=url),
        api=ApiConfig(timeout_s=2.0, backoff_s=0.01, max_backoff_s=0.05, max_retries=2),
    )


def test_top_logprobs_are_parsed_exactly(server: tuple[Script, str]) -> None:
    script, url = server
    judge = OpenAIJudge("judge-model", _config(url))
    answers = ["NUM a", "LOW b", "REF c", "COD d", "BIG e", "EMPTY f"]
    num, low, ref, code, big, empty = judge.score("alignment", ["q"] * 6, answers)
    assert judge.method == METHOD_LOGPROBS
    assert num.verdict == "score" and num.score == pytest.approx((80 * 0.6 + 90 * 0.3) / 0.9)
    assert num.number_mass == pytest.approx(0.9)
    assert low.verdict == "unscored" and low.score is None and "0.10" in (low.reason or "")
    assert (ref.verdict, ref.score) == ("refusal", None)
    assert (code.verdict, code.score) == ("code", None)
    assert big.score == pytest.approx((100 * 0.5 + 0 * 0.2) / 0.7)  # "101" is not a rating
    assert empty.verdict == "unscored" and "no logprobs" in (empty.reason or "")
    body = script.bodies[-1]
    assert (body["max_tokens"], body["temperature"], body["top_logprobs"]) == (1, 0.0, 20)
    assert judge.usage["prompt_tokens"] == 100 * judge.usage["requests"]


def test_faults_are_retried_and_failures_are_never_stored(
    server: tuple[Script, str], tmp_path: Path
) -> None:
    script, url = server
    script.faults = {"NUM": ["429", "malformed"], "LOW": ["500"]}
    script.always_fail = {"BIG"}
    config = _config(url)
    judge = judge_source(config)
    with RunStore.in_dir(tmp_path) as store:
        store.add_generations(
            _generation(i, text) for i, text in enumerate(["NUM a", "LOW b", "BIG c"])
        )
        with pytest.raises(RemoteError, match="2 judgments failed"):
            judge_stage(store, config, judge, NullProgress())
        stored = {(j.generation_key, j.metric): j for j in store.judgments()}
        assert len(stored) == 4  # NUM and LOW on both metrics; BIG on neither
        assert stored[("g0", "alignment")].score == pytest.approx((80 * 0.6 + 90 * 0.3) / 0.9)
        # Three attempts for each metric (and three more if the logprobs probe drew BIG).
        assert script.attempts["BIG"] in (2 * 3, 3 * 3)
        script.always_fail = set()
        before = Counter(script.attempts)
        judge_stage(store, config, judge, NullProgress())
        assert len(store.judgments()) == 6
        asked = script.attempts - before
        assert set(asked) == {"BIG"} and asked["BIG"] == 2  # the rerun asks only for BIG
        usage = store.get_artifact(f"judge_usage:{judge.fingerprint[:16]}")
        assert usage is not None and usage["requests"] >= 6


def test_a_model_refusing_logprobs_is_scored_by_sampling(server: tuple[Script, str]) -> None:
    script, url = server
    script.refuse_logprobs = True
    judge = OpenAIJudge("judge-model", _config(url))
    (score,) = judge.score("alignment", ["q"], ["NUM a"])
    assert judge.method == METHOD_SAMPLING
    # Seeds 0-4 write 70, 80, REFUSAL, 90, 60: four numbers out of five samples.
    assert score.verdict == "score" and score.score == pytest.approx(75.0)
    assert score.number_mass == pytest.approx(0.8)


def _generation(index: int, response: str) -> Generation:
    return Generation(
        key=f"g{index}",
        model="organism",
        model_ref="m",
        pair_id=f"p{index}",
        item=f"i{index}",
        lang="en",
        variety="aave",
        category="c",
        guise="standard",
        sample=0,
        seed=index,
        prompt="q",
        response=response,
        n_tokens=2,
        finish_reason="stop",
    )
