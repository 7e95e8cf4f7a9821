"""Nothing authentic is lost: a Shopify payload the adapter could not process is kept, answered 200, and once the
adapter is fixed `enishi replay` sends it back through the real HTTP path, where its signature still verifies."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest

from enishi import keys
from enishi.carts import Unprocessable
from enishi.carts import shopify as shopify_adapter
from enishi.signatures import sign_shopify
from enishi_local.replay import replay
from enishi_local.stack import LocalSecrets, LocalStack

pytestmark = pytest.mark.slow

EVENTS = Path(__file__).resolve().parents[1] / "events" / "shopify"
SHOP = "enishi-demo.myshopify.com"
SECRETS = LocalSecrets(shopify="replay-secret")


def test_a_kept_payload_is_replayed_once_the_adapter_is_fixed(monkeypatch):
    broken = {"on": True}
    real_adapt = shopify_adapter.adapt

    def adapt(*args, **kwargs):  # an adapter bug that the next deploy fixes
        if broken["on"]:
            raise Unprocessable("order shape not understood", [{"loc": "line_items", "msg": "bug"}])
        return real_adapt(*args, **kwargs)

    monkeypatch.setattr(shopify_adapter, "adapt", adapt)
    with LocalStack(port=0, start=datetime(2026, 6, 1, 2, 0, tzinfo=UTC), secrets=SECRETS) as stack:
        body = json.loads((EVENTS / "orders__create.json").read_text(encoding="utf-8"))
        raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(
            stack.url + "/webhooks/shopify",
            data=raw,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "X-Shopify-Topic": "orders/create",
                "X-Shopify-Shop-Domain": SHOP,
                "X-Shopify-Event-Id": "evt-replay-1",
                "X-Shopify-Webhook-Id": "wh-replay-1",
                "X-Shopify-Hmac-Sha256": sign_shopify(raw, SECRETS.shopify),
            },
        )
        # Given a delivery the adapter cannot process: Shopify gets 200 "kept", nothing is published
        with urllib.request.urlopen(request, timeout=30) as resp:
            assert json.loads(resp.read())["status"] == "kept"
        stack.settle()
        table = boto3.resource("dynamodb").Table(stack.table_name)
        profile_key = keys.profile_key(SHOP, str(body["customer"]["id"]))
        assert "Item" not in table.get_item(Key=profile_key)
        bucket = stack.raw_bucket_name  # the raw-payload bucket (the analytics bucket is the other one)
        assert bucket in stack.template.buckets()
        s3 = boto3.client("s3")
        assert s3.list_objects_v2(Bucket=bucket, Prefix="raw/shopify/")["KeyCount"] == 1

        # When the fix is deployed and the kept payloads are replayed
        broken["on"] = False
        results = replay(s3, bucket, "raw/shopify/", stack.url, delete=True)
        stack.settle()

        # Then the signature verified, the order was processed once, and the bucket is empty
        assert [(r.status, json.loads(r.answer)["status"]) for r in results] == [(200, "accepted")]
        assert table.get_item(Key=profile_key)["Item"]["order_count"] == 1
        assert s3.list_objects_v2(Bucket=bucket, Prefix="raw/shopify/")["KeyCount"] == 0
