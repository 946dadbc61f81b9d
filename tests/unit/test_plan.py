"""`guiselab plan`'s counts against the stages they describe."""

from __future__ import annotations

from guiselab.config import load_config
from guiselab.finetune import training_split
from guiselab.judge._prompts import METRICS
from guiselab.plan import estimate

CALLS = "judge calls (incl. validation and held-out check)"


def test_the_judge_calls_count_the_held_out_check_on_every_sanity_answer() -> None:
    config = load_config(preset="default")
    more = config.model_copy(
        update={"finetune": config.finetune.model_copy(update={"sanity_samples": 3})}
    )
    rows, rows_more = estimate(config), estimate(more)
    held_out = len(training_split(config).held_out)
    # Every local model answers each held-out question in both guises, sanity_samples times,
    # and the judge scores each of those answers on every metric.
    assert sorted(config.models.roles) == ["base", "control", "organism"]
    models = 1 + 2 * config.finetune.seeds  # the base, and both adapters per training seed
    added = held_out * 2 * (3 - config.finetune.sanity_samples) * len(METRICS)
    assert rows_more["sanity-check generations"] - rows["sanity-check generations"] == (
        held_out * 2 * (3 - config.finetune.sanity_samples) * models
    )
    assert rows_more[CALLS] - rows[CALLS] == added * models
    assert rows_more["judge input tokens (est.)"] > rows["judge input tokens (est.)"]


def test_without_a_trained_adapter_the_held_out_check_adds_no_judge_calls() -> None:
    config = load_config(preset="default")
    base_only = config.model_copy(
        update={"models": config.models.model_copy(update={"roles": ["base"]})}
    )
    more = base_only.model_copy(
        update={"finetune": base_only.finetune.model_copy(update={"sanity_samples": 3})}
    )
    for row in (CALLS, "judge input tokens (est.)"):
        assert estimate(more)[row] == estimate(base_only)[row]
