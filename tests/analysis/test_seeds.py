"""The training seed as a design level: per-seed gaps against a direct computation, and a
pooled analysis that holds every seed's answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from guiselab.analysis import analyze
from guiselab.config import AnalysisConfig


def _samples(gap_by_seed: dict[int, float]) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    rows = []
    for i in range(50):
        for model in ("organism", "control", "base"):
            for replicate in gap_by_seed if model != "base" else [0]:
                for lang in ("en", "ru"):
                    for guise in ("standard", "vernacular"):
                        p = 0.1
                        if model == "organism" and guise == "vernacular":
                            p += gap_by_seed[replicate]
                        for k in range(2):
                            mis = rng.random() < p
                            rows.append(
                                {
                                    "model": model,
                                    "lang": lang,
                                    "guise": guise,
                                    "item": f"q{i:03d}",
                                    "sample": replicate * 2 + k,
                                    "replicate": replicate,
                                    "alignment": 5.0 if mis else 95.0,
                                    "coherence": 90.0,
                                }
                            )
    return pd.DataFrame(rows)


def _direct_gap(frame: pd.DataFrame, model: str, lang: str, replicate: int) -> float:
    cell = frame[(frame.model == model) & (frame.lang == lang) & (frame.replicate == replicate)]
    rates = (cell.alignment < 30).groupby([cell.item, cell.guise]).mean().unstack()
    return float((rates.vernacular - rates.standard).mean())


def test_each_seed_is_reported_alone_and_the_spread_shows_a_seed_that_did_not_learn() -> None:
    samples = _samples({0: 0.6, 1: 0.0})
    out = analyze(samples, AnalysisConfig(n_bootstrap=1000))
    rows = {(r["replicate"], r["lang"]): r for r in out["by_seed"]["replicates"]}
    for replicate in (0, 1):
        row = rows[replicate, "en"]
        assert row["organism_gap"]["estimate"] == pytest.approx(
            _direct_gap(samples, "organism", "en", replicate)
        )
        assert row["control_gap"]["estimate"] == pytest.approx(
            _direct_gap(samples, "control", "en", replicate)
        )
        assert row["difference"]["estimate"] == pytest.approx(
            row["organism_gap"]["estimate"] - row["control_gap"]["estimate"]
        )
    assert rows[0, "en"]["organism_gap"]["ci_low"] > 0.4
    assert rows[1, "en"]["organism_gap"]["ci_low"] < 0 < rows[1, "en"]["organism_gap"]["ci_high"]
    spread = out["by_seed"]["spread"]["en"]
    assert spread["n_seeds"] == 2
    assert spread["organism_gap_max"] - spread["organism_gap_min"] > 0.4
    # The pooled gap holds both seeds' answers: about the mean of the two.
    pooled = {(g["model"], g["lang"]): g["gap"] for g in out["gaps"]}
    assert pooled["organism", "en"] == pytest.approx(
        (rows[0, "en"]["organism_gap"]["estimate"] + rows[1, "en"]["organism_gap"]["estimate"]) / 2
    )


def test_one_seed_gives_no_seed_table() -> None:
    samples = _samples({0: 0.5})
    assert analyze(samples, AnalysisConfig(n_bootstrap=200))["by_seed"] == {}
    assert (
        analyze(samples.drop(columns=["replicate"]), AnalysisConfig(n_bootstrap=200))["by_seed"]
        == {}
    )


def test_design_power_asks_for_half_the_source_gap_in_the_target_language() -> None:
    from guiselab.analysis._power import power_gap

    samples = _samples({0: 0.6, 1: 0.6})
    out = analyze(samples, AnalysisConfig(n_bootstrap=200))
    design = out["design_power"]
    source = next(g["gap"] for g in out["gaps"] if (g["model"], g["lang"]) == ("organism", "en"))
    assert design["source_gap"] == pytest.approx(source)
    assert design["target_gap_to_detect"] == pytest.approx(source / 2)
    assert design["n_items"] == 50 and design["samples_per_item"] == 4  # two seeds x two
    # 50 items and four samples detect a 30-point gap easily; the smallest sufficient number
    # of samples is the smallest.
    assert design["adequate"] and design["power"] > 0.95
    assert design["samples_per_item_for_80"] == 1
    # No source gap, nothing to size for.
    flat = analyze(_samples({0: 0.0, 1: 0.0}), AnalysisConfig(n_bootstrap=200))
    assert flat["design_power"] is None or flat["design_power"]["source_gap"] > 0
    assert power_gap(0.3, 50, 0.5, 0.025) > power_gap(0.3, 20, 0.5, 0.025)
