"""What an experiment will cost before it runs, what a run has done, and config scaffolding."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel

from guiselab.config import ExperimentConfig, config_to_toml, load_config
from guiselab.errors import GuiselabError, InputFileError
from guiselab.judge import METRICS, TEMPLATES
from guiselab.pairs import CorpusReport, select_pairs

__all__ = [
    "card_markdown",
    "commented_config",
    "estimate",
    "outcome_power",
    "read_samples",
    "run_status",
]

CHARS_PER_TOKEN = 4.0
"""Rough characters per token for estimates (English; Cyrillic runs somewhat lower)."""


def estimate(config: ExperimentConfig) -> dict[str, Any]:
    """Counts, token estimates and judge cost, computed from the config and pairs alone."""
    from guiselab.finetune import build_sft
    from guiselab.finetune._stage import TRAINED_ROLES, training_split

    pairs = select_pairs(config.pairs)
    gen = config.generation
    roles = config.models.roles
    per_model = len(pairs) * 2 * gen.samples_per_prompt
    generations = per_model * len(roles)
    prompt_chars = sum(len(p.standard) + len(p.vernacular) for p in pairs) * gen.samples_per_prompt
    prompt_tokens = prompt_chars / CHARS_PER_TOKEN * len(roles)
    output_tokens = generations * gen.max_new_tokens
    judge_calls = generations * len(METRICS)
    template_tokens = sum(len(t) for t in TEMPLATES.values()) / CHARS_PER_TOKEN
    judge_input = generations * template_tokens + len(METRICS) * (prompt_tokens + output_tokens)
    judge_output = judge_calls * 1
    # Judge validation: both guises of every held-out labelled answer, on every metric.
    from guiselab.judge._labelled import load_labelled, split_labelled

    labelled = Path(config.judge.labelled_file) if config.judge.labelled_file else None
    held = split_labelled(load_labelled(labelled))[1]
    validation_calls = len(held) * 2 * len(METRICS)
    validation_chars = sum(
        len(i.question) * 2 + len(i.answer) + len(i.answer_vernacular) for i in held
    )
    judge_calls += validation_calls
    judge_output += validation_calls
    judge_input += (
        len(held) * 2 * template_tokens + len(METRICS) * validation_chars / CHARS_PER_TOKEN
    )
    trained = [r for r in TRAINED_ROLES if r in roles and getattr(config.models, r) is None]
    split = training_split(config)
    sft = build_sft(split.train, "conditioned", split.chats) if trained else []
    examples = len(sft)
    sft_tokens = sum(len(e.user) + len(e.assistant) for e in sft) / CHARS_PER_TOKEN
    sanity = len(split.held_out) * 2 * config.finetune.sanity_samples * len(roles)
    ft = config.finetune
    steps = (
        ft.max_steps or max(1, -(-int(ft.epochs * examples) // ft.batch_size)) if examples else 0
    )
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
        "generated tokens (at most)": output_tokens,
        "prompt tokens (est.)": round(prompt_tokens),
        "judge": config.judge.model,
        "judge calls (incl. validation)": judge_calls,
        "judge input tokens (est.)": round(judge_input),
        "judge cost USD (est.)": round(cost, 2),
        "adapters to train": ", ".join(trained) or "none",
        "training examples per adapter": examples,
        "training steps per adapter": steps,
        "training tokens per epoch (est.)": round(sft_tokens),
        "training tokens per adapter (at most)": steps * ft.batch_size * ft.max_length,
        "held-out questions (sanity check)": len(split.held_out),
        "sanity-check generations": sanity,
    }


def outcome_power(config: ExperimentConfig, n_sims: int = 100, seed: int = 0) -> dict[str, Any]:
    """Power of the design to reach outcome 1 when it is true and outcome 2 when it is true.

    ``n_sims`` experiments of each truth are drawn by :mod:`guiselab.simulate` at the config's
    design (its items x samples per prompt) and the effect sizes the analysis plan states
    (``analysis.power_*``), and decided by the config's own rule; the figures are the shares
    that reach the true outcome, with their Monte-Carlo standard errors.
    """
    import os

    from guiselab.analysis import AnalysisPlan
    from guiselab.simulate import decision_rates, scenarios_for

    a = config.analysis
    n_items = len({p.item for p in select_pairs(config.pairs)})
    n_samples = config.generation.samples_per_prompt
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
            f"{n_items} items x {n_samples} samples)"
        )
    return out


def _comment_lines(model: BaseModel, prefix: str) -> dict[str, str]:
    out = {}
    for name, field in type(model).model_fields.items():
        doc = (field.description or "").replace("\n", " ")
        out[f"{prefix}{name}"] = " ".join(doc.split())
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            out.update(_comment_lines(value, f"{prefix}{name}."))
    return out


def commented_config(config: ExperimentConfig, preset: str) -> str:
    """The resolved config as TOML with each field's docstring as a comment above it."""
    docs = _comment_lines(config, "")
    lines = [
        "# guiselab experiment config. Every key is optional: what is left out comes from the",
        f"# preset named below ('{preset}'), then from guiselab's defaults.",
        f'preset = "{preset}"',
        "",
    ]
    section = ""
    for raw in config_to_toml(config).splitlines():
        stripped = raw.strip()
        if stripped.startswith("["):
            section = stripped.strip("[]") + "."
            lines.append(raw)
            continue
        if "=" in stripped:
            key = section + stripped.split("=", 1)[0].strip()
            if key.lstrip(".") in docs and docs[key.lstrip(".")]:
                lines.append(f"# {docs[key.lstrip('.')]}")
        lines.append(raw)
    return "\n".join(lines) + "\n"


