"""No sender time is trusted beyond the receipt (DESIGN invariant 7), for every canonical event, whatever adapter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from enishi import events as ev

RECEIVED = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
offsets = st.integers(min_value=-(10**7), max_value=10**7).map(lambda s: RECEIVED + timedelta(seconds=s))


@given(occurred=offsets, placed=offsets)
def test_an_order_never_happened_after_enishi_received_it(occurred, placed):
    event = ev.OrderPlaced(
        event_id="e",
        shop="s",
        source="generic",
        occurred_at=occurred,
        received_at=RECEIVED,
        order_id="o",
        customer=ev.CustomerRef(customer_id="c"),
        placed_at=placed,
        total=1,
    )
    assert event.occurred_at == min(occurred, RECEIVED) and event.placed_at == min(placed, RECEIVED)
    # and the detail parses back to the same event (consumers re-validate it)
    assert ev.parse_event(ev.to_detail(event)) == event


@given(occurred=offsets, forecast=offsets)
def test_a_forecast_may_lie_ahead_but_the_update_may_not(occurred, forecast):
    event = ev.FulfillmentUpdated(
        event_id="e",
        shop="s",
        source="generic",
        occurred_at=occurred,
        received_at=RECEIVED,
        fulfillment_id="f",
        order_id="o",
        status="success",
        estimated_delivery_at=forecast,
    )
    assert event.occurred_at == min(occurred, RECEIVED)
    assert event.estimated_delivery_at == forecast
