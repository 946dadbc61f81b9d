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

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from guiselab.analysis import estimate_paired, rng_for
from guiselab.analysis._samples import prepare_samples
from guiselab.config import ExperimentConfig
from guiselab.errors import ConfigError
from guiselab.generate import generate_stage, plan_generations
from guiselab.judge import JudgeSource, judge_stage, judged_samples
from guiselab.models import ModelSource, model_sources
from guiselab.pairs import Pair, load_pairs, transformer
from guiselab.progress import Progress
from guiselab.store import RunStore

__all__ = ["ROLES", "control_pairs", "trigger_results", "trigger_stage", "trigger_summary"]

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
        for (item, lang), base in sorted(run_standard.items()):
            variety = f"{lang}-typos"
            try:
                guise = transformer(variety)
            except ConfigError:  # no typos transformer for this language
                continue
            made = guise(base.standard)
            if made.features:
                out.append(
                    Pair(
                        id=f"{item}-{lang}-{variety}",
                        item=item,
                        lang=lang,
                        variety=variety,
                        standard=base.standard,
                        vernacular=made.text,
                        category=base.category,
                        features=made.features,
                    )
                )
    return sorted(out, key=lambda p: (p.item, p.lang, p.variety))


def _tasks(config: ExperimentConfig, cpairs: Sequence[Pair], sources: Sequence[ModelSource]) -> Any:
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
    cpairs = control_pairs(config, pairs)
    asked = [s for s in model_sources(config, run_dir) if s.role in ROLES]
    if not cpairs or not asked:
        return
    tasks = _tasks(config, cpairs, asked)
    generate_stage(store, config, cpairs, asked, progress, tasks=tasks, stage="controls")
    judge_stage(store, config, judge, progress)


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
    cpairs = control_pairs(config, pairs)
    asked = [s for s in model_sources(config, run_dir) if s.role in ROLES]
    if not cpairs or not asked:
        return None
    gens = store.generations(t.key for t in _tasks(config, cpairs, asked))
    if not gens:
        return None
    return trigger_summary(samples, judged_samples(config, store, gens, judge), config)


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
    if not items:
        return None
    cfg = config.analysis
    diff = np.array([a[i] - b[i] for i in items], dtype=np.float64)
    est = estimate_paired(
        diff,
        n_bootstrap=cfg.n_bootstrap,
        n_permutations=cfg.n_permutations,
        ci_level=cfg.ci_level,
        alpha=cfg.alpha,
        rng=rng_for(cfg.seed, "trigger", *labels),
    )
    return {
        "estimate": est.estimate,
        "ci_low": est.ci_low,
        "ci_high": est.ci_high,
        "p_value": est.p_value,
        "n_items": est.n_items,
    }


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
