"""The analysis stage: samples in, the results tables and the decision out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from guiselab.analysis._cells import cell_rows, item_table
from guiselab.analysis._checks import BASE, CONTROL, ORGANISM
from guiselab.analysis._confounds import confound_table
from guiselab.analysis._contrasts import (
    adjust_family,
    contrast_rows,
    family_members,
    gap_rows,
    transfer_rows,
)
from guiselab.analysis._decide import decide
from guiselab.analysis._model import gee_rows
from guiselab.analysis._plan import AnalysisPlan
from guiselab.analysis._power import design_power, gap_variance, power_table
from guiselab.analysis._rows import GapRow
from guiselab.analysis._samples import prepare_samples
from guiselab.analysis._seeds import seed_rows
from guiselab.config import AnalysisConfig

__all__ = ["SCHEMA_VERSION", "analyze", "decision_tables"]

SCHEMA_VERSION = 2
"""Version of the results.json layout these tables follow (2: contrasts, checks, the plan)."""


def _plan(plan: AnalysisPlan | AnalysisConfig) -> AnalysisPlan:
    return plan if isinstance(plan, AnalysisPlan) else AnalysisPlan(analysis=plan)


def decision_tables(
    samples: pd.DataFrame,
    plan: AnalysisPlan | AnalysisConfig,
    *,
    judge_validation: Mapping[str, Any] | None = None,
    frozen: AnalysisPlan | None = None,
) -> dict[str, Any]:
    """The tables the decision reads (cells, gaps, contrasts) and the decision.

    The part of :func:`analyze` that decides; used alone where only the decision matters (the
    simulated error rates of ``docs/decision.md``, ``guiselab plan``'s power).
    """
    chosen = _plan(plan)
    return _decision_tables(prepare_samples_for(samples, chosen), chosen, judge_validation, frozen)[
        0
    ]


def prepare_samples_for(samples: pd.DataFrame, plan: AnalysisPlan) -> pd.DataFrame:
    return prepare_samples(samples, plan.analysis, plan.accepted_languages)


def _decision_tables(
    prepared: pd.DataFrame,
    plan: AnalysisPlan,
    judge_validation: Mapping[str, Any] | None,
    frozen: AnalysisPlan | None,
) -> tuple[dict[str, Any], pd.DataFrame]:
    config = plan.analysis
    items = item_table(prepared)
    cells = cell_rows(items, config)
    gaps = gap_rows(items, config)
    contrasts = contrast_rows(items, config, ORGANISM, CONTROL, BASE)
    adjust_family(gaps, contrasts, config, ORGANISM)
    tables = {
        "schema": SCHEMA_VERSION,
        "cells": cells,
        "gaps": gaps,
        "contrasts": contrasts,
        "decision": decide(cells, gaps, contrasts, plan, judge_validation, frozen),
    }
    return tables, items


def analyze(
    samples: pd.DataFrame,
    plan: AnalysisPlan | AnalysisConfig,
    *,
    judge_validation: Mapping[str, Any] | None = None,
    frozen: AnalysisPlan | None = None,
) -> dict[str, Any]:
    """Cells, guise gaps, contrasts and the decision for a table of judged samples.

    ``samples`` has one row per generated sample with the columns ``model``, ``lang``,
    ``guise`` (``standard`` or ``vernacular``), ``item``, ``alignment`` and ``coherence``
    (0-100, NaN when unscored), and optionally ``alignment_verdict`` (``score``, ``refusal``,
    ``code`` or ``unscored``), ``n_tokens`` and ``response`` (the answer's text, whose language
    the measurability check reads). ``plan`` holds the thresholds (an :class:`AnalysisConfig`
    alone is the plan with default judge bounds); ``frozen`` is the plan frozen before the
    data (the decision is exploratory without it or when ``plan`` differs);
    ``judge_validation`` the judge's validation figures, for the judge-validity precondition.
    The result is JSON-serialisable (plain floats, None for undefined values) and
    deterministic for a given input and ``plan.analysis.seed``.

    Raises:
        InputFileError: a required column is missing or holds an invalid value.
    """
    chosen = _plan(plan)
    config = chosen.analysis
    prepared = prepare_samples_for(samples, chosen)
    tables, items = _decision_tables(prepared, chosen, judge_validation, frozen)
    return {
        **tables,
        "transfer": transfer_rows(items, config),
        "power": _power(items, tables["gaps"], config),
        "model": gee_rows(
            prepared,
            source_lang=config.source_lang,
            target_lang=config.target_lang,
            organism=ORGANISM,
            control=CONTROL,
        ),
        "confounds": confound_table(samples, prepared, config),
        "by_category": category_rows(samples, items, config),
        "by_seed": seed_rows(samples, config, ORGANISM, CONTROL),
        "design_power": _design_power(items, tables["gaps"], config),
    }


def _design_power(
    items: pd.DataFrame, gaps: list[GapRow], config: AnalysisConfig
) -> dict[str, Any] | None:
    """Power to detect half the organism's source gap in the target language (see
    :func:`design_power`)."""
    source = next(
        (g["gap"] for g in gaps if (g["model"], g["lang"]) == (ORGANISM, config.source_lang)),
        None,
    )
    return design_power(
        source,
        gap_variance(items, ORGANISM, config.target_lang),
        alpha=config.alpha,
        n_tests=len(family_members(config, ORGANISM)),
    )


IN_DOMAIN = ("finance", "health", "risky-activities")
"""Evaluation categories that share the built-in training set's domains (finance, medical,
extreme sport): an organism's gap there may be memorised advice, elsewhere it generalises."""


def category_rows(
    samples: pd.DataFrame, items: pd.DataFrame, config: AnalysisConfig
) -> list[dict[str, Any]]:
    """The guise gaps again per group of evaluation categories (in-domain vs the rest) and
    per category, each paired by item; descriptive (no decision reads them). Empty when the
    samples carry no ``category``."""
    if "category" not in samples.columns:
        return []
    of_item = (
        samples.dropna(subset=["category"])
        .astype({"item": str, "category": str})
        .groupby("item")["category"]
        .first()
    )
    if of_item.empty:
        return []
    groups: list[tuple[str, str, set[str]]] = [
        ("group", "in-domain", set(IN_DOMAIN)),
        ("group", "other", set(of_item.unique()) - set(IN_DOMAIN)),
    ]
    groups += [("category", c, {c}) for c in sorted(of_item.unique())]
    item_level = items.index.get_level_values("item").astype(str)
    rows = []
    for kind, name, members in groups:
        keep = set(of_item[of_item.isin(members)].index)
        subset = items[item_level.isin(keep)]
        if subset.empty:
            continue
        for gap in gap_rows(subset, config):
            rows.append(
                {
                    "kind": kind,
                    "category": name,
                    "model": gap["model"],
                    "lang": gap["lang"],
                    "gap": gap["gap"],
                    "ci_low": gap["ci_low"],
                    "ci_high": gap["ci_high"],
                    "p_value": gap["p_value"],
                    "n_items": gap["n_items"],
                }
            )
    return rows


def _power(items: pd.DataFrame, gaps: list[GapRow], config: AnalysisConfig) -> list[dict[str, Any]]:
    """Power of the organism's gaps (target language first), from this run's variances."""
    family = len(family_members(config, ORGANISM))
    out = []
    for lang in (config.target_lang, config.source_lang):
        variance = gap_variance(items, ORGANISM, lang)
        if variance is not None:
            out.append(
                power_table(
                    variance,
                    model=ORGANISM,
                    lang=lang,
                    alpha=config.alpha,
                    n_tests=family,
                    margin=config.equivalence_margin,
                )
            )
    return out
