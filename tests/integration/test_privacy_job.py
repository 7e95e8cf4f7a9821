"""The privacy function on moto: a shop redaction goes through its queue in bounded slices (each a few Scan pages
or one listing page, the next slice sent to the same queue) until nothing of the shop is left — and nothing of
another shop is touched; a data request leaves its export in the privacy bucket and tells the topic."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from enishi import bootstrap, keys
from enishi import constants as c
from enishi.privacy import handler as privacy_handler
from enishi.privacy import shop_data

SHOP, OTHER = "gone.myshopify.com", "stays.myshopify.com"
RAW, PRIVACY = "raw-test", "privacy-test"
AT = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)


class Context:
    function_name = "Privacy"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:ap-northeast-1:123456789012:function:Privacy"
    aws_request_id = "r"


@pytest.fixture
def wired(table, monkeypatch):
    s3, sqs, sns = boto3.client("s3"), boto3.client("sqs"), boto3.client("sns")
    region = s3.meta.region_name
    for bucket in (RAW, PRIVACY):
        if region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    queue = sqs.create_queue(QueueName="privacy")["QueueUrl"]
    topic = sns.create_topic(Name="privacy")["TopicArn"]
    inbox = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
    monkeypatch.setenv(c.ENV_RAW_BUCKET_NAME, RAW)
    monkeypatch.setenv(c.ENV_PRIVACY_BUCKET_NAME, PRIVACY)
    monkeypatch.setenv(c.ENV_PRIVACY_TOPIC_ARN, topic)
    monkeypatch.setenv(c.ENV_PRIVACY_QUEUE_URL, queue)
    monkeypatch.setenv(c.ENV_PRIVACY_CART_CONNECTIONS, json.dumps({SHOP: ["gone-eccube"]}))
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    monkeypatch.setattr(shop_data, "SCAN_PAGE_ITEMS", 7)  # many slices from a small table
    monkeypatch.setattr(shop_data, "SCAN_PAGES_PER_SLICE", 1)
    monkeypatch.setattr(shop_data, "S3_PAGE_KEYS", 3)
    bootstrap.reset_all()
    yield table, s3, sqs, queue, inbox
    bootstrap.reset_all()


def _fill(table: Any, s3: Any, shop: str, n: int) -> None:
    with table.batch_writer() as batch:
        for i in range(n):
            batch.put_item(Item={**keys.profile_key(shop, f"c{i}"), "email": f"c{i}@{shop}"})
            batch.put_item(Item={**keys.order_key(shop, f"o{i}"), "customer_id": f"c{i}"})
        batch.put_item(Item={**keys.winback_cursor_key(shop), "last_day": "2026-05-31"})
    for i in range(4):
        body = json.dumps({"shop_domain": shop, "n": i}).encode()
        doc = {
            "source": "shopify",
            "headers": {"X-Shopify-Shop-Domain": shop},
            "body_base64": base64.b64encode(body).decode(),
        }
        s3.put_object(
            Bucket=RAW, Key=f"raw/shopify/2026-06-01/{shop}-{i}.json", Body=json.dumps(doc).encode()
        )
    s3.put_object(Bucket=PRIVACY, Key=f"exports/{shop}/e{n}.json", Body=b"{}")


def _event(detail_type: str, detail: dict[str, Any]) -> str:
    return json.dumps({"source": c.EVENT_SOURCE_INTAKE, "detail-type": detail_type, "detail": detail})


def _drain(sqs: Any, queue: str, first: str) -> int:
    """Run the handler on ``first`` and then on every message it queued, like the event-source mapping."""
    bodies, slices = [first], 0
    while bodies:
        body = bodies.pop(0)
        out = privacy_handler.handler(
            {
                "Records": [
                    {"messageId": str(slices), "body": body, "receiptHandle": "h", "eventSource": "aws:sqs"}
                ]
            },
            Context(),
        )
        assert out == {"batchItemFailures": []}
        slices += 1
        for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
            bodies.append(m["Body"])
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    return slices


def test_a_shop_redaction_removes_the_shop_in_slices_and_leaves_other_shops(wired):
    table, s3, sqs, queue, _ = wired
    _fill(table, s3, SHOP, 30)
    _fill(table, s3, OTHER, 5)
    table.put_item(Item={**keys.poll_cursor_key("gone-eccube", "orders"), "cursor": "{}"})
    table.put_item(Item={**keys.poll_cursor_key("stays-colorme", "orders"), "cursor": "{}"})
    base = {"event_id": "shopify:x:shop.redact_requested", "shop": SHOP, "source": "shopify"}
    detail = {
        **base,
        "type": c.SHOP_REDACT_REQUESTED,
        "occurred_at": AT.isoformat(),
        "received_at": AT.isoformat(),
    }

    slices = _drain(sqs, queue, _event(c.SHOP_REDACT_REQUESTED, detail))

    pks = [str(i["pk"]) for i in table.scan()["Items"]]
    assert [p for p in pks if p.startswith((keys.shop_pk_prefix(SHOP), "CARTCONN#gone-"))] == []
    assert len([p for p in pks if p.startswith(keys.shop_pk_prefix(OTHER))]) == 11
    assert "CARTCONN#stays-colorme#CURSOR#orders" in pks
    raw = [o["Key"] for o in s3.list_objects_v2(Bucket=RAW).get("Contents", [])]
    assert raw and all(OTHER in k for k in raw)
    exports = [o["Key"] for o in s3.list_objects_v2(Bucket=PRIVACY).get("Contents", [])]
    assert exports == [f"exports/{OTHER}/e5.json"]
    assert slices > 6  # chained through the queue: 67 items in pages of 7, a page a slice


def test_a_data_request_exports_encrypted_and_notifies_without_personal_data(wired):
    table, s3, sqs, queue, inbox = wired
    _fill(table, s3, SHOP, 2)
    detail = {
        "event_id": "shopify:y:customer.data_requested",
        "shop": SHOP,
        "source": "shopify",
        "type": c.CUSTOMER_DATA_REQUESTED,
        "occurred_at": AT.isoformat(),
        "received_at": AT.isoformat(),
        "customer": {"customer_id": "c1", "email": f"c1@{SHOP}"},
        "request_id": "77",
    }
    assert _drain(sqs, queue, _event(c.CUSTOMER_DATA_REQUESTED, detail)) == 1
    key = f"exports/{SHOP}/shopify_y_customer.data_requested.json"
    document = json.loads(s3.get_object(Bucket=PRIVACY, Key=key)["Body"].read())
    assert document["profiles"][0]["email"] == f"c1@{SHOP}" and len(document["orders"]) == 1
    (message,) = sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10)["Messages"]
    note = json.loads(json.loads(message["Body"])["Message"])
    assert note["export"] == {"bucket": PRIVACY, "key": key} and note["data_request_id"] == "77"
    assert f"c1@{SHOP}" not in json.dumps(note)