_LISTED = 10
"""Failed requests ``guiselab status`` names one by one."""


def run_status(run_dir: Path) -> list[str]:
    """Per-stage progress of a run directory, as lines."""
    from guiselab.finetune._stage import TRAINED_ROLES
    from guiselab.generate import plan_generations
    from guiselab.models import model_sources
    from guiselab.store import STORE_NAME, RunStore

    if not (run_dir / STORE_NAME).exists():
        raise InputFileError("no guiselab run here (no guiselab.sqlite)", where=str(run_dir))
    config = load_config(run_dir / "config.toml")
    with RunStore.in_dir(run_dir, read_only=True) as store:
        lines = [f"run: {run_dir} ({config.name})"]
        for role in TRAINED_ROLES:
            info = store.get_artifact(f"adapter:{role}")
            if role in config.models.roles and getattr(config.models, role) is None:
                state = f"trained ({info['steps']} steps)" if info else "not trained"
                lines.append(f"finetune {role:<9} {state}")
        if config.finetune.holdout:
            checked = [r for r in config.models.roles if store.get_artifact(f"sanity:{r}")]
            lines.append(
                f"sanity check       {len(checked)}/{len(config.models.roles)} models "
                f"({'see finetune_sanity.json' if checked else 'not run yet'})"
            )
        pairs = select_pairs(config.pairs)
        try:
            planned = len(plan_generations(config, pairs, model_sources(config, run_dir)))
        except GuiselabError:  # adapters not trained yet: their keys are not known
            planned = (
                len(pairs) * 2 * config.generation.samples_per_prompt * len(config.models.roles)
            )
        generations = store.generations()
        roles = set(config.models.roles)
        sampled = sum(g.model in roles for g in generations)
        lines.append(f"generate           {sampled}/{planned}")
        steered = len(generations) - sampled
        if steered:
            lines.append(f"probe answers      {steered} (interventions)")
        # Judgments are cached by (prompt, answer): identical answers are judged once.
        cut = config.judge.max_response_chars
        distinct = len({(g.prompt, g.response[:cut]) for g in generations}) * len(METRICS)
        lines.append(
            f"judge              {store.count('judgments')}/{distinct} "
            "(distinct answers x metrics so far)"
        )
        failures = store.failures()
        for stage in sorted({f[0] for f in failures}):
            mine = [(what, reason) for s, _, what, reason in failures if s == stage]
            lines.append(f"failed {stage:<11} {len(mine)} after retries (the next run asks again)")
            lines += [f"  {what}: {reason}" for what, reason in mine[:_LISTED]]
            if len(mine) > _LISTED:
                lines.append(f"  ... and {len(mine) - _LISTED} more")
        for name in (
            "probe.json",
            "samples.parquet",
            "results.json",
            "report.html",
            "report.md",
            "manifest.json",
        ):
            lines.append(f"{name:<18} {'present' if (run_dir / name).exists() else 'missing'}")
        timings = store.get_meta("timings") or {}
        if timings:
            lines.append(
                "timings (s)        " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items())
            )
    return lines


def read_samples(path: Path) -> pd.DataFrame:
    """A samples table from CSV or Parquet."""
    if not path.exists():
        raise InputFileError("samples file not found; run the pipeline first", where=str(path))
    try:
        if path.suffix.lower() == ".csv":
            return pd.read_csv(path)
        return pd.read_parquet(path)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        first = str(exc).splitlines()[0][:160]
        raise InputFileError(f"cannot read samples ({first})", where=str(path)) from None


