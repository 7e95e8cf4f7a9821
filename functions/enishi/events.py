"""Canonical events: the only language spoken downstream of a cart adapter.

Every event is a small, versioned, immutable pydantic model. On EventBridge an event travels as
``Source`` = one of ``constants.EVENT_SOURCE_*``, ``DetailType`` = ``event.type``, ``Detail`` = ``to_detail(event)``.
A consumer turns a detail back into a model with ``parse_event(detail)``.

Money is ``Decimal`` (JPY has no minor unit, other currencies do; carts send strings). Times are timezone-aware.
``event_id`` is deterministic from the source delivery (e.g. ``shopify:<X-Shopify-Event-Id>:<type>``), so a
redelivered webhook yields the same id and every consumer can dedupe on it.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from enishi import carriers
from enishi import constants as c

SCHEMA_VERSION: Final = 1

ConsentState = Literal["subscribed", "not_subscribed", "unsubscribed", "pending", "redacted"]
OptInLevel = Literal["single_opt_in", "confirmed_opt_in", "unknown"]
Channel = Literal["email", "line"]
CheckoutStatus = Literal["open", "completed", "emptied"]
IdentityChange = Literal["followed", "unfollowed", "linked", "unlinked"]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CustomerRef(Model):
    """Who an event is about. ``customer_id`` is the cart's id, or ``keys.guest_customer_id(email)`` for a guest."""

    customer_id: str
    guest: bool = False
    email: str | None = None  # deliverable form (``email_address.deliverable``): what SES is given
    email_original: str | None = (
        None  # as the cart sent it, kept as evidence when it differs (or was refused)
    )
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    # the cart's own count of the customer's orders (Shopify ``customer.orders_count``), when the payload carries
    # it: a floor for F(n) when enishi has not seen (or imported) the customer's history
    orders_count: int | None = None


class Consent(Model):
    """A consent state with its evidence (特定電子メール法 §3(2): how and when it was obtained, or the wording)."""

    channel: Channel = "email"
    state: ConsentState
    opt_in_level: OptInLevel = "unknown"
    source: str  # "shopify", "generic", "unsubscribe_link", "one_click", "line", ...
    collected_at: (
        AwareDatetime  # the effective time (``enishi.consent.effective_at``), not the sender's claim
    )
    # "act": the customer's recorded consent and when it changed; "snapshot": what a checkout/order payload said
    # (``buyer_accepts_marketing``, an embedded customer consent) — it never outranks an opt-out (enishi.consent)
    kind: Literal["act", "snapshot"] = "act"
    sender_at: AwareDatetime | None = (
        None  # the sender's own timestamp, kept as evidence even when not trusted
    )
    wording: str | None = None  # the fixed text shown next to the field, when the source gives it
    evidence: dict[str, str] = Field(default_factory=dict)  # e.g. {"shopify_consent_updated_at": "..."}


class LineItem(Model):
    product_id: str | None = None
    variant_id: str | None = None
    sku: str | None = None
    title: str
    variant_title: str | None = None
    quantity: int = 1
    price: Decimal  # unit price
    image_url: str | None = None
    url: str | None = None


# Times a sender claims for what already happened. None of them is trusted beyond the time enishi received the
# event (DESIGN invariant 7): a clock running ahead, or JST written with "Z", would otherwise push a sequence's
# trigger into the future — its first Wait too late, and "ordered since the checkout?" answered no.
# (estimated_delivery_at is a forecast: it may lie ahead; consent times are dated by enishi.consent.)
SENDER_TIMES = ("occurred_at", "created_at", "completed_at", "placed_at", "cancelled_at", "delivered_at")


def _aware(value: Any) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    return value if isinstance(value, datetime) and value.tzinfo is not None else None


