"""The generic webhook format (version "1"), for any cart or middleware. Documented in docs/generic-webhook.md;
the JSON Schema docs/schema/generic-v1.schema.json mirrors these models (a test keeps them in step).

Envelope: ``{"version": "1", "id", "type", "shop", "occurred_at", "data"}``. ``id`` is the sender's unique event id:
intake dedupes on it and the canonical ``event_id`` is ``generic:<id>:<type>``. Money is a decimal string, times are
RFC 3339 with an offset. Unknown fields are rejected so typos surface at once (a new field means a new version).
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from enishi import consent as rule
from enishi import email_address, keys
from enishi import events as ev
from enishi.carts import Unprocessable, validation_details

SOURCE = "generic"
VERSION = "1"

Money = Annotated[str, StringConstraints(pattern=r"^-?[0-9]+(\.[0-9]+)?$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=1000)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def _rfc3339_string(value: Any) -> Any:
    # pydantic alone would also take unix numbers and "2025-01-20 10:00+09"; the schema says RFC 3339 strings
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError("expected an RFC 3339 time with an offset, e.g. 2025-01-20T22:30:12+09:00")
    return value


Time = Annotated[AwareDatetime, BeforeValidator(_rfc3339_string)]


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# what the schema accepts: full-width "＠" too, and surrounding white space (folded by ``email_address``)
EMAIL_PATTERN = r"^\s*[^@＠\s]+[@＠][^@＠\s]+\s*$"


class Customer(_M):
    id: Id | None = None  # the cart's customer id; without it the email is required (guest)
    email: Annotated[str, StringConstraints(min_length=3, max_length=320, pattern=EMAIL_PATTERN)] | None = (
        None
    )
    phone: Text | None = None
    first_name: Text | None = None
    last_name: Text | None = None

    @field_validator("email")
    @classmethod
    def _deliverable(cls, value: str | None) -> str | None:
        # folded once here (NFKC, trim, domain lower-cased / punycode); what still is not an address is refused
        if value is not None and email_address.deliverable(value) is None:
            raise ValueError("not a deliverable e-mail address (ASCII local part, domain with a dot)")
        return value

    @model_validator(mode="after")
    def _id_or_email(self) -> Customer:
        if not self.id and not self.email:
            raise ValueError("customer needs an id or an email")
        return self

    def ref(self) -> ev.CustomerRef:
        email = email_address.fields(self.email)
        if self.id:
            return ev.CustomerRef(
                customer_id=self.id,
                **email,
                phone=self.phone,
                first_name=self.first_name,
                last_name=self.last_name,
            )
        assert email["email"] is not None
        return ev.CustomerRef(
            customer_id=keys.guest_customer_id(email["email"]),
            guest=True,
            **email,
            phone=self.phone,
            first_name=self.first_name,
            last_name=self.last_name,
        )


class Consent(_M):
    channel: Literal["email", "line"] = "email"
    state: Literal["subscribed", "not_subscribed", "unsubscribed", "pending"]
    opt_in_level: Literal["single_opt_in", "confirmed_opt_in", "unknown"] = "unknown"
    collected_at: Time
    wording: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = (
        None  # the text shown to the customer
    )

    def canonical(
        self, received_at: datetime, *, kind: rule.Kind, origin_at: datetime | None = None
    ) -> ev.Consent:
        """Under the consent rule (``enishi.consent``): ``collected_at`` is the sender's time, trusted up to the
        receipt; a consent inside an order or checkout is a checkout snapshot, one in customer.upserted or
        consent.changed an act."""
        return rule.make(
            channel=self.channel,
            state=self.state,
            kind=kind,
            opt_in_level=self.opt_in_level,
            source=SOURCE,
            received_at=received_at,
            sender_at=self.collected_at,
            origin_at=origin_at,
            wording=self.wording,
            evidence={"generic_collected_at": self.collected_at.isoformat()},
        )


class LineItem(_M):
    product_id: Id | None = None
    variant_id: Id | None = None
    sku: Id | None = None
    title: Text
    variant_title: Text | None = None
    quantity: Annotated[int, Field(ge=1, strict=True)] = 1
    price: Money  # unit price
    image_url: Text | None = None
    url: Text | None = None

    def canonical(self) -> ev.LineItem:
        return ev.LineItem(**{**self.model_dump(), "price": Decimal(self.price)})


def _items(items: tuple[LineItem, ...]) -> tuple[ev.LineItem, ...]:
    return tuple(i.canonical() for i in items)


class CustomerData(_M):
    customer: Customer
    email_consent: Consent | None = None
    created_at: Time | None = None
    tags: tuple[Text, ...] = ()


class CheckoutData(_M):
    checkout_id: Id
    status: Literal["open", "completed", "emptied"]
    customer: Customer | None = None
    completed_at: Time | None = None
    order_id: Id | None = None
    recovery_url: Text | None = None
    line_items: tuple[LineItem, ...] = ()
    total: Money = "0"
    currency: Currency = "JPY"
    email_consent: Consent | None = None


class OrderData(_M):
    order_id: Id
    order_name: Text | None = None
    customer: Customer
    placed_at: Time
    total: Money
    currency: Currency = "JPY"
    line_items: tuple[LineItem, ...] = ()
    checkout_id: Id | None = None
    financial_status: Text | None = None
    email_consent: Consent | None = None


class OrderCancelledData(_M):
    order_id: Id
    customer: Customer | None = None
    cancelled_at: Time
    reason: Text | None = None


class FulfillmentData(_M):
    fulfillment_id: Id
    order_id: Id
    customer: Customer | None = None
    status: Literal["pending", "open", "success", "cancelled", "error", "failure"]
    shipment_status: Text | None = None
    tracking_company: Text | None = None
    tracking_numbers: tuple[Id, ...] = ()
    tracking_urls: tuple[Text, ...] = ()
    estimated_delivery_at: Time | None = None
    delivered_at: Time | None = None
    line_items: tuple[LineItem, ...] = ()


class ConsentData(_M):
    customer: Customer
    consent: Consent


class _Envelope(_M):
    version: Literal["1"]
    id: Id
    shop: Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9._-]+$")]
    occurred_at: Time


class CustomerUpserted(_Envelope):
    type: Literal["customer.upserted"]
    data: CustomerData


class CheckoutUpdated(_Envelope):
    type: Literal["checkout.updated"]
    data: CheckoutData


class OrderPlaced(_Envelope):
    type: Literal["order.placed"]
    data: OrderData


class OrderCancelled(_Envelope):
    type: Literal["order.cancelled"]
    data: OrderCancelledData


class FulfillmentUpdated(_Envelope):
    type: Literal["fulfillment.updated"]
    data: FulfillmentData


class ConsentChanged(_Envelope):
    type: Literal["consent.changed"]
    data: ConsentData


GenericEvent = Annotated[
    CustomerUpserted | CheckoutUpdated | OrderPlaced | OrderCancelled | FulfillmentUpdated | ConsentChanged,
    Field(discriminator="type"),
]
_adapter: TypeAdapter[Any] = TypeAdapter(GenericEvent)
TYPES = (
    "customer.upserted",
    "checkout.updated",
    "order.placed",
    "order.cancelled",
    "fulfillment.updated",
    "consent.changed",
)


def delivery_id(body: Any) -> str | None:
    """The sender's event id, to dedupe on (before full validation)."""
    if isinstance(body, dict) and isinstance(body.get("id"), str) and body["id"].strip():
        return body["id"].strip()
    return None


