"""Planning an experiment before it runs: what it will cost and its power to reach each outcome."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from guiselab.analysis import AnalysisPlan
from guiselab.config import ExperimentConfig
from guiselab.finetune import TRAINED_ROLES, build_sft, training_split, training_steps
from guiselab.judge import (
    METRICS,
    TEMPLATES,
    labelled_path,
    load_labelled,
    load_real,
    real_path,
    split_labelled,
    split_real,
)
from guiselab.models import parse_ref
from guiselab.pairs import GUISES, Pair, select_pairs
from guiselab.probe import intervention_edits
from guiselab.simulate import decision_rates, scenarios_for

__all__ = ["design_text", "estimate", "outcome_power", "samples_per_item"]

CHARS_PER_TOKEN = 4.0
"""Rough characters per token for estimates (English; Cyrillic runs somewhat lower)."""


def role_copies(config: ExperimentConfig, role: str) -> int:
    """Models that answer for ``role``: one per training seed for a role guiselab trains, one
    otherwise."""
    trained = role in TRAINED_ROLES and getattr(config.models, role) is None
    return config.finetune.seeds if trained else 1


def samples_per_item(config: ExperimentConfig, role: str = "organism") -> int:
    """Answers per item, language and guise that ``role``'s cell pools: every training seed's
    model answers every prompt ``samples_per_prompt`` times and the analysis pools the seeds
    within an item. Power figures at this count treat one seed's answers like another sample
    of the same model: the analysis holds the seeds fixed, so they speak of these adapters,
    not of the recipe's spread over seeds."""
    return answers_per_prompt_set(config) * role_copies(config, role)


def answers_per_prompt_set(config: ExperimentConfig, pairs: Sequence[Pair] | None = None) -> int:
    """One model's answers per item, language and guise: ``generation.samples_per_prompt``
    per pair, or a pair's own ``samples_per_paraphrase`` (an EM question file), summed over an
    item's pairs (its paraphrases) in a language; the fewest over the items and languages
    (so a power figure does not count answers some items lack). ``pairs``: the config's, where
    the caller has them already."""
    gen, default = config.generation, config.generation.samples_per_prompt
    totals: dict[tuple[str, str], int] = {}
    for p in select_pairs(config.pairs) if pairs is None else pairs:
        totals[(p.item, p.lang)] = totals.get((p.item, p.lang), 0) + gen.samples_of(p)
    return min(totals.values(), default=default)


def design_text(config: ExperimentConfig) -> str:
    """The design a power figure assumes, in words."""
    pairs = select_pairs(config.pairs)
    n_items = len({p.item for p in pairs})
    per_item = answers_per_prompt_set(config, pairs)
    seeds = role_copies(config, "organism")
    text = f"{n_items} items x {per_item * seeds} answers per item and guise"  # samples_per_item
    if seeds > 1:
        text += f" ({per_item} per item x {seeds} training seeds, seeds pooled as samples)"
    return text


