"""カラーミーショップ (api.shop-pro.jp v1): a polled cart (no order/customer webhooks are documented).

Sources: ``/work/shared/JP_CARTS.md`` §3 (pepabo/colormeshop-ruby docs, the colormeshop-js generated types).

- Auth: OAuth2 authorization code (``https://api.shop-pro.jp/oauth/authorize``, ``POST /oauth/token``), scope
  ``read_sales`` (受注 and 顧客). The access token never expires (the shop can revoke it): no refresh.
- ``GET /v1/sales.json`` and ``GET /v1/customers.json`` with ``update_date_min``, ``limit`` (≤ 50 here: the 2023
  SDK's maximum, the docs say 100) and ``offset``; without dates the API returns only the last 7 days, so every
  request names ``update_date_min``. Times in rows are Unix seconds.
- Rate: 120 requests per minute per token (guideline) → one call every 0.5 s.
- A sale → ``order.placed`` (once per sale), or ``order.cancelled`` when ``canceled``; each ``sale_deliveries[]``
  with a ``slip_number`` → ``fulfillment.updated`` (the row's ``tracking_url`` when the shop set one; otherwise the
  connection's ``default_carrier`` lets enishi build the carrier's link). ``customer.receive_mail_magazine``
  (true / false / null) → consent evidence (a customer row: dated by its ``update_date``; inside a sale: a
  checkout-time snapshot dated at ``make_date``).

**Unverified** (not in the public material): the text format of ``update_date_min`` (``filter_time`` sends
``YYYY-MM-DD HH:MM:SS`` in JST); the sort order of ``sales.json`` (paging over a lower bound loses nothing between two
sweeps for any stable order, see ``enishi.polling.planner``); whether a sale row exists before the purchase
completes (assumed not); the envelope keys ``sales`` / ``customers`` / ``meta.total``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from enishi import consent as rule
from enishi import events as ev
from enishi import keys
from enishi.carts import Unprocessable

CART = "colorme"
API_BASE = "https://api.shop-pro.jp"
AUTHORIZE_URL = API_BASE + "/oauth/authorize"
TOKEN_URL = API_BASE + "/oauth/token"
SCOPE = "read_sales"
STREAMS = ("customers", "orders")
PAGE_SIZE = 50
MIN_INTERVAL_SECONDS = 0.5  # 120 requests / minute
JST = timezone(timedelta(hours=9))
PATHS = {"orders": ("/v1/sales.json", "sales"), "customers": ("/v1/customers.json", "customers")}


def api_base(connection: Any) -> str:
    return connection.base_url.rstrip("/")


def filter_time(t: datetime) -> str:
    """UNVERIFIED format of ``update_date_min``: JST wall time."""
    return t.astimezone(JST).strftime("%Y-%m-%d %H:%M:%S")


def _time(value: Any, where: str) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise Unprocessable("カラーミー time is not Unix seconds", [{"loc": where, "msg": "bad time"}])
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise Unprocessable(
            "カラーミー time is not Unix seconds", [{"loc": where, "msg": "bad time"}]
        ) from exc


def _money(value: Any, where: str) -> Decimal:
    try:
        return Decimal(str(value if value is not None else 0))
    except InvalidOperation as exc:
        raise Unprocessable(
            "カラーミー amount is not a number", [{"loc": where, "msg": "bad amount"}]
        ) from exc


def updated_at(row: Mapping[str, Any]) -> datetime:
    return _time(row.get("update_date", row.get("make_date")), "update_date")


def record_id(row: Mapping[str, Any]) -> str:
    return str(row.get("id"))


def fetch_page(api: Any, stream: str, since: datetime, page: int) -> tuple[list[dict[str, Any]], bool]:
    path, envelope = PATHS[stream]
    offset = (page - 1) * PAGE_SIZE
    answer = api.get(path, {"update_date_min": filter_time(since), "limit": PAGE_SIZE, "offset": offset})
    rows = [r for r in (answer or {}).get(envelope) or [] if isinstance(r, dict)]
    total = ((answer or {}).get("meta") or {}).get("total")
    more = offset + len(rows) < int(total) if isinstance(total, int) else len(rows) == PAGE_SIZE
    return rows, bool(rows) and more


def _consent(
    flag: Any, at: datetime, kind: str, stamp: str, received_at: datetime, origin_at: datetime | None = None
) -> ev.Consent | None:
    """The cart row's flag is a snapshot (the row changes for any reason, not only when the customer acts on the
    flag): under ``enishi.consent`` it can start consent but never outranks an opt-out."""
    if not isinstance(flag, bool):
        return None  # null: the shop does not ask
    return rule.make(
        state="subscribed" if flag else "not_subscribed",
        kind="snapshot",
        source=CART,
        received_at=received_at,
        sender_at=at,
        origin_at=origin_at,
        opt_in_level="single_opt_in" if flag else "unknown",
        evidence={
            "kind": kind,
            "snapshot": "true",
            "colorme_receive_mail_magazine": str(flag).lower(),
            "at": stamp,
        },
    )


def _customer(customer: Mapping[str, Any] | None) -> ev.CustomerRef:
    customer = customer or {}
    email = customer.get("mail") or None
    name = customer.get("name") or None
    if customer.get("id") not in (None, ""):
        return ev.CustomerRef(customer_id=str(customer["id"]), email=email, last_name=name)
    if not email:
        raise Unprocessable("カラーミー sale has no customer", [{"loc": "customer", "msg": "missing"}])
    return ev.CustomerRef(customer_id=keys.guest_customer_id(email), guest=True, email=email, last_name=name)


def _base(shop: str, event_id: str, at: datetime, received_at: datetime) -> dict[str, Any]:
    return {"event_id": event_id, "shop": shop, "source": CART, "occurred_at": at, "received_at": received_at}


def _line_item(i: int, detail: Mapping[str, Any]) -> ev.LineItem:
    product_id = detail.get("product_id")
    return ev.LineItem(
        product_id=str(product_id) if product_id is not None else None,
        title=str(detail.get("product_name") or ""),
        quantity=max(1, int(detail.get("product_num") or 1)),
        price=_money(detail.get("price"), f"details.{i}.price"),
    )


def _cancelled(
    shop: str, sale_id: str, sale: Mapping[str, Any], customer: ev.CustomerRef, received_at: datetime
) -> ev.OrderCancelled:
    at = updated_at(sale)
    return ev.OrderCancelled(
        **_base(shop, f"{CART}:{shop}:sale:{sale_id}:cancelled", at, received_at),
        order_id=sale_id,
        customer=customer,
        cancelled_at=at,
        reason="colorme_canceled",
    )


def _placed(
    shop: str,
    sale_id: str,
    sale: Mapping[str, Any],
    customer: ev.CustomerRef,
    made: datetime,
    received_at: datetime,
) -> ev.OrderPlaced:
    details = enumerate(sale.get("details") or [])
    items = tuple(
        _line_item(i, d) for i, d in details if isinstance(d, dict)
    )  # bad prices reported before the total
    total = _money(sale.get("total_price"), "total_price")
    return ev.OrderPlaced(
        **_base(shop, f"{CART}:{shop}:sale:{sale_id}:placed", made, received_at),
        order_id=sale_id,
        order_name=sale_id,
        customer=customer,
        placed_at=made,
        total=total,
        line_items=items,
        financial_status="paid" if sale.get("paid") else "pending",
        email_consent=_consent(
            (sale.get("customer") or {}).get("receive_mail_magazine"),
            made,
            "colorme_sale_snapshot",
            str(sale.get("make_date")),
            received_at,
            made,
        ),
    )


def _shipped(delivery: Any) -> bool:
    """A delivery row counts once it has a slip number or is marked delivered."""
    if not isinstance(delivery, dict):
        return False
    return bool(str(delivery.get("slip_number") or "").strip() or delivery.get("delivered"))


def _shipment(
    connection: Any,
    sale_id: str,
    sale: Mapping[str, Any],
    customer: ev.CustomerRef,
    i: int,
    delivery: Mapping[str, Any],
    received_at: datetime,
) -> ev.FulfillmentUpdated:
    """One shipped delivery; ``i`` is its position (its id when the row has none)."""
    shop = connection.shop_id
    number = str(delivery.get("slip_number") or "").strip()
    did = str(delivery.get("id") or i)
    url = delivery.get("tracking_url") or None
    return ev.FulfillmentUpdated(
        **_base(shop, f"{CART}:{shop}:sale:{sale_id}:delivery:{did}:{number}", updated_at(sale), received_at),
        fulfillment_id=did,
        order_id=sale_id,
        customer=customer,
        status="success",
        tracking_company=connection.default_carrier,
        tracking_numbers=(number,) if number else (),
        tracking_urls=(url,) if url else (),
    )


def sale_events(connection: Any, sale: Mapping[str, Any], received_at: datetime) -> list[ev.EventBase]:
    """A cancelled sale is one ``order.cancelled``; otherwise ``order.placed`` and one ``fulfillment.updated`` per
    delivery with a slip number (or marked delivered)."""
    if not isinstance(sale, Mapping) or sale.get("id") in (None, ""):
        raise Unprocessable("カラーミー sale has no id", [{"loc": "id", "msg": "missing"}])
    shop, sale_id = connection.shop_id, str(sale["id"])
    customer = _customer(sale.get("customer"))
    made = _time(sale.get("make_date"), "make_date")  # parsed first: a bad time refuses even a cancelled sale
    if sale.get("canceled"):
        return [_cancelled(shop, sale_id, sale, customer, received_at)]
    out: list[ev.EventBase] = [_placed(shop, sale_id, sale, customer, made, received_at)]
    deliveries = enumerate(sale.get("sale_deliveries") or [])
    out += [
        _shipment(connection, sale_id, sale, customer, i, d, received_at)
        for i, d in deliveries
        if _shipped(d)
    ]
    return out


def customer_events(connection: Any, row: Mapping[str, Any], received_at: datetime) -> list[ev.EventBase]:
    if not isinstance(row, Mapping) or row.get("id") in (None, ""):
        raise Unprocessable("カラーミー customer has no id", [{"loc": "id", "msg": "missing"}])
    shop, cid = connection.shop_id, str(row["id"])
    at = updated_at(row)
    created = _time(row["make_date"], "make_date") if row.get("make_date") is not None else None
    return [
        ev.CustomerUpserted(
            **_base(shop, f"{CART}:{shop}:customer:{cid}:{int(at.timestamp())}", at, received_at),
            customer=_customer(row),
            email_consent=_consent(
                row.get("receive_mail_magazine"),
                at,
                "colorme_customer",
                str(row.get("update_date")),
                received_at,
                created,
            ),
            created_at=created,
        )
    ]


RECORD_EVENTS: dict[str, Callable[[Any, Mapping[str, Any], datetime], list[ev.EventBase]]] = {
    "orders": sale_events,
    "customers": customer_events,
}
