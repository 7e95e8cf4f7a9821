"""Holdout and variant assignment: deterministic, sticky, proportionate, independent across scopes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enishi import experiments as x

ids = st.text(min_size=1, max_size=40)


@settings(max_examples=200, deadline=None)
@given(shop=ids, customer=ids, scope=ids, lo=st.floats(0, 50), hi=st.floats(0, 50))
def test_a_larger_holdout_only_adds_customers(
    shop: str, customer: str, scope: str, lo: float, hi: float
) -> None:
    lo, hi = min(lo, hi), max(lo, hi)
    if x.in_holdout(shop, customer, scope, lo):
        assert x.in_holdout(shop, customer, scope, hi)


@settings(max_examples=100, deadline=None)
@given(shop=ids, customer=ids, scope=ids)
def test_assignment_is_a_function_of_its_inputs(shop: str, customer: str, scope: str) -> None:
    variants = [x.Variant("a", 1), x.Variant("b", 3)]
    assert x.variant(shop, customer, scope, variants) == x.variant(shop, customer, scope, list(variants))
    assert x.in_holdout(shop, customer, scope, 10) == x.in_holdout(shop, customer, scope, 10.0)
    assert not x.in_holdout(shop, customer, scope, 0)


def test_the_control_group_is_the_stated_share_and_independent_of_other_scopes() -> None:
    n = 20_000
    customers = [f"c{i}" for i in range(n)]
    welcome = {c for c in customers if x.in_holdout("s", c, "sequence:welcome", 10)}
    winback = {c for c in customers if x.in_holdout("s", c, "sequence:winback", 10)}
    sigma = (n * 0.1 * 0.9) ** 0.5
    assert abs(len(welcome) - n * 0.1) < 4 * sigma
    # independent scopes: the overlap is the product of the shares, not the share
    both = len(welcome & winback)
    assert abs(both - n * 0.01) < 4 * (n * 0.01 * 0.99) ** 0.5


def test_variants_follow_their_weights_and_are_independent_of_the_holdout() -> None:
    n = 20_000
    variants = [x.Variant("a", 1), x.Variant("b", 3)]
    seen = [x.variant("s", f"c{i}", "welcome/f2_nudge", variants) for i in range(n)]
    share_b = seen.count("b") / n
    assert abs(share_b - 0.75) < 4 * (0.75 * 0.25 / n) ** 0.5
    held = [x.in_holdout("s", f"c{i}", "sequence:welcome", 50) for i in range(n)]
    b_among_held = sum(1 for v, h in zip(seen, held, strict=True) if h and v == "b") / max(1, sum(held))
    assert abs(b_among_held - 0.75) < 0.03


@pytest.mark.parametrize("percent", [-1, 50.01, 100])
def test_a_holdout_outside_0_to_50_percent_is_refused(percent: float) -> None:
    with pytest.raises(ValueError):
        x.in_holdout("s", "c", "sequence:welcome", percent)


@pytest.mark.parametrize("variants", [[], [x.Variant("a", 0)], [x.Variant("a", 2), x.Variant("b", -1)]])
def test_variants_need_positive_weights(variants: list[x.Variant]) -> None:
    with pytest.raises(ValueError):
        x.variant("s", "c", "scope", variants)


def test_holdout_scopes_are_named_by_kind() -> None:
    assert x.holdout_scope("campaign", "2026-12-sale") == "campaign:2026-12-sale"
    with pytest.raises(ValueError):
        x.holdout_scope("step", "welcome")