class EventBase(Model):
    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: str
    shop: str  # shop identifier, e.g. "example.myshopify.com"
    source: str  # "shopify", "generic", "line", "enishi"
    occurred_at: AwareDatetime  # when it happened at the source (the resource's updated_at): orders updates
    received_at: AwareDatetime
    # set when the event had to be cut to fit EventBridge (``bounding``): the S3 key of the full body in the
    # raw-payload bucket, same layout as a kept payload
    raw_ref: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _nothing_happened_after_its_receipt(cls, data: Any) -> Any:
        """Every adapter, every replay: a sender time later than ``received_at`` becomes ``received_at``."""
        if not isinstance(data, dict):
            return data
        received = _aware(data.get("received_at"))
        if received is None:
            return data
        late = {n: received for n in SENDER_TIMES if (t := _aware(data.get(n))) is not None and t > received}
        return {**data, **late} if late else data


class CustomerUpserted(EventBase):
    type: Literal["customer.upserted"] = c.CUSTOMER_UPSERTED
    customer: CustomerRef
    email_consent: Consent | None = None
    created_at: AwareDatetime | None = None
    tags: tuple[str, ...] = ()


class CheckoutUpdated(EventBase):
    type: Literal["checkout.updated"] = c.CHECKOUT_UPDATED
    checkout_token: str
    cart_token: str | None = None
    customer: CustomerRef | None = None  # None: no contact details yet (cannot be recovered)
    status: CheckoutStatus
    completed_at: AwareDatetime | None = None
    order_id: str | None = None
    recovery_url: str | None = None
    line_items: tuple[LineItem, ...] = ()
    item_count: int | None = None  # the cart's number of line items when ``line_items`` was capped
    total: Decimal = Decimal(0)
    currency: str = "JPY"
    email_consent: Consent | None = None


class OrderPlaced(EventBase):
    type: Literal["order.placed"] = c.ORDER_PLACED
    order_id: str
    order_name: str | None = None  # "#1001"
    customer: CustomerRef
    placed_at: AwareDatetime
    total: Decimal
    currency: str = "JPY"
    line_items: tuple[LineItem, ...] = ()
    item_count: int | None = None  # the cart's number of line items when ``line_items`` was capped
    checkout_token: str | None = None
    financial_status: str | None = None  # pending / paid / ...
    email_consent: Consent | None = None


class OrderCancelled(EventBase):
    type: Literal["order.cancelled"] = c.ORDER_CANCELLED
    order_id: str
    customer: CustomerRef | None = None
    cancelled_at: AwareDatetime
    reason: str | None = None


class FulfillmentUpdated(EventBase):
    type: Literal["fulfillment.updated"] = c.FULFILLMENT_UPDATED
    fulfillment_id: str
    order_id: str
    customer: CustomerRef | None = (
        None  # Shopify fulfillments carry no customer: resolved through the order item
    )
    status: str  # cart's fulfillment status: pending / open / success / cancelled / error / failure
    shipment_status: str | None = None  # in_transit / out_for_delivery / delivered / ...
    tracking_company: str | None = None
    tracking_numbers: tuple[str, ...] = ()
    tracking_urls: tuple[str, ...] = ()
    estimated_delivery_at: AwareDatetime | None = None
    delivered_at: AwareDatetime | None = None
    line_items: tuple[LineItem, ...] = ()
    item_count: int | None = None  # the cart's number of line items when ``line_items`` was capped

    @model_validator(mode="before")
    @classmethod
    def _carrier_links(cls, data: Any) -> Any:
        """Every cart: a carrier and tracking numbers but no link → the carrier's tracking page where enishi knows
        it (Yamato, Sagawa, Japan Post), none otherwise (``carriers.tracking_url``)."""
        if isinstance(data, dict) and not data.get("tracking_urls") and data.get("tracking_numbers"):
            numbers = data["tracking_numbers"]
            if isinstance(numbers, (list, tuple)) and all(isinstance(n, str) for n in numbers):
                company = data.get("tracking_company")
                urls = carriers.tracking_urls(company if isinstance(company, str) else None, numbers)
                if urls:
                    data = {**data, "tracking_urls": urls}
        return data

    @property
    def delivered(self) -> bool:
        return self.shipment_status == "delivered" or self.delivered_at is not None

    @property
    def has_tracking(self) -> bool:
        return bool(self.tracking_numbers or self.tracking_urls)