def parse(body: Any) -> Any:
    """Validate a body against the v1 models; ``Unprocessable`` with per-field details when it does not fit."""
    if not isinstance(body, dict):
        raise Unprocessable("body: expected a JSON object", [{"loc": "", "msg": "not an object"}])
    if body.get("version") != VERSION:
        raise Unprocessable(
            f'unsupported version {body.get("version")!r}: expected "1"',
            [{"loc": "version", "msg": "unsupported"}],
        )
    if body.get("type") not in TYPES:
        raise Unprocessable(
            f"unsupported type {body.get('type')!r}",
            [{"loc": "type", "msg": f"expected one of {', '.join(TYPES)}"}],
        )
    try:
        return _adapter.validate_python(body)
    except ValidationError as exc:
        # drop the discriminator tag pydantic puts in the location: "data.customer.email", not "order.placed.data…"
        details = [{**d, "loc": d["loc"].removeprefix(f"{body['type']}.")} for d in validation_details(exc)]
        raise Unprocessable("body does not match the generic v1 schema", details) from None


def adapt(body: Any, received_at: datetime) -> list[ev.EventBase]:
    """A verified generic webhook body → its canonical event."""
    return [_canonical(parse(body), received_at)]


def _canonical(msg: Any, received_at: datetime) -> ev.EventBase:
    base = {
        "event_id": f"generic:{msg.id}:{msg.type}",
        "shop": msg.shop,
        "source": SOURCE,
        "occurred_at": msg.occurred_at,
        "received_at": received_at,
    }
    d = msg.data
    consent = getattr(d, "email_consent", None)
    if consent is None:
        consent_c = None
    elif isinstance(msg, CustomerUpserted):
        consent_c = consent.canonical(received_at, kind="act", origin_at=d.created_at)
    else:  # inside an order or checkout: what the checkout said
        consent_c = consent.canonical(received_at, kind="snapshot", origin_at=getattr(d, "placed_at", None))
    if isinstance(msg, CustomerUpserted):
        return ev.CustomerUpserted(
            **base, customer=d.customer.ref(), email_consent=consent_c, created_at=d.created_at, tags=d.tags
        )
    if isinstance(msg, CheckoutUpdated):
        return ev.CheckoutUpdated(
            **base,
            checkout_token=d.checkout_id,
            customer=d.customer.ref() if d.customer else None,
            status=d.status,
            completed_at=d.completed_at,
            order_id=d.order_id,
            recovery_url=d.recovery_url,
            line_items=_items(d.line_items),
            total=Decimal(d.total),
            currency=d.currency,
            email_consent=consent_c,
        )
    if isinstance(msg, OrderPlaced):
        return ev.OrderPlaced(
            **base,
            order_id=d.order_id,
            order_name=d.order_name,
            customer=d.customer.ref(),
            placed_at=d.placed_at,
            total=Decimal(d.total),
            currency=d.currency,
            line_items=_items(d.line_items),
            checkout_token=d.checkout_id,
            financial_status=d.financial_status,
            email_consent=consent_c,
        )
    if isinstance(msg, OrderCancelled):
        return ev.OrderCancelled(
            **base,
            order_id=d.order_id,
            customer=d.customer.ref() if d.customer else None,
            cancelled_at=d.cancelled_at,
            reason=d.reason,
        )
    if isinstance(msg, FulfillmentUpdated):
        return ev.FulfillmentUpdated(
            **base,
            fulfillment_id=d.fulfillment_id,
            order_id=d.order_id,
            customer=d.customer.ref() if d.customer else None,
            status=d.status,
            shipment_status=d.shipment_status,
            tracking_company=d.tracking_company,
            tracking_numbers=d.tracking_numbers,
            tracking_urls=d.tracking_urls,
            estimated_delivery_at=d.estimated_delivery_at,
            delivered_at=d.delivered_at,
            line_items=_items(d.line_items),
        )
    return ev.ConsentChanged(
        **base, customer=d.customer.ref(), consent=d.consent.canonical(received_at, kind="act")
    )