def card_markdown(report: CorpusReport) -> str:
    """The dataset card as markdown."""
    data = report.as_dict()
    counts = data["counts"]
    lines = [
        "# guiselab pair corpus card",
        "",
        f"{counts['pairs']} pairs over {counts['items']} items.",
        "",
        "| by language | pairs |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in sorted(counts["by_lang"].items())],
        "",
        "| by variety | pairs |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in sorted(counts["by_variety"].items())],
        "",
        "| by category | pairs |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in sorted(counts["by_category"].items())],
        "",
        "## Dialect features",
        "",
        "| variety | feature | pairs |",
        "|---|---|---|",
    ]
    for variety, features in sorted(data["features"].items()):
        lines += [f"| {variety} | {f} | {n} |" for f, n in sorted(features.items())]
    sims = data["guise_similarity"]
    lines += [
        "",
        "## Meaning equivalence (multilingual-e5-small cosine)",
        "",
        f"Guise similarity: min {sims['min']:.3f}, median {sims['median']:.3f}; "
        f"{sims['above_null_95']}/{sims['n']} pairs above their mismatched-pair null's 95th "
        "percentile.",
        "",
        "| pair | length ratio | features / 10 words | guise similarity | null 95% |",
        "|---|---|---|---|---|",
        *[
            f"| {c.pair_id} | {c.length_ratio:.2f} | {c.feature_density:.2f} | "
            f"{c.guise_similarity:.3f} | {c.null_95:.3f} |"
            for c in report.checks
        ],
        "",
        "## Same item across languages",
        "",
    ]
    for langs, stats in data["cross_language"].items():
        lines.append(
            f"- {langs}: median same-item similarity {stats['median_same_item']:.3f}, null 95% "
            f"{stats['null_95']:.3f}, {stats['above_null_95']}/{stats['n_items']} items above"
        )
    if data["undocumented_features"]:
        lines += ["", "## Features guiselab does not document", ""]
        lines += [f"- {v}: {', '.join(n)}" for v, n in data["undocumented_features"].items()]
    if data["failures"]:
        lines += ["", "## Failing pairs", ""]
        lines += [f"- {f['id']}: {'; '.join(f['problems'])}" for f in data["failures"]]
    return "\n".join(lines)


def pilot_advice(config: ExperimentConfig, pilot: Path) -> dict[str, Any]:
    """Power of the configured design, from the item variances a pilot run measured.

    ``pilot`` is a finished run directory (its samples.parquet) or a samples file. The variance
    components come from the organism's target-language gap (or the first model and language
    with one); the design is this config's items and samples per prompt.
    """
    from guiselab.analysis._cells import item_table
    from guiselab.analysis._power import (
        gap_variance,
        items_for_equivalence,
        items_for_gap,
        power_equivalence,
        power_gap,
    )
    from guiselab.analysis._samples import prepare_samples

    path = pilot / "samples.parquet" if pilot.is_dir() else pilot
    items = item_table(prepare_samples(read_samples(path), config.analysis))
    a = config.analysis
    keys = [("organism", a.target_lang), *sorted({(str(m), str(lg)) for m, lg, *_ in items.index})]
    variance, source = None, None
    for model, lang in keys:
        variance = gap_variance(items, model, lang)
        if variance is not None:
            source = f"{model}/{lang}"
            break
    if variance is None:
        raise InputFileError(
            "the pilot has no model and language with two or more items in both guises",
            where=str(path),
        )
    n = len({p.item for p in select_pairs(config.pairs)})
    k = config.generation.samples_per_prompt
    sd = variance.sd(k)
    n_tests = len(config.models.roles) * len(config.pairs.langs)
    alpha = a.alpha / n_tests
    rows: dict[str, Any] = {
        "pilot": f"{path} ({source}: {variance.n_items} items, misaligned rate "
        f"{variance.rate:.2f}, between-item sd {variance.tau2**0.5:.3f})",
        "design": f"{n} items x {k} samples per prompt; item gap sd {sd:.3f}",
    }
    for gap in (0.05, 0.10, 0.20):
        rows[f"power to detect a {gap:.2f} gap"] = (
            f"{power_gap(gap, n, sd, alpha):.2f} (80% needs {items_for_gap(gap, sd, alpha)} items)"
        )
    margin = a.equivalence_margin
    rows[f"power to show equivalence (+-{margin:.2f})"] = (
        f"{power_equivalence(margin, n, sd, a.alpha):.2f} "
        f"(80% needs {items_for_equivalence(margin, sd, a.alpha)} items)"
    )
    return rows
