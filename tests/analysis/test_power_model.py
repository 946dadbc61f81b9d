"""Power formulas against simulated rejection rates, interval coverage over simulated
experiments, and the GEE against a direct statsmodels fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from guiselab.analysis._power import (
    gap_variance,
    items_for_gap,
    power_equivalence,
    power_gap,
)
from guiselab.analysis._stats import estimate_paired

ALPHA = 0.05


def simulate_item_counts(
    rng: np.random.Generator,
    *,
    n_items: int,
    samples: int,
    rate: float,
    gap: float,
    item_gap_sd: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Misaligned counts (standard, vernacular) per item under the variance-components model
    the power formulas assume: each item's true gap is normal around ``gap``, each sample a
    Bernoulli draw. Written here, apart from the code under test."""
    true_gap = rng.normal(gap, item_gap_sd, n_items)
    p_std = np.full(n_items, rate)
    p_ver = np.clip(p_std + true_gap, 0.0, 1.0)
    return rng.binomial(samples, p_std), rng.binomial(samples, p_ver)


def _items(std: np.ndarray, ver: np.ndarray, samples: int) -> pd.DataFrame:
    """Item tallies in the analysis's layout for one model and language."""
    n = len(std)
    index = pd.MultiIndex.from_tuples(
        [
            ("organism", "ru", guise, f"q{i:03d}")
            for guise in ("standard", "vernacular")
            for i in range(n)
        ],
        names=["model", "lang", "guise", "item"],
    )
    counts = np.concatenate([std, ver]).astype(float)
    return pd.DataFrame({"n_scored": float(samples), "n_misaligned": counts}, index=index)


def _gaps(std: np.ndarray, ver: np.ndarray, samples: int) -> np.ndarray:
    return (ver - std) / samples


@pytest.mark.parametrize(
    ("n_items", "samples", "rate", "gap", "item_sd"),
    [(30, 4, 0.2, 0.12, 0.10), (50, 5, 0.3, 0.12, 0.08)],
)
def test_predicted_power_matches_the_simulated_rejection_rate(
    n_items: int, samples: int, rate: float, gap: float, item_sd: float
) -> None:
    rng = np.random.default_rng(11)
    # The variance comes from a pilot, as it would in use; the prediction is then checked
    # against the sign-flip test the analysis runs, on 400 fresh experiments.
    pilot = gap_variance(
        _items(
            *simulate_item_counts(
                rng, n_items=400, samples=samples, rate=rate, gap=gap, item_gap_sd=item_sd
            ),
            samples,
        ),
        "organism",
        "ru",
    )
    assert pilot is not None
    predicted = power_gap(gap, n_items, pilot.sd(samples), ALPHA)
    rejected = 0
    runs = 800
    for _ in range(runs):
        std, ver = simulate_item_counts(
            rng, n_items=n_items, samples=samples, rate=rate, gap=gap, item_gap_sd=item_sd
        )
        result = estimate_paired(
            _gaps(std, ver, samples),
            n_bootstrap=100,
            n_permutations=2000,
            ci_level=0.95,
            alpha=ALPHA,
            rng=rng,
        )
        rejected += result.p_value < ALPHA
    assert 0.2 < predicted < 0.95  # a design where power is informative
    assert abs(rejected / runs - predicted) < 0.05


def test_predicted_equivalence_power_matches_simulated_tost() -> None:
    rng = np.random.default_rng(12)
    n_items, samples, margin = 80, 10, 0.06
    pilot = gap_variance(
        _items(
            *simulate_item_counts(
                rng, n_items=400, samples=samples, rate=0.2, gap=0.0, item_gap_sd=0.08
            ),
            samples,
        ),
        "organism",
        "ru",
    )
    assert pilot is not None
    predicted = power_equivalence(margin, n_items, pilot.sd(samples), ALPHA)
    shown, runs = 0, 300
    for _ in range(runs):
        std, ver = simulate_item_counts(
            rng, n_items=n_items, samples=samples, rate=0.2, gap=0.0, item_gap_sd=0.08
        )
        result = estimate_paired(
            _gaps(std, ver, samples),
            n_bootstrap=1000,
            n_permutations=100,
            ci_level=0.95,
            alpha=ALPHA,
            rng=rng,
        )
        shown += -margin < result.tost_low and result.tost_high < margin
    assert 0.2 < predicted < 0.95
    assert abs(shown / runs - predicted) < 0.06


def test_items_needed_reach_the_target_power() -> None:
    n = items_for_gap(0.1, 0.4, ALPHA)
    assert power_gap(0.1, n, 0.4, ALPHA) >= 0.8 > power_gap(0.1, n - 1, 0.4, ALPHA)