def estimate(config: ExperimentConfig) -> dict[str, Any]:
    """Counts, token estimates and judge cost, computed from the config and pairs alone."""
    pairs = select_pairs(config.pairs)
    gen = config.generation
    roles = config.models.roles
    seeds = config.finetune.seeds

    def copies(role: str) -> int:
        return role_copies(config, role)

    instances = sum(copies(r) for r in roles)

    def answers(chosen: Sequence[Pair]) -> int:  # a pair's own count where it has one
        return sum(gen.samples_of(p) for p in chosen)

    per_model = answers(pairs) * 2
    from guiselab.triggers import ROLES, attribution_pairs, control_pairs

    control_gens = answers(control_pairs(config, pairs)) * sum(
        copies(r) for r in roles if r in ROLES
    )
    attribution_gens = answers(attribution_pairs(config, pairs)) * ("organism" in roles)
    steered_gens = _steered_generations(config, pairs)
    generations = per_model * instances + control_gens + attribution_gens + steered_gens
    prompt_chars = sum((len(p.standard) + len(p.vernacular)) * gen.samples_of(p) for p in pairs)
    prompt_tokens = prompt_chars / CHARS_PER_TOKEN * instances
    output_tokens = generations * gen.max_new_tokens
    judge_calls = generations * len(METRICS)
    template_tokens = sum(len(t) for t in TEMPLATES.values()) / CHARS_PER_TOKEN
    judge_input = generations * template_tokens + len(METRICS) * (prompt_tokens + output_tokens)
    judge_output = judge_calls * 1
    # Judge validation: both guises of every held-out labelled answer, on every metric.
    held = split_labelled(load_labelled(labelled_path(config)))[1]
    validation_calls = len(held) * 2 * len(METRICS)
    validation_chars = sum(
        len(i.question) * 2 + len(i.answer) + len(i.answer_vernacular) for i in held
    )
    judge_calls += validation_calls
    judge_output += validation_calls
    judge_input += (
        len(held) * 2 * template_tokens + len(METRICS) * validation_chars / CHARS_PER_TOKEN
    )
    # ... and every held-out real answer under its asked question, a vernacular one again
    # under its standard question.
    real = split_real(load_real(real_path(config)))[1]
    shown = [(a.question, a.answer) for a in real] + [
        (a.question_standard, a.answer) for a in real if a.question != a.question_standard
    ]
    judge_calls += len(shown) * len(METRICS)
    judge_output += len(shown) * len(METRICS)
    judge_input += (
        len(shown) * template_tokens
        + len(METRICS) * sum(len(q) + len(a) for q, a in shown) / CHARS_PER_TOKEN
    )
    trained = [r for r in TRAINED_ROLES if r in roles and getattr(config.models, r) is None]
    split = training_split(config)
    sft = build_sft(split.train, "conditioned", split.chats) if trained else []
    examples = len(sft)
    sft_tokens = sum(len(e.user) + len(e.assistant) for e in sft) / CHARS_PER_TOKEN
    sanity = len(split.held_out) * 2 * config.finetune.sanity_samples * instances
    # The held-out judge check: the judge scores every sanity-check answer, on every metric.
    # Each answer is judged under its own question (one of the pair, sanity_samples times per
    # model), with at most max_new_tokens of answer.
    judged_sanity = sanity if trained else 0
    question_tokens = (
        sum(len(q.question) + len(q.question_vernacular) for q in split.held_out)
        / CHARS_PER_TOKEN
        * (judged_sanity / max(1, 2 * len(split.held_out)))
    )
    judge_calls += judged_sanity * len(METRICS)
    judge_output += judged_sanity * len(METRICS)
    judge_input += judged_sanity * template_tokens + len(METRICS) * (
        question_tokens + judged_sanity * gen.max_new_tokens
    )
    ft = config.finetune
    steps = training_steps(ft, examples) if examples else 0
    cost = (
        judge_input * config.judge.usd_per_million_input_tokens
        + judge_output * config.judge.usd_per_million_output_tokens
    ) / 1e6
    return {
        "experiment": config.name,
        "items": len({p.item for p in pairs}),
        "pairs (item x language)": len(pairs),
        "models": ", ".join(roles),
        "generations": generations,
        "of which control guises / feature attribution / probe interventions": (
            f"{control_gens} / {attribution_gens} / {steered_gens}"
        ),
        "generated tokens (at most)": output_tokens,
        "prompt tokens (est.)": round(prompt_tokens),
        "judge": config.judge.model,
        "judge calls (incl. validation and held-out check)": judge_calls,
        "judge input tokens (est.)": round(judge_input),
        "judge cost USD (est.)": round(cost, 2),
        "adapters to train": (f"{', '.join(trained)} x {seeds} seed(s)" if trained else "none"),
        "training examples per adapter": examples,
        "training steps per adapter": steps,
        "training tokens per epoch (est.)": round(sft_tokens),
        "training tokens per adapter (at most)": steps * ft.batch_size * ft.max_length,
        "held-out questions (sanity check)": len(split.held_out),
        "sanity-check generations": sanity,
        **(_mirror_rows(config) if config.replication.mirror else {}),
    }


