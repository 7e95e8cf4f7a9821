"""Shopify adapter on realistic Japanese sample bodies (tests/events/shopify)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from enishi import events as ev
from enishi import keys
from enishi.carts import Unprocessable, shopify

SAMPLES = Path(__file__).resolve().parents[1] / "events" / "shopify"
SHOP = "enishi-demo.myshopify.com"
RECEIVED = datetime(2025, 1, 20, 13, 31, tzinfo=UTC)


def load(name: str) -> dict:
    return json.loads((SAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def topic_of(name: str) -> str:
    return name.split("--")[0].replace("__", "/")


def headers(event_id: str = "evt-1", **extra: str) -> dict[str, str]:
    # HTTP API delivers lower-case headers; the adapter must not care
    return {
        "X-Shopify-Shop-Domain": SHOP,
        "x-shopify-event-id": event_id,
        "X-Shopify-Webhook-Id": "wh-1",
        **extra,
    }


def adapt_one(name: str, **kw) -> ev.EventBase:
    events = shopify.adapt(topic_of(name), headers(**kw), load(name), RECEIVED)
    assert len(events) == 1
    return events[0]


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_every_sample_adapts_and_round_trips_through_eventbridge_detail(path):
    events = shopify.adapt(topic_of(path.stem), headers(), json.loads(path.read_text()), RECEIVED)
    for event in events:
        assert event.shop == SHOP and event.source == "shopify"
        assert event.event_id == f"shopify:evt-1:{event.type}"
        assert ev.parse_event(ev.to_detail(event)) == event


def test_order_create_maps_customer_money_items_and_consent():
    order = adapt_one("orders__create")
    assert isinstance(order, ev.OrderPlaced)
    assert order.order_id == "5800000000001" and order.order_name == "#1001"
    assert order.customer.customer_id == "7010000000001" and not order.customer.guest
    assert (order.customer.last_name, order.customer.first_name) == ("山田", "花子")
    assert order.total == Decimal("4870") and order.currency == "JPY"
    assert [(i.sku, i.quantity, i.price) for i in order.line_items] == [
        ("SEN-100", 2, Decimal("1620")),
        ("HOJ-TB20", 1, Decimal("1080")),
    ]
    assert order.placed_at.utcoffset() == timedelta(hours=9)
    assert order.occurred_at == datetime(2025, 1, 20, 13, 30, 12, tzinfo=UTC)  # updated_at
    assert order.checkout_token == "c1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6"
    assert (
        order.email_consent.state == "subscribed" and order.email_consent.opt_in_level == "confirmed_opt_in"
    )
    assert order.email_consent.source == "shopify"
    assert order.email_consent.evidence["shopify_consent_updated_at"] == "2025-01-10T10:15:30+09:00"


def test_guest_checkout_and_guest_order_share_one_guest_id_from_the_normalized_email():
    checkout = adapt_one("checkouts__create--guest")
    order = adapt_one("orders__create--guest")
    expected = keys.guest_customer_id("misaki.suzuki@example.jp")
    assert checkout.customer.customer_id == order.customer.customer_id == expected
    assert checkout.customer.guest and order.customer.guest
    assert checkout.customer.last_name == "鈴木"  # from the billing address
    assert (
        checkout.email_consent is None
    )  # checkbox not ticked, no customer consent: unknown, not "not_subscribed"


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("checkouts__create", "open"),
        ("checkouts__update--completed", "completed"),
        ("checkouts__update--emptied", "emptied"),
    ],
)
def test_checkout_status(name, status):
    checkout = adapt_one(name)
    assert checkout.status == status
    assert (checkout.completed_at is not None) == (status == "completed")


def test_checkout_without_contact_cannot_be_recovered():
    checkout = adapt_one("checkouts__create--no-contact")
    assert checkout.customer is None and checkout.status == "open"


def test_open_checkout_keeps_recovery_url_and_checkbox_consent():
    checkout = adapt_one("checkouts__create")
    assert checkout.recovery_url.endswith("/recover?key=4f3b8c2e1d")
    assert checkout.total == Decimal("4870")
    assert checkout.email_consent.state == "subscribed"


@pytest.mark.parametrize(
    ("name", "state"),
    [
        ("customers__create", "subscribed"),
        ("customers__update", "not_subscribed"),
        ("customers_email_marketing_consent__update", "unsubscribed"),
        ("customers_email_marketing_consent__update--pending", "pending"),
    ],
)
def test_consent_states(name, state):
    event = adapt_one(name)
    consent = event.consent if isinstance(event, ev.ConsentChanged) else event.email_consent
    assert consent.state == state and consent.source == "shopify"


def test_consent_update_uses_consent_time():
    # received after the consent time: the sender's time is the consent's time
    received = datetime(2025, 3, 2, 13, 5, 20, tzinfo=UTC)
    [event] = shopify.adapt(
        topic_of("customers_email_marketing_consent__update"),
        headers(),
        load("customers_email_marketing_consent__update"),
        received,
    )
    assert event.customer.customer_id == "7010000000001"
    assert event.consent.collected_at == event.occurred_at == datetime(2025, 3, 2, 13, 5, 11, tzinfo=UTC)


def test_consent_update_time_ahead_of_the_receipt_is_not_trusted():
    # (this test used to expect the sender's time even 41 days after the receipt: issue 9 defect 1)
    event = adapt_one("customers_email_marketing_consent__update")
    assert event.consent.collected_at == RECEIVED  # restrictive: the receipt
    assert event.consent.sender_at == datetime(2025, 3, 2, 13, 5, 11, tzinfo=UTC)  # kept as evidence


def test_customer_create_tags_and_created_at():
    event = adapt_one("customers__create")
    assert event.tags == ("会員", "ニュースレター")
    assert event.customer.email == "hanako.yamada@example.jp"


@pytest.mark.parametrize(
    ("name", "company", "number", "shipment"),
    [
        ("fulfillments__create", "ヤマト運輸", "4912-3456-7890", "confirmed"),
        ("fulfillments__update--delivered", "佐川急便", "3601-2345-6789", "delivered"),
        ("fulfillments__create--japan-post", "日本郵便", "EJ123456789JP", "in_transit"),
    ],
)
def test_fulfillment_tracking(name, company, number, shipment):
    event = adapt_one(name)
    assert event.tracking_company == company and event.tracking_numbers == (number,)
    assert event.has_tracking and event.shipment_status == shipment
    assert event.delivered == (shipment == "delivered")
    assert event.customer is None


def test_cancelled_order():
    event = adapt_one("orders__cancelled")
    assert isinstance(event, ev.OrderCancelled)
    assert event.order_id == "5800000000003" and event.reason == "customer"
    assert event.cancelled_at == datetime(2025, 1, 12, 6, 20, tzinfo=UTC)


def test_privacy_topics():
    data = adapt_one("customers__data_request")
    assert (
        isinstance(data, ev.CustomerDataRequested)
        and data.request_id == "9999"
        and data.order_ids == ("5800000000001",)
    )
    redact = adapt_one("customers__redact")
    assert isinstance(redact, ev.CustomerRedactRequested) and redact.order_ids == ("5800000000003",)
    assert isinstance(adapt_one("shop__redact"), ev.ShopRedactRequested)


def test_redelivery_gives_the_same_event_id_and_webhook_id_is_the_fallback():
    first = shopify.adapt("orders/create", headers("evt-9"), load("orders__create"), RECEIVED)[0]
    again = shopify.adapt(
        "orders/create", headers("evt-9"), load("orders__create"), RECEIVED + timedelta(hours=1)
    )[0]
    assert first.event_id == again.event_id
    h = {"x-shopify-shop-domain": SHOP, "x-shopify-webhook-id": "wh-7"}
    assert (
        shopify.adapt("orders/create", h, load("orders__create"), RECEIVED)[0].event_id
        == "shopify:wh-7:order.placed"
    )


def test_occurred_at_falls_back_to_triggered_at():
    body = load("shop__redact")
    event = shopify.adapt(
        "shop/redact", headers(**{"X-Shopify-Triggered-At": "2025-01-20T13:30:00Z"}), body, RECEIVED
    )[0]
    assert event.occurred_at == datetime(2025, 1, 20, 13, 30, tzinfo=UTC)
    assert shopify.adapt("shop/redact", headers(), body, RECEIVED)[0].occurred_at == RECEIVED


def test_no_sender_time_is_trusted_beyond_the_receipt():
    # Given an order whose clock runs ahead: JST written with "Z" puts created_at/updated_at 9 hours in the future
    body = load("orders__create")
    ahead = (RECEIVED + timedelta(hours=9)).isoformat()
    body.update(created_at=ahead, processed_at=ahead, updated_at=ahead)
    (event,) = shopify.adapt("orders/create", headers(), body, RECEIVED)
    # Then every time it claims for what already happened is at most the time enishi received it
    assert event.placed_at == RECEIVED and event.occurred_at == RECEIVED


def test_line_item_without_price_is_unprocessable_with_its_location():
    body = json.loads((SAMPLES / "invalid" / "orders__create--line-item-without-price.json").read_text())
    with pytest.raises(Unprocessable) as err:
        shopify.adapt("orders/create", headers(), body, RECEIVED)
    assert err.value.details == [{"loc": "line_items.0.price", "msg": "required"}]


@pytest.mark.parametrize(
    ("topic", "hdrs", "body", "message"),
    [
        ("products/create", headers(), {}, "unsupported Shopify topic"),
        ("orders/create", {"x-shopify-event-id": "e"}, {"id": 1}, "X-Shopify-Shop-Domain"),
        ("orders/create", {"x-shopify-shop-domain": SHOP}, {"id": 1}, "X-Shopify-Event-Id"),
        ("orders/create", headers(), [1, 2], "JSON object"),
        (
            "orders/create",
            headers(),
            {"id": 1, "total_price": "1", "created_at": "2025-01-01T00:00:00+09:00"},
            "no customer",
        ),
        (
            "orders/create",
            headers(),
            {"id": 1, "email": "a@b.jp", "total_price": "abc", "created_at": "2025-01-01T00:00:00+09:00"},
            "total_price",
        ),
        (
            "orders/create",
            headers(),
            {"id": 1, "email": "a@b.jp", "total_price": "1", "created_at": "2025-01-01T00:00:00"},
            "offset",
        ),
        (
            "customers/create",
            headers(),
            {"id": 1, "email_marketing_consent": {"state": "maybe"}},
            "consent state",
        ),
    ],
)
def test_bodies_that_do_not_fit_raise_unprocessable(topic, hdrs, body, message):
    with pytest.raises(Unprocessable, match=message):
        shopify.adapt(topic, hdrs, body, RECEIVED)
