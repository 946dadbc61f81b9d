"""`guiselab plan`'s counts against the stages they describe."""

from __future__ import annotations

from pathlib import Path

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


def test_power_counts_every_training_seed_answers_as_the_items_samples(tmp_path: Path) -> None:
    from guiselab.analysis import pilot_advice
    from guiselab.plan import design_text, samples_per_item
    from guiselab.simulate import scenarios_for, simulate

    config = load_config(preset="default")
    assert config.finetune.seeds == 2 and config.generation.samples_per_prompt == 1
    one = config.model_copy(update={"finetune": config.finetune.model_copy(update={"seeds": 1})})
    # Each seed's organism answers every prompt once and the analysis pools the seeds.
    assert samples_per_item(config) == 2 and samples_per_item(one) == 1
    assert "2 answers per item" in design_text(config) and "2 training seeds" in design_text(config)
    assert "seeds" not in design_text(one)
    # A given organism is not trained, so seeds do not multiply its answers.
    given = config.model_copy(
        update={"models": config.models.model_copy(update={"organism": "hf:some/model"})}
    )
    assert samples_per_item(given) == 1

    pilot = tmp_path / "samples.parquet"
    simulate(scenarios_for(config.analysis)["outcome_2"], 40, 2, seed=3).to_parquet(pilot)
    key = "power to detect a 0.10 gap"
    pooled = pilot_advice(config, pilot, samples_per_item(config), design_text(config))
    single = pilot_advice(one, pilot, samples_per_item(one), design_text(one))
    assert pooled["design"].startswith(design_text(config))
    # Two answers per item halve the binomial part of the item gap's variance.
    assert float(pooled[key].split()[0]) > float(single[key].split()[0])
    # Detection is tested at the first Holm step of the decision's four-test family, as in
    # results.json's power figures.
    from guiselab.analysis._cells import item_table
    from guiselab.analysis._power import gap_variance, power_gap
    from guiselab.analysis._samples import prepare_samples
    from guiselab.samples import read_samples

    items = item_table(prepare_samples(read_samples(pilot), config.analysis))
    variance = gap_variance(items, "organism", config.analysis.target_lang)
    assert variance is not None
    alpha = config.analysis.alpha / 4
    expected = power_gap(0.10, 60, variance.sd(2), alpha)
    assert pooled[key].startswith(f"{expected:.2f} ")