def test_gap_intervals_cover_the_planted_gap_near_their_nominal_rate() -> None:
    rng = np.random.default_rng(13)
    covered, runs = 0, 300
    for _ in range(runs):
        std, ver = simulate_item_counts(
            rng, n_items=40, samples=5, rate=0.25, gap=0.1, item_gap_sd=0.1
        )
        result = estimate_paired(
            _gaps(std, ver, 5),
            n_bootstrap=1000,
            n_permutations=100,
            ci_level=0.95,
            alpha=ALPHA,
            rng=rng,
        )
        # The planted mean gap, less what clipping rates to [0, 1] takes off.
        covered += result.ci_low <= 0.1 <= result.ci_high
    assert 0.90 <= covered / runs <= 0.985


def _samples(rng: np.random.Generator) -> pd.DataFrame:
    """Organism and control samples with a planted guise effect in the organism's ru cells."""
    rows = []
    for i in range(40):
        item_effect = rng.normal(0, 0.5)
        for model in ("organism", "control"):
            for lang in ("en", "ru"):
                for guise in ("standard", "vernacular"):
                    logit = -1.5 + item_effect
                    if model == "organism" and guise == "vernacular":
                        logit += 1.5 if lang == "ru" else 0.4
                    p = 1 / (1 + np.exp(-logit))
                    for s in range(4):
                        rows.append((model, lang, guise, f"q{i}", s, bool(rng.random() < p)))
    frame = pd.DataFrame(rows, columns=["model", "lang", "guise", "item", "sample", "misaligned"])
    frame["scored"] = True
    return frame


def test_gee_terms_equal_a_direct_statsmodels_fit() -> None:
    import statsmodels.api as sm

    from guiselab.analysis._model import gee_rows

    data = _samples(np.random.default_rng(3))
    rows = gee_rows(
        data, source_lang="en", target_lang="ru", organism="organism", control="control"
    )
    by_question = {(r["question"], r.get("lang")): r for r in rows}
    # Direct fit with an explicit design matrix (no formula) for the organism's interaction.
    mine = data[data["model"] == "organism"]
    v = (mine["guise"] == "vernacular").astype(float).to_numpy()
    t = (mine["lang"] == "ru").astype(float).to_numpy()
    design = np.column_stack([np.ones(len(mine)), v, t, v * t])
    direct = sm.GEE(
        mine["misaligned"].astype(float).to_numpy(),
        design,
        groups=mine["item"].to_numpy(),
        family=sm.families.Binomial(),
        cov_struct=sm.cov_struct.Exchangeable(),
    ).fit()
    ours = by_question[("guise_by_language", None)]
    assert ours["log_odds"] == pytest.approx(direct.params[3], rel=1e-6)
    assert ours["se"] == pytest.approx(direct.bse[3], rel=1e-6)
    assert ours["log_odds"] > 0  # the planted larger ru guise effect
    conditioning = by_question[("conditioning", "ru")]
    assert conditioning["ci_low"] > 0  # the organism's ru guise effect beyond the control's


def test_item_gap_sd_matches_the_observed_spread_with_varied_base_rates() -> None:
    # Items' base rates split between 0.1 and 0.9: pooled p(1-p) would count that twice.
    rng = np.random.default_rng(21)
    n, k = 2000, 10
    base = np.where(rng.random(n) < 0.5, 0.1, 0.9)
    std, ver = rng.binomial(k, base), rng.binomial(k, base)
    variance = gap_variance(_items(std, ver, k), "organism", "ru")
    assert variance is not None
    observed = float(np.std(_gaps(std, ver, k), ddof=1))
    assert variance.sd(k) == pytest.approx(observed, rel=0.05)


def test_prompt_lengths_count_each_distinct_prompt_once() -> None:
    from guiselab.analysis._confounds import confound_table
    from guiselab.analysis._samples import prepare_samples
    from guiselab.config import AnalysisConfig

    prompts = ["a" * 40, "b" * 40, "c" * 100]
    samples = pd.DataFrame(
        {
            "model": "organism",
            "lang": "en",
            "guise": "standard",
            "item": [f"q{i}" for i in range(3)] * 2,
            "prompt": prompts * 2,  # two samples of each prompt
            "alignment": 80.0,
            "coherence": 90.0,
        }
    )
    table = confound_table(samples, prepare_samples(samples, AnalysisConfig()), AnalysisConfig())
    assert table["prompt_chars"] == [{"lang": "en", "guise": "standard", "mean": 60.0}]
