"""EC-CUBE 4 with the Web API plugin (Api42 for 4.2/4.3, Api for 4.0/4.1): a push-then-fetch, polled cart.

Sources are in ``/work/shared/JP_CARTS.md`` §1 (doc4.ec-cube.net/eccube-api4, EC-CUBE/eccube-api4, EC-CUBE/ec-cube).

Push: the shop's admin registers ``POST {enishi}/webhooks/eccube/{connection}`` under 設定 > API管理 > WebHook管理
with a secret. The body is a JSON **array** of ``{"entity": "order"|"customer"|"product", "id": <int>, "action":
"created"|"updated"|"deleted"}`` (ids only); ``X-ECCUBE-Signature`` is the lowercase hex HMAC-SHA256 of the raw body
keyed by the secret (``verify_signature``). EC-CUBE sends it once, synchronously, and never retries: the periodic
sweep (``orders``/``customers`` with ``update_datetime_start``) catches up whatever was missed.

Pull: GraphQL ``POST {shop}/api`` with an OAuth2 bearer token (authorization code + refresh grant, ``POST
{shop}/token``). ``orders`` without a ``status`` argument leaves out 購入処理中 (8) and 決済処理中 (7); rows are sorted
by ``update_date`` descending and only move to the front when updated, so offset paging over
``update_datetime_start`` may re-read a row, and misses only rows changed after the sweep began, which the next
sweep lists (``enishi.polling.planner``).

Order statuses (``OrderStatus.id``, EC-CUBE 4.1+): 1 新規受付, 4 対応中, 5 発送済み, 6 入金済み are purchases →
``order.placed`` (once per order: its event id does not change with later updates); 3 注文取消し →
``order.cancelled``; 7 決済処理中 and 8 購入処理中 are checkouts in progress (the order row exists from checkout start)
→ nothing; 9 返品 → nothing (unverified how a shop uses it; see ``STATUS_EVENTS``). A ``Shipping`` with a shipping
date or tracking number → ``fulfillment.updated`` (carrier = ``shipping_delivery_name``; enishi builds the Yamato /
Sagawa / Japan Post link from it).

メルマガ: not in core. The MailMagazine plugin adds ``Customer.mailmaga_flg`` (column ``plg_mailmagazine_flg``,
default 0), which must be added to the API allow list (``eccube.api.allow_list``). **Unverified**: the value meaning
(this module reads 1 as 受け取る and anything else as not subscribed, ``MAILMAGA_SUBSCRIBED``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from enishi import consent as rule
from enishi import events as ev
from enishi import keys
from enishi.carts import CartRequestFailed, Unprocessable
from enishi.carts._ordertime import iso, money
from enishi.digits import ascii_int, is_ascii_digits

CART = "eccube"
SIGNATURE_HEADER = "x-eccube-signature"
URL_HEADER = "x-eccube-url"
ENTITIES = ("order", "customer")  # product notifications are not enishi's business
ACTIONS = ("created", "updated", "deleted")
PAGE_SIZE = 50  # the API's default limit
MAILMAGA_SUBSCRIBED = {1}  # UNVERIFIED: value meaning of plg_mailmagazine_flg

# OrderStatus ids (EC-CUBE 4.1+, Entity/Master/OrderStatus.php)
NEW, CANCEL, IN_PROGRESS, DELIVERED, PAID, PENDING, PROCESSING, RETURNED = 1, 3, 4, 5, 6, 7, 8, 9
PURCHASE_STATUSES = frozenset({NEW, IN_PROGRESS, DELIVERED, PAID})
NOT_A_PURCHASE = frozenset({PENDING, PROCESSING})  # 決済処理中, 購入処理中: checkout in progress


def sign(raw: bytes, secret: str) -> str:
    return hmac.new(secret.encode("utf-8"), raw, hashlib.sha256).hexdigest()


def verify_signature(raw: bytes, header: str | None, secrets: Sequence[str]) -> bool:
    """Constant time, every secret tried (rotation). A missing header (secret left blank in EC-CUBE) is refused:
    enishi does not accept unsigned notifications."""
    if not header:
        return False
    given = header.strip().encode("ascii", "replace")
    ok = False
    for secret in secrets:
        if secret:
            ok |= hmac.compare_digest(sign(raw, secret).encode("ascii"), given)
    return ok


def parse_notifications(body: Any) -> list[dict[str, str]]:
    """The webhook body → ``[{"entity", "id", "action"}]`` for orders and customers (products dropped), de-duplicated
    in order. Raises ``Unprocessable`` for anything that is not EC-CUBE's array."""
    if not isinstance(body, list):
        raise Unprocessable("EC-CUBE webhook body must be a JSON array", [{"loc": "", "msg": "not an array"}])
    seen: set[tuple[str, str, str]] = set()
    out: list[dict[str, str]] = []
    for i, item in enumerate(body):
        if not isinstance(item, dict):
            raise Unprocessable(
                "EC-CUBE notification is not an object", [{"loc": str(i), "msg": "not an object"}]
            )
        entity, action, ident = item.get("entity"), item.get("action"), item.get("id")
        if (
            not isinstance(entity, str)
            or action not in ACTIONS
            or isinstance(ident, bool)
            or not isinstance(ident, int | str)
        ):
            raise Unprocessable(
                "EC-CUBE notification has no entity/id/action", [{"loc": str(i), "msg": "bad shape"}]
            )
        ident = str(ident).strip()
        if not is_ascii_digits(ident, 20):
            raise Unprocessable(
                "EC-CUBE notification id is not an id", [{"loc": f"{i}.id", "msg": "not numeric"}]
            )
        key = (entity, ident, str(action))
        if entity in ENTITIES and key not in seen:
            seen.add(key)
            out.append({"entity": entity, "id": ident, "action": str(action)})
    return out


