"""Issue 11: Shopify's three privacy topics act on their own, end to end on the local stack — a signed webhook in,
then: ``customers/data_request`` → the customer's export (the same document as ``enishi customer export``) in the
privacy bucket and the operator notified with its key and no personal data; ``customers/redact`` → none of the
customer's personal data left in the table or the raw-payload bucket; ``shop/redact`` → nothing of the shop left in
the table, the raw-payload bucket or the privacy bucket."""

from __future__ import annotations

import base64
import json
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from enishi import constants as c
from enishi import keys
from enishi.carts import Unprocessable
from enishi.carts import shopify as shopify_adapter
from enishi.signatures import sign_shopify
from enishi_local import operator
from enishi_local.stack import LocalSecrets, LocalStack

pytestmark = pytest.mark.slow

EVENTS = Path(__file__).resolve().parents[1] / "events" / "shopify"
SHOP = "enishi-demo.myshopify.com"
START = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)  # 11:00 JST
SECRETS = LocalSecrets(shopify="privacy-topics-secret")
HANAKO, HANAKO_EMAIL = "7010000000001", "hanako.privacy@example.jp"
TARO, TARO_EMAIL = "7010000000002", "taro.privacy@example.jp"
TARO_PHONE = "+819055556666"


def _post(stack: LocalStack, topic: str, body: dict[str, Any]) -> None:
    raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
    req = urllib.request.Request(
        stack.url + "/webhooks/shopify",
        data=raw,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Shop-Domain": SHOP,
            "X-Shopify-API-Version": "2025-01",
            "X-Shopify-Webhook-Id": str(uuid.uuid4()),
            "X-Shopify-Event-Id": str(uuid.uuid4()),
            "X-Shopify-Hmac-Sha256": sign_shopify(raw, SECRETS.shopify),
        },
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200


def _order(
    stack: LocalStack, order_id: int, customer_id: str, email: str, phone: str | None
) -> dict[str, Any]:
    body = json.loads((EVENTS / "orders__create.json").read_text(encoding="utf-8"))
    placed = stack.clock.now().astimezone().isoformat()
    body |= {
        "id": order_id,
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "email": email,
        "contact_email": email,
        "phone": phone,
        "created_at": placed,
        "updated_at": placed,
        "processed_at": placed,
        "checkout_token": uuid.uuid4().hex,
        "name": f"#{order_id % 10000}",
    }
    body["customer"] = {**body["customer"], "id": int(customer_id), "email": email, "phone": phone}
    return body


def _privacy(name: str, **changes: Any) -> dict[str, Any]:
    body = json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))
    for key, value in changes.items():
        body[key] = {**body[key], **value} if isinstance(value, dict) else value
    return body


