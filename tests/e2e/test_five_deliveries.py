"""Issue 3's "done when": the same webhook delivered five times yields one profile update — end to end, over
HTTP, through intake, the bus, the profile consumer and the sequence starter of the local stack."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from enishi import keys
from enishi_local.shopify_webhooks import post_shopify
from enishi_local.stack import LocalSecrets, LocalStack

pytestmark = pytest.mark.slow

EVENTS = Path(__file__).resolve().parents[1] / "events" / "shopify"
SHOP = "enishi-demo.myshopify.com"
START = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)  # 11:00 JST
SECRETS = LocalSecrets(shopify="five-deliveries-secret")


def _deliver(
    stack: LocalStack, raw: bytes, *, event_id: str, webhook_id: str, topic: str = "orders/create"
) -> dict:
    status, answer = post_shopify(
        stack.url,
        raw,
        SECRETS.shopify,
        topic=topic,
        shop=SHOP,
        api_version="2025-01",
        webhook_id=webhook_id,
        event_id=event_id,
    )
    assert status == 200
    return json.loads(answer)


def test_the_same_order_webhook_five_times_yields_one_profile_update_and_one_welcome():
    with LocalStack(port=0, start=START, secrets=SECRETS) as stack:
        # Given an orders/create webhook for a new customer with marketing consent, placed "now"
        body = json.loads((EVENTS / "orders__create.json").read_text(encoding="utf-8"))
        placed = stack.clock.now().astimezone().isoformat()
        body |= {"created_at": placed, "updated_at": placed, "processed_at": placed}
        raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
        customer_id = str(body["customer"]["id"])

        # When Shopify delivers it five times (same X-Shopify-Event-Id, a new delivery id each time)
        answers = [_deliver(stack, raw, event_id="evt-five-1", webhook_id=f"wh-{n}") for n in range(5)]
        stack.settle()

        # Then one delivery was accepted and four were recognised as duplicates
        assert [a["status"] for a in answers] == ["accepted"] + ["duplicate"] * 4
        # and the profile consumer wrote the profile once: every writer bumps `version`, and the only other
        # writer is the send step (two bumps per marketing message it sent this customer — the frequency-cap claim
        # before the send, the record after it — and one per transactional message)
        table = boto3.resource("dynamodb").Table(stack.table_name)
        profile = table.get_item(Key=keys.profile_key(SHOP, customer_id))["Item"]
        sent = [m for m in stack.outbox() if m["recipient"] == body["customer"]["email"]]
        assert {m["sequence"] for m in sent} <= {"welcome"}  # marketing only
        assert profile["version"] == 1 + 2 * len(sent)
        assert profile["order_count"] == 1
        assert str(profile["total_spent"]) == str(int(float(body["total_price"])))

        # When the order is also delivered as orders/paid (another event id: a different Shopify event)
        _deliver(stack, raw, event_id="evt-five-paid", webhook_id="wh-paid", topic="orders/paid")
        stack.settle()
        # Then it is still one order: F(n) does not move and no second welcome starts
        profile = table.get_item(Key=keys.profile_key(SHOP, customer_id))["Item"]
        assert profile["order_count"] == 1

        stack.advance(timedelta(minutes=5))
        welcome = [m for m in stack.outbox() if m["sequence"] == "welcome"]
        assert len(welcome) == 1, welcome