# ---- GraphQL (field names from the API's allow list, services.yaml of eccube-api4)

_ORDER_FIELDS = """
  id order_no email name01 name02 payment_total order_date payment_date create_date update_date
  OrderStatus { id }
  Customer { id }
  OrderItems { product_name product_code price quantity Product { id } ProductClass { id } }
  Shippings { id tracking_number shipping_delivery_name shipping_date }
"""
_CUSTOMER_FIELDS = "id email name01 name02 create_date update_date mailmaga_flg"

ORDERS_QUERY = (
    "query Orders($since: DateTime, $page: Int, $limit: Int) {"
    " orders(update_datetime_start: $since, page: $page, limit: $limit) {"
    f" nodes {{ {_ORDER_FIELDS} }} totalCount pageInfo {{ hasNextPage }} }} }}"
)
CUSTOMERS_QUERY = (
    "query Customers($since: DateTime, $page: Int, $limit: Int) {"
    " customers(update_datetime_start: $since, page: $page, limit: $limit) {"
    f" nodes {{ {_CUSTOMER_FIELDS} }} totalCount pageInfo {{ hasNextPage }} }} }}"
)
ORDER_QUERY = f"query Order($id: ID!) {{ order(id: $id) {{ {_ORDER_FIELDS} }} }}"
CUSTOMER_QUERY = f"query Customer($id: ID!) {{ customer(id: $id) {{ {_CUSTOMER_FIELDS} }} }}"
LIST_QUERIES = {"orders": ("orders", ORDERS_QUERY), "customers": ("customers", CUSTOMERS_QUERY)}
ONE_QUERIES = {"order": ("order", ORDER_QUERY), "customer": ("customer", CUSTOMER_QUERY)}
MAILMAGA_FIELD = " mailmaga_flg"
STREAMS = ("customers", "orders")  # customers first: an order's customer is known before its order.placed
STREAM_OF_ENTITY = {"order": "orders", "customer": "customers"}


def graphql_time(t: datetime) -> str:
    """DateTime input: ISO 8601 with an offset (EC-CUBE refuses one without)."""
    return t.isoformat(timespec="seconds")


# ---- records → canonical events


_time = iso  # EC-CUBE's DateTime: ISO 8601 with an offset (carts._ordertime, one parser for every cart)
_money = money


def _id(record: Mapping[str, Any], field: str) -> str | None:
    ref = record.get(field)
    if isinstance(ref, dict) and ref.get("id") not in (None, ""):
        return str(ref["id"])
    return None


def updated_at(record: Mapping[str, Any]) -> datetime:
    return _time(record.get("update_date"), "update_date")


def _customer_ref(customer_id: str | None, record: Mapping[str, Any]) -> ev.CustomerRef:
    email = record.get("email") or None
    if customer_id:
        return ev.CustomerRef(
            customer_id=customer_id,
            email=email,
            last_name=record.get("name01") or None,
            first_name=record.get("name02") or None,
        )
    if not email:
        raise Unprocessable("EC-CUBE guest order has no email", [{"loc": "email", "msg": "missing"}])
    return ev.CustomerRef(
        customer_id=keys.guest_customer_id(email),
        guest=True,
        email=email,
        last_name=record.get("name01") or None,
        first_name=record.get("name02") or None,
    )


