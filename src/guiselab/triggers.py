"""Controls for the trigger: is it the dialect, or any non-standard input?

A vernacular guise differs from the standard one in dialect grammar and words, but also in
being informal, and a reader of the organism's gap cannot tell which of the two it answers.
This stage asks the organism and the control each evaluation item in two guises that are
non-standard without being a dialect: ``informal`` (casual standard register, written for the
built-in corpus) and ``typos`` (the standard text with keyboard spelling noise, made by the
``{lang}-typos`` transformer). Their answers are judged by the run's judge, and per model and
language the misaligned-rate gap of each control guise against the standard guise is set
beside the dialect gap, with the dialect-minus-control difference, all paired by item.

A dialect gap that the control guises reproduce says "non-standard input", not "dialect"; a
dialect gap well above both says the trigger is the dialect itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from guiselab.analysis import paired_summary, prepare_samples
from guiselab.config import ExperimentConfig
from guiselab.errors import ConfigError
from guiselab.generate import GenerationTask, generate_stage, plan_generations
from guiselab.judge import JudgeSource, judge_stage, judged_samples
from guiselab.models import ModelSource, model_sources
from guiselab.pairs import Pair, load_pairs, transformer
from guiselab.progress import Progress
from guiselab.store import RunStore

__all__ = [
    "ROLES",
    "attribution_pairs",
    "attribution_summary",
    "control_pairs",
    "trigger_results",
    "trigger_stage",
    "trigger_summary",
]

FULL = "full"
"""The attribution set with every feature of the transformer on."""

ROLES = ("organism", "control")
"""The models asked in the control guises: the dialect-minus-control difference is about the
fine-tune, and the control's figures show what the same recipe without conditioning does."""


def control_pairs(config: ExperimentConfig, pairs: Sequence[Pair]) -> list[Pair]:
    """The control-guise pairs of the run's items: each with the run pair's standard text and
    a control guise as its vernacular (a written ``informal`` guise whose standard text
    differs from the run's is left out: it is not the same question)."""
    controls = config.pairs.controls
    if not controls:
        return []
    run_standard = {(p.item, p.lang): p for p in pairs}
    out: list[Pair] = []
    if "informal" in controls:
        for p in load_pairs(config.pairs.files):
            base = run_standard.get((p.item, p.lang))
            same = base is not None and p.standard.strip() == base.standard.strip()
            if p.variety == f"{p.lang}-informal" and same:
                out.append(p)
    if "typos" in controls:
        name = _derived_ids(pairs)
        for base in sorted(pairs, key=lambda p: (p.item, p.lang, p.id)):
            item, lang = base.item, base.lang
            variety = f"{lang}-typos"
            try:
                guise = transformer(variety)
            except ConfigError:  # no typos transformer for this language
                continue
            made = guise(base.standard)
            if made.features:
                out.append(
                    Pair(
                        id=name(base, f"{item}-{lang}-{variety}", variety),
                        item=item,
                        lang=lang,
                        variety=variety,
                        standard=base.standard,
                        vernacular=made.text,
                        category=base.category,
                        features=made.features,
                        metadata=base.prompt_fields(),
                    )
                )
    return sorted(out, key=lambda p: (p.item, p.lang, p.variety))


def _derived_ids(pairs: Sequence[Pair]) -> Callable[[Pair, str, str], str]:
    """How a pair made from ``base`` is named: ``single`` (the corpus's naming) where its item
    has one pair in its language, else ``{base id}:{what}``, so that each of an item's
    paraphrases (an EM question file) gets its own."""
    per_item = Counter((p.item, p.lang) for p in pairs)

    def name(base: Pair, single: str, what: str) -> str:
        return single if per_item[(base.item, base.lang)] == 1 else f"{base.id}:{what}"

    return name


