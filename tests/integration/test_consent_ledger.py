"""The consent ledger under moto, through the real Shopify adapter, preferences event and ``ProfileStore``.

Issue 9 defect 8 (evidence kept as an append-only ledger of its own items, the profile holding the state derived from
it) and defect 1's konbini witness end to end.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from enishi import consent as rule
from enishi import constants as c
from enishi import events as ev
from enishi import keys
from enishi.carts import shopify
from enishi.profiles.model import Profile
from enishi.profiles.serialize import WRITE_UNIT_BYTES, item_size
from enishi.profiles.store import ProfileStore
from enishi.publish import EventBridgePublisher

ROOT = Path(__file__).resolve().parents[2]
SHOP = "enishi-demo.myshopify.com"
CID = "7010000000001"
DAY = datetime(2025, 3, 2, tzinfo=UTC)


def jst(hour: float) -> datetime:
    return DAY + timedelta(hours=hour - 9)


@pytest.fixture
def store(table, bus):
    return ProfileStore(
        table, EventBridgePublisher(boto3.client("events"), c.EVENT_BUS_NAME), now=lambda: jst(48)
    )


def profile(table, cid: str = CID) -> Profile:
    return Profile.model_validate(table.get_item(Key=keys.profile_key(SHOP, cid))["Item"])


def deliver(store: ProfileStore, topic: str, body: dict, received: datetime, delivery: str) -> None:
    headers = {"x-shopify-topic": topic, "x-shopify-shop-domain": SHOP, "x-shopify-event-id": delivery}
    for event in shopify.adapt(topic, headers, body, received):
        store.handle(event)


def one_click(at: datetime, cid: str = CID) -> ev.ConsentChanged:
    consent = ev.Consent(
        state="unsubscribed",
        source="one_click",
        collected_at=at,
        sender_at=at,
        evidence={"request": "one_click", "method": "POST", "user_agent_class": "other"},
    )
    return ev.ConsentChanged(
        event_id=f"preferences:{cid}:{at.isoformat()}",
        shop=SHOP,
        source="enishi",
        occurred_at=at,
        received_at=at,
        customer=ev.CustomerRef(customer_id=cid),
        consent=consent,
    )


def konbini_order(created: datetime, updated: datetime, financial_status: str) -> dict:
    body = json.loads(
        (ROOT / "tests" / "events" / "shopify" / "orders__create.json").read_text(encoding="utf-8")
    )
    body = copy.deepcopy(body)
    body["customer"].pop("email_marketing_consent", None)  # API ≥ 2025-01: often absent
    body["customer"]["id"] = int(CID)
    body.update(
        buyer_accepts_marketing=True,
        financial_status=financial_status,
        gateway="konbini",
        created_at=created.isoformat(),
        processed_at=created.isoformat(),
        updated_at=updated.isoformat(),
    )
    return body


def test_konbini_orders_paid_after_a_one_click_unsubscribe_keeps_the_customer_unsubscribed(store, table):
    # Given a konbini order at 10:00 JST with "accepts marketing" ticked
    created = jst(10)
    deliver(
        store,
        "orders/create",
        konbini_order(created, created, "pending"),
        created + timedelta(seconds=2),
        "d1",
    )
    assert profile(table).email_consent.state == "subscribed"
    # When the customer unsubscribes by one click at 11:00 and the payment arrives at 16:00 (orders/paid)
    store.handle(one_click(jst(11)))
    deliver(
        store, "orders/paid", konbini_order(created, jst(16), "paid"), jst(16) + timedelta(seconds=1), "d2"
    )
    # Then the customer stays unsubscribed
    p = profile(table)
    assert p.email_consent.state == "unsubscribed" and p.email_consent.source == "one_click"
    # And the ledger holds both records once each: the checkout snapshot (dated at the order's creation, carried
    # by both orders/create and orders/paid) and the unsubscribe, with their evidence
    ledger = store.consent_ledger(SHOP, CID)
    assert [(r["state"], r["kind"], r["collected_at"]) for r in ledger] == [
        ("subscribed", "snapshot", "2025-03-02T01:00:00Z"),
        ("unsubscribed", "act", "2025-03-02T02:00:00Z"),
    ]
    assert ledger[0]["evidence"] == {"shopify_buyer_accepts_marketing": "true"}
    assert ledger[1]["evidence"]["request"] == "one_click"


def test_every_consent_record_is_a_ledger_item_written_once_and_the_profile_stays_one_write_unit(
    store, table
):
    # Given ten consent changes of one customer, each delivered twice, in shuffled order
    events = []
    for i in range(10):
        at = jst(10 + i)
        state = "subscribed" if i % 2 == 0 else "unsubscribed"
        consent = ev.Consent(
            state=state,
            source="preference_page" if state == "subscribed" else "one_click",
            collected_at=at,
            sender_at=at,
            wording="お知らせを受け取る" if state == "subscribed" else None,
            evidence={"request": "form"},
        )
        events.append(
            ev.ConsentChanged(
                event_id=f"p{i}",
                shop=SHOP,
                source="enishi",
                occurred_at=at,
                received_at=at,
                customer=ev.CustomerRef(customer_id=CID),
                consent=consent,
            )
        )
    for e in [*events[5:], *events[:5], *events[::-1]]:
        store.handle(e)
    # Then there are ten ledger items (one per distinct record), with evidence, oldest first
    ledger = store.consent_ledger(SHOP, CID)
    assert len(ledger) == 10
    assert [r["collected_at"] for r in ledger] == sorted(r["collected_at"] for r in ledger)
    assert all(r["evidence"] == {"request": "form"} for r in ledger)
    # And the profile's state is the one the ledger gives, and the profile is one write unit
    item = table.get_item(Key=keys.profile_key(SHOP, CID))["Item"]
    p = Profile.model_validate(item)
    assert p.email_consent.state == "unsubscribed"
    records = [
        ev.Consent.model_validate({k: v for k, v in r.items() if k in ev.Consent.model_fields})
        for r in ledger
    ]
    assert rule.derive(records) == p.email_consent
    assert item_size(item) <= WRITE_UNIT_BYTES


def test_redaction_strips_evidence_from_ledger_items_and_keeps_state_time_source(store, table):
    # Given a customer who subscribed (with evidence) and unsubscribed
    body = json.loads(
        (ROOT / "tests" / "events" / "shopify" / "customers__create.json").read_text(encoding="utf-8")
    )
    body["id"] = int(CID)
    deliver(store, "customers/create", body, jst(12), "c1")
    store.handle(one_click(jst(13)))
    # When Shopify asks to redact the customer
    redact = ev.CustomerRedactRequested(
        event_id="r1",
        shop=SHOP,
        source="shopify",
        occurred_at=jst(14),
        received_at=jst(14),
        customer=ev.CustomerRef(customer_id=CID, email=body["email"]),
    )
    store.handle(redact)
    store.handle(redact)
    # Then every ledger item keeps state, time, kind and source, but no evidence nor the sender's time
    ledger = store.consent_ledger(SHOP, CID)
    assert [(r["state"], r["source"]) for r in ledger] == [
        ("subscribed", "shopify"),
        ("unsubscribed", "one_click"),
        ("redacted", "customer_redact"),
    ]
    assert all("evidence" not in r and "sender_at" not in r and r["collected_at"] for r in ledger)
    assert body["email"] not in json.dumps(ledger, default=str)
    assert profile(table).email_consent.state == "redacted"


def test_a_merged_guest_s_ledger_is_carried_to_the_customer(store, table):
    # Given a guest who ordered with "accepts marketing" and then unsubscribed by one click
    email = "guest@example.jp"
    gid = keys.guest_customer_id(email)
    body = konbini_order(jst(10), jst(10), "paid")
    body.pop("customer")
    body["email"] = email
    deliver(store, "orders/create", body, jst(10), "g1")
    store.handle(one_click(jst(11), cid=gid))
    # When the customer account with the same email arrives (the guest is merged into it)
    customer = json.loads(
        (ROOT / "tests" / "events" / "shopify" / "customers__create.json").read_text("utf-8")
    )
    customer.update(
        id=7010000000009, email=email, email_marketing_consent=None, created_at=jst(12).isoformat()
    )
    deliver(store, "customers/create", customer, jst(12), "g2")
    # Then the customer's ledger holds the guest's records (the guest's stay readable under its id too)
    carried = store.consent_ledger(SHOP, "7010000000009")
    assert [(r["state"], r["carried_from"]) for r in carried] == [("subscribed", gid), ("unsubscribed", gid)]
    assert len(store.consent_ledger(SHOP, gid)) == 2
    # And the merged customer is unsubscribed: the guest's "no" came along
    assert profile(table, "7010000000009").email_consent.state == "unsubscribed"