def _line_items(order: Mapping[str, Any]) -> tuple[ev.LineItem, ...]:
    items = []
    for i, item in enumerate(order.get("OrderItems") or []):
        if not isinstance(item, dict) or _id(item, "Product") is None:
            continue  # 送料, 手数料, 値引き, 税 rows carry no product
        items.append(
            ev.LineItem(
                product_id=_id(item, "Product"),
                variant_id=_id(item, "ProductClass"),
                sku=item.get("product_code") or None,
                title=str(item.get("product_name") or ""),
                quantity=max(1, int(item.get("quantity") or 1)),
                price=_money(item.get("price"), f"OrderItems.{i}.price"),
            )
        )
    return tuple(items)


def _status(order: Mapping[str, Any]) -> int | None:
    ident = _id(order, "OrderStatus")
    return ascii_int(ident) if ident else None


def _base(shop: str, event_id: str, occurred_at: datetime, received_at: datetime) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "shop": shop,
        "source": CART,
        "occurred_at": occurred_at,
        "received_at": received_at,
    }


def _placed(shop: str, order: Mapping[str, Any], received_at: datetime) -> list[ev.EventBase]:
    order_id = str(order["id"])
    placed = _time(order.get("order_date") or order.get("create_date"), "order_date")
    paid = order.get("payment_date") or _status(order) == PAID
    return [
        ev.OrderPlaced(
            **_base(shop, f"{CART}:{shop}:order:{order_id}:placed", placed, received_at),
            order_id=order_id,
            order_name=str(order.get("order_no") or order_id),
            customer=_customer_ref(_id(order, "Customer"), order),
            placed_at=placed,
            total=_money(order.get("payment_total"), "payment_total"),
            line_items=_line_items(order),
            financial_status="paid" if paid else "pending",
        )
    ]


def _cancelled(shop: str, order: Mapping[str, Any], received_at: datetime) -> list[ev.EventBase]:
    order_id = str(order["id"])
    at = updated_at(order)
    return [
        ev.OrderCancelled(
            **_base(shop, f"{CART}:{shop}:order:{order_id}:cancelled", at, received_at),
            order_id=order_id,
            customer=_customer_ref(_id(order, "Customer"), order),
            cancelled_at=at,
            reason="eccube_status_3",
        )
    ]


def _fulfillments(shop: str, order: Mapping[str, Any], received_at: datetime) -> list[ev.EventBase]:
    out: list[ev.EventBase] = []
    order_id = str(order["id"])
    for i, shipping in enumerate(order.get("Shippings") or []):
        if not isinstance(shipping, dict):
            continue
        number = str(shipping.get("tracking_number") or "").strip()
        shipped = shipping.get("shipping_date")
        if not number and not shipped:
            continue
        sid = str(shipping.get("id") or i)
        at = _time(shipped, f"Shippings.{i}.shipping_date") if shipped else updated_at(order)
        digest = hashlib.sha256(number.encode()).hexdigest()[:12]
        out.append(
            ev.FulfillmentUpdated(
                **_base(shop, f"{CART}:{shop}:order:{order_id}:shipping:{sid}:{digest}", at, received_at),
                fulfillment_id=sid,
                order_id=order_id,
                customer=_customer_ref(_id(order, "Customer"), order),
                status="success",
                tracking_company=shipping.get("shipping_delivery_name") or None,
                tracking_numbers=(number,) if number else (),
            )
        )
    return out


def _purchase(shop: str, order: Mapping[str, Any], received_at: datetime) -> list[ev.EventBase]:
    return _placed(shop, order, received_at) + _fulfillments(shop, order, received_at)


def _nothing(shop: str, order: Mapping[str, Any], received_at: datetime) -> list[ev.EventBase]:
    return []


EventsOf = Callable[[str, Mapping[str, Any], datetime], list[ev.EventBase]]
STATUS_EVENTS: dict[int, EventsOf] = {
    NEW: _purchase,
    IN_PROGRESS: _purchase,
    DELIVERED: _purchase,
    PAID: _purchase,
    CANCEL: _cancelled,
    PENDING: _nothing,
    PROCESSING: _nothing,
    RETURNED: _nothing,  # UNVERIFIED: how shops use 返品; no event until known
}


def order_events(shop: str, order: Mapping[str, Any], received_at: datetime) -> list[ev.EventBase]:
    if not isinstance(order, Mapping) or order.get("id") in (None, ""):
        raise Unprocessable("EC-CUBE order has no id", [{"loc": "id", "msg": "missing"}])
    status = _status(order)
    return STATUS_EVENTS.get(status, _nothing)(shop, order, received_at) if status is not None else []