class ConsentChanged(EventBase):
    type: Literal["consent.changed"] = c.CONSENT_CHANGED
    customer: CustomerRef
    consent: Consent


class SuppressionChanged(EventBase):
    """A bounce or complaint (from SES feedback) stops email to the address; ``cleared`` lifts it."""

    type: Literal["suppression.changed"] = c.SUPPRESSION_CHANGED
    customer: CustomerRef
    channel: Channel = "email"
    reason: Literal["bounce", "complaint", "cleared"]


class LineIdentityChanged(EventBase):
    """From the LINE webhook: follow / unfollow (block) / account link of a LINE user."""

    type: Literal["line.identity_changed"] = c.LINE_IDENTITY_CHANGED
    line_user_id: str
    customer: CustomerRef | None = None  # known after an account link
    change: IdentityChange


class CustomerRedactRequested(EventBase):
    type: Literal["customer.redact_requested"] = c.CUSTOMER_REDACT_REQUESTED
    customer: CustomerRef
    order_ids: tuple[str, ...] = ()


class CustomerDataRequested(EventBase):
    type: Literal["customer.data_requested"] = c.CUSTOMER_DATA_REQUESTED
    customer: CustomerRef
    order_ids: tuple[str, ...] = ()
    request_id: str | None = None


class ShopRedactRequested(EventBase):
    type: Literal["shop.redact_requested"] = c.SHOP_REDACT_REQUESTED


class OrderRecorded(EventBase):
    """Derived by the profile consumer once an order.placed is applied: carries the customer's new F(n)."""

    type: Literal["order.recorded"] = c.ORDER_RECORDED
    order_id: str
    customer_id: str
    order_count: int  # F(n) after this order
    placed_at: AwareDatetime
    total: Decimal
    currency: str = "JPY"
    checkout_token: str | None = None


CanonicalEvent = Annotated[
    CustomerUpserted
    | CheckoutUpdated
    | OrderPlaced
    | OrderCancelled
    | FulfillmentUpdated
    | ConsentChanged
    | SuppressionChanged
    | LineIdentityChanged
    | CustomerRedactRequested
    | CustomerDataRequested
    | ShopRedactRequested
    | OrderRecorded,
    Field(discriminator="type"),
]

_adapter: TypeAdapter[Any] = TypeAdapter(CanonicalEvent)


def parse_event(detail: dict[str, Any] | str) -> Any:
    """EventBridge ``detail`` (dict or JSON string) → the canonical event model."""
    if isinstance(detail, str):
        return _adapter.validate_json(detail)
    return _adapter.validate_python(detail)


def to_detail(event: EventBase) -> str:
    """The JSON ``Detail`` of a PutEvents entry (Decimal as string, times as ISO 8601)."""
    return event.model_dump_json()


def to_detail_dict(event: EventBase) -> dict[str, Any]:
    return json.loads(event.model_dump_json())


def event_source(event: EventBase) -> str:
    """EventBridge ``Source`` for an event: derived events come from the profile consumer."""
    if isinstance(event, OrderRecorded):
        return c.EVENT_SOURCE_PROFILE
    if isinstance(event, SuppressionChanged):
        return c.EVENT_SOURCE_MESSAGING
    return c.EVENT_SOURCE_INTAKE


def put_events_entry(event: EventBase, bus_name: str) -> dict[str, Any]:
    return {
        "Source": event_source(event),
        "DetailType": event.type,  # type: ignore[attr-defined]
        "Detail": to_detail(event),
        "EventBusName": bus_name,
        "Time": event.occurred_at if isinstance(event.occurred_at, datetime) else None,
    }


def event_from_sqs_body(body: str) -> Any:
    """An SQS message body holding an EventBridge event (a rule's SQS target) → the canonical event in ``detail``."""
    return parse_event(json.loads(body)["detail"])
