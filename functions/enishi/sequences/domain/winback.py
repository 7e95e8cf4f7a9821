"""Win-back, the rules (pure): which JST days a run processes, which day's orders are due, which of those orders'
customers are dormant, and the execution each one starts. The job's story: ``winback/service.py``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from enishi import clock
from enishi import constants as c
from enishi.profiles.items import OrderItem
from enishi.profiles.model import Profile
from enishi.sequences.domain.spec import SequencesSpec
from enishi.sequences.domain.starting import Start, start_for

MAX_CATCH_UP_DAYS = 31


def jst_today(now: datetime) -> date:
    return clock.to_utc(now).astimezone(clock.JST).date()


def run_days(cursor: date | None, today: date, limit: int = MAX_CATCH_UP_DAYS) -> list[date]:
    """The JST run-days a run at ``today`` processes: every day after the cursor through today (just today when
    there is no cursor yet: a fresh deployment does not reach into the past), at most the latest ``limit``."""
    first = today if cursor is None else cursor + timedelta(days=1)
    days = [first + timedelta(days=i) for i in range((today - first).days + 1)]
    return days[-limit:]


def due_day(now: datetime, threshold_days: int) -> date:
    """The JST calendar day whose orders are ``threshold_days`` old today (JST)."""
    return clock.to_utc(now).astimezone(clock.JST).date() - timedelta(days=threshold_days)


def placed_orders(orders: Iterable[OrderItem]) -> list[OrderItem]:
    """The orders that can make a customer dormant: still placed, with a customer and a time."""
    return [o for o in orders if o.status == "placed" and o.customer_id and o.placed_at]


def is_dormant(order: OrderItem, profile: Profile | None) -> bool:
    """Still the customer's last order (not ordered again since), not merged away, not erased."""
    return not (
        profile is None or profile.redacted or profile.merged_into or profile.last_order_id != order.order_id
    )


def winback_trigger(order: OrderItem) -> dict[str, Any]:
    assert order.placed_at is not None
    return {
        "order_id": order.order_id,
        "order_name": order.order_name,
        "last_order_at": clock.iso_z(order.placed_at),
        "line_items": [i.model_dump(mode="json") for i in order.items],
        "currency": order.currency,
    }


def dormant_starts(
    shop: str,
    spec: SequencesSpec,
    orders: Iterable[OrderItem],
    profiles: Mapping[str, Profile],
    now: datetime,
) -> list[Start]:
    """One win-back start per order whose customer is dormant (``orders`` already ``placed_orders``)."""
    starts: list[Start] = []
    for order in orders:
        if not is_dormant(order, profiles.get(order.customer_id or "")):
            continue  # ordered again since (not dormant), merged, or erased
        assert order.placed_at is not None and order.customer_id is not None
        start = start_for(
            spec,
            c.SEQUENCE_WINBACK,
            shop,
            order.customer_id,
            order.order_id,
            winback_trigger(order),
            now,
            now,
            trigger_at=order.placed_at,
        )
        if start is not None:
            starts.append(start)
    return starts
