"""The analysis stage: samples in, the results tables and the decision out."""

from __future__ import annotations

from typing import Any

import pandas as pd

from guiselab.analysis._cells import cell_rows, item_table
from guiselab.analysis._confounds import confound_table
from guiselab.analysis._contrasts import gap_rows, transfer_rows
from guiselab.analysis._model import gee_rows
from guiselab.analysis._power import gap_variance, power_table
from guiselab.analysis._rows import GapRow
from guiselab.analysis._samples import prepare_samples
from guiselab.analysis.decision import CONTROL, ORGANISM, decide
from guiselab.config import AnalysisConfig

__all__ = ["SCHEMA_VERSION", "analyze"]

SCHEMA_VERSION = 1
"""Version of the results.json layout these tables follow."""


def analyze(samples: pd.DataFrame, config: AnalysisConfig) -> dict[str, Any]:
    """Cells, guise gaps, transfer contrasts and the decision for a table of judged samples.

    ``samples`` has one row per generated sample with the columns ``model``, ``lang``,
    ``guise`` (``standard`` or ``vernacular``), ``item``, ``alignment`` and ``coherence``
    (0-100, NaN when unscored), and optionally ``alignment_verdict`` (``score``, ``refusal``,
    ``code`` or ``unscored``) and ``n_tokens``. The result is JSON-serialisable (plain floats,
    None for undefined values) and deterministic for a given input and ``config.seed``.

    Raises:
        InputFileError: a required column is missing or holds an invalid value.
    """
    prepared = prepare_samples(samples, config)
    items = item_table(prepared)
    cells = cell_rows(items, config)
    gaps = gap_rows(items, config)
    transfer = transfer_rows(items, config)
    return {
        "schema": SCHEMA_VERSION,
        "cells": cells,
        "gaps": gaps,
        "transfer": transfer,
        "decision": decide(cells, gaps, transfer, config),
        "power": _power(items, gaps, config),
        "model": gee_rows(
            prepared,
            source_lang=config.source_lang,
            target_lang=config.target_lang,
            organism=ORGANISM,
            control=CONTROL,
        ),
        "confounds": confound_table(samples, prepared, config),
    }


def _power(items: pd.DataFrame, gaps: list[GapRow], config: AnalysisConfig) -> list[dict[str, Any]]:
    """Power of the organism's gaps (target language first), from this run's variances."""
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
                    n_tests=len(gaps),
                    margin=config.equivalence_margin,
                )
            )
    return out
