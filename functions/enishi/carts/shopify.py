"""Shopify webhooks → canonical events.

``adapt(topic, headers, body, received_at)`` handles the topics in ``TOPICS``. The shop is the
``X-Shopify-Shop-Domain`` header; ``event_id`` is ``shopify:<X-Shopify-Event-Id or X-Shopify-Webhook-Id>:<type>`` so
a redelivery yields the same id; ``occurred_at`` is the resource's ``updated_at`` (fallbacks: the consent's
effective time, ``X-Shopify-Triggered-At``, ``created_at``, the receive time). Consent follows ``enishi.consent``:
the customer resource and the consent topic are acts, what an order or checkout carries is a snapshot, and a null
state is "no change". Prices (strings) become
``Decimal``; times keep their offset (``+09:00``). A customer-less order or checkout becomes a guest keyed by
``keys.guest_customer_id(email)``. A body that does not fit raises ``carts.Unprocessable``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, overload

from pydantic import ValidationError

from enishi import consent as rule
from enishi import email_address, keys
from enishi import events as ev
from enishi.carts import Unprocessable, validation_details
from enishi.digits import ascii_int

SOURCE = "shopify"

H_TOPIC = "x-shopify-topic"
H_SHOP = "x-shopify-shop-domain"
H_EVENT_ID = "x-shopify-event-id"
H_WEBHOOK_ID = "x-shopify-webhook-id"
H_TRIGGERED_AT = "x-shopify-triggered-at"

CONSENT_STATES = {"subscribed", "not_subscribed", "unsubscribed", "pending", "redacted"}
OPT_IN_LEVELS = {"single_opt_in", "confirmed_opt_in", "unknown"}


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def delivery_id(headers: Mapping[str, str]) -> str | None:
    """The id to dedupe on: ``X-Shopify-Event-Id`` (shared by every delivery of one action), else the webhook id."""
    h = lower_headers(headers)
    return h.get(H_EVENT_ID) or h.get(H_WEBHOOK_ID) or None


class _Ctx:
    def __init__(
        self, topic: str, headers: Mapping[str, str], body: dict[str, Any], received_at: datetime
    ) -> None:
        self.topic = topic
        self.headers = lower_headers(headers)
        self.body = body
        self.received_at = received_at
        shop = self.headers.get(H_SHOP)
        if not shop:
            raise Unprocessable(
                "missing X-Shopify-Shop-Domain header", [{"loc": "headers", "msg": "required"}]
            )
        self.shop = shop
        did = delivery_id(self.headers)
        if not did:
            raise Unprocessable("missing X-Shopify-Event-Id / X-Shopify-Webhook-Id header")
        self.delivery_id = did

    def base(self, type_: str, *times: Any) -> dict[str, Any]:
        return {
            "event_id": f"shopify:{self.delivery_id}:{type_}",
            "shop": self.shop,
            "source": SOURCE,
            "occurred_at": self.occurred_at(*times),
            "received_at": self.received_at,
        }

    def occurred_at(self, *preferred: Any) -> datetime:
        for value in (
            *preferred,
            self.body.get("updated_at"),
            self.headers.get(H_TRIGGERED_AT),
            self.body.get("created_at"),
        ):
            if value:
                return _time(value, "updated_at")
        return self.received_at


# ---- small parsers that fail with a clear location


def _time(value: Any, loc: str) -> datetime:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise Unprocessable(f"{loc}: expected an ISO 8601 time", [{"loc": loc, "msg": "not a time"}])
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Unprocessable(f"{loc}: not an ISO 8601 time", [{"loc": loc, "msg": "not a time"}]) from None
    if parsed.tzinfo is None:
        raise Unprocessable(f"{loc}: time without offset", [{"loc": loc, "msg": "no offset"}])
    return parsed


def _opt_time(value: Any, loc: str) -> datetime | None:
    return _time(value, loc) if value else None


def _money(value: Any, loc: str) -> Decimal:
    if value is None or isinstance(value, bool):
        raise Unprocessable(f"{loc}: missing price", [{"loc": loc, "msg": "required"}])
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise Unprocessable(f"{loc}: not a decimal amount", [{"loc": loc, "msg": "not a decimal"}]) from None
    if not amount.is_finite():
        raise Unprocessable(f"{loc}: not a finite amount", [{"loc": loc, "msg": "not finite"}])
    return amount


def _id(value: Any, loc: str) -> str:
    if value is None or value == "" or isinstance(value, bool):
        raise Unprocessable(f"{loc}: missing id", [{"loc": loc, "msg": "required"}])
    return str(value)


def _opt_id(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _obj(body: Any, loc: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise Unprocessable(f"{loc}: expected an object", [{"loc": loc, "msg": "not an object"}])
    return body


def _list(value: Any, loc: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise Unprocessable(f"{loc}: expected a list", [{"loc": loc, "msg": "not a list"}])
    return value


def _line_items(items: Any, loc: str = "line_items") -> tuple[ev.LineItem, ...]:
    out = []
    for i, raw in enumerate(_list(items, loc)):
        item = _obj(raw, f"{loc}.{i}")
        title = item.get("title") or item.get("name")
        if not title:
            raise Unprocessable(f"{loc}.{i}.title: missing", [{"loc": f"{loc}.{i}.title", "msg": "required"}])
        out.append(
            ev.LineItem(
                product_id=_opt_id(item.get("product_id")),
                variant_id=_opt_id(item.get("variant_id")),
                sku=item.get("sku") or None,
                title=title,
                variant_title=item.get("variant_title") or None,
                quantity=int(item.get("quantity", 1)),
                price=_money(item.get("price"), f"{loc}.{i}.price"),
            )
        )
    return tuple(out)


def _consent(raw: Any, ctx: _Ctx, loc: str, *, kind: rule.Kind, origin_at: Any = None) -> ev.Consent | None:
    """A Shopify ``email_marketing_consent`` → a consent record under the consent rule (``enishi.consent``).

    ``null`` (the object or its ``state``: Shopify's own samples, API 2023-07 … 2025-10) means "no change": None.
    ``consent_updated_at`` is the sender's time (kept as evidence; trusted only up to the receipt); when it is null,
    ``origin_at`` (the customer / order / checkout ``created_at``) dates an affirmative state, the receipt a
    restrictive one — never the record's ``updated_at``."""
    if raw is None:
        return None
    consent = _obj(raw, loc)
    state = consent.get("state")
    if state is None:
        return None
    if state not in CONSENT_STATES:
        raise Unprocessable(
            f"{loc}.state: unknown consent state", [{"loc": f"{loc}.state", "msg": "unknown"}]
        )
    raw_level: Any = consent.get("opt_in_level") or "unknown"
    level: ev.OptInLevel = raw_level if raw_level in OPT_IN_LEVELS else "unknown"
    updated = consent.get("consent_updated_at")
    evidence = {"shopify_state": state, "shopify_opt_in_level": str(consent.get("opt_in_level"))}
    if updated:
        evidence["shopify_consent_updated_at"] = str(updated)
    return rule.make(
        state=state,
        kind=kind,
        source=SOURCE,
        received_at=ctx.received_at,
        sender_at=_opt_time(updated, f"{loc}.consent_updated_at"),
        origin_at=_opt_time(origin_at, "created_at"),
        opt_in_level=level,
        evidence=evidence,
    )


def _checkbox_consent(ctx: _Ctx) -> ev.Consent | None:
    """``buyer_accepts_marketing`` ticked at checkout, used only when there is no customer consent object: a
    checkout-time snapshot, dated at the checkout/order creation (it never outranks an opt-out)."""
    body = ctx.body
    if body.get("buyer_accepts_marketing") is True:
        return rule.make(
            state="subscribed",
            kind="snapshot",
            source=SOURCE,
            received_at=ctx.received_at,
            origin_at=_opt_time(body.get("created_at"), "created_at"),
            opt_in_level="single_opt_in",
            evidence={"shopify_buyer_accepts_marketing": "true"},
        )
    return None


def _email(value: Any) -> email_address.EmailFields:
    """``email`` (deliverable, see ``email_address``) and ``email_original`` (the cart's value when it differs)."""
    return email_address.fields(value or None)


def _guest_id(email: email_address.EmailFields, raw: Any) -> str:
    """A guest's id from its deliverable address (the form lookups hash), else from what the cart sent."""
    return keys.guest_customer_id(email["email"] or str(raw))


def orders_count(value: Any) -> int | None:
    """Shopify's ``customer.orders_count`` (a number or a numeric string; anything else: unknown, never an error)."""
    count = ascii_int(value, 9)
    return count if count else None


@overload
def _customer_ref(body: dict[str, Any], *, required: Literal[True]) -> ev.CustomerRef: ...
@overload
def _customer_ref(body: dict[str, Any], *, required: bool) -> ev.CustomerRef | None: ...
def _customer_ref(body: dict[str, Any], *, required: bool) -> ev.CustomerRef | None:
    """The order/checkout's customer, or a guest keyed by the email (phone when there is no email)."""
    customer = body.get("customer")
    billing = body.get("billing_address") or body.get("shipping_address") or {}
    email = body.get("email") or body.get("contact_email")
    phone = body.get("phone")
    if isinstance(customer, dict) and customer.get("id") is not None:
        return ev.CustomerRef(
            customer_id=str(customer["id"]),
            **_email(customer.get("email") or email),
            phone=customer.get("phone") or phone or None,
            first_name=customer.get("first_name") or billing.get("first_name") or None,
            last_name=customer.get("last_name") or billing.get("last_name") or None,
            orders_count=orders_count(customer.get("orders_count")),
        )
    if email or phone:
        fields = _email(email)
        return ev.CustomerRef(
            customer_id=_guest_id(fields, email) if email else keys.guest_customer_id(f"tel:{phone}"),
            guest=True,
            **fields,
            phone=phone or None,
            first_name=billing.get("first_name") or None,
            last_name=billing.get("last_name") or None,
        )
    if required:
        raise Unprocessable("no customer, email or phone", [{"loc": "customer", "msg": "required"}])
    return None


def _customer_consent(ctx: _Ctx) -> ev.Consent | None:
    """The consent an order or checkout carries: a snapshot (the embedded customer consent, else the checkbox)."""
    customer = ctx.body.get("customer")
    if isinstance(customer, dict) and customer.get("email_marketing_consent") is not None:
        embedded = _consent(
            customer["email_marketing_consent"],
            ctx,
            "customer.email_marketing_consent",
            kind="snapshot",
            origin_at=ctx.body.get("created_at"),
        )
        if embedded is not None:
            return embedded
    return _checkbox_consent(ctx)


# ---- one function per resource


def _customer(ctx: _Ctx) -> list[ev.EventBase]:
    b = ctx.body
    base = ctx.base("customer.upserted")
    tags = tuple(t.strip() for t in str(b.get("tags") or "").split(",") if t.strip())
    customer = ev.CustomerRef(
        customer_id=_id(b.get("id"), "id"),
        **_email(b.get("email")),
        phone=b.get("phone") or None,
        first_name=b.get("first_name") or None,
        last_name=b.get("last_name") or None,
        orders_count=orders_count(b.get("orders_count")),
    )
    return [
        ev.CustomerUpserted(
            **base,
            customer=customer,
            email_consent=_consent(
                b.get("email_marketing_consent"),
                ctx,
                "email_marketing_consent",
                kind="act",
                origin_at=b.get("created_at"),
            ),
            created_at=_opt_time(b.get("created_at"), "created_at"),
            tags=tags,
        )
    ]


def _checkout(ctx: _Ctx) -> list[ev.EventBase]:
    b = ctx.body
    base = ctx.base("checkout.updated")
    items = _line_items(b.get("line_items"))
    completed_at = _opt_time(b.get("completed_at"), "completed_at")
    status: ev.CheckoutStatus = "completed" if completed_at else ("emptied" if not items else "open")
    return [
        ev.CheckoutUpdated(
            **base,
            checkout_token=_id(b.get("token"), "token"),
            cart_token=_opt_id(b.get("cart_token")),
            customer=_customer_ref(b, required=False),
            status=status,
            completed_at=completed_at,
            order_id=_opt_id(b.get("order_id")),
            recovery_url=b.get("abandoned_checkout_url") or None,
            line_items=items,
            total=_money(b.get("total_price", "0"), "total_price"),
            currency=b.get("presentment_currency") or b.get("currency") or "JPY",
            email_consent=_customer_consent(ctx),
        )
    ]


def _order(ctx: _Ctx) -> list[ev.EventBase]:
    b = ctx.body
    base = ctx.base("order.placed")
    return [
        ev.OrderPlaced(
            **base,
            order_id=_id(b.get("id"), "id"),
            order_name=b.get("name") or None,
            customer=_customer_ref(b, required=True),
            placed_at=_time(b.get("processed_at") or b.get("created_at"), "created_at"),
            total=_money(b.get("total_price"), "total_price"),
            currency=b.get("currency") or "JPY",
            line_items=_line_items(b.get("line_items")),
            checkout_token=_opt_id(b.get("checkout_token")),
            financial_status=b.get("financial_status") or None,
            email_consent=_customer_consent(ctx),
        )
    ]


def _order_cancelled(ctx: _Ctx) -> list[ev.EventBase]:
    b = ctx.body
    base = ctx.base("order.cancelled")
    return [
        ev.OrderCancelled(
            **base,
            order_id=_id(b.get("id"), "id"),
            customer=_customer_ref(b, required=False),
            cancelled_at=_time(b.get("cancelled_at") or b.get("updated_at"), "cancelled_at"),
            reason=b.get("cancel_reason") or None,
        )
    ]


def _fulfillment(ctx: _Ctx) -> list[ev.EventBase]:
    b = ctx.body
    base = ctx.base("fulfillment.updated")
    numbers = _list(b.get("tracking_numbers"), "tracking_numbers") or (
        [b["tracking_number"]] if b.get("tracking_number") else []
    )
    urls = _list(b.get("tracking_urls"), "tracking_urls") or (
        [b["tracking_url"]] if b.get("tracking_url") else []
    )
    return [
        ev.FulfillmentUpdated(
            **base,
            fulfillment_id=_id(b.get("id"), "id"),
            order_id=_id(b.get("order_id"), "order_id"),
            status=str(b.get("status") or "pending"),
            shipment_status=b.get("shipment_status") or None,
            tracking_company=b.get("tracking_company") or None,
            tracking_numbers=tuple(str(n) for n in numbers if n),
            tracking_urls=tuple(str(u) for u in urls if u),
            estimated_delivery_at=_opt_time(b.get("estimated_delivery_at"), "estimated_delivery_at"),
            line_items=_line_items(b.get("line_items")),
        )
    ]


def _consent_update(ctx: _Ctx) -> list[ev.EventBase]:
    b = ctx.body
    consent = _consent(b.get("email_marketing_consent"), ctx, "email_marketing_consent", kind="act")
    if consent is None:
        return []  # a null state is "no change" (Shopify's own sample): processed, nothing to apply
    base = ctx.base("consent.changed", consent.collected_at)
    return [
        ev.ConsentChanged(
            **base,
            customer=ev.CustomerRef(
                customer_id=_id(b.get("customer_id"), "customer_id"), **_email(b.get("email_address"))
            ),
            consent=consent,
        )
    ]


def _privacy_customer(b: dict[str, Any]) -> ev.CustomerRef:
    customer = _obj(b.get("customer"), "customer")
    email = customer.get("email") or None
    if customer.get("id") is not None:
        return ev.CustomerRef(
            customer_id=str(customer["id"]), **_email(email), phone=customer.get("phone") or None
        )
    if email:
        fields = _email(email)
        return ev.CustomerRef(customer_id=_guest_id(fields, email), guest=True, **fields)
    raise Unprocessable("customer: no id or email", [{"loc": "customer", "msg": "required"}])


def _data_request(ctx: _Ctx) -> list[ev.EventBase]:
    b = ctx.body
    request = b.get("data_request") or {}
    return [
        ev.CustomerDataRequested(
            **ctx.base("customer.data_requested"),
            customer=_privacy_customer(b),
            order_ids=tuple(str(o) for o in _list(b.get("orders_requested"), "orders_requested")),
            request_id=_opt_id(request.get("id")) if isinstance(request, dict) else None,
        )
    ]


def _redact(ctx: _Ctx) -> list[ev.EventBase]:
    b = ctx.body
    return [
        ev.CustomerRedactRequested(
            **ctx.base("customer.redact_requested"),
            customer=_privacy_customer(b),
            order_ids=tuple(str(o) for o in _list(b.get("orders_to_redact"), "orders_to_redact")),
        )
    ]


def _shop_redact(ctx: _Ctx) -> list[ev.EventBase]:
    return [ev.ShopRedactRequested(**ctx.base("shop.redact_requested"))]


TOPICS: dict[str, Callable[[_Ctx], list[ev.EventBase]]] = {
    "customers/create": _customer,
    "customers/update": _customer,
    "checkouts/create": _checkout,
    "checkouts/update": _checkout,
    "orders/create": _order,
    "orders/paid": _order,
    "orders/cancelled": _order_cancelled,
    "fulfillments/create": _fulfillment,
    "fulfillments/update": _fulfillment,
    "customers_email_marketing_consent/update": _consent_update,
    "customers/data_request": _data_request,
    "customers/redact": _redact,
    "shop/redact": _shop_redact,
}


def adapt(
    topic: str, headers: Mapping[str, str], body: dict[str, Any], received_at: datetime
) -> list[ev.EventBase]:
    """One verified Shopify delivery → its canonical events. Raises ``Unprocessable`` when it does not fit."""
    handler = TOPICS.get(topic)
    if handler is None:
        raise Unprocessable(
            f"unsupported Shopify topic: {topic!r}",
            [{"loc": "headers.x-shopify-topic", "msg": "unsupported"}],
        )
    if not isinstance(body, dict):
        raise Unprocessable("body: expected a JSON object", [{"loc": "body", "msg": "not an object"}])
    try:
        return handler(_Ctx(topic, headers, body, received_at))
    except Unprocessable:
        raise
    except ValidationError as exc:
        raise Unprocessable(
            f"{topic}: body does not fit the canonical event", validation_details(exc)
        ) from None
    except (TypeError, ValueError, AttributeError, KeyError, ArithmeticError, RecursionError) as exc:
        # ArithmeticError: int(inf) quantities, Decimal signals; RecursionError: a pathological structure
        raise Unprocessable(
            f"{topic}: malformed body ({type(exc).__name__})", [{"loc": "body", "msg": type(exc).__name__}]
        ) from None
