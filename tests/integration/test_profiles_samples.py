"""Profiles built from the Shopify sample webhooks (tests/events/shopify) through the real adapter and store."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from enishi import keys
from enishi.carts import shopify
from enishi.profiles.model import Profile
from enishi.profiles.store import ProfileStore
from enishi.publish import InMemoryPublisher

EVENTS_DIR = Path(__file__).resolve().parents[1] / "events"

SHOP = "enishi-demo.myshopify.com"
# the order a shop would send them in, with a few deliveries repeated
DELIVERIES = [
    "customers__create",
    "customers__update",
    "checkouts__create",
    "checkouts__create--guest",
    "checkouts__create--no-contact",
    "orders__create",
    "orders__paid",
    "orders__create",
    "checkouts__update--completed",
    "orders__create--guest",
    "orders__create--repeat",
    "fulfillments__create",
    "fulfillments__create--japan-post",
    "fulfillments__update--delivered",
    "customers_email_marketing_consent__update",
    "orders__cancelled",
    "orders__cancelled",
    "customers__data_request",
    "customers_email_marketing_consent__update--pending",
]


def deliver(store: ProfileStore, name: str) -> None:
    body = json.loads((EVENTS_DIR / "shopify" / f"{name}.json").read_text(encoding="utf-8"))
    topic = name.split("--")[0].replace("__", "/")
    headers = {
        "x-shopify-topic": topic,
        "x-shopify-shop-domain": SHOP,
        "x-shopify-event-id": f"evt-{name}",
        "x-shopify-webhook-id": f"wh-{name}",
        "x-shopify-triggered-at": "2025-03-01T03:00:00Z",
    }
    for event in shopify.adapt(topic, headers, body, datetime(2025, 3, 1, 3, tzinfo=UTC)):
        store.handle(event)


@pytest.fixture
def built(table):
    if not (EVENTS_DIR / "shopify").is_dir():
        pytest.skip("sample webhooks not present")
    publisher = InMemoryPublisher()
    store = ProfileStore(table, publisher)
    for name in DELIVERIES:
        deliver(store, name)
    profiles = [Profile.model_validate(i) for i in table.scan()["Items"] if i["sk"] == keys.PROFILE_SK]
    return profiles, publisher


def test_sample_webhooks_build_consistent_profiles(built, table):
    profiles, publisher = built
    by_id = {p.customer_id: p for p in profiles}
    # Then 花子's order (orders/create twice + orders/paid) counts once, and her unsubscribe holds
    hanako = by_id["7010000000001"]
    assert (hanako.order_count, hanako.stage, hanako.last_order_id) == (1, "first_time", "5800000000001")
    assert hanako.email_consent.state == "unsubscribed"
    # And 太郎's order was cancelled, out of the win-back index; Shopify counts 2 orders for him (orders_count, a
    # floor for F(n) when no history is imported — issue 11), the cancelled one among them: F(1)
    taro = by_id["7010000000002"]
    assert (taro.order_count, taro.stage) == (1, "first_time")
    order = table.get_item(Key=keys.order_key(SHOP, "5800000000003"))["Item"]
    assert order["status"] == "cancelled" and "gsi1pk" not in order
    # And the guest order made a guest profile whose fulfillment found it through the order
    guest = next(p for p in profiles if p.guest)
    assert guest.order_count == 1
    ful = table.get_item(Key=keys.fulfillment_key(SHOP, "5800000000002", "4900000000003"))["Item"]
    assert ful["customer_id"] == guest.customer_id
    # And order.recorded went out once per counted order
    assert sorted(e.order_id for e in publisher.published) == [
        "5800000000001",
        "5800000000002",
        "5800000000003",
    ]
