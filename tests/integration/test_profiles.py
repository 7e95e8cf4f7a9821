"""Profile consumer against moto DynamoDB + EventBridge (the `table` / `bus` fixtures): idempotent, order-safe."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import boto3
import pytest

from enishi import bootstrap, clock, keys
from enishi import constants as c
from enishi import events as ev
from enishi.attribution import AttributionWindows
from enishi.profiles.model import Profile
from enishi.profiles.store import ProfileStore
from enishi.publish import EventBridgePublisher
from enishi.shop_config import Stages

SHOP = "enishi-demo.myshopify.com"
T0 = datetime(2025, 3, 1, 3, 0, tzinfo=UTC)  # 12:00 JST


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def base(t: datetime, event_id: str) -> dict:
    return {"event_id": event_id, "shop": SHOP, "source": "shopify", "occurred_at": t, "received_at": t}


def ref(cid: str = "7001", email: str | None = "taro@example.jp", **kw) -> ev.CustomerRef:
    return ev.CustomerRef(customer_id=cid, email=email, **kw)


def placed(
    oid: str, t: datetime, total: str = "3240", customer: ev.CustomerRef | None = None, **kw
) -> ev.OrderPlaced:
    lines = (ev.LineItem(product_id="8001", title="八女茶 煎茶 100g", quantity=2, price=Decimal(1620)),)
    return ev.OrderPlaced(
        **base(t, f"shopify:o{oid}:order.placed"),
        order_id=oid,
        order_name=f"#{oid}",
        customer=customer or ref(),
        placed_at=t,
        total=Decimal(total),
        line_items=lines,
        **kw,
    )


@pytest.fixture
def store(table, bus):
    return ProfileStore(
        table,
        EventBridgePublisher(boto3.client("events"), c.EVENT_BUS_NAME),
        stages=Stages(),
        attribution=AttributionWindows(),
        now=lambda: at(100),
    )


def profile(table, cid: str) -> Profile | None:
    item = table.get_item(Key=keys.profile_key(SHOP, cid)).get("Item")
    return Profile.model_validate(item) if item else None


def get(table, key) -> dict | None:
    return table.get_item(Key=key).get("Item")


# ---------------------------------------------------------------- through the real handler


def sqs_event(events: list[ev.EventBase]) -> dict:
    records = []
    for i, e in enumerate(events):
        envelope = {
            "version": "0",
            "id": f"eb-{i}",
            "detail-type": e.type,
            "source": c.EVENT_SOURCE_INTAKE,
            "account": "123456789012",
            "time": "2025-03-01T03:00:00Z",
            "region": "ap-northeast-1",
            "resources": [],
            "detail": ev.to_detail_dict(e),
        }
        records.append(
            {
                "messageId": f"m{i}",
                "receiptHandle": f"r{i}",
                "body": json.dumps(envelope),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:ap-northeast-1:123456789012:profiles",
                "awsRegion": "ap-northeast-1",
            }
        )
    return {"Records": records}


CONTEXT = SimpleNamespace(
    function_name="profiles",
    memory_limit_in_mb=256,
    aws_request_id="req-1",
    invoked_function_arn="arn:aws:lambda:ap-northeast-1:123456789012:function:profiles",
)


@pytest.fixture
def handler(table, bus):
    from enishi.profiles import handler as module

    bootstrap.reset_all()
    clock.set_provider(lambda: at(100))
    yield module
    bootstrap.reset_all()
    clock.reset()


def test_same_order_five_times_is_one_profile_update_and_one_order_recorded(handler, table, bus):
    # Given an order.placed delivered five times (two batches)
    event = placed("1001", at(0))
    # When the handler processes them
    first = handler.handler(sqs_event([event] * 3), CONTEXT)
    second = handler.handler(sqs_event([event] * 2), CONTEXT)
    # Then no failures, one profile write (version 1), F(1), and exactly one order.recorded on the bus
    assert first == {"batchItemFailures": []} and second == {"batchItemFailures": []}
    p = profile(table, "7001")
    assert p.version == 1 and p.order_count == 1 and p.stage == "first_time"
    published = bus.drain()
    recorded = [m for m in published if m["detail-type"] == c.ORDER_RECORDED]
    assert len(recorded) == 1
    assert recorded[0]["source"] == c.EVENT_SOURCE_PROFILE
    assert recorded[0]["detail"]["order_count"] == 1 and recorded[0]["detail"]["customer_id"] == "7001"


def test_a_bad_record_is_reported_not_swallowed(handler, table, bus):
    # Given a batch with one good event and one body that is not a canonical event
    batch = sqs_event([placed("1001", at(0))])
    bad = dict(batch["Records"][0], messageId="bad", body=json.dumps({"detail": {"type": "nope"}}))
    batch["Records"].append(bad)
    # When the handler runs
    result = handler.handler(batch, CONTEXT)
    # Then only the bad record is retried (and will end in the DLQ); the good one was applied
    assert result == {"batchItemFailures": [{"itemIdentifier": "bad"}]}
    assert profile(table, "7001").order_count == 1


# ---------------------------------------------------------------- the store


def test_order_item_has_the_win_back_index_keys_and_compact_items(store, table):
    # Given / When an order placed at 23:30 JST on 2025-03-01 (14:30 UTC)
    store.handle(placed("1001", at(11.5)))
    # Then the order item is indexed under the JST day, with compact line items
    item = get(table, keys.order_key(SHOP, "1001"))
    assert item["gsi1pk"] == keys.orders_by_day_pk(SHOP, datetime(2025, 3, 1).date())
    assert item["gsi1sk"] == keys.orders_by_day_sk("1001")
    assert item["status"] == "placed" and item["customer_id"] == "7001" and item["total"] == Decimal(3240)
    assert item["items"] == [
        {"product_id": "8001", "title": "八女茶 煎茶 100g", "quantity": 2, "price": Decimal(1620)}
    ]
    # And the win-back job can find it by day
    from boto3.dynamodb.conditions import Key

    found = table.query(
        IndexName=c.GSI_ORDERS_BY_DAY, KeyConditionExpression=Key(c.ATTR_GSI1_PK).eq(item["gsi1pk"])
    )["Items"]
    assert [f["pk"] for f in found] == [keys.order_pk(SHOP, "1001")]
    # And the email lookup points at the customer
    assert (
        get(table, keys.email_lookup_key(SHOP, keys.email_hash("taro@example.jp")))["customer_id"] == "7001"
    )


def test_out_of_order_customer_updates(store, table):
    # Given a newer customer update applied first
    newer = ev.CustomerUpserted(**base(at(2), "u2"), customer=ref(first_name="花子", last_name="山田"))
    older = ev.CustomerUpserted(**base(at(1), "u1"), customer=ref(first_name="太郎", phone="090-1234-5678"))
    store.handle(newer)
    # When the older one arrives late
    store.handle(older)
    # Then the newer name stays; the older only filled the phone
    p = profile(table, "7001")
    assert (p.first_name, p.last_name, p.phone) == ("花子", "山田", "090-1234-5678")


def test_fulfillment_before_its_order(store, table):
    # Given a fulfillment that arrives before its order (no customer on it)
    ful = ev.FulfillmentUpdated(
        **base(at(5), "f1"),
        fulfillment_id="f1",
        order_id="1001",
        status="success",
        tracking_company="ヤマト運輸",
        tracking_numbers=("1234-5678-9012",),
    )
    store.handle(ful)
    assert get(table, keys.fulfillment_key(SHOP, "1001", "f1")).get("customer_id") is None
    # When the order arrives
    store.handle(placed("1001", at(0)))
    # Then the order counts and the fulfillment knows its customer
    assert profile(table, "7001").order_count == 1
    f = get(table, keys.fulfillment_key(SHOP, "1001", "f1"))
    assert f["customer_id"] == "7001" and f["tracking_numbers"] == ["1234-5678-9012"]
    # And a later fulfillment update finds the customer through the order item
    out = store.handle(
        ful.model_copy(update={"occurred_at": at(30), "shipment_status": "delivered", "event_id": "f1b"})
    )
    assert out.customer_id == "7001"
    assert get(table, keys.fulfillment_key(SHOP, "1001", "f1"))["shipment_status"] == "delivered"


def test_guest_checkout_then_account_is_merged(store, table):
    email = "guest@example.jp"
    gid = keys.guest_customer_id(email)
    guest = ev.CustomerRef(customer_id=gid, guest=True, email=email)
    consent = ev.Consent(
        state="subscribed", source="shopify", collected_at=at(0), opt_in_level="single_opt_in"
    )
    # Given a guest order with marketing consent
    store.handle(placed("2001", at(0), "5000", customer=guest, email_consent=consent))
    assert profile(table, gid).order_count == 1
    # When the customer creates an account with the same email and orders again
    store.handle(
        ev.CustomerUpserted(**base(at(24), "u1"), customer=ref("7002", email=email, first_name="花子"))
    )
    store.handle(placed("2002", at(48), "3000", customer=ref("7002", email=email)))
    # Then the guest is merged into the customer: orders, money, consent; guest marked; lookup repointed
    p = profile(table, "7002")
    assert p.order_count == 2 and p.total_spent == Decimal(8000) and p.stage == "repeat"
    assert p.email_consent.state == "subscribed" and p.merged_from == [gid]
    assert p.first_order_at == at(0) and p.last_order_id == "2002"
    assert profile(table, gid).merged_into == "7002"
    assert get(table, keys.email_lookup_key(SHOP, keys.email_hash(email)))["customer_id"] == "7002"
    # And a late guest event goes to the customer, not to the old guest profile
    store.handle(placed("2003", at(72), "1000", customer=guest))
    assert profile(table, "7002").order_count == 3
    assert profile(table, gid).order_count == 1


def test_cancel_brings_f_n_back_down_and_leaves_the_index(store, table):
    # Given two orders
    store.handle(placed("1", at(0), "2000"))
    store.handle(placed("2", at(24), "3000"))
    assert profile(table, "7001").stage == "repeat"
    # When the second is cancelled (Shopify's cancel carries the customer; this one does not)
    store.handle(ev.OrderCancelled(**base(at(30), "x2"), order_id="2", cancelled_at=at(30)))
    # Then F(1), stage first_time, last order back to the first, and the order leaves the win-back index
    p = profile(table, "7001")
    assert (p.order_count, p.total_spent, p.stage, p.last_order_id) == (1, Decimal(2000), "first_time", "1")
    item = get(table, keys.order_key(SHOP, "2"))
    assert item["status"] == "cancelled" and "gsi1pk" not in item


def test_cancel_before_its_order(store, table, bus):
    store.handle(ev.OrderCancelled(**base(at(5), "x9"), order_id="9", cancelled_at=at(5), customer=ref()))
    store.handle(placed("9", at(0)))
    p = profile(table, "7001")
    assert p.order_count == 0 and p.stage == "lead"
    item = get(table, keys.order_key(SHOP, "9"))
    assert item["status"] == "cancelled" and "gsi1pk" not in item and item["placed_at"]
    assert not [m for m in bus.drain() if m["detail-type"] == c.ORDER_RECORDED]


def test_consent_unsubscribe_via_consent_changed(store, table):
    sub = ev.Consent(state="subscribed", source="generic", collected_at=at(0), wording="お知らせを受け取る")
    store.handle(ev.ConsentChanged(**base(at(0), "c1"), customer=ref(), consent=sub))
    unsub = ev.Consent(state="unsubscribed", source="one_click", collected_at=at(5))
    store.handle(ev.ConsentChanged(**base(at(5), "c2"), customer=ref(), consent=unsub))
    p = profile(table, "7001")
    assert p.email_consent.state == "unsubscribed" and p.email_consent.source == "one_click"
    # And the wording shown is kept as evidence, once per distinct text, referenced from the consent's ledger record
    [subscribed] = [r for r in store.consent_ledger(SHOP, "7001") if r["state"] == "subscribed"]
    wording_ref = subscribed["wording"]
    assert wording_ref.startswith("sha256:")
    assert get(table, keys.consent_wording_key(SHOP, wording_ref))["text"] == "お知らせを受け取る"
    assert store.wording(SHOP, wording_ref) == "お知らせを受け取る"


def test_redact(store, table):
    # Given a customer with PII, LINE linked and an order
    store.handle(
        ev.CustomerUpserted(**base(at(0), "u1"), customer=ref(first_name="太郎", phone="090-1234-5678"))
    )
    store.handle(
        ev.LineIdentityChanged(**base(at(1), "l1"), line_user_id="U123", customer=ref(), change="linked")
    )
    store.handle(placed("1", at(2)))
    assert get(table, keys.line_lookup_key(SHOP, "U123"))["customer_id"] == "7001"
    # When Shopify asks to redact the customer
    redact = ev.CustomerRedactRequested(**base(at(10), "r1"), customer=ref(), order_ids=("1",))
    store.handle(redact)
    store.handle(redact)
    # Then PII and lookups are gone, counts stay, and the request is recorded once
    p = profile(table, "7001")
    assert (p.email, p.first_name, p.phone, p.line) == (None, None, None, None) and p.redacted
    assert p.order_count == 1 and p.email_consent.state == "redacted"
    assert get(table, keys.email_lookup_key(SHOP, keys.email_hash("taro@example.jp"))) is None
    assert get(table, keys.line_lookup_key(SHOP, "U123")) is None
    assert get(table, keys.privacy_request_key(SHOP, "r1"))["type"] == c.CUSTOMER_REDACT_REQUESTED
    assert "taro" not in json.dumps(table.get_item(Key=keys.profile_key(SHOP, "7001"))["Item"], default=str)


@pytest.mark.parametrize("guest", [False, True])
def test_a_late_webhook_from_before_a_redaction_does_not_bring_the_customer_back(store, table, guest):
    # Given a redaction request for a customer enishi has not seen yet (their checkout webhook is late)
    customer = (
        ref(guest=True, cid=keys.guest_customer_id("taro@example.jp")) if guest else ref(first_name="太郎")
    )
    store.handle(ev.CustomerRedactRequested(**base(at(1), "r1"), customer=ref(), order_ids=()))
    # When the checkout from before the request arrives afterwards
    store.handle(
        ev.CheckoutUpdated(
            **{**base(at(0.5), "k1"), "received_at": at(3)},
            checkout_token="t1",
            customer=customer,
            status="open",
            recovery_url="https://shop.example/r/t1",
            email_consent=ev.Consent(
                state="subscribed", kind="snapshot", source="shopify", collected_at=at(0.5)
            ),
        )
    )
    # Then the erased data stays erased: no email, no name, no consent, no lookup
    p = profile(table, customer.customer_id)
    assert p is not None and p.redacted and p.email is None and p.first_name is None
    assert p.email_consent.state == "redacted"
    assert get(table, keys.email_lookup_key(SHOP, keys.email_hash("taro@example.jp"))) is None
    assert "taro" not in json.dumps(
        table.get_item(Key=keys.profile_key(SHOP, customer.customer_id))["Item"], default=str
    )


def test_attribution_credits_the_message_record_and_recovered_cart(store, table):
    # Given a customer whose last message was a cart-recovery email, with its message record
    store.handle(placed("1", at(0)))
    mk = "cart_recovery.r1.abc"
    table.update_item(
        Key=keys.profile_key(SHOP, "7001"),
        UpdateExpression="SET last_message = :m, version = version + :one",
        ExpressionAttributeValues={
            ":one": 1,
            ":m": {
                "message_key": mk,
                "sequence": "cart_recovery",
                "step": "r1",
                "channel": "email",
                "sent_at": "2025-03-02T03:00:00Z",
            },
        },
    )
    # (the record as the send step and the click write it: attribution reads records, not last_message)
    table.put_item(
        Item={
            **keys.message_key(SHOP, "7001", mk),
            "status": "sent",
            "sequence": "cart_recovery",
            "message_key": mk,
            "step": "r1",
            "channel": "email",
            "marketing": True,
            "sent_at": "2025-03-02T03:00:00Z",
            "clicked_at": "2025-03-02T04:00:00Z",
        }
    )
    store.handle(
        ev.CheckoutUpdated(
            **base(at(20), "co1"), checkout_token="tok", customer=ref(), status="open", total=Decimal(4000)
        )
    )
    # When the checkout completes and its order arrives after the message
    store.handle(
        ev.CheckoutUpdated(
            **base(at(26), "co2"), checkout_token="tok", customer=ref(), status="completed", order_id="2"
        )
    )
    store.handle(placed("2", at(26), "4000", checkout_token="tok"))
    # Then the order is attributed, the message converted, the cart recovered with its revenue
    order = get(table, keys.order_key(SHOP, "2"))
    assert order["attributed_to"] == {
        "message_key": mk,
        "sequence": "cart_recovery",
        "step": "r1",
        "kind": "click",
    }
    msg = get(table, keys.message_key(SHOP, "7001", mk))
    assert msg["order_id"] == "2" and msg["revenue"] == Decimal(4000) and msg["converted_at"]
    assert msg["attribution_kind"] == "click"
    co = get(table, keys.checkout_key(SHOP, "tok"))
    assert (
        co["status"] == "completed" and co["recovered_by"] == mk and co["recovered_revenue"] == Decimal(4000)
    )
    # And the profile's concurrent writer (the send step's version bump) was respected
    assert profile(table, "7001").version == 3


def test_write_conflict_rereads_and_reapplies(store, table):
    # Given a profile, and a table whose first conditional put loses a race to another writer
    store.handle(placed("1", at(0)))
    real_put = table.put_item
    calls = {"n": 0}

    def racing_put(**kw):
        if kw["Item"]["sk"] == "PROFILE" and calls["n"] == 0:
            calls["n"] += 1
            table.update_item(
                Key=keys.profile_key(SHOP, "7001"),
                UpdateExpression="SET last_marketing_sent_at = :t, version = version + :one",
                ExpressionAttributeValues={":t": "2025-03-01T05:00:00Z", ":one": 1},
            )
        return real_put(**kw)

    racing = SimpleNamespace(
        get_item=table.get_item,
        put_item=racing_put,
        update_item=table.update_item,
        delete_item=table.delete_item,
        query=table.query,
    )
    s = ProfileStore(
        racing, EventBridgePublisher(boto3.client("events"), c.EVENT_BUS_NAME), now=lambda: at(100)
    )
    # When a second order is applied
    out = s.handle(placed("2", at(24)))
    # Then it retried once and kept both changes
    p = profile(table, "7001")
    assert out.attempts == 2
    assert p.order_count == 2 and p.last_marketing_sent_at is not None and p.version == 3


def test_publish_failure_is_raised_and_the_retry_publishes_once(table, bus):
    from enishi.publish import InMemoryPublisher, PublishFailed

    # Given the bus is down when an order arrives
    down = ProfileStore(table, InMemoryPublisher(fail=True), now=lambda: at(100))
    with pytest.raises(PublishFailed):
        down.handle(placed("1001", at(0)))
    # Then the profile counted it but the order item is not recorded yet
    assert profile(table, "7001").order_count == 1
    assert get(table, keys.order_key(SHOP, "1001")) is None
    # When SQS redelivers it twice to a healthy consumer
    up = InMemoryPublisher()
    healthy = ProfileStore(table, up, now=lambda: at(100))
    healthy.handle(placed("1001", at(0)))
    healthy.handle(placed("1001", at(0)))
    # Then order.recorded is published exactly once, F(n) stays 1, and the order item is recorded
    assert up.types == [c.ORDER_RECORDED] and up.published[0].order_count == 1
    assert profile(table, "7001").order_count == 1 and profile(table, "7001").version == 1
    assert get(table, keys.order_key(SHOP, "1001"))["status"] == "placed"


def test_customers_redact_also_clears_messages_orders_checkouts_it_can_reach(store, table):
    # Given a customer whose order came from a recovered checkout, and a message record with its recipient
    store.handle(
        ev.CheckoutUpdated(
            **base(at(0), "co1"),
            checkout_token="tok9",
            customer=ref(),
            status="open",
            total=Decimal(4000),
            recovery_url="https://shop.example/recover/tok9",
        )
    )
    store.handle(placed("9", at(1), "4000", checkout_token="tok9"))
    table.put_item(
        Item={
            **keys.message_key(SHOP, "7001", "winback.reminder.x"),
            "status": "sent",
            "recipient_hash": keys.email_hash("taro@example.jp"),
            "customer_id": "7001",
        }
    )
    # When Shopify's customers/redact arrives (naming the order)
    store.handle(ev.CustomerRedactRequested(**base(at(10), "r9"), customer=ref(), order_ids=("9",)))
    # Then the recovery URL and the message recipient are gone; the amounts stay
    checkout = get(table, keys.checkout_key(SHOP, "tok9"))
    assert "recovery_url" not in checkout and checkout["total"] == Decimal(4000)
    message = get(table, keys.message_key(SHOP, "7001", "winback.reminder.x"))
    assert "recipient_hash" not in message and message["status"] == "sent"
    assert get(table, keys.order_key(SHOP, "9"))["total"] == Decimal(4000)


def test_a_conversion_is_reported_once_for_the_dashboard(store, table):
    # Given a customer whose last message was a win-back email, with its message record
    store.handle(placed("1", at(0)))
    mk = "winback.reminder.abc"
    table.update_item(
        Key=keys.profile_key(SHOP, "7001"),
        UpdateExpression="SET last_message = :m, version = version + :one",
        ExpressionAttributeValues={
            ":one": 1,
            ":m": {
                "message_key": mk,
                "sequence": "winback",
                "step": "reminder",
                "channel": "email",
                "sent_at": "2025-03-02T03:00:00Z",
            },
        },
    )
    table.put_item(
        Item={
            **keys.message_key(SHOP, "7001", mk),
            "status": "sent",
            "sequence": "winback",
            "message_key": mk,
            "step": "reminder",
            "channel": "email",
            "marketing": True,
            "sent_at": "2025-03-02T03:00:00Z",
            "opened_at": "2025-03-02T04:00:00Z",
        }
    )
    # When the order it brought in arrives, and is delivered again
    first = store.handle(placed("2", at(26), "5400"))
    again = store.handle(placed("2", at(26), "5400"))
    # Then the conversion (sequence, revenue) is reported the first time only
    assert first.conversion == ("winback", 5400.0)
    assert again.conversion is None
