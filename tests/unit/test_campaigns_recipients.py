"""Selecting a campaign's recipients from the analytics rows: the audience rule, each customer once, and the
holdout/variant decided by enishi.experiments (sticky across runs)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from enishi import experiments
from enishi.campaigns.recipients import Recipient, assign, candidate, count, scope, select
from enishi.campaigns.spec import Audience, Campaign, DayWindow, Variant

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
CAMPAIGN = Campaign(
    id="winter-sale",
    name="w",
    template="t",
    audience=Audience(segments=frozenset({"loyal"}), last_order_days=DayWindow(min=14)),
    holdout_percent=10,
    variants=(Variant(name="a"), Variant(name="b")),
)


def row(customer_id: str, segment: str = "loyal", days: int | None = 30, **kw) -> dict:
    return {
        "customer_id": customer_id,
        "stage": "repeat",
        "segment": segment,
        "days_since_last_order": days,
        **kw,
    }


def test_the_audience_narrows_and_each_customer_appears_once():
    rows = [row("a"), row("b", segment="new"), row("c", days=3), row("a"), row("d", reachable=[])]
    assert [r.customer_id for r in select(CAMPAIGN, rows, shop="s", now=NOW, default_holdout=5)] == ["a"]


def test_days_since_the_last_order_are_jst_calendar_days():
    c = candidate({"customer_id": "x", "last_order_at": "2026-11-30T15:30:00Z"}, NOW)  # 00:30 JST on 12/1
    assert c.days_since_last_order == 0


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1, max_size=12))
def test_assignment_is_sticky_and_the_held_out_see_no_variant(customer_id):
    first = assign(CAMPAIGN, "s", customer_id, default_holdout=5)
    assert first == assign(CAMPAIGN, "s", customer_id, default_holdout=5)
    assert first.holdout == experiments.in_holdout("s", customer_id, scope(CAMPAIGN), 10)
    assert (first.variant is None) == first.holdout
    assert Recipient.of(first.to_json()) == first


def test_the_holdout_is_near_its_percentage_and_counted():
    rows = [row(f"c{i}") for i in range(4000)]
    counts = count(select(CAMPAIGN, rows, shop="s", now=NOW, default_holdout=5))
    assert counts.recipients == 4000
    assert 320 <= counts.holdout <= 480  # 10 % ± 2 pts
    assert sum(counts.by_variant.values()) == counts.treated
