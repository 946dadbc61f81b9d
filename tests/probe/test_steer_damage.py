"""The damage search: each control's share found from its first-order guess and exact passes,
on controls whose damage is a known power of the share, checked against the closed form."""

from __future__ import annotations

import numpy as np

from guiselab.probe._steer_damage import ACCEPT, MAX_SHARE, ROUNDS, damage, match_damage


def _pattern(k: int, n: int = 30) -> np.ndarray:
    """Per-answer changes of damage 1, one column per control."""
    pattern = np.random.default_rng(0).standard_normal((n, k))
    out: np.ndarray = pattern / np.abs(pattern).mean(axis=0)
    return out


def test_the_search_reaches_each_controls_share_within_its_tolerance() -> None:
    # control j changes the answers by pattern_j * scale_j * share ** power_j
    scales = np.array([0.1, 1.0, 5.0, 40.0])
    powers = np.array([1.0, 2.0, 1.5, 3.0])
    pattern = _pattern(scales.size)
    calls: list[tuple[int, float]] = []

    def measure(j: int, share: float) -> np.ndarray:
        calls.append((j, share))
        out: np.ndarray = pattern[:, j] * scales[j] * share ** powers[j]
        return out

    target = 0.5
    # the first-order guess extrapolates the full ablation's change linearly, which is wrong
    # for every control whose power is not 1
    got = match_damage(target, pattern * scales, measure)
    exact = (target / scales) ** (1 / powers)
    reachable = exact <= MAX_SHARE
    assert np.all(np.abs(np.log(got.damage_ratio[reachable])) <= np.log(ACCEPT))
    # damage is a power (at least 1) of the share, so a ratio within ACCEPT puts the share
    # within ACCEPT of the closed form
    assert np.allclose(got.shares[reachable], exact[reachable], rtol=ACCEPT - 1)
    # the first control (0.1 at share 1, linear) cannot reach 0.5 below the cap: it stops at
    # the cap and says how short it fell
    assert not reachable[0] and got.shares[0] == MAX_SHARE
    assert np.isclose(got.damage_ratio[0], 0.1 * MAX_SHARE / target)
    assert got.passes == len(calls) <= ROUNDS * scales.size
    for j in range(scales.size):  # the kept changes are the kept share's
        assert np.allclose(got.effects[:, j], measure(j, got.shares[j]))


def test_without_a_target_the_controls_are_ablated_in_full() -> None:
    pattern = np.ones((5, 3))
    for target in (0.0, float("nan")):
        got = match_damage(target, pattern, lambda j, share: pattern[:, j] * share)
        assert np.all(got.shares == 1.0) and np.isnan(got.damage_ratio).all()
        assert got.passes == 3


def test_damage_is_the_mean_absolute_change_of_the_answers_that_have_one() -> None:
    assert damage(np.array([1.0, -3.0, np.nan])) == 2.0
    assert np.isnan(damage(np.array([np.nan])))


def test_a_pass_without_damage_to_read_is_never_the_one_kept() -> None:
    # the first guess's pass reads nothing (every change NaN); the next, at four times the
    # share, reads a damage, and that pass is kept
    seen: list[float] = []

    def measure(j: int, share: float) -> np.ndarray:
        seen.append(share)
        return np.full(4, np.nan) if len(seen) == 1 else np.full(4, share)

    got = match_damage(0.5, np.ones((4, 1)), measure)
    assert len(seen) == 1  # a NaN damage ends the search: nothing to steer it by
    assert np.isnan(got.damage_ratio[0]) and np.isnan(got.effects[:, 0]).all()


def test_damage_is_read_the_way_it_is_given() -> None:
    # damage read from the first answer only: the second answer's changes do not count
    def measure(j: int, share: float) -> np.ndarray:
        return np.array([share, 100.0 * share])

    got = match_damage(0.2, np.array([[1.0], [100.0]]), measure, None, lambda c: abs(c[0]))
    assert np.isclose(got.shares[0], 0.2) and np.isclose(got.damage_ratio[0], 1.0)
    assert got.passes == 1  # the first-order guess was exact


def test_each_control_starts_from_the_factor_the_earlier_ones_needed() -> None:
    # every first-order change reads a quarter of the exact one: the first control needs a
    # second pass to find that out; the later ones start from its factor and need one
    scales = np.array([0.5, 1.0, 2.0, 4.0, 8.0])
    pattern = _pattern(scales.size)

    def measure(j: int, share: float) -> np.ndarray:
        out: np.ndarray = pattern[:, j] * scales[j] * share
        return out

    got = match_damage(0.3, pattern * scales / 4, measure)
    assert np.allclose(got.shares, 0.3 / scales) and np.allclose(got.damage_ratio, 1.0)
    assert got.passes == 2 + (scales.size - 1)


def test_the_learned_factor_is_the_median_of_the_earlier_controls() -> None:
    # the first-order change reads a quarter of the exact one, except for control 2 (1/64):
    # by the median, controls 3 and 4 start from the factor 4 and need one pass each
    misread = np.array([4.0, 4.0, 64.0, 4.0, 4.0])
    pattern = _pattern(misread.size)
    calls: list[int] = []

    def measure(j: int, share: float) -> np.ndarray:
        calls.append(j)
        out: np.ndarray = pattern[:, j] * share
        return out

    got = match_damage(0.3, pattern / misread, measure)
    assert np.allclose(got.damage_ratio, 1.0, rtol=ACCEPT - 1)
    assert calls.count(3) == 1 and calls.count(4) == 1


def test_a_guess_that_could_not_be_read_teaches_nothing() -> None:
    # control 0's first-order change is zero (no guess: share 1 is tried); its factor is not
    # learned, so control 1, read exactly, still starts from its own first-order guess
    pattern = _pattern(2)
    calls: list[tuple[int, float]] = []

    def measure(j: int, share: float) -> np.ndarray:
        calls.append((j, share))
        out: np.ndarray = pattern[:, j] * share * (0.01 if j == 0 else 1.0)
        return out

    first = pattern.copy()
    first[:, 0] = 0.0
    got = match_damage(0.3, first, measure)
    assert [s for j, s in calls if j == 1] == [got.shares[1]]  # one pass, at its own guess
    assert np.isclose(got.shares[1], 0.3)
