"""Issue 9 defect 3, end to end on the local stack: a ``fulfillments/create`` delivered a second before its
``orders/create`` is parked by the starter and resumed by ``order.recorded`` — exactly one shipping notice, nothing
in the starter's DLQ."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from enishi_local.shopify_webhooks import post_shopify
from enishi_local.stack import LocalSecrets, LocalStack

pytestmark = pytest.mark.slow

EVENTS = Path(__file__).resolve().parents[1] / "events" / "shopify"
SHOP = "enishi-demo.myshopify.com"
START = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)  # 11:00 JST
SECRETS = LocalSecrets(shopify="fulfillment-first-secret")


def _deliver(stack: LocalStack, body: dict, *, topic: str, event_id: str) -> None:
    raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
    status, _ = post_shopify(
        stack.url,
        raw,
        SECRETS.shopify,
        topic=topic,
        shop=SHOP,
        api_version="2025-01",
        webhook_id=f"wh-{event_id}",
        event_id=event_id,
    )
    assert status == 200


def _starter_dlq_depth() -> int:
    sqs = boto3.client("sqs")
    total = 0
    for url in sqs.list_queues().get("QueueUrls", []):
        if "Starter" in url and "Dlq" in url:
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
            total += int(attrs["Attributes"]["ApproximateNumberOfMessages"])
    return total


def test_a_fulfillment_one_second_before_its_order_yields_exactly_one_shipping_notice():
    with LocalStack(port=0, start=START, secrets=SECRETS) as stack:
        now = stack.clock.now()
        order = json.loads((EVENTS / "orders__create.json").read_text(encoding="utf-8"))
        placed = (now - timedelta(minutes=5)).isoformat()
        order |= {"created_at": placed, "updated_at": placed, "processed_at": placed}
        fulfillment = json.loads((EVENTS / "fulfillments__create.json").read_text(encoding="utf-8"))
        shipped = now.isoformat()
        fulfillment |= {"created_at": shipped, "updated_at": shipped, "order_id": order["id"]}

        # Given the fulfillment webhook, and one second later its order's
        _deliver(stack, fulfillment, topic="fulfillments/create", event_id="evt-ful-1")
        stack.settle()
        assert [m for m in stack.outbox() if m["sequence"] == "shipping_notice"] == []  # parked, not lost
        stack.advance(timedelta(seconds=1))
        _deliver(stack, order, topic="orders/create", event_id="evt-ord-1")
        stack.settle()

        # When time passes beyond every safety-net redelivery of the parked fulfillment (5 min … 6 h)
        stack.advance(timedelta(hours=12))

        # Then exactly one shipping notice went out, and nothing ended in the starter's dead-letter queue
        notices = [m for m in stack.outbox() if m["sequence"] == "shipping_notice" and m["step"] == "notice"]
        assert len(notices) == 1, notices
        assert _starter_dlq_depth() == 0