def _items(table: Any) -> list[dict[str, Any]]:
    items, kwargs = [], {}
    while True:
        page = table.scan(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _bucket(s3: Any, bucket: str) -> dict[str, str]:
    """Every object as text (a kept payload's body decoded too)."""
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            text = body.decode("utf-8", "replace")
            try:
                doc = json.loads(body)
                if isinstance(doc, dict) and "body_base64" in doc:
                    text += base64.b64decode(doc["body_base64"]).decode("utf-8", "replace")
            except ValueError:
                pass
            out[obj["Key"]] = text
    return out


def _notifications(sqs: Any, url: str) -> list[dict[str, Any]]:
    out = []
    while True:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not msgs:
            return out
        for m in msgs:
            out.append(json.loads(json.loads(m["Body"])["Message"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def _keep_one_unprocessable(stack: LocalStack, monkeypatch: Any, order: dict[str, Any]) -> None:
    """An authentic delivery the adapter cannot process is kept in the raw bucket (it names the customer)."""
    real = shopify_adapter.adapt

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise Unprocessable("order shape not understood", [{"loc": "line_items", "msg": "bug"}])

    monkeypatch.setattr(shopify_adapter, "adapt", broken)
    _post(stack, "orders/create", order)
    monkeypatch.setattr(shopify_adapter, "adapt", real)


def test_the_three_privacy_topics_act_on_their_own(monkeypatch: Any) -> None:
    with LocalStack(port=0, start=START, secrets=SECRETS) as stack:
        table = boto3.resource("dynamodb").Table(stack.table_name)
        s3, sqs, sns = boto3.client("s3"), boto3.client("sqs"), boto3.client("sns")
        privacy_bucket = stack.function_env(c.ENV_PRIVACY_BUCKET_NAME)
        raw_bucket = stack.raw_bucket_name
        assert privacy_bucket and raw_bucket
        # the operator's subscription (an SQS queue here; e-mail on AWS)
        inbox = sqs.create_queue(QueueName="operator-inbox")["QueueUrl"]
        inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(
            TopicArn=stack.function_env(c.ENV_PRIVACY_TOPIC_ARN), Protocol="sqs", Endpoint=inbox_arn
        )

        # Given two customers with orders, and a kept delivery naming Taro
        _post(stack, "orders/create", _order(stack, 5800000000101, HANAKO, HANAKO_EMAIL, "+819011110000"))
        _post(stack, "orders/create", _order(stack, 5800000000102, TARO, TARO_EMAIL, TARO_PHONE))
        _keep_one_unprocessable(
            stack, monkeypatch, _order(stack, 5800000000103, TARO, TARO_EMAIL, TARO_PHONE)
        )
        stack.settle()
        assert TARO_EMAIL in json.dumps(_bucket(s3, raw_bucket), ensure_ascii=False)

        # When Shopify asks for Hanako's data
        _post(
            stack,
            "customers/data_request",
            _privacy(
                "customers__data_request",
                customer={"id": int(HANAKO), "email": HANAKO_EMAIL, "phone": None},
                orders_requested=[5800000000101],
                data_request={"id": 4242},
            ),
        )
        stack.settle()
        # Then her export is in the privacy bucket: the same document `enishi customer export` prints
        exports = {k: v for k, v in _bucket(s3, privacy_bucket).items() if k.startswith(f"exports/{SHOP}/")}
        assert len(exports) == 1
        ((key, text),) = exports.items()
        document = json.loads(text)
        assert document["customer_id"] == HANAKO and document["profiles"][0]["email"] == HANAKO_EMAIL
        assert [o["order_id"] for o in document["orders"]] == ["5800000000101"]
        assert document["request"]["data_request_id"] == "4242"
        rc, printed = operator.run(operator.local(stack), "customer", ["export", "--customer-id", HANAKO])
        assert rc == 0
        by_command = json.loads(printed)
        # (the profile consumer records the request itself at the same time: whether the export saw that record
        # depends on which ran first, so it is left out of the comparison)
        assert _held(document) == _held(by_command)
        # and the operator was told where it is, with no personal data in the message
        (note,) = _notifications(sqs, inbox)
        assert note["export"] == {"bucket": privacy_bucket, "key": key}
        assert note["data_request_id"] == "4242" and note["items"]["orders"] == 1
        dumped = json.dumps(note, ensure_ascii=False)
        for personal in (HANAKO_EMAIL, "花子", "山田", "+819011110000", keys.email_hash(HANAKO_EMAIL)):
            assert personal not in dumped, personal

        # When Shopify asks to erase Taro
        _post(
            stack,
            "customers/redact",
            _privacy(
                "customers__redact",
                customer={"id": int(TARO), "email": TARO_EMAIL, "phone": TARO_PHONE},
                orders_to_redact=[5800000000102],
            ),
        )
        stack.advance(timedelta(hours=2))  # a slice that lost a race is retried after its visibility timeout
        # Then none of his personal data is left: not in the table, not in the kept payloads
        held = json.dumps(_items(table), ensure_ascii=False, default=str) + json.dumps(
            _bucket(s3, raw_bucket), ensure_ascii=False
        )
        for personal in (TARO_EMAIL, TARO_PHONE, "9055556666", keys.email_hash(TARO_EMAIL)):
            assert personal not in held, personal
        assert HANAKO_EMAIL in held  # the other customer is untouched
        taro = table.get_item(Key=keys.profile_key(SHOP, TARO))["Item"]
        assert taro["redacted"] is True and taro["order_count"] == 1  # anonymous aggregates stay

        # When the shop is redacted (48 h after uninstall), with sequences still waiting (Hanako's welcome)
        assert _running(SHOP) != []
        _post(stack, "shop/redact", _privacy("shop__redact"))
        stack.settle()
        # Then no sequence of the shop waits to wake up and write again
        assert _running(SHOP) == []
        # Then nothing of the shop is left in the table, the raw-payload bucket or the privacy bucket
        left = [i for i in _items(table) if str(i["pk"]).startswith(keys.shop_pk_prefix(SHOP))]
        assert left == []
        assert SHOP not in json.dumps(_items(table), ensure_ascii=False, default=str)  # nor anywhere else
        assert [k for k, v in _bucket(s3, raw_bucket).items() if SHOP in v] == []
        assert [k for k in _bucket(s3, privacy_bucket) if k.startswith(f"exports/{SHOP}/")] == []
        assert _notifications(sqs, inbox) == []  # only data requests notify


def _held(export: dict[str, Any]) -> dict[str, Any]:
    """An export without its time, its request and the privacy-request records (written concurrently)."""
    requests = keys.privacy_requests_pk(SHOP)
    out = {k: v for k, v in export.items() if k not in ("exported_at", "request")}
    out["other"] = [i for i in out.get("other", []) if i.get("pk") != requests]
    return out


def _running(shop: str) -> list[str]:
    """The running executions whose input names ``shop``."""
    sfn = boto3.client("stepfunctions")
    out = []
    for machine in sfn.list_state_machines()["stateMachines"]:
        for ex in sfn.list_executions(stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING")[
            "executions"
        ]:
            if (
                json.loads(sfn.describe_execution(executionArn=ex["executionArn"])["input"]).get("shop")
                == shop
            ):
                out.append(ex["executionArn"])
    return out
