"""BASE (api.thebase.in): a polled cart, by **order time** with a look-back window (``_ordertime``).

Sources: ``/work/shared/JP_CARTS.md`` §5 (docs.thebase.in/api/orders; baseinc/api-docs, archived 2019).

- No webhooks are documented. OAuth2 code; access token 1 h, refresh token ~30 days; the refresh grant needs
  ``client_secret`` and ``redirect_uri`` (stored in the connection's secret by ``enishi connect``).
- ``GET /1/orders`` filters by ``start_ordered`` / ``end_ordered`` only (no modified filter, although rows carry
  ``modified``), ``limit`` ≤ 100, ``offset``; items and tracking come from ``GET /1/orders/detail/{unique_key}``,
  fetched here only for rows whose ``modified`` is at/after the sweep's ``since`` (unchanged orders cost nothing).
- No customer id and no opt-in flag: buyers are keyed by normalised ``mail_address`` (as guests); no consent.
- Rate: 5,000 requests/hour per user (2019 docs) → one call every 0.75 s.

**Unverified** (to correct in ``STATUS`` / ``fetch_page``): the ``start_ordered`` text format (``Y-m-d H:i:s`` JST
sent); envelope keys ``orders`` / ``order``; ``dispatch_status`` meanings (unpaid and ordered and shipping read as
placed, dispatched as shipped, cancelled as cancelled); ``delivery_company_id`` → carrier names (none known: the
connection's ``default_carrier`` is used). Changes to orders older than ``LOOKBACK`` are not seen.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from enishi import events as ev
from enishi.carts import Unprocessable
from enishi.carts._ordertime import JST, base, guest, money, unix

CART = "base"
API_BASE = "https://api.thebase.in"
TOKEN_URL = API_BASE + "/1/oauth/token"
STREAMS = ("orders",)
PAGE_SIZE = 100
MIN_INTERVAL_SECONDS = 0.75  # 5,000 / hour
LOOKBACK = timedelta(days=30)
PLACED, SHIPPED, CANCELLED = "placed", "shipped", "cancelled"
STATUS = {
    "unpaid": PLACED,
    "ordered": PLACED,
    "shipping": PLACED,
    "dispatched": SHIPPED,
    "cancelled": CANCELLED,
}


def api_base(connection: Any) -> str:
    return connection.base_url.rstrip("/")


def updated_at(row: Mapping[str, Any]) -> datetime:
    return unix(row.get("modified") or row.get("ordered"), "modified")


def record_id(row: Mapping[str, Any]) -> str:
    return str(row.get("unique_key"))


def fetch_page(
    api: Any, stream: str, since: datetime, page: int, *, ordered_from: datetime | None = None
) -> tuple[list[dict[str, Any]], bool]:
    start = (ordered_from or since - LOOKBACK).astimezone(JST).strftime("%Y-%m-%d %H:%M:%S")
    answer = api.get(
        "/1/orders", {"start_ordered": start, "limit": PAGE_SIZE, "offset": (page - 1) * PAGE_SIZE}
    )
    rows = [r for r in (answer or {}).get("orders") or [] if isinstance(r, dict)]
    changed = []
    for row in rows:
        try:
            fresh = updated_at(row) >= since
        except Unprocessable:
            fresh = True  # let the mapping keep it for replay
        if fresh and row.get("unique_key"):
            detail = (api.get(f"/1/orders/detail/{row['unique_key']}", {}) or {}).get("order")
            changed.append({**row, **detail} if isinstance(detail, dict) else row)
    return changed, len(rows) == PAGE_SIZE


def order_events(connection: Any, order: Mapping[str, Any], received_at: datetime) -> list[ev.EventBase]:
    key = order.get("unique_key")
    if not key:
        raise Unprocessable("BASE order has no unique_key", [{"loc": "unique_key", "msg": "missing"}])
    shop, status = connection.shop_id, STATUS.get(str(order.get("dispatch_status")))
    customer = guest(order.get("mail_address"), "mail_address", order.get("last_name") or order.get("name"))
    placed_at = unix(order.get("ordered"), "ordered")
    if status is None:
        return []
    if status == CANCELLED:
        at = unix(order.get("cancelled") or order.get("modified"), "cancelled")
        return [
            ev.OrderCancelled(
                **base(CART, shop, f"{CART}:{shop}:order:{key}:cancelled", at, received_at),
                order_id=str(key),
                customer=customer,
                cancelled_at=at,
                reason="base_cancelled",
            )
        ]
    items = tuple(
        ev.LineItem(
            product_id=str(i.get("item_id")) if i.get("item_id") else None,
            variant_id=str(i.get("variation_id")) if i.get("variation_id") else None,
            title=str(i.get("title") or i.get("item_id") or ""),
            quantity=max(1, int(i.get("amount") or 1)),
            price=money(i.get("price"), "price"),
        )
        for i in order.get("order_items") or []
        if isinstance(i, dict)
    )
    out: list[ev.EventBase] = [
        ev.OrderPlaced(
            **base(CART, shop, f"{CART}:{shop}:order:{key}:placed", placed_at, received_at),
            order_id=str(key),
            order_name=str(key),
            customer=customer,
            placed_at=placed_at,
            total=money(order.get("total"), "total"),
            line_items=items,
            financial_status="pending" if order.get("dispatch_status") == "unpaid" else "paid",
        )
    ]
    number = str(order.get("tracking_number") or "").strip()
    if status == SHIPPED:
        at = unix(order.get("dispatched") or order.get("modified"), "dispatched")
        out.append(
            ev.FulfillmentUpdated(
                **base(CART, shop, f"{CART}:{shop}:order:{key}:shipped:{number}", at, received_at),
                fulfillment_id=str(key),
                order_id=str(key),
                customer=customer,
                status="success",
                tracking_company=connection.default_carrier,
                tracking_numbers=(number,) if number else (),
            )
        )
    return out


RECORD_EVENTS: dict[str, Callable[[Any, Mapping[str, Any], datetime], list[ev.EventBase]]] = {
    "orders": order_events
}
