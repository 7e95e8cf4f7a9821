"""Issue 12 item 2 end to end on the local stack: an abandoned checkout gets its cart-recovery email, the customer
clicks its tracked link (``GET /r/{token}`` → 302, the click lands on the message record), completes the checkout
and the order arrives — the order is credited to that message by its click (last touch), once."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from enishi import keys
from enishi_local.shopify_webhooks import post_shopify
from enishi_local.stack import LocalSecrets, LocalStack

pytestmark = pytest.mark.slow

EVENTS = Path(__file__).resolve().parents[1] / "events" / "shopify"
SHOP = "enishi-demo.myshopify.com"
START = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)  # 11:00 JST: outside quiet hours
SECRETS = LocalSecrets(shopify="attribution-e2e-secret")
TRACKED = re.compile(r"https?://[^\s\"'<>]+/r/c1\.[A-Za-z0-9_\-.]+")
BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"


def _post(stack: LocalStack, topic: str, body: dict[str, Any], at: datetime) -> None:
    status, _ = post_shopify(
        stack.url,
        json.dumps(body, ensure_ascii=False).encode("utf-8"),
        SECRETS.shopify,
        topic=topic,
        shop=SHOP,
        api_version="2025-01",
        webhook_id=str(uuid.uuid4()),
        event_id=str(uuid.uuid4()),
        triggered_at=at.isoformat(),
    )
    assert status == 200


def _checkout(token: str, customer_id: int, email: str, at: datetime, *, completed: bool) -> dict[str, Any]:
    fixture = "checkouts__update--completed.json" if completed else "checkouts__create.json"
    body = json.loads((EVENTS / fixture).read_text(encoding="utf-8"))
    local = at.astimezone().isoformat()
    body |= {
        "token": token,
        "cart_token": token[:16],
        "email": email,
        "created_at": local,
        "updated_at": local,
        "completed_at": local if completed else None,
    }
    body["customer"] = {**body.get("customer", {}), "id": customer_id, "email": email}
    return body


def _order(token: str, customer_id: int, email: str, at: datetime) -> dict[str, Any]:
    body = json.loads((EVENTS / "orders__create.json").read_text(encoding="utf-8"))
    local = at.astimezone().isoformat()
    body |= {
        "id": 5800000000777,
        "email": email,
        "checkout_token": token,
        "created_at": local,
        "updated_at": local,
        "processed_at": local,
    }
    body["customer"] = {**body["customer"], "id": customer_id, "email": email}
    return body


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _click(stack: LocalStack, url: str) -> int:
    path = "/" + url.split("/", 3)[3]  # the API's public URL; locally that is this server
    req = urllib.request.Request(stack.url + path, headers={"User-Agent": BROWSER})
    try:
        with urllib.request.build_opener(_NoRedirect).open(req, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return err.code


def test_an_order_after_a_click_on_the_cart_reminder_is_credited_to_it_once():
    with LocalStack(port=0, start=START, secrets=SECRETS) as stack:
        table = boto3.resource("dynamodb").Table(stack.table_name)
        email, token, customer_id = "e2e.clicker@example.jp", uuid.uuid4().hex, 7020000000777
        now = stack.clock.now()
        # Given an abandoned checkout and the cart-recovery email an hour later
        _post(stack, "checkouts/create", _checkout(token, customer_id, email, now, completed=False), now)
        stack.advance_to(now + timedelta(hours=1, minutes=5))
        sent = [m for m in stack.outbox() if m["recipient"] == email]
        assert [m["sequence"] for m in sent] == ["cart_recovery"], sent
        links = TRACKED.findall(json.dumps(sent[0], ensure_ascii=False, default=str))
        assert links, "the reminder has a tracked link"
        # When the customer clicks it, and buys half an hour later
        assert _click(stack, links[0]) == 302
        stack.settle()
        stack.advance(timedelta(minutes=30))
        done = stack.clock.now()
        _post(stack, "checkouts/update", _checkout(token, customer_id, email, done, completed=True), done)
        order = _order(token, customer_id, email, done)
        _post(stack, "orders/create", order, done)
        _post(stack, "orders/create", order, done)  # a redelivery (another webhook id)
        stack.settle()
        # Then the order is credited to the reminder by its click, and the message record carries the conversion
        item = table.get_item(Key=keys.order_key(SHOP, str(order["id"])))["Item"]
        credit = item["attributed_to"]
        assert credit["sequence"] == "cart_recovery" and credit["kind"] == "click"
        records = table.query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :msg)",
            ExpressionAttributeValues={":pk": keys.customer_pk(SHOP, str(customer_id)), ":msg": "MSG#"},
        )["Items"]
        converted = [r for r in records if r.get("converted_at")]
        assert [r["message_key"] for r in converted] == [credit["message_key"]]
        assert converted[0]["order_id"] == str(order["id"]) and converted[0]["attribution_kind"] == "click"
        assert converted[0]["clicked_at"] <= converted[0]["converted_at"]
        # And the completed checkout is recovered by it
        checkout = table.get_item(Key=keys.checkout_key(SHOP, token))["Item"]
        assert checkout["recovered_by"] == credit["message_key"]
