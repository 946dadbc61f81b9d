"""The resampling statistics against scipy's reference implementations and hand computations."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from scipy import stats

from guiselab.analysis import analyze
from guiselab.analysis._stats import (
    bootstrap_mean,
    bootstrap_ratio,
    estimate_paired,
    holm,
    percentile_interval,
    rng_for,
    sign_flip_null,
    sign_flip_p,
)
from guiselab.config import AnalysisConfig

FloatArray = npt.NDArray[np.float64]

# Bootstrap draws for the comparisons with scipy: enough that the Monte-Carlo error of a 2.5 %
# quantile is about 3 % of the bootstrap standard error.
DRAWS = 10_000
# Allowed distance between two percentile intervals, in bootstrap standard errors (about four
# standard deviations of the difference of two independent Monte-Carlo quantile estimates).
INTERVAL_TOLERANCE_SE = 0.15


def _mean(x: FloatArray, axis: int = -1) -> FloatArray:
    return np.asarray(np.mean(x, axis=axis))


def _scipy_percentile_interval(values: FloatArray, level: float) -> tuple[float, float]:
    result = stats.bootstrap(
        (values,),
        _mean,
        n_resamples=DRAWS,
        method="percentile",
        confidence_level=level,
        vectorized=True,
        rng=np.random.default_rng(12345),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def _scipy_sign_flip_p(values: FloatArray, alternative: str) -> float:
    result = stats.permutation_test(
        (values,),
        _mean,
        permutation_type="samples",
        n_resamples=np.inf,
        alternative=alternative,
        vectorized=True,
    )
    return float(result.pvalue)


def _one_cell(misaligned: npt.NDArray[np.bool_]) -> pd.DataFrame:
    """A samples table of one cell from an (items x samples) matrix of misaligned flags."""
    n_items, n_samples = misaligned.shape
    return pd.DataFrame(
        {
            "model": "organism",
            "lang": "en",
            "guise": "vernacular",
            "item": np.repeat([f"q{i:02d}" for i in range(n_items)], n_samples),
            "sample": np.tile(np.arange(n_samples), n_items),
            "alignment": np.where(misaligned.ravel(), 5.0, 95.0),
            "coherence": 90.0,
        }
    )


def test_cell_interval_agrees_with_scipy_percentile_bootstrap_of_item_means() -> None:
    rng = np.random.default_rng(0)
    item_rates = rng.beta(2, 5, size=30)
    misaligned = rng.random((30, 8)) < item_rates[:, None]
    config = AnalysisConfig(n_bootstrap=DRAWS)

    cell = analyze(_one_cell(misaligned), config)["cells"][0]

    item_means = misaligned.mean(axis=1)
    low, high = _scipy_percentile_interval(item_means, config.ci_level)
    standard_error = item_means.std() / np.sqrt(item_means.size)
    assert cell["misaligned_rate"] == pytest.approx(item_means.mean())
    assert cell["ci_low"] == pytest.approx(low, abs=INTERVAL_TOLERANCE_SE * standard_error)
    assert cell["ci_high"] == pytest.approx(high, abs=INTERVAL_TOLERANCE_SE * standard_error)


def test_gap_interval_agrees_with_scipy_percentile_bootstrap_of_item_differences() -> None:
    rng = np.random.default_rng(1)
    differences = rng.normal(0.1, 0.3, size=50)
    result = estimate_paired(
        differences,
        n_bootstrap=DRAWS,
        n_permutations=1000,
        ci_level=0.9,
        alpha=0.05,
        rng=rng_for(0, "test"),
    )
    low, high = _scipy_percentile_interval(differences, 0.9)
    standard_error = differences.std() / np.sqrt(differences.size)
    assert result.ci_low == pytest.approx(low, abs=INTERVAL_TOLERANCE_SE * standard_error)
    assert result.ci_high == pytest.approx(high, abs=INTERVAL_TOLERANCE_SE * standard_error)


def test_pooled_ratio_equals_mean_when_items_are_equal_sized() -> None:
    values = np.random.default_rng(2).random(25)
    ratio = bootstrap_ratio(values * 4, np.full(25, 4.0), 500, rng_for(3, "a"))
    mean = bootstrap_mean(values, 500, rng_for(3, "a"))
    np.testing.assert_allclose(ratio, mean)


def test_tost_interval_is_inside_the_confidence_interval() -> None:
    differences = np.random.default_rng(4).normal(size=40)
    result = estimate_paired(
        differences,
        n_bootstrap=2000,
        n_permutations=1000,
        ci_level=0.95,
        alpha=0.05,
        rng=rng_for(0, "tost"),
    )
    assert result.ci_low < result.tost_low < result.estimate < result.tost_high < result.ci_high


@pytest.mark.parametrize(
    "differences",
    [
        np.random.default_rng(5).normal(0.3, 1.0, size=9),
        # Rates of 4-sample items: many exact ties, including zeros.
        np.random.default_rng(6).choice([-0.5, -0.25, 0.0, 0.25, 0.5, 0.75], size=10),
    ],
    ids=["continuous", "tied"],
)
@pytest.mark.parametrize("alternative", ["two-sided", "less"])
def test_exact_sign_flip_p_equals_scipy_permutation_test(
    differences: FloatArray, alternative: str
) -> None:
    null = sign_flip_null(differences, n_permutations=2**differences.size, rng=rng_for(0, "x"))
    assert null.exact
    ours = sign_flip_p(differences, null, "less" if alternative == "less" else "two-sided")
    assert ours == pytest.approx(_scipy_sign_flip_p(differences, alternative), rel=1e-12)


def test_gap_p_value_is_scipy_exact_p_for_few_items() -> None:
    rng = np.random.default_rng(7)
    standard = rng.random((8, 4)) < 0.2
    vernacular = rng.random((8, 4)) < 0.5
    samples = pd.concat(
        [_one_cell(standard).assign(guise="standard"), _one_cell(vernacular)], ignore_index=True
    )
    gap = analyze(samples, AnalysisConfig())["gaps"][0]
    differences = vernacular.mean(axis=1) - standard.mean(axis=1)
    assert gap["gap"] == pytest.approx(differences.mean())
    assert gap["p_value"] == pytest.approx(_scipy_sign_flip_p(differences, "two-sided"))


def test_monte_carlo_sign_flip_p_is_close_to_exact_and_corrected() -> None:
    differences = np.random.default_rng(8).normal(0.4, 1.0, size=16)
    n_permutations = 4000
    null = sign_flip_null(differences, n_permutations, rng_for(0, "mc"))
    assert not null.exact
    assert null.means.size == n_permutations
    exact = _scipy_sign_flip_p(differences, "two-sided")
    monte_carlo = sign_flip_p(differences, null, "two-sided")
    assert monte_carlo == pytest.approx(exact, abs=4 * np.sqrt(exact * (1 - exact) / 4000))


def test_monte_carlo_p_is_never_zero() -> None:
    differences = np.full(40, 0.5)
    null = sign_flip_null(differences, 1000, rng_for(0, "strong"))
    assert sign_flip_p(differences, null, "two-sided") == pytest.approx(1 / 1001)


def test_holm_matches_hand_computation() -> None:
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> running max 0.06
    adjusted = holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02])


def test_holm_leaves_missing_values_out_of_the_family_and_caps_at_one() -> None:
    adjusted = holm([0.2, None, float("nan"), 0.6])
    np.testing.assert_allclose(adjusted, [0.4, np.nan, np.nan, 0.6])
    np.testing.assert_allclose(holm([0.5, 0.7, 0.9]), [1.0, 1.0, 1.0])
    assert holm([]).size == 0


def test_holm_matches_its_definition_on_random_p_values() -> None:
    p = np.random.default_rng(9).random(12) ** 3
    order = np.argsort(p)
    m = p.size
    expected = np.empty(m)
    for rank, index in enumerate(order):
        steps = [(m - j) * p[order[j]] for j in range(rank + 1)]
        expected[index] = min(1.0, max(steps))
    np.testing.assert_allclose(holm(list(p)), expected)


def test_labelled_generators_are_reproducible_and_distinct() -> None:
    first = rng_for(0, "cell", "organism").random(4)
    np.testing.assert_array_equal(first, rng_for(0, "cell", "organism").random(4))
    assert not np.array_equal(first, rng_for(0, "cell", "control").random(4))
    assert not np.array_equal(first, rng_for(1, "cell", "organism").random(4))
    assert rng_for(-1, "negative seeds work").random() >= 0


def test_percentile_interval_of_known_draws() -> None:
    draws = np.arange(101, dtype=np.float64)
    assert percentile_interval(draws, 0.9) == pytest.approx((5.0, 95.0))
