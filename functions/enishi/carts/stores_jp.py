"""STORES (api.stores.dev, retail API 202211): a polled cart, by **order time** with a look-back window.

Sources: ``/work/shared/JP_CARTS.md`` §6 (heyinc/retail-api-docs, heyinc/development-partner-docs).

- Closed API: needs 開発パートナー登録 (private apps: a ベーシック plan). No webhooks in the spec.
- OAuth2 code at ``https://api.id.stores.jp/oauth2/auth|token``; client authentication is ``private_key_jwt``
  (ES256); access token 1 h, refresh token 35 days and **rotated**. The connection's secret holds the private
  key (``enishi connect stores --private-key``), and ``TokenManager`` signs a fresh assertion for each refresh
  (``enishi.polling.client_assertion``; iss = sub = client id, aud = the token URL, jti, iat, exp = iat + 5 min).
- ``GET /retail/202211/orders`` filters by ordered_at (no updated_at filter; may lag real time; 429 on bursts),
  ``limit`` ≤ 100, ``offset``. Rows: id, number, email (no customer id → keyed by normalised email, as guests),
  payment_amount, ordered_at (ISO 8601 ``+09:00``), deliveries[] (items, shipped_at, canceled_at,
  tracking_number, delivery_method_name). No opt-in flag.

**Unverified**: the query parameter name of the ordered_at filter (``ordered_at_from`` sent), the envelope key
``orders``, item field names inside deliveries (``item_id``, ``variation_id``, ``price``, ``quantity``, ``name``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from enishi import events as ev
from enishi.carts import Unprocessable
from enishi.carts._ordertime import JST, base, guest, iso, money

CART = "stores"
API_BASE = "https://api.stores.dev"
TOKEN_URL = "https://api.id.stores.jp/oauth2/token"
STREAMS = ("orders",)
PAGE_SIZE = 100
MIN_INTERVAL_SECONDS = 1.0  # 429 on bursts; no figure published
LOOKBACK = timedelta(days=14)
ORDERS_PATH = "/retail/202211/orders"


def api_base(connection: Any) -> str:
    return connection.base_url.rstrip("/")


def updated_at(row: Mapping[str, Any]) -> datetime:
    """No update time in the rows: the latest of ordered / shipped / cancelled."""
    times = [iso(row.get("ordered_at"), "ordered_at")]
    for d in row.get("deliveries") or []:
        if isinstance(d, dict):
            times += [iso(d[k], k) for k in ("shipped_at", "canceled_at") if d.get(k)]
    return max(times)


def record_id(row: Mapping[str, Any]) -> str:
    return str(row.get("id"))


def fetch_page(
    api: Any, stream: str, since: datetime, page: int, *, ordered_from: datetime | None = None
) -> tuple[list[dict[str, Any]], bool]:
    start = (ordered_from or since - LOOKBACK).astimezone(JST).isoformat(timespec="seconds")
    answer = api.get(
        ORDERS_PATH, {"ordered_at_from": start, "limit": PAGE_SIZE, "offset": (page - 1) * PAGE_SIZE}
    )
    rows = [r for r in (answer or {}).get("orders") or [] if isinstance(r, dict)]
    return rows, len(rows) == PAGE_SIZE


def _str_or_none(value: Any) -> str | None:
    return str(value) if value else None


def _line_item(item: Mapping[str, Any]) -> ev.LineItem:
    return ev.LineItem(
        product_id=_str_or_none(item.get("item_id")),
        variant_id=_str_or_none(item.get("variation_id")),
        title=str(item.get("name") or item.get("item_id") or ""),
        quantity=max(1, int(item.get("quantity") or 1)),
        price=money(item.get("price"), "price"),
    )


def _line_items(deliveries: list[dict[str, Any]]) -> tuple[ev.LineItem, ...]:
    return tuple(_line_item(i) for d in deliveries for i in d.get("items") or [] if isinstance(i, dict))


def _cancelled(
    connection: Any,
    order_id: str,
    customer: ev.CustomerRef,
    deliveries: list[dict[str, Any]],
    received_at: datetime,
) -> ev.OrderCancelled:
    shop = connection.shop_id
    at = max(iso(d["canceled_at"], "canceled_at") for d in deliveries)
    return ev.OrderCancelled(
        **base(CART, shop, f"{CART}:{shop}:order:{order_id}:cancelled", at, received_at),
        order_id=order_id,
        customer=customer,
        cancelled_at=at,
        reason="stores_canceled",
    )


def _placed(
    connection: Any,
    order: Mapping[str, Any],
    order_id: str,
    customer: ev.CustomerRef,
    placed_at: datetime,
    deliveries: list[dict[str, Any]],
    received_at: datetime,
) -> ev.OrderPlaced:
    shop = connection.shop_id
    items = _line_items(deliveries)  # before the total: a bad price is the error reported first, as before
    return ev.OrderPlaced(
        **base(CART, shop, f"{CART}:{shop}:order:{order_id}:placed", placed_at, received_at),
        order_id=order_id,
        order_name=str(order.get("number") or order_id),
        customer=customer,
        placed_at=placed_at,
        total=money(order.get("payment_amount"), "payment_amount"),
        line_items=items,
    )


def _shipment(
    connection: Any,
    order_id: str,
    customer: ev.CustomerRef,
    n: int,
    delivery: Mapping[str, Any],
    received_at: datetime,
) -> ev.FulfillmentUpdated:
    """One shipped, not cancelled delivery; ``n`` is its position (its id when the row has none)."""
    shop = connection.shop_id
    number = str(delivery.get("tracking_number") or "").strip()
    did = str(delivery.get("id") or n)
    return ev.FulfillmentUpdated(
        **base(
            CART,
            shop,
            f"{CART}:{shop}:order:{order_id}:delivery:{did}:{number}",
            iso(delivery["shipped_at"], "shipped_at"),
            received_at,
        ),
        fulfillment_id=did,
        order_id=order_id,
        customer=customer,
        status="success",
        tracking_company=delivery.get("delivery_method_name") or connection.default_carrier,
        tracking_numbers=(number,) if number else (),
    )


def order_events(connection: Any, order: Mapping[str, Any], received_at: datetime) -> list[ev.EventBase]:
    """A cancelled order (every delivery cancelled) is one ``order.cancelled``; otherwise ``order.placed`` and one
    ``fulfillment.updated`` per shipped, not cancelled delivery."""
    oid = order.get("id")
    if oid in (None, ""):
        raise Unprocessable("STORES order has no id", [{"loc": "id", "msg": "missing"}])
    oid = str(oid)
    customer = guest(order.get("email"))
    placed_at = iso(
        order.get("ordered_at"), "ordered_at"
    )  # parsed first: a bad time refuses even a cancelled row
    deliveries = [d for d in order.get("deliveries") or [] if isinstance(d, dict)]
    if deliveries and all(d.get("canceled_at") for d in deliveries):
        return [_cancelled(connection, oid, customer, deliveries, received_at)]
    out: list[ev.EventBase] = [_placed(connection, order, oid, customer, placed_at, deliveries, received_at)]
    out += [
        _shipment(connection, oid, customer, n, d, received_at)
        for n, d in enumerate(deliveries)
        if d.get("shipped_at") and not d.get("canceled_at")
    ]
    return out


RECORD_EVENTS: dict[str, Callable[[Any, Mapping[str, Any], datetime], list[ev.EventBase]]] = {
    "orders": order_events
}