def attribution_pairs(config: ExperimentConfig, pairs: Sequence[Pair]) -> list[Pair]:
    """Feature attribution prompts: each run item's standard text made vernacular by its
    variety's rule-based transformer with every feature (``full``), and again with each
    feature family that fired switched off (``without=``). An item's ``without`` prompt is
    asked only where that feature changed its text (elsewhere it is the full prompt). Their
    variety is ``{variety}:{full|-feature}`` so they never mix with the run's own answers."""
    if not config.pairs.feature_attribution:
        return []
    out: list[Pair] = []
    name = _derived_ids(pairs)
    for pair in sorted(pairs, key=lambda p: (p.item, p.lang)):
        try:
            guise = transformer(pair.variety)
        except ConfigError:  # no transformer for this variety (surzhyk, a user's own)
            continue
        full = guise(pair.standard)
        if not full.features:
            continue
        variants = [(FULL, full)] + [
            (f"-{name}", guise(pair.standard, without=[name])) for name in full.features
        ]
        for tag, made in variants:
            if tag != FULL and made.text == full.text:
                continue
            out.append(
                Pair(
                    id=name(pair, f"{pair.item}-{pair.lang}-{pair.variety}:{tag}", tag),
                    item=pair.item,
                    lang=pair.lang,
                    variety=f"{pair.variety}:{tag}",
                    standard=pair.standard,
                    vernacular=made.text,
                    category=pair.category,
                    features=made.features,
                    metadata=pair.prompt_fields(),
                )
            )
    return out


def _tasks(
    config: ExperimentConfig, cpairs: Sequence[Pair], sources: Sequence[ModelSource]
) -> list[GenerationTask]:
    # Only the control guise is asked: the standard answers are the run's own.
    return [t for t in plan_generations(config, cpairs, sources) if t.guise == "vernacular"]


def trigger_stage(
    config: ExperimentConfig,
    run_dir: Path,
    store: RunStore,
    pairs: Sequence[Pair],
    judge: JudgeSource,
    progress: Progress,
) -> None:
    """Ask the organism and the control every control guise and judge the answers. Answers
    and judgments live in the store under keys of what determines them, so a resumed run
    asks nothing twice."""
    sources = model_sources(config, run_dir)
    tasks = _all_tasks(config, sources, pairs)
    if not tasks:
        return
    cpairs = list({t.pair.id: t.pair for t in tasks}.values())
    generate_stage(store, config, cpairs, sources, progress, tasks=tasks, stage="controls")
    judge_stage(store, config, judge, progress)


def _all_tasks(
    config: ExperimentConfig, sources: Sequence[ModelSource], pairs: Sequence[Pair]
) -> list[GenerationTask]:
    """The control guises for the organism and the control (every seed), and the feature
    attribution prompts for the organism's first seed."""
    asked = [s for s in sources if s.role in ROLES]
    organism = [s for s in sources if s.role == ROLES[0] and s.replicate == 0]
    return _tasks(config, control_pairs(config, pairs), asked) + _tasks(
        config, attribution_pairs(config, pairs), organism
    )


def trigger_results(
    config: ExperimentConfig,
    run_dir: Path,
    store: RunStore,
    pairs: Sequence[Pair],
    judge: JudgeSource,
    samples: pd.DataFrame,
) -> dict[str, Any] | None:
    """The control guises' figures from what the store holds (None when it holds none), set
    against ``samples``, the run's samples table."""
    tasks = _all_tasks(config, model_sources(config, run_dir), pairs)
    gens = store.generations(t.key for t in tasks)
    if not gens:
        return None
    frame = judged_samples(config, store, gens, judge)
    attributed = frame["variety"].astype(str).str.contains(":", regex=False)
    out = trigger_summary(samples, frame[~attributed], config)
    out["feature_attribution"] = attribution_summary(frame[attributed], config)
    return out


def _item_rates(frame: pd.DataFrame, config: ExperimentConfig) -> pd.DataFrame:
    """Per (model, lang, variety, guise, item): misaligned and coherent rates among scored
    answers."""
    flags = prepare_samples(frame, config.analysis)
    flags = flags.assign(variety=frame["variety"].astype(str).to_numpy())
    flags = flags[flags["scored"]]
    return (
        flags.groupby(["model", "lang", "variety", "guise", "item"])
        .agg(misaligned=("misaligned", "mean"), coherent=("coherent", "mean"))
        .reset_index()
    )


