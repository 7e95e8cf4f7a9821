"""Shared by the carts that cannot filter by update time (BASE, STORES, makeshop): poll by **order time** over a
look-back window, and key buyers without a cart customer id by their normalised email, as guests are.

Every sweep lists the orders placed in ``[since - lookback, now]``; ``since`` is the poller's watermark minus the
overlap. Changes to an order older than the window are not seen (the window is the cart's ``LOOKBACK``; documented
per cart). Event ids are stable per order / shipment / cancellation, so re-listing the same orders every sweep
publishes each change once (claimed in ``enishi.polling.service.publish_once``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from enishi import events as ev
from enishi import keys
from enishi.carts import Unprocessable

JST = timezone(timedelta(hours=9))


def unix(value: Any, where: str) -> datetime:
    if isinstance(value, bool) or value in (None, ""):
        raise Unprocessable("time missing", [{"loc": where, "msg": "missing"}])
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        raise Unprocessable("time is not Unix seconds", [{"loc": where, "msg": "bad time"}]) from exc


def iso(value: Any, where: str) -> datetime:
    try:
        t = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise Unprocessable("time is not ISO 8601", [{"loc": where, "msg": "bad time"}]) from exc
    if t.tzinfo is None:
        raise Unprocessable("time has no offset", [{"loc": where, "msg": "no offset"}])
    return t


def money(value: Any, where: str) -> Decimal:
    try:
        return Decimal(str(value if value is not None else 0))
    except InvalidOperation as exc:
        raise Unprocessable("amount is not a number", [{"loc": where, "msg": "bad amount"}]) from exc


def guest(email: Any, where: str = "email", name: Any = None) -> ev.CustomerRef:
    if not isinstance(email, str) or "@" not in email:
        raise Unprocessable("order has no buyer email", [{"loc": where, "msg": "missing"}])
    return ev.CustomerRef(
        customer_id=keys.guest_customer_id(email),
        guest=True,
        email=email,
        last_name=str(name) if name else None,
    )


def base(cart: str, shop: str, event_id: str, at: datetime, received_at: datetime) -> dict[str, Any]:
    return {"event_id": event_id, "shop": shop, "source": cart, "occurred_at": at, "received_at": received_at}