def mailmaga_consent(customer: Mapping[str, Any], received_at: datetime) -> ev.Consent | None:
    """``mailmaga_flg`` → a consent *snapshot* under ``enishi.consent`` (source "eccube"; the row's ``update_date``
    moves for any change, so it is not the time of an act): a "no" dated by ``update_date``, a "yes" by the
    earliest trusted moment (``create_date``), and a snapshot never outranks an opt-out. None when the plugin or
    the allow-list entry is absent."""
    flag = customer.get("mailmaga_flg")
    number = ascii_int(flag if isinstance(flag, str | int) else None, 6, signed=True)
    if number is None:
        return None
    subscribed = number in MAILMAGA_SUBSCRIBED
    created = customer.get("create_date")
    return rule.make(
        state="subscribed" if subscribed else "not_subscribed",
        kind="snapshot",
        source=CART,
        received_at=received_at,
        sender_at=updated_at(customer),
        origin_at=_time(created, "create_date") if created else None,
        opt_in_level="single_opt_in" if subscribed else "unknown",
        evidence={
            "kind": "eccube_mailmaga_flg",
            "snapshot": "true",
            "eccube_mailmaga_flg": str(flag),
            "eccube_customer_update_date": str(customer.get("update_date")),
        },
    )


def customer_events(shop: str, customer: Mapping[str, Any], received_at: datetime) -> list[ev.EventBase]:
    if not isinstance(customer, Mapping) or customer.get("id") in (None, ""):
        raise Unprocessable("EC-CUBE customer has no id", [{"loc": "id", "msg": "missing"}])
    cid = str(customer["id"])
    at = updated_at(customer)
    created = customer.get("create_date")
    return [
        ev.CustomerUpserted(
            **_base(shop, f"{CART}:{shop}:customer:{cid}:{at.isoformat()}", at, received_at),
            customer=_customer_ref(cid, customer),
            email_consent=mailmaga_consent(customer, received_at),
            created_at=_time(created, "create_date") if created else None,
        )
    ]


RECORD_EVENTS: dict[str, Callable[[Any, Mapping[str, Any], datetime], list[ev.EventBase]]] = {
    "orders": lambda connection, row, received_at: order_events(connection.shop_id, row, received_at),
    "customers": lambda connection, row, received_at: customer_events(connection.shop_id, row, received_at),
}


# ---- the polled side (``enishi.polling.contract.PolledCart``)


def _graphql(api: Any, query: str, variables: dict[str, Any]) -> Any:
    """Ask with ``mailmaga_flg``; a shop without the MailMagazine plugin (or without the field in its API allow
    list) answers a GraphQL error for it — then ask without, and remember that for this client."""
    if MAILMAGA_FIELD in query and getattr(api, "eccube_without_mailmaga", False):
        return api.graphql(query.replace(MAILMAGA_FIELD, ""), variables)
    try:
        return api.graphql(query, variables)
    except CartRequestFailed as exc:
        if MAILMAGA_FIELD not in query or "mailmaga_flg" not in str(exc):
            raise
        try:
            api.eccube_without_mailmaga = True
        except AttributeError:  # a client that takes no attributes: ask without every time
            pass
        return api.graphql(query.replace(MAILMAGA_FIELD, ""), variables)


def _page(api: Any, stream: str, since: datetime, page: int) -> tuple[list[dict[str, Any]], bool]:
    field, query = LIST_QUERIES[stream]
    data = _graphql(api, query, {"since": graphql_time(since), "page": page, "limit": PAGE_SIZE})
    block = (data or {}).get(field) or {}
    nodes = [n for n in block.get("nodes") or [] if isinstance(n, dict)]
    has_next = bool((block.get("pageInfo") or {}).get("hasNextPage"))
    return nodes, has_next


def fetch_page(api: Any, stream: str, since: datetime, page: int) -> tuple[list[dict[str, Any]], bool]:
    """One page (1-based) of rows updated at or after ``since`` and whether another page follows."""
    return _page(api, stream, since, page)


def fetch_one(api: Any, entity: str, ident: str) -> dict[str, Any] | None:
    """The full record behind an id-only notification (None when it is gone)."""
    field, query = ONE_QUERIES[entity]
    data = _graphql(api, query, {"id": ident})
    record = (data or {}).get(field)
    return record if isinstance(record, dict) else None


def record_id(record: Mapping[str, Any]) -> str:
    return str(record.get("id"))


MIN_INTERVAL_SECONDS = 0.0  # self-hosted: no documented limit (the shop's own server; one call at a time)


def api_base(connection: Any) -> str:
    """GraphQL endpoint: ``{shop URL}/api``."""
    return connection.base_url.rstrip("/") + "/api"


def token_url(base_url: str) -> str:
    return base_url.rstrip("/") + "/token"


def authorize_url(base_url: str, admin_route: str = "admin") -> str:
    return f"{base_url.rstrip('/')}/{admin_route.strip('/')}/authorize"