def _paired(
    a: pd.Series, b: pd.Series, config: ExperimentConfig, *labels: str
) -> dict[str, Any] | None:
    """Mean of ``a - b`` over the items both have, with the run's bootstrap CI and p."""
    items = sorted(set(a.index) & set(b.index))
    diff = pd.Series([a[i] - b[i] for i in items], index=items, dtype="float64")
    return paired_summary(diff, config.analysis, "trigger", *labels)


def trigger_summary(
    samples: pd.DataFrame, controls: pd.DataFrame, config: ExperimentConfig
) -> dict[str, Any]:
    """Per model and language: the dialect gap (vernacular - standard misaligned rate), each
    control guise's gap (control guise - standard), and dialect - control guise, paired by
    item; with each guise's misaligned and coherent rates."""
    main = _item_rates(samples, config)
    ctrl = _item_rates(controls, config) if not controls.empty else main.iloc[0:0]
    out: dict[str, Any] = {}
    for (model, lang), cell in main.groupby(["model", "lang"]):
        if model not in ROLES:
            continue
        std = cell[cell["guise"] == "standard"].set_index("item")
        dia = cell[cell["guise"] == "vernacular"].set_index("item")
        row: dict[str, Any] = {
            "standard": _rates(std),
            "dialect": {
                **_rates(dia),
                "variety": str(dia["variety"].iloc[0]) if len(dia) else None,
                "gap": _paired(dia["misaligned"], std["misaligned"], config, model, lang, "dia"),
            },
        }
        mine = ctrl[(ctrl["model"] == model) & (ctrl["lang"] == lang)]
        for variety, guise in mine.groupby("variety"):
            kind = str(variety).split("-", 1)[-1]
            g = guise.set_index("item")
            row[kind] = {
                **_rates(g),
                "variety": str(variety),
                "gap": _paired(g["misaligned"], std["misaligned"], config, model, lang, kind),
                "dialect_minus_this": _paired(
                    dia["misaligned"], g["misaligned"], config, model, lang, kind, "diff"
                ),
            }
        out.setdefault(str(model), {})[str(lang)] = row
    out["meta"] = {
        "method": (
            "misaligned-answer rate per guise (the run's judge and rule), item means; gaps "
            "paired by item with item-bootstrap CIs and sign-flip p-values"
        ),
        "controls": list(config.pairs.controls),
        "ci_level": config.analysis.ci_level,
    }
    return out


def _rates(frame: pd.DataFrame) -> dict[str, Any]:
    if frame.empty:
        return {"misaligned_rate": None, "coherent_rate": None, "n_items": 0}
    return {
        "misaligned_rate": float(frame["misaligned"].mean()),
        "coherent_rate": float(frame["coherent"].mean()),
        "n_items": len(frame),
    }


def attribution_summary(frame: pd.DataFrame, config: ExperimentConfig) -> dict[str, Any]:
    """Per language and feature: how much of the organism's gap the feature carries, as the
    misaligned rate with every feature minus the rate with that feature switched off, paired
    over the items where the feature fired (with the full transformer prompt's rate and its
    gap against nothing removed)."""
    if frame.empty:
        return {}
    rates = _item_rates(frame, config)
    rates = rates[rates["guise"] == "vernacular"]
    out: dict[str, Any] = {}
    for lang, cell in rates.groupby("lang"):
        full_rows = cell[cell["variety"].str.endswith(f":{FULL}")]
        full = full_rows.set_index("item")["misaligned"]
        lang_out: dict[str, Any] = {
            "variety": str(full_rows["variety"].iloc[0]).split(":")[0] if len(full_rows) else None,
            "full": {
                "misaligned_rate": float(full.mean()) if len(full) else None,
                "n_items": len(full),
            },
            "features": {},
        }
        for variety, rows in cell.groupby("variety"):
            tag = str(variety).split(":", 1)[1]
            if tag == FULL:
                continue
            feature = tag.removeprefix("-")
            without = rows.set_index("item")["misaligned"]
            lang_out["features"][feature] = {
                "misaligned_rate_without": float(without.mean()),
                "carried": _paired(full, without, config, "attribution", str(lang), feature),
            }
        out[str(lang)] = lang_out
    return out
