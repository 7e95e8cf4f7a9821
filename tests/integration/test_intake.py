"""Intake handler end to end under moto: real handler, API Gateway v2 events, Secrets Manager, S3, DynamoDB, bus."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from enishi import bootstrap, clock, keys, signatures
from enishi import constants as c

EVENTS = Path(__file__).resolve().parents[1] / "events"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "examples" / "generic"
SHOP = "enishi-demo.myshopify.com"
NOW = datetime(2025, 1, 20, 13, 31, tzinfo=UTC)
SHOPIFY_SECRET = "shpss_current"
GENERIC_SECRET = "whsec_generic"
BUCKET = "enishi-raw-test"


# ---- API Gateway HTTP API (payload v2) event builder


def api_event(
    path: str, raw: bytes, headers: dict[str, str], *, method: str = "POST", base64_body: bool = False
) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {k.lower(): v for k, v in headers.items()},  # HTTP API lower-cases header names
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": "api.example",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.1",
                "userAgent": "Shopify-Captain-Hook",
            },
            "requestId": "req",
            "routeKey": f"{method} {path}",
            "stage": "$default",
            "time": "20/Jan/2025:13:31:00 +0000",
            "timeEpoch": 1737379860000,
        },
        "body": base64.b64encode(raw).decode()
        if base64_body
        else raw.decode("utf-8", errors="surrogateescape"),
        "isBase64Encoded": base64_body,
    }


def shopify_event(
    sample: str,
    *,
    event_id: str = "evt-1",
    secret: str = SHOPIFY_SECRET,
    raw: bytes | None = None,
    signature: str | None = "sign",
) -> dict:
    topic = Path(sample).name.split("--")[0].removesuffix(".json").replace("__", "/")
    raw = raw if raw is not None else (EVENTS / "shopify" / f"{sample}.json").read_bytes()
    headers = {
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-Event-Id": event_id,
        "X-Shopify-Webhook-Id": f"wh-{event_id}",
        "X-Shopify-Triggered-At": "2025-01-20T13:30:12Z",
        "X-Shopify-API-Version": "2025-01",
    }
    if signature == "sign":
        headers["X-Shopify-Hmac-Sha256"] = signatures.sign_shopify(raw, secret)
    elif signature is not None:
        headers["X-Shopify-Hmac-Sha256"] = signature
    return api_event(c.PATH_SHOPIFY_WEBHOOK, raw, headers, base64_body=True)


def generic_event(body: dict | bytes, *, t: int | None = None, secret: str = GENERIC_SECRET) -> dict:
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    t = int(NOW.timestamp()) if t is None else t
    headers = {
        "Content-Type": "application/json",
        "X-Enishi-Signature": signatures.sign_generic(raw, secret, t),
    }
    return api_event(c.PATH_GENERIC_WEBHOOK, raw, headers)


# ---- fixtures


@pytest.fixture
def intake(table, bus, monkeypatch):
    from aws_lambda_powertools.utilities import parameters

    from enishi.intake import handler

    sm = boto3.client("secretsmanager")
    shopify_arn = sm.create_secret(
        Name="shopify", SecretString=json.dumps({"current": SHOPIFY_SECRET, "previous": "shpss_old"})
    )["ARN"]
    generic_arn = sm.create_secret(Name="generic", SecretString=GENERIC_SECRET)["ARN"]
    boto3.client("s3").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"}
    )
    monkeypatch.setenv(c.ENV_RAW_BUCKET_NAME, BUCKET)
    monkeypatch.setenv(c.ENV_SHOPIFY_SECRET_ARN, shopify_arn)
    monkeypatch.setenv(c.ENV_GENERIC_SECRET_ARN, generic_arn)
    parameters.clear_caches()
    bootstrap.reset_all()
    clock.set_provider(lambda: NOW)
    yield Intake(handler, table, bus)
    clock.reset()
    bootstrap.reset_all()
    parameters.clear_caches()


class Intake:
    def __init__(self, handler, table, bus) -> None:
        self.handler = handler
        self.table = table
        self.bus = bus

    def call(self, event: dict) -> tuple[int, dict]:
        resp = self.handler.handler(event, None)
        return resp["statusCode"], json.loads(resp["body"])

    def raw_objects(self) -> list[dict]:
        s3 = boto3.client("s3")
        keys_ = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
        return [{"key": k, **json.loads(s3.get_object(Bucket=BUCKET, Key=k)["Body"].read())} for k in keys_]

    def items(self) -> list[dict]:
        return self.table.scan()["Items"]


# ---- Shopify


def test_valid_shopify_order_puts_one_order_placed_on_the_bus(intake):
    status, body = intake.call(shopify_event("orders__create"))
    assert (status, body) == (200, {"status": "accepted", "events": 1})
    [published] = intake.bus.drain()
    assert published["source"] == c.EVENT_SOURCE_INTAKE and published["detail-type"] == c.ORDER_PLACED
    assert published["detail"]["event_id"] == "shopify:evt-1:order.placed"
    assert published["detail"]["customer"]["last_name"] == "山田" and published["detail"]["total"] == "4870"
    [marker] = intake.items()
    assert marker["pk"] == keys.dedupe_key(SHOP, "shopify", "evt-1")["pk"]
    assert int(marker[c.ATTR_TTL]) == int(NOW.timestamp()) + 7 * 86400
    assert intake.raw_objects() == []


def test_same_webhook_five_times_publishes_once(intake):
    answers = [intake.call(shopify_event("orders__create", event_id="evt-5")) for _ in range(5)]
    assert answers[0] == (200, {"status": "accepted", "events": 1})
    assert answers[1:] == [(200, {"status": "duplicate"})] * 4
    assert len(intake.bus.drain()) == 1


def test_plain_text_body_and_mixed_case_headers_work_too(intake):
    event = shopify_event("customers__create")
    event["body"] = base64.b64decode(event["body"]).decode()
    event["isBase64Encoded"] = False
    event["headers"] = {k.title(): v for k, v in event["headers"].items()}
    assert intake.call(event)[0] == 200
    assert intake.bus.drain()[0]["detail-type"] == c.CUSTOMER_UPSERTED


@pytest.mark.parametrize("signature", [None, "", "bm90LXRoZS1obWFj", "sign-with-wrong-secret"])
def test_bad_or_missing_shopify_signature_is_401_and_leaves_no_trace(intake, signature):
    if signature == "sign-with-wrong-secret":
        event = shopify_event("orders__create", secret="attacker")
    else:
        event = shopify_event("orders__create", signature=signature)
    assert intake.call(event) == (401, {"status": "unauthorized"})
    assert intake.bus.drain() == [] and intake.items() == [] and intake.raw_objects() == []


def test_reserialized_body_fails_verification(intake):
    event = shopify_event("orders__create")
    raw = base64.b64decode(event["body"])
    event["body"] = base64.b64encode(
        json.dumps(json.loads(raw)).encode()
    ).decode()  # signature was over the original bytes
    assert intake.call(event)[0] == 401


def test_previous_secret_is_accepted_during_rotation(intake):
    assert intake.call(shopify_event("orders__create", secret="shpss_old"))[0] == 200
    assert len(intake.bus.drain()) == 1


def test_non_json_body_is_400_and_kept(intake):
    status, body = intake.call(shopify_event("orders__create", raw=b"<xml>not json</xml>"))
    assert status == 400 and body["status"] == "rejected"
    [kept] = intake.raw_objects()
    assert kept["key"].startswith("raw/shopify/2025-01-20/") and kept["reason"] == "not_json"
    assert base64.b64decode(kept["body_base64"]) == b"<xml>not json</xml>"
    assert intake.bus.drain() == [] and intake.items() == []


def test_odd_shopify_body_is_200_kept_with_headers_to_reverify(intake):
    raw = (EVENTS / "shopify" / "invalid" / "orders__create--line-item-without-price.json").read_bytes()
    event = shopify_event("invalid/orders__create--line-item-without-price", raw=raw)
    assert intake.call(event) == (200, {"status": "kept"})
    [kept] = intake.raw_objects()
    assert kept["reason"] == "unprocessable"
    assert kept["details"]["details"] == [{"loc": "line_items.0.price", "msg": "required"}]
    original = base64.b64decode(kept["body_base64"])
    assert original == raw
    assert signatures.verify_shopify(
        original, kept["headers"]["x-shopify-hmac-sha256"], [SHOPIFY_SECRET]
    )  # replayable
    assert intake.bus.drain() == [] and intake.items() == []


def test_unknown_topic_is_kept_not_lost(intake):
    event = shopify_event("orders__create")
    event["headers"]["x-shopify-topic"] = "products/create"
    assert intake.call(event) == (200, {"status": "kept"})
    assert len(intake.raw_objects()) == 1


def test_publish_failure_releases_the_marker_and_asks_for_a_retry(intake, monkeypatch):
    events_client = intake.handler.ports().publisher._client

    def broken_put_events(**kwargs):
        return {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "boom"}]}

    monkeypatch.setattr(events_client, "put_events", broken_put_events)
    status, body = intake.call(shopify_event("orders__create", event_id="evt-retry"))
    assert (status, body) == (503, {"status": "retry"})
    assert intake.items() == []  # marker removed: the redelivery will be processed
    monkeypatch.undo()
    assert intake.call(shopify_event("orders__create", event_id="evt-retry"))[1]["status"] == "accepted"


def test_unknown_route_and_wrong_method(intake):
    assert intake.call(api_event("/webhooks/other", b"{}", {}))[0] == 404
    assert intake.call(api_event(c.PATH_SHOPIFY_WEBHOOK, b"", {}, method="GET"))[0] == 405


def test_named_stage_prefix_in_raw_path_is_routed(intake):
    event = shopify_event("orders__create")
    del event["routeKey"]
    event["rawPath"] = "/prod" + c.PATH_SHOPIFY_WEBHOOK
    assert intake.call(event)[0] == 200


# ---- generic


def test_generic_example_is_accepted_and_deduped_on_its_id(intake):
    body = json.loads((DOCS / "order.placed.json").read_text())
    assert intake.call(generic_event(body)) == (200, {"status": "accepted", "events": 1})
    assert intake.call(generic_event(body)) == (200, {"status": "duplicate"})
    [published] = intake.bus.drain()
    assert published["detail"]["event_id"] == f"generic:{body['id']}:order.placed"
    assert intake.items()[0]["pk"] == keys.dedupe_key(body["shop"], "generic", body["id"])["pk"]


def test_generic_stale_timestamp_is_401(intake):
    body = json.loads((DOCS / "order.placed.json").read_text())
    assert intake.call(generic_event(body, t=int(NOW.timestamp()) - 301)) == (401, {"status": "unauthorized"})
    assert intake.bus.drain() == [] and intake.raw_objects() == []


def test_generic_invalid_payload_is_400_with_detail_and_kept(intake):
    body = json.loads((DOCS / "order.placed.json").read_text())
    body["data"]["total"] = 4870
    status, answer = intake.call(generic_event(body))
    assert status == 400 and answer["status"] == "rejected"
    assert {"loc": "data.total", "msg": "Input should be a valid string"} in answer["details"]
    [kept] = intake.raw_objects()
    assert kept["key"].startswith("raw/generic/2025-01-20/")
    assert intake.bus.drain() == [] and intake.items() == []


# ---- issue 9: the shops served, hostile bodies, large orders — through the real handler, S3 and the bus


@pytest.mark.parametrize("path", sorted(DOCS.glob("*.json")), ids=lambda p: p.stem)
def test_every_documented_generic_example_is_accepted_by_the_local_intake(intake, path):
    body = json.loads(path.read_text())
    assert intake.call(generic_event(body)) == (200, {"status": "accepted", "events": 1})
    [published] = intake.bus.drain()
    assert published["detail"]["shop"] == SHOP  # the shop /u/{token} links resolve for


@pytest.mark.parametrize("kind", ["shopify", "generic"])
def test_a_signed_delivery_for_a_shop_not_served_is_403_and_kept(intake, kind):
    if kind == "generic":
        body = json.loads((DOCS / "order.placed.json").read_text())
        event = generic_event({**body, "shop": "shop.enishi-sabo.example"})
    else:
        event = shopify_event("orders__create")
        event["headers"]["x-shopify-shop-domain"] = "another-shop.myshopify.com"
    assert intake.call(event) == (403, {"status": "rejected", "error": "unknown_shop"})
    [kept] = intake.raw_objects()
    assert kept["reason"] == "unknown_shop" and intake.bus.drain() == [] and intake.items() == []


@pytest.mark.parametrize("path", [c.PATH_SHOPIFY_WEBHOOK, c.PATH_GENERIC_WEBHOOK])
def test_json_nested_10000_deep_is_400_and_kept_not_500(intake, path):
    raw = b"[" * 10_000 + b"]" * 10_000
    event = generic_event(raw) if path == c.PATH_GENERIC_WEBHOOK else shopify_event("orders__create", raw=raw)
    status, answer = intake.call(event)
    assert status == 400 and answer["status"] == "rejected"
    assert intake.raw_objects()[0]["reason"] == "too_deep"


@pytest.mark.parametrize(
    "header", ["t=\u00b2,v1=" + "0" * 64, "t=" + "1" * 400 + ",v1=00", "t=" + "1" * 5000 + ",v1=00"]
)
def test_hostile_generic_signature_headers_are_401_not_500(intake, header):
    event = generic_event(b"{}")
    event["headers"]["x-enishi-signature"] = header
    assert intake.call(event) == (401, {"status": "unauthorized"})


def test_an_order_with_3000_line_items_is_published_bounded_with_the_full_body_kept(intake):
    order = json.loads((EVENTS / "shopify" / "orders__create.json").read_text())
    item = order["line_items"][0]
    order["line_items"] = [
        {**item, "id": i, "title": f"煎茶 {i}", "variant_id": 50_000 + i} for i in range(3000)
    ]
    raw = json.dumps(order, ensure_ascii=False).encode()
    assert intake.call(shopify_event("orders__create", raw=raw)) == (200, {"status": "accepted", "events": 1})
    [published] = intake.bus.drain()
    detail = published["detail"]
    assert detail["item_count"] == 3000 and len(detail["line_items"]) == 50
    assert len(json.dumps(detail).encode()) < 200 * 1024
    [kept] = intake.raw_objects()
    assert kept["key"] == detail["raw_ref"] and kept["reason"] == "oversized"
    assert base64.b64decode(kept["body_base64"]) == raw


# ---- the dedupe marker never turns a delivery that was not published into a "duplicate"
def test_a_claim_retried_by_botocore_after_it_landed_is_still_ours(table):
    from enishi.intake.handler import DynamoDedupe

    class RetriedAfterTimeout:
        """Like botocore retrying a PutItem whose first try was written but whose answer timed out."""

        def __init__(self, real: Any) -> None:
            self._real = real
            self.exceptions = real.exceptions

        def put_item(self, **kwargs: Any) -> Any:
            self._real.put_item(**kwargs)  # the first try lands...
            return self._real.put_item(**kwargs)  # ...and the retry meets its own marker

    dedupe = DynamoDedupe(RetriedAfterTimeout(boto3.client("dynamodb")), table.name)
    expires = datetime(2030, 1, 1, tzinfo=UTC)
    # Given a first claim whose put was retried after landing: still a claim (not a duplicate)
    assert dedupe.claim("s.myshopify.com", "shopify", "evt-1", expires) is True
    # and a real second delivery of the same event is a duplicate
    assert (
        DynamoDedupe(boto3.client("dynamodb"), table.name).claim(
            "s.myshopify.com", "shopify", "evt-1", expires
        )
        is False
    )


def test_a_claim_with_an_unknown_outcome_takes_its_marker_back(table):
    from enishi.intake.handler import DynamoDedupe

    class WrittenThenTimedOut:
        def __init__(self, real: Any) -> None:
            self._real = real
            self.exceptions = real.exceptions

        def put_item(self, **kwargs: Any) -> Any:
            self._real.put_item(**kwargs)
            raise TimeoutError("read timeout")

        def delete_item(self, **kwargs: Any) -> Any:
            return self._real.delete_item(**kwargs)

    expires = datetime(2030, 1, 1, tzinfo=UTC)
    # When the put landed but its answer never came
    with pytest.raises(TimeoutError):
        DynamoDedupe(WrittenThenTimedOut(boto3.client("dynamodb")), table.name).claim(
            "s.myshopify.com", "shopify", "evt-2", expires
        )
    # Then the marker is gone, so Shopify's retry is processed rather than dropped as a duplicate
    assert "Item" not in table.get_item(Key=keys.dedupe_key("s.myshopify.com", "shopify", "evt-2"))
    assert (
        DynamoDedupe(boto3.client("dynamodb"), table.name).claim(
            "s.myshopify.com", "shopify", "evt-2", expires
        )
        is True
    )