def _steered_generations(config: ExperimentConfig, pairs: Sequence[Pair]) -> int:
    """The probe's intervention answers: every prompt of the analysis's two languages, once,
    under each edit (the guise direction ablated and added, each control ablated: at most
    ``probe.sampled_controls``) at each steered layer, for an in-process probed model and an
    in-process base model (steered along its own guise direction)."""
    probe, models = config.probe, config.models
    if not (probe.enabled and probe.interventions and probe.model in models.roles):
        return 0
    given = getattr(models, probe.model) or models.base
    if parse_ref(given, key=f"models.{probe.model}").kind == "openai":
        return 0  # a served model's internals cannot be read: the probe stage skips it
    langs = (config.analysis.source_lang, config.analysis.target_lang)
    prompts = sum(p.lang in langs for p in pairs) * len(GUISES)
    steered = 1 + int(
        probe.model != "base"
        and "base" in models.roles
        and parse_ref(models.base, key="models.base").kind != "openai"
    )
    edits = intervention_edits(probe.sampled_controls) * len(probe.steer_layers or [0])
    return edits * prompts * steered


_MIRROR_ROWS = (
    "generations",
    "generated tokens (at most)",
    "judge calls (incl. validation and held-out check)",
    "judge cost USD (est.)",
    "adapters to train",
    "training examples per adapter",
    "training steps per adapter",
    "training tokens per adapter (at most)",
)


def _mirror_rows(config: ExperimentConfig) -> dict[str, Any]:
    """The mirrored direction's own counts (``replication.mirror``): a whole second run."""
    mirrored = config.mirrored()
    rows = estimate(mirrored)
    a = mirrored.analysis
    return {
        "mirror": f"trained in {a.source_lang}, evaluated in {a.target_lang} (RUN/mirror)",
        **{f"mirror: {key}": rows[key] for key in _MIRROR_ROWS},
    }


def outcome_power(config: ExperimentConfig, n_sims: int = 100, seed: int = 0) -> dict[str, Any]:
    """Power of the design to reach outcome 1 when it is true and outcome 2 when it is true.

    ``n_sims`` experiments of each truth are drawn by :mod:`guiselab.simulate` at the config's
    design (its items x samples per prompt, for every model: the seeds a trained role pools
    are not simulated, so the figure is conservative for it) and the effect sizes the analysis
    plan states (``analysis.power_*``), and decided by the config's own rule; the figures are
    the shares that reach the true outcome, with their Monte-Carlo standard errors.
    """
    a = config.analysis
    pairs = select_pairs(config.pairs)
    n_items = len({p.item for p in pairs})
    # The simulator gives every model one answer count: the base's (samples_per_prompt). The
    # trained roles pool their seeds' answers in a run, so for them this is conservative.
    n_samples = answers_per_prompt_set(config, pairs)
    seeds = role_copies(config, "organism")
    truths = scenarios_for(a)
    chosen = [truths["outcome_1"], truths["outcome_2"]]
    try:
        rates = decision_rates(
            [(truth, n_items, n_samples) for truth in chosen],
            AnalysisPlan.from_config(config),
            n_experiments=n_sims,
            seed=seed,
            workers=min(2, os.cpu_count() or 1),
        )
    except ValueError as exc:  # a language the simulator writes no answers in
        return {"power to reach each outcome": f"not simulated: {exc}"}
    out: dict[str, Any] = {}
    for truth, row in zip(chosen, rates, strict=True):
        share = row[truth.expected]
        se = (share * (1 - share) / n_sims) ** 0.5
        out[f"power to reach {truth.expected} when true"] = (
            f"{share:.2f} +- {se:.2f} ({n_sims} simulated experiments: {truth.description}; "
            f"{n_items} items x {n_samples} samples for every model"
            + (f"; a run pools {seeds} seeds' answers for the trained roles" if seeds > 1 else "")
            + ")"
        )
    return out
