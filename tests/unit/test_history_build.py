"""Properties of the pure import (enishi.history.build): for any imported orders, F(n) = placed − cancelled, the
last order is the newest placed one, and re-applying the same import (with what it contributed) changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from enishi.history import build
from enishi.history.sources import ImportedCustomer, ImportedOrder
from enishi.profiles.model import StageThresholds

SHOP = "s.myshopify.com"
T0 = datetime(2024, 1, 1, tzinfo=UTC)
EXPORTED = datetime(2025, 6, 1, tzinfo=UTC)

orders = st.lists(
    st.tuples(st.integers(0, 500), st.integers(1, 50000), st.booleans()),
    max_size=30,
    unique_by=lambda t: t[0],
).map(
    lambda rows: [
        ImportedOrder(
            order_id=f"o{day}",
            customer_id="c1",
            email=None,
            placed_at=T0 + timedelta(days=day),
            total=Decimal(total),
            cancelled_at=T0 + timedelta(days=day, hours=1) if cancelled else None,
        )
        for day, total, cancelled in rows
    ]
)
states = st.sampled_from([None, "subscribed", "not_subscribed", "unsubscribed"])


@given(orders, states, st.booleans())
def test_import_is_exact_and_idempotent(imported, state, dated):
    history = build.History()
    for order in sorted(imported, key=lambda o: (o.placed_at, o.order_id)):
        history.add(order)
    customer = ImportedCustomer(
        customer_id="c1",
        email="a@example.jp",
        created_at=T0,
        consent_state=state,
        consent_at=T0 if dated else None,
    )
    placed = [o for o in imported if o.cancelled_at is None]
    p, contributed = build.profile_after_import(
        None, (0, Decimal(0)), SHOP, "c1", customer, history, EXPORTED, StageThresholds()
    )
    assert p.order_count == len(placed) == contributed[0]
    assert p.total_spent == sum((o.total for o in placed), Decimal(0))
    newest = max(placed, key=lambda o: (o.placed_at, o.order_id), default=None)
    assert p.last_order_id == (newest.order_id if newest else None)
    assert p.first_order_at == (min(o.placed_at for o in placed) if placed else None)
    assert (p.email_consent.state if p.email_consent else None) == state
    again, contributed_again = build.profile_after_import(
        p, contributed, SHOP, "c1", customer, history, EXPORTED, StageThresholds()
    )
    assert again == p and contributed_again == contributed
