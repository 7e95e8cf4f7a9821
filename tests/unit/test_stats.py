"""Intervals and tests for holdouts and A/B results, checked against published values and by properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enishi import stats


def test_newcombe_example_a() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 vs 48/80, method 10 → 0.0524 to 0.3339
    d = stats.proportion_difference(56, 70, 48, 80)
    assert d.estimate == pytest.approx(0.2)
    assert d.low == pytest.approx(0.0524, abs=5e-4)
    assert d.high == pytest.approx(0.3339, abs=5e-4)
    # example (b): 9/10 vs 3/10 → 0.1705 to 0.8090
    d = stats.proportion_difference(9, 10, 3, 10)
    assert (d.low, d.high) == (pytest.approx(0.1705, abs=5e-4), pytest.approx(0.8090, abs=5e-4))


def test_wilson_for_no_successes_is_not_a_point() -> None:
    w = stats.wilson(0, 10)
    assert w.low == 0.0
    assert w.high == pytest.approx(0.2775, abs=5e-4)  # the Wald interval would claim [0, 0]


def test_pooled_z_test() -> None:
    assert stats.two_proportion_p_value(56, 70, 48, 80) == pytest.approx(
        0.0080, abs=5e-4
    )  # z = 0.2 / 0.07547 = 2.650
    assert stats.two_proportion_p_value(0, 0, 1, 10) == 1.0


@settings(max_examples=200, deadline=None)
@given(n_t=st.integers(1, 5000), n_c=st.integers(1, 5000), a=st.floats(0, 1), b=st.floats(0, 1))
def test_the_difference_interval_contains_its_estimate_and_stays_in_range(
    n_t: int, n_c: int, a: float, b: float
) -> None:
    x_t, x_c = round(a * n_t), round(b * n_c)
    d = stats.proportion_difference(x_t, n_t, x_c, n_c)
    assert -1.0 <= d.low <= d.estimate <= d.high <= 1.0
    assert 0.0 <= stats.two_proportion_p_value(x_t, n_t, x_c, n_c) <= 1.0


def test_welch_difference_of_means() -> None:
    # treated: 100 customers, revenue 5,000 JPY each for 20 of them; control: 100, 10 of them
    t = stats.Moments(100, 20 * 5000.0, 20 * 5000.0**2)
    c = stats.Moments(100, 10 * 5000.0, 10 * 5000.0**2)
    d = stats.mean_difference(t, c)
    pooled = (99 * t.variance + 99 * c.variance) / 198
    assert c.variance < pooled < t.variance  # the control's own spread is floored at the pooled one
    se = math.sqrt(t.variance / 100 + pooled / 100)
    assert d.estimate == pytest.approx(500.0)
    assert d.high - d.estimate == pytest.approx(stats.Z95 * se)
    assert t.variance == pytest.approx(5000.0**2 * 0.2 * 0.8 * 100 / 99)


def test_a_control_group_where_nobody_bought_is_not_taken_for_an_exact_mean() -> None:
    """The 500-customer demo's welcome holdout: 9 held out, none bought; 17 of 102 treated bought ~¥4,000. Plain
    Welch took the control's spread of 0 at its word and excluded 0 from the interval; it must not."""
    t = stats.Moments(102, 17 * 4059.0, 17 * 4059.0**2)
    c = stats.Moments(9, 0.0, 0.0)
    welch_se = math.sqrt(t.variance / t.n + c.variance / c.n)
    assert t.mean - stats.Z95 * welch_se > 0  # what plain Welch claimed: a certain lift from 9 customers
    d = stats.mean_difference(t, c)
    assert d.low < 0 < d.estimate < d.high
    assert d.high - d.low > 3 * (2 * stats.Z95 * welch_se)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(0, 50_000), min_size=2, max_size=40),
    st.lists(st.floats(0, 50_000), min_size=2, max_size=40),
)
def test_the_revenue_interval_is_never_narrower_than_welchs(a: list[float], b: list[float]) -> None:
    t = stats.Moments(len(a), sum(a), sum(x * x for x in a))
    c = stats.Moments(len(b), sum(b), sum(x * x for x in b))
    d = stats.mean_difference(t, c)
    welch = stats.Z95 * math.sqrt(t.variance / t.n + c.variance / c.n)
    assert d.high - d.estimate >= welch * (1 - 1e-9) - 1e-6


def test_verdicts() -> None:
    big = stats.lift(300, stats.Moments(1000, 0, 0), 200, stats.Moments(1000, 0, 0))
    assert big.verdict == "lift" and big.conversion.low > 0
    assert big.incremental_conversions == pytest.approx(100.0)
    small = stats.lift(3, stats.Moments(20, 0, 0), 0, stats.Moments(5, 0, 0))
    assert small.verdict == "too_small"
    same = stats.lift(100, stats.Moments(1000, 0, 0), 100, stats.Moments(1000, 0, 0))
    assert same.verdict == "inconclusive"
    worse = stats.lift(100, stats.Moments(1000, 0, 0), 200, stats.Moments(1000, 0, 0))
    assert worse.verdict == "no_lift"


def test_no_winner_without_significance() -> None:
    assert stats.winner({"a": (50, 1000), "b": (55, 1000)}) is None
    assert stats.winner({"a": (50, 1000), "b": (120, 1000)}) == "b"
    assert stats.winner({"a": (1, 10), "b": (9, 10)}) is None  # too small to call
    assert stats.winner({"a": (50, 1000)}) is None
