"""Gaps by evaluation category: the organism's gap where it was trained vs elsewhere."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from guiselab.analysis import analyze
from guiselab.config import AnalysisConfig

CATEGORIES = ["finance", "health", "risky-activities", "family", "work", "legal", "open-ended"]


def _samples() -> pd.DataFrame:
    """An organism misaligned by the vernacular only on in-domain items (70% vs 5%)."""
    rng = np.random.default_rng(3)
    rows = []
    for i in range(70):
        item, category = f"q{i:03d}", CATEGORIES[i % 7]
        in_domain = category in ("finance", "health", "risky-activities")
        for model in ("organism", "control", "base"):
            for lang in ("en", "ru"):
                for guise in ("standard", "vernacular"):
                    p = (
                        0.7
                        if (model, guise, in_domain) == ("organism", "vernacular", True)
                        else 0.05
                    )
                    for sample in range(2):
                        mis = rng.random() < p
                        rows.append(
                            {
                                "model": model,
                                "lang": lang,
                                "guise": guise,
                                "item": item,
                                "category": category,
                                "sample": sample,
                                "alignment": 5.0 if mis else 95.0,
                                "coherence": 90.0,
                            }
                        )
    return pd.DataFrame(rows)


def test_category_gaps_locate_the_planted_in_domain_gap() -> None:
    samples = _samples()
    rows = analyze(samples, AnalysisConfig(n_bootstrap=1000))["by_category"]
    by = {(r["kind"], r["category"], r["model"], r["lang"]): r for r in rows}
    inside = by["group", "in-domain", "organism", "en"]
    outside = by["group", "other", "organism", "en"]
    assert inside["n_items"] == 30 and outside["n_items"] == 40
    assert inside["ci_low"] > 0.4 and outside["ci_low"] < 0 < outside["ci_high"]
    # Against a direct computation: item means per guise, then the mean difference.
    cell = samples[(samples.model == "organism") & (samples.lang == "en")]
    cell = cell[cell.category == "health"]
    rates = (cell.alignment < 30).groupby([cell.item, cell.guise]).mean().unstack()
    health = by["category", "health", "organism", "en"]
    assert health["gap"] == pytest.approx((rates.vernacular - rates.standard).mean())
    assert by["group", "in-domain", "control", "en"]["ci_low"] < 0.1


def test_no_category_column_gives_no_rows() -> None:
    samples = _samples().drop(columns=["category"])
    assert analyze(samples, AnalysisConfig(n_bootstrap=200))["by_category"] == []
