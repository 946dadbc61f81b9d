"""The shared classifiers and metrics, against independent references: AUROC against scipy's
Mann-Whitney U, the logistic regression against statsmodels' maximum-likelihood Logit."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from guiselab.learn import fit_logistic, group_folds, predict_logistic, roc_auc


@pytest.mark.parametrize("seed", range(5))
def test_roc_auc_is_mann_whitney_u_over_the_pairs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 40
    labels = rng.random(n) < 0.4
    # Rounded scores so that ties occur (they count half on both sides).
    scores = np.round(rng.normal(labels * 0.8, 1.0), 1)
    u = mannwhitneyu(scores[labels], scores[~labels]).statistic
    assert roc_auc(scores, labels) == pytest.approx(u / (labels.sum() * (~labels).sum()))


def test_roc_auc_edge_cases() -> None:
    assert roc_auc(np.array([0.1, 0.9]), np.array([False, True])) == 1.0
    assert roc_auc(np.array([0.5, 0.5]), np.array([False, True])) == 0.5
    assert np.isnan(roc_auc(np.array([0.1, 0.2]), np.array([True, True])))


def test_fit_logistic_matches_statsmodels_logit() -> None:
    import statsmodels.api as sm

    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 3))
    z = x @ np.array([1.0, -2.0, 0.5]) + 0.3
    y = (rng.random(300) < 1 / (1 + np.exp(-z))).astype(np.float64)
    weights = fit_logistic(x, y, l2=0.0)
    reference = sm.Logit(y, np.hstack([x, np.ones((300, 1))])).fit(disp=0).params
    np.testing.assert_allclose(weights, reference, atol=1e-4)
    np.testing.assert_allclose(
        predict_logistic(weights, x),
        1 / (1 + np.exp(-(x @ reference[:-1] + reference[-1]))),
        atol=1e-5,
    )
    # A penalty shrinks the weights, never the bias.
    shrunk = fit_logistic(x, y, l2=100.0)
    assert np.linalg.norm(shrunk[:-1]) < np.linalg.norm(weights[:-1])


def test_fit_logistic_weights_match_statsmodels_frequency_weights() -> None:
    import statsmodels.api as sm

    rng = np.random.default_rng(4)
    x = rng.normal(size=(200, 2))
    y = (rng.random(200) < 1 / (1 + np.exp(-(x @ np.array([1.5, -1.0]))))).astype(np.float64)
    weight = rng.integers(1, 4, size=200).astype(np.float64)
    got = fit_logistic(x, y, l2=0.0, weight=weight)
    design = np.hstack([x, np.ones((200, 1))])
    reference = sm.GLM(y, design, family=sm.families.Binomial(), freq_weights=weight).fit().params
    np.testing.assert_allclose(got, reference, atol=1e-4)
    # A weight of 3 is three copies of the row.
    copies = np.repeat(np.arange(200), weight.astype(int))
    np.testing.assert_allclose(got, fit_logistic(x[copies], y[copies], l2=0.0), atol=1e-4)
    assert not np.allclose(got, fit_logistic(x, y, l2=0.0), atol=1e-3)


def test_group_folds_keep_groups_whole() -> None:
    groups = [f"q{i % 7}" for i in range(28)]
    for seed in (None, 0, 1):
        folds = group_folds(groups, 5, seed)
        assert len(folds) == len(groups) and set(folds.tolist()) == set(range(5))
        for name in set(groups):
            assert len({f for f, g in zip(folds, groups, strict=True) if g == name}) == 1
    # Without a seed the sorted groups are dealt to the folds in turn.
    assert group_folds(["b", "a", "c", "a"], 2).tolist() == [1, 0, 0, 0]
    assert group_folds(groups, 5, 0).tolist() == group_folds(groups, 5, 0).tolist()
