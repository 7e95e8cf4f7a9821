"""Pure: imported history (+ the stored profile) → the profile, order items and consent records to store.

No event is made and none is published: the past starts no sequence (the welcome listens to order.recorded with
F1, cart recovery to checkouts; the import writes neither). Everything here is deterministic in its inputs, so
an import run twice computes the same items and the loader writes nothing the second time.

A profile remembers what the import contributed (``import_orders``, ``import_spent`` attributes beside the model,
kept by the profile consumer's writes): a re-import with corrected files replaces that contribution instead of
adding to it, and orders the live system already recorded are never counted twice (the loader leaves them out).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from enishi import consent as rule
from enishi import events as ev
from enishi.history.sources import ImportedCustomer, ImportedOrder
from enishi.profiles import apply as logic
from enishi.profiles.items import ORDER_ITEMS_MAX, OrderItem, OrderLine
from enishi.profiles.model import Profile, StageThresholds, stored_stage

SOURCE = "import"


def order_item(shop: str, order: ImportedOrder) -> OrderItem:
    """The order item of an imported order: placed (or cancelled) at its own time, marked imported by the loader."""
    lines = [
        OrderLine(
            product_id=line.product_id or line.sku,
            variant_id=line.variant_id,
            title=line.title[: logic.TITLE_MAX],
            quantity=line.quantity,
            price=line.price,
        )
        for line in order.lines
    ]
    return OrderItem(
        shop=shop,
        order_id=order.order_id,
        customer_id=order.owner,
        status="cancelled" if order.cancelled_at else "placed",
        order_name=order.order_name,
        placed_at=order.placed_at,
        cancelled_at=order.cancelled_at,
        total=order.total,
        currency=order.currency,
        items=lines[:ORDER_ITEMS_MAX],
        item_count=len(lines) if len(lines) > ORDER_ITEMS_MAX else None,
        updated_at=order.cancelled_at or order.placed_at,
    )


def consent_of(customer: ImportedCustomer, exported_at: datetime) -> ev.Consent | None:
    """The cart's consent state as a record of source ``import``: an ``act`` at the cart's own update time when the
    export carries it, else a ``snapshot`` (which never outranks a recorded opt-out). ``exported_at`` plays the
    receive time of the consent rule (it is fixed per file, so a re-import gives the same record)."""
    if customer.consent_state is None:
        return None
    return rule.make(
        state=customer.consent_state,  # type: ignore[arg-type]
        kind="act" if customer.consent_at is not None else "snapshot",
        source=SOURCE,
        received_at=exported_at,
        sender_at=customer.consent_at,
        origin_at=customer.created_at,
        opt_in_level=customer.opt_in_level,  # type: ignore[arg-type]
        evidence=customer.evidence,
    )


@dataclass
class History:
    """A customer's imported orders, folded (built in order of ``placed_at`` by the loader)."""

    count: int = 0
    spent: Decimal = Decimal(0)
    currency: str | None = None
    first_at: datetime | None = None
    last: tuple[datetime, str] | None = None
    prev: tuple[datetime, str] | None = None
    cancelled: list[str] = field(default_factory=list)

    def add(self, order: ImportedOrder) -> None:
        if order.cancelled_at is not None:
            self.cancelled.append(order.order_id)
            return
        self.count += 1
        self.spent += order.total
        self.currency = self.currency or order.currency
        self.first_at = order.placed_at if self.first_at is None else min(self.first_at, order.placed_at)
        entry = (order.placed_at, order.order_id)
        if self.last is None or entry >= self.last:
            self.last, self.prev = entry, self.last
        elif self.prev is None or entry > self.prev:
            self.prev = entry


def import_marker(raw: dict[str, Any] | None) -> tuple[int, Decimal]:
    if not raw:
        return 0, Decimal(0)
    return int(raw.get("import_orders", 0)), Decimal(str(raw.get("import_spent", 0)))


def profile_after_import(
    existing: Profile | None,
    prior: tuple[int, Decimal],
    shop: str,
    customer_id: str,
    customer: ImportedCustomer | None,
    history: History | None,
    exported_at: datetime,
    stages: StageThresholds,
    *,
    guest: bool = False,
) -> tuple[Profile, tuple[int, Decimal]]:
    """The profile once the import's contribution replaces ``prior`` (what an earlier import added). Returns the
    profile and the new contribution (orders, spent) to remember."""
    history = history or History()
    times = [t for t in (customer.created_at if customer else None, history.first_at) if t is not None]
    created = min(times) if times else exported_at
    p = existing or logic.new_profile(shop, customer_id, created, guest=guest)
    if p.created_at > created:
        p = p.model_copy(update={"created_at": created})
    if customer is not None:
        p = _with_customer(p, customer_id, customer, created, exported_at)
    floor = customer.orders_count if customer is not None and customer.orders_count else 0
    contributed = (max(history.count, floor), history.spent)
    p = p.model_copy(update=_imported_orders(p, prior, contributed, history))
    p = p.model_copy(update={"stage": stored_stage(p.order_count, p.total_spent, stages)})
    return p, contributed


def _with_customer(
    p: Profile, customer_id: str, customer: ImportedCustomer, created: datetime, exported_at: datetime
) -> Profile:
    """The imported customer's identity and consent, under the same rules as live events."""
    ref = ev.CustomerRef(
        customer_id=customer_id,
        guest=p.guest,
        email=customer.email,
        phone=customer.phone,
        first_name=customer.first_name,
        last_name=customer.last_name,
    )
    p = logic.merge_identity(p, ref, customer.updated_at or customer.created_at or created)
    consent = consent_of(customer, exported_at)
    return logic.apply_consent(p, consent) if consent is not None else p


def _imported_orders(
    p: Profile, prior: tuple[int, Decimal], contributed: tuple[int, Decimal], history: History
) -> dict[str, Any]:
    """F(n), spend and order times once the import's contribution replaces ``prior`` and what the cart's count
    added at first sight."""
    floor_added = p.cart_floor_added if not p.history_imported else 0
    dedup = _latest_orders(p, history)
    firsts = [t for t in (p.first_order_at, history.first_at) if t is not None]
    updates: dict[str, Any] = {
        "order_count": max(0, p.order_count - prior[0] - floor_added) + contributed[0],
        "total_spent": max(Decimal(0), p.total_spent - prior[1]) + contributed[1],
        "history_imported": True,
        "cart_floor_added": 0,
        "first_order_at": min(firsts) if firsts else None,
        "last_order_at": dedup[0][0] if dedup else p.last_order_at,
        "last_order_id": dedup[0][1] if dedup else p.last_order_id,
        "prev_order_at": dedup[1][0] if len(dedup) > 1 else None,
        "prev_order_id": dedup[1][1] if len(dedup) > 1 else None,
    }
    if p.order_count == 0 and history.currency:
        updates["currency"] = history.currency
    return updates


def _latest_orders(p: Profile, history: History) -> list[tuple[datetime, str | None]]:
    """The profile's and the import's latest orders (time, id), newest first, one entry per order id (the
    consumer's rule, ``apply.latest_orders``; entries without an id are left out here)."""
    candidates = [(p.last_order_at, p.last_order_id), (p.prev_order_at, p.prev_order_id)]
    candidates += [c for c in (history.last, history.prev) if c is not None]
    return [(at, oid) for at, oid in logic.latest_orders(candidates) if oid]


def same_profile(a: Profile | None, b: Profile) -> bool:
    return a is not None and a.model_dump(exclude={"version"}) == b.model_dump(exclude={"version"})
