"""SES feedback under moto: outcomes on the message record (first time only), suppression on hard bounce/complaint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from enishi import bootstrap, keys
from enishi import constants as c
from enishi.feedback.tags import decode_tag_value, email_tags, encode_tag_value, read_email_tags

EVENTS_DIR = Path(__file__).resolve().parents[1] / "events"

SHOP = "enishi-demo.myshopify.com"
CUSTOMER = "7001"
MESSAGE_KEY = keys.sequence_message_key(SHOP, CUSTOMER, "welcome", "thanks", "order-5001")


def sample(name: str) -> dict:
    return json.loads((EVENTS_DIR / "ses" / f"{name}.json").read_text(encoding="utf-8"))


@pytest.fixture
def feedback(table, bus, monkeypatch, lambda_context):
    from enishi.feedback import handler as module

    bootstrap.reset_all()
    context = lambda_context("Feedback")

    def invoke(event: dict) -> dict:
        return module.handler(event, context)

    return invoke


def put_record(table, **extra):
    item = {
        **keys.message_key(SHOP, CUSTOMER, MESSAGE_KEY),
        "shop": SHOP,
        "customer_id": CUSTOMER,
        "sequence": "welcome",
        "step": "thanks",
        "status": "sent",
        "channel": "email",
        "provider_message_id": "010f018c7e2a5b1c-3f7d0c1e-8a5b-4e0f-9c2d-6b1a7e4f2d10-000000",
        **extra,
    }
    table.put_item(Item=item)


def record(table) -> dict:
    return table.get_item(Key=keys.message_key(SHOP, CUSTOMER, MESSAGE_KEY))["Item"]


# ---- tags


def test_tag_values_are_ses_safe_and_round_trip():
    tags = email_tags(SHOP, "guest-" + "ab" * 16, "cart_recovery", "r1", MESSAGE_KEY)
    for tag in tags:
        assert all(ch.isalnum() or ch in "_-" for ch in tag["Value"]), tag
        assert len(tag["Value"]) <= 256
    as_event = {t["Name"]: [t["Value"]] for t in tags}
    read = read_email_tags(as_event)
    assert read is not None
    assert (read.shop, read.customer_id, read.sequence, read.step, read.message_key) == (
        SHOP,
        "guest-" + "ab" * 16,
        "cart_recovery",
        "r1",
        MESSAGE_KEY,
    )


def test_plain_safe_values_decode_to_themselves():
    assert encode_tag_value("7001") == "7001"
    assert decode_tag_value("welcome") == "welcome"
    assert decode_tag_value(encode_tag_value("b32-looks-encoded")) == "b32-looks-encoded"


# ---- outcomes


@pytest.mark.parametrize(
    ("name", "attribute", "expected"),
    [
        ("delivered", "delivered_at", "2026-03-02T01:00:02Z"),
        ("opened", "opened_at", "2026-03-02T03:12:40Z"),
        ("clicked", "clicked_at", "2026-03-02T03:13:05Z"),
    ],
)
def test_engagement_is_recorded_on_the_message(feedback, table, bus, name, attribute, expected):
    # Given a sent message
    put_record(table)
    # When SES reports an outcome for it
    result = feedback(sample(name))
    # Then the record carries the outcome time and nothing is published
    assert result["mark"] == "marked"
    assert record(table)[attribute] == expected
    assert bus.drain() == []


def test_only_the_first_open_is_kept(feedback, table):
    put_record(table)
    feedback(sample("opened"))
    later = sample("opened")
    later["detail"]["open"]["timestamp"] = "2026-03-05T10:00:00.000Z"
    # When a second open arrives
    result = feedback(later)
    # Then the first time stays
    assert result["mark"] == "already"
    assert record(table)["opened_at"] == "2026-03-02T03:12:40Z"


def test_no_record_is_created_for_an_unknown_message(feedback, table):
    # Given no message record
    result = feedback(sample("delivered"))
    # Then nothing is written
    assert result["mark"] == "missing"
    assert "Item" not in table.get_item(Key=keys.message_key(SHOP, CUSTOMER, MESSAGE_KEY))


def test_permanent_bounce_suppresses_email(feedback, table, bus):
    put_record(table)
    # When a hard bounce arrives
    result = feedback(sample("bounce_permanent"))
    # Then the record is marked with its bounce type
    item = record(table)
    assert item["bounced_at"] == "2026-03-02T01:00:03Z"
    assert item["bounce_type"] == "Permanent"
    # And the profile is told to stop email, without the address
    published = bus.drain()
    assert len(published) == 1
    assert published[0]["source"] == c.EVENT_SOURCE_MESSAGING
    assert published[0]["detail-type"] == c.SUPPRESSION_CHANGED
    detail = published[0]["detail"]
    assert detail["reason"] == "bounce" and detail["channel"] == "email"
    assert detail["customer"]["customer_id"] == CUSTOMER
    assert detail["customer"]["email"] is None
    assert "taro.yamada" not in json.dumps(published)
    assert result["suppression"] == "bounce"


def test_transient_bounce_is_recorded_but_does_not_suppress(feedback, table, bus):
    put_record(table)
    result = feedback(sample("bounce_transient"))
    assert record(table)["bounce_type"] == "Transient"
    assert result["suppression"] is None
    assert bus.drain() == []


def test_complaint_suppresses_email(feedback, table, bus):
    put_record(table)
    feedback(sample("complaint"))
    assert record(table)["complained_at"] == "2026-03-03T09:30:00Z"
    assert record(table)["complaint_feedback_type"] == "abuse"
    (published,) = bus.drain()
    assert published["detail"]["reason"] == "complaint"


def test_a_repeated_complaint_publishes_the_same_event_id(feedback, table, bus):
    # Given a complaint processed once
    put_record(table)
    feedback(sample("complaint"))
    first = bus.drain()
    # When EventBridge delivers it again
    feedback(sample("complaint"))
    second = bus.drain()
    # Then the record is unchanged and the republished event has the same id (the consumer applies it once)
    assert record(table)["complained_at"] == "2026-03-03T09:30:00Z"
    assert [e["detail"]["event_id"] for e in second] == [e["detail"]["event_id"] for e in first]


def test_suppression_is_published_even_without_a_record(feedback, table, bus):
    result = feedback(sample("bounce_permanent"))
    assert result["mark"] == "missing"
    assert len(bus.drain()) == 1


@pytest.mark.parametrize("name", ["sent", "delivery_delayed"])
def test_events_without_an_outcome_write_nothing(feedback, table, bus, name):
    put_record(table)
    before = record(table)
    result = feedback(sample(name))
    assert result["action"] == "counted"
    assert record(table) == before
    assert bus.drain() == []


def test_mail_not_sent_by_enishi_is_ignored(feedback, table, bus):
    result = feedback(sample("not_ours"))
    assert result == {
        "event_type": "Bounce",
        "action": "ignored",
        "reason": "not_ours",
        "mark": None,
        "suppression": None,
    }
    assert bus.drain() == []


def test_mail_of_another_shop_is_ignored(feedback, table, bus):
    event = sample("bounce_permanent")
    event["detail"]["mail"]["tags"]["shop"] = [encode_tag_value("other.myshopify.com")]
    assert feedback(event)["reason"] == "other_shop"
    assert bus.drain() == []


def test_profile_consumer_suppresses_email_after_a_hard_bounce(feedback, table, bus):
    from datetime import UTC, datetime

    from enishi import events as ev
    from enishi.profiles.store import ProfileStore
    from enishi.publish import InMemoryPublisher

    store = ProfileStore(table, InMemoryPublisher())
    at = datetime(2026, 3, 1, tzinfo=UTC)
    store.handle(
        ev.CustomerUpserted(
            event_id="shopify:seed",
            shop=SHOP,
            source="shopify",
            occurred_at=at,
            received_at=at,
            customer=ev.CustomerRef(customer_id=CUSTOMER),
        )
    )
    put_record(table)
    # When SES reports a hard bounce and the consumer applies what was published
    feedback(sample("bounce_permanent"))
    for message in bus.drain():
        store.handle(ev.parse_event(message["detail"]))
    # Then the profile's email is suppressed
    profile = table.get_item(Key=keys.profile_key(SHOP, CUSTOMER))["Item"]
    assert profile["email_suppression"]["reason"] == "bounce"
