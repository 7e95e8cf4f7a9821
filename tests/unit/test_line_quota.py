"""LINE's quota answers → the published usage (the 80 % alarm's input)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from enishi.line_quota import logic


def test_a_limited_plan_reports_its_share_used():
    found = logic.usage({"type": "limited", "value": 5000}, {"totalUsage": 4000})
    assert (found.used, found.limit, found.percent) == (4000, 5000, 80.0)


def test_an_unlimited_plan_has_no_percent():
    found = logic.usage({"type": "none"}, {"totalUsage": 12})
    assert (found.used, found.limit, found.percent) == (12, None, None)


def test_a_zero_limit_is_all_used():
    assert logic.usage({"type": "limited", "value": 0}, {"totalUsage": 0}).percent == 100.0


def test_unknown_shapes_count_as_nothing_used_and_no_limit():
    found = logic.usage({"type": "limited", "value": "lots"}, {"totalUsage": -3})
    assert (found.used, found.limit) == (0, None)


@settings(max_examples=100, deadline=None)
@given(limit=st.integers(1, 10_000_000), used=st.integers(0, 20_000_000))
def test_percent_is_used_over_limit(limit, used):
    percent = logic.usage({"type": "limited", "value": limit}, {"totalUsage": used}).percent
    assert percent is not None and abs(percent - 100 * used / limit) <= 0.005
    assert (percent >= 80) == (100 * used / limit >= 79.995) or abs(100 * used / limit - 80) < 0.01
