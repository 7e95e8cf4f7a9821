"""The items the profile consumer keeps beside the profile: order, checkout, fulfillment, privacy request.

Shapes only (pydantic, ``extra="ignore"`` so readers survive added attributes). Keys come from ``keys.py`` and are
added by ``planners.py`` and ``layout.py``; ``serialize.to_item`` turns a model into a DynamoDB item (times as ISO
8601 ``Z`` strings, money as ``Decimal``, no ``None`` or empty attributes — every byte is billed).

Order item (``keys.order_key``): also carries ``gsi1pk`` / ``gsi1sk`` (index ``orders_by_day``) while its status is
``placed`` and it has been recorded (``placed_at`` set); a cancelled order leaves the index, so the win-back job
never sees it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, Field

from enishi.profiles.model import ProfileModel

ORDER_ITEMS_MAX = 10  # compact line items kept on an order item (recommendations read product ids and titles)
TITLE_MAX = 40  # characters of a line item title kept (Japanese: 3 bytes each)


class OrderLine(ProfileModel):
    """A compact line item: what recommendations and win-back templates need, nothing more."""

    product_id: str | None = None
    variant_id: str | None = None
    title: str
    quantity: int = 1
    price: Decimal


class Attribution(ProfileModel):
    """The message an order is credited to (last touch, ``enishi.attribution``)."""

    message_key: str
    sequence: str
    step: str | None = None
    variant: str | None = None
    campaign: str | None = None
    kind: str | None = None  # the touch that earned it: click | open | sent
    # the profile whose partition holds the message record, when not the order's customer (a merged guest's)
    customer_id: str | None = None


class OrderItem(ProfileModel):
    shop: str
    order_id: str
    customer_id: str | None = None
    status: Literal["placed", "cancelled"] = "placed"
    order_name: str | None = None
    placed_at: AwareDatetime | None = None  # None: a cancellation arrived before its order (a stub)
    cancelled_at: AwareDatetime | None = None
    total: Decimal | None = None
    currency: str | None = None
    financial_status: str | None = None
    checkout_token: str | None = None
    items: list[OrderLine] = Field(default_factory=list)
    item_count: int | None = None  # line items in the order (``items`` keeps at most ORDER_ITEMS_MAX)
    attributed_to: Attribution | None = None
    updated_at: AwareDatetime  # event time of the latest change

    @property
    def recorded(self) -> bool:
        """The order.placed itself was applied (not just a cancellation stub)."""
        return self.placed_at is not None


class CheckoutItem(ProfileModel):
    shop: str
    checkout_token: str
    cart_token: str | None = None
    customer_id: str | None = None
    status: Literal["open", "completed", "emptied"]
    created_at: AwareDatetime  # first event time seen for this checkout
    updated_at: AwareDatetime  # event time of the latest applied status
    completed_at: AwareDatetime | None = None
    order_id: str | None = None
    recovery_url: str | None = None
    items: list[OrderLine] = Field(default_factory=list)
    item_count: int | None = None
    total: Decimal | None = None
    currency: str | None = None
    # cart recovery outcome: the cart_recovery message that preceded completion, and the revenue it recovered
    recovered_by: str | None = None
    recovered_revenue: Decimal | None = None


class FulfillmentItem(ProfileModel):
    shop: str
    order_id: str
    fulfillment_id: str
    customer_id: str | None = None  # filled from the order item (Shopify fulfillments carry no customer)
    status: str
    shipment_status: str | None = None
    tracking_company: str | None = None
    tracking_numbers: list[str] = Field(default_factory=list)
    tracking_urls: list[str] = Field(default_factory=list)
    estimated_delivery_at: AwareDatetime | None = None
    delivered_at: AwareDatetime | None = None
    updated_at: AwareDatetime


class PrivacyRequest(ProfileModel):
    """A privacy webhook, recorded for the later job that acts on it (no PII: ids only)."""

    shop: str
    type: str  # customer.redact_requested / customer.data_requested / shop.redact_requested
    event_id: str
    customer_id: str | None = None
    order_ids: list[str] = Field(default_factory=list)
    request_id: str | None = None
    requested_at: AwareDatetime
    status: Literal["received", "done"] = "received"
