"""The shipped welcome F2 nudge's A/B test end to end: signed orders over HTTP → the welcome state machine (the
virtual clock runs the 7 days) → the send step → SES (moto). Each customer gets the variant the assignment says —
variant b's own subject and body — and the message record names it; the analytics stand-in counts it."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from enishi import keys
from enishi.sequences.domain.spec import load_spec, variant_of
from enishi.shop_config import REPO_DIR
from enishi_local.shopify_webhooks import post_shopify
from enishi_local.stack import LocalSecrets, LocalStack

pytestmark = pytest.mark.slow

EVENTS = Path(__file__).resolve().parents[1] / "events" / "shopify"
SHOP = "enishi-demo.myshopify.com"
START = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)  # 11:00 JST
SECRETS = LocalSecrets(shopify="ab-secret")
STEP = load_spec(REPO_DIR / "sequences.yaml").sequences["welcome"].step("f2_nudge")


def customers_in(variant: str, n: int) -> list[int]:
    ids = (7_020_000_000_000 + i for i in range(10_000))
    return [c for c in ids if variant_of(STEP, SHOP, str(c), "welcome") == variant][:n]


def order(stack: LocalStack, customer_id: int) -> str:
    body = json.loads((EVENTS / "orders__create.json").read_text(encoding="utf-8"))
    placed = stack.clock.now().astimezone().isoformat()
    email = f"ab.{customer_id}@example.jp"
    body |= {
        "id": customer_id + 1,
        "name": f"#{customer_id % 10_000}",
        "email": email,
        "created_at": placed,
        "updated_at": placed,
        "processed_at": placed,
    }
    body["customer"] = {**body["customer"], "id": customer_id, "email": email}
    status, _ = post_shopify(
        stack.url,
        json.dumps(body, ensure_ascii=False).encode("utf-8"),
        SECRETS.shopify,
        topic="orders/create",
        shop=SHOP,
        api_version="2025-01",
        webhook_id=str(uuid.uuid4()),
        event_id=str(uuid.uuid4()),
    )
    assert status == 200
    return email


def test_each_customer_gets_their_variant_of_the_f2_nudge_and_the_record_names_it():
    with LocalStack(port=0, start=START, secrets=SECRETS) as stack:
        chosen = {"a": customers_in("a", 2), "b": customers_in("b", 2)}
        emails = {c: order(stack, c) for ids in chosen.values() for c in ids}
        stack.settle()
        stack.advance_to(START + timedelta(days=7, hours=1))

        nudges = {m["recipient"]: m for m in stack.outbox() if m["step"] == "f2_nudge"}
        assert set(nudges) == set(emails.values())
        table = boto3.resource("dynamodb").Table(stack.table_name)
        for variant, ids in chosen.items():
            for c in ids:
                m = nudges[emails[c]]
                if variant == "b":  # its own template: the subject names the item bought
                    assert m["subject"] == "「静岡 深蒸し煎茶 100g」と一緒に楽しめる品を選びました", m[
                        "subject"
                    ]
                    assert "一緒に楽しめる品を見る" in m["text"]
                else:  # the step as declared
                    assert m["subject"].startswith("次のお買い物に、"), m["subject"]
                items = table.query(
                    KeyConditionExpression="pk = :pk AND begins_with(sk, :msg)",
                    ExpressionAttributeValues={
                        ":pk": keys.profile_key(SHOP, str(c))["pk"],
                        ":msg": keys.MSG_SK_PREFIX,
                    },
                )["Items"]
                by_step = {i["step"]: i for i in items}
                assert by_step["f2_nudge"]["variant"] == variant and by_step["f2_nudge"]["status"] == "sent"
                assert "variant" not in by_step["thanks"]  # a step without a test records none
