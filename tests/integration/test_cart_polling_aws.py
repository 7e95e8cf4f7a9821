"""The poller and the EC-CUBE webhook λ under moto, against the fake EC-CUBE: `enishi connect` stores the tokens in
the connection's secret; a signed id-only webhook is queued and fetched into order.placed; the scheduled sweep keeps
its cursor in DynamoDB and publishes nothing twice."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from types import SimpleNamespace

import boto3
import pytest

from enishi import bootstrap, keys
from enishi import constants as c
from enishi.polling import handler as poller
from enishi.polling import webhook
from enishi.polling.contract import CartConnection
from enishi_local import connect
from enishi_local.fake_carts import FakeEccube

SHOP = "enishi-chabo"
WEBHOOK_SECRET = "eccube-webhook-secret-0123456789"


@pytest.fixture
def fake():
    with FakeEccube() as shop:
        yield shop


@pytest.fixture
def wired(table, bus, monkeypatch, fake):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="raw", CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"})
    arn = boto3.client("secretsmanager").create_secret(Name="cart-eccube-main", SecretString="{}")["ARN"]
    queue = boto3.client("sqs").create_queue(QueueName="fetch")["QueueUrl"]
    connection = CartConnection(id="eccube-main", cart="eccube", shop_id=SHOP, base_url=fake.url)
    for k, v in {
        c.ENV_CART_CONNECTION: connection.to_env(),
        c.ENV_CART_SECRET_ARN: arn,
        c.ENV_RAW_BUCKET_NAME: "raw",
        c.ENV_CART_FETCH_QUEUE_URL: queue,
    }.items():
        monkeypatch.setenv(k, v)
    bootstrap.reset_all()
    yield SimpleNamespace(arn=arn, queue=queue, bus=bus, table=table)
    bootstrap.reset_all()


def _connect(fake: FakeEccube, arn: str) -> int:
    return connect.main(
        [
            "eccube",
            "--secret-arn",
            arn,
            "--shop-url",
            fake.url,
            "--client-id",
            fake.client_id,
            f"--client-secret={fake.client_secret}",
            "--redirect-uri",
            "https://enishi.example/cb",
            f"--code={fake.issue_code()}",
            "--webhook-secret",
            WEBHOOK_SECRET,
        ]
    )  # a code may start with "-"


def _http(raw: bytes, signature: str | None) -> dict:
    headers = {"content-type": "application/json"}
    if signature is not None:
        headers["x-eccube-signature"] = signature
    return {
        "version": "2.0",
        "routeKey": "POST /webhooks/eccube/eccube-main",
        "rawPath": "/webhooks/eccube/eccube-main",
        "headers": headers,
        "body": raw.decode(),
        "isBase64Encoded": False,
        "requestContext": {"http": {"method": "POST", "path": "/webhooks/eccube/eccube-main"}},
    }


def _sqs_event(queue: str) -> dict:
    msgs = boto3.client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    return {"Records": [{"messageId": m["MessageId"], "body": m["Body"]} for m in msgs]}


def _types(published: list[dict]) -> list[str]:
    return [e["detail-type"] for e in published]


def test_connect_stores_exchanged_tokens_and_refuses_a_spent_code(wired, fake) -> None:
    assert _connect(fake, wired.arn) == 0
    stored = json.loads(boto3.client("secretsmanager").get_secret_value(SecretId=wired.arn)["SecretString"])
    assert stored["access_token"] and stored["refresh_token"] and stored["expires_at"]
    assert stored["webhook_secret"] == WEBHOOK_SECRET and stored["token_url"] == fake.url + "/token"
    assert (
        connect.main(
            [
                "eccube",
                "--secret-arn",
                wired.arn,
                "--shop-url",
                fake.url,
                "--client-id",
                "x",
                "--client-secret",
                "y",
                "--redirect-uri",
                "https://e/cb",
                "--code",
                "spent",
                "--webhook-secret",
                WEBHOOK_SECRET,
            ]
        )
        == 2
    )


def test_signed_webhook_is_queued_then_fetched_into_one_order_placed(wired, fake, lambda_context) -> None:
    _connect(fake, wired.arn)
    oid = fake.start_checkout("hanako@example.jp")
    raw = json.dumps([{"entity": "order", "id": int(oid), "action": "created"}]).encode()
    good = hmac.new(WEBHOOK_SECRET.encode(), raw, hashlib.sha256).hexdigest()

    assert webhook.handler(_http(raw, None), lambda_context("CartWebhook"))["statusCode"] == 401
    assert webhook.handler(_http(raw, "0" * 64), lambda_context("CartWebhook"))["statusCode"] == 401
    assert webhook.handler(_http(raw, good), lambda_context("CartWebhook"))["statusCode"] == 200
    poller.handler(_sqs_event(wired.queue), lambda_context("CartPoller"))
    assert _types(wired.bus.drain()) == []  # status 8: checkout in progress

    fake.complete(oid)
    raw = json.dumps([{"entity": "order", "id": int(oid), "action": "updated"}]).encode()
    sig = hmac.new(WEBHOOK_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    assert webhook.handler(_http(raw, sig), lambda_context("CartWebhook"))["statusCode"] == 200
    result = poller.handler(_sqs_event(wired.queue), lambda_context("CartPoller"))
    assert result == {"batchItemFailures": []}
    published = wired.bus.drain()
    assert _types(published) == ["order.placed"]
    assert published[0]["detail"]["shop"] == SHOP

    poller.handler({"sweep": True}, lambda_context("CartPoller"))  # the sweep sees the same order: no repeat
    assert _types(wired.bus.drain()) == []
    cursor = wired.table.get_item(Key=keys.poll_cursor_key("eccube-main", "orders"))["Item"]
    assert json.loads(cursor["cursor"])["watermark"]


def test_authentic_body_that_is_not_an_id_list_is_kept(wired, fake, lambda_context) -> None:
    _connect(fake, wired.arn)
    raw = b'{"entity": "order"}'
    sig = hmac.new(WEBHOOK_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    assert webhook.handler(_http(raw, sig), lambda_context("CartWebhook"))["statusCode"] == 400
    assert boto3.client("s3").list_objects_v2(Bucket="raw")["KeyCount"] == 1


def test_webhook_before_connect_is_unauthorized_not_5xx(wired, lambda_context) -> None:
    boto3.client("secretsmanager").put_secret_value(SecretId=wired.arn, SecretString="not json")
    raw = b"[]"
    sig = hmac.new(WEBHOOK_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    assert webhook.handler(_http(raw, sig), lambda_context("CartWebhook"))["statusCode"] == 401


def test_connect_makeshop_and_base_store_what_their_polls_need(aws) -> None:
    sm = boto3.client("secretsmanager")
    arn = sm.create_secret(Name="cart-makeshop", SecretString="{}")["ARN"]
    assert connect.main(["makeshop", "--secret-arn", arn, "--access-token", "perm-token"]) == 2  # no api key
    assert (
        connect.main(["makeshop", "--secret-arn", arn, "--access-token", "perm-token", "--api-key", "k"]) == 0
    )
    stored = json.loads(sm.get_secret_value(SecretId=arn)["SecretString"])
    assert stored["api_key"] == "k" and "refresh_token" not in stored and "token_url" not in stored
    from enishi.carts import makeshop
    from enishi.polling.http import OAuthSecret

    assert makeshop.request_headers(OAuthSecret.model_validate(stored))["x-api-key"] == "k"
    arn = sm.create_secret(Name="cart-base", SecretString="{}")["ARN"]
    assert (
        connect.main(
            [
                "base",
                "--secret-arn",
                arn,
                "--access-token",
                "a",
                "--refresh-token",
                "r",
                "--expires-in",
                "3600",
                "--client-id",
                "id",
                "--client-secret",
                "s",
                "--redirect-uri",
                "https://enishi.example/cb",
            ]
        )
        == 0
    )
    stored = json.loads(sm.get_secret_value(SecretId=arn)["SecretString"])
    assert stored["redirect_uri"] == "https://enishi.example/cb" and stored["token_url"].startswith(
        "https://api.thebase.in"
    )


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@given(
    body=st.one_of(
        st.binary(max_size=200),
        st.builds(
            lambda v: json.dumps(v).encode(),
            st.recursive(
                st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                lambda inner: (
                    st.lists(inner, max_size=3)
                    | st.dictionaries(st.sampled_from(["entity", "id", "action"]), inner, max_size=3)
                ),
                max_leaves=8,
            ),
        ),
    ),
    signed=st.booleans(),
)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_no_body_signed_or_not_gets_a_5xx(wired, fake, lambda_context, body: bytes, signed: bool) -> None:
    boto3.client("secretsmanager").put_secret_value(
        SecretId=wired.arn, SecretString=json.dumps({"webhook_secret": WEBHOOK_SECRET})
    )
    bootstrap.reset_all()
    sig = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest() if signed else "f" * 64
    event = _http(b"", sig)
    event["body"], event["isBase64Encoded"] = __import__("base64").b64encode(body).decode(), True
    status = webhook.handler(event, lambda_context("CartWebhook"))["statusCode"]
    assert status in ((200, 400) if signed else (401,))


def test_raw_bucket_down_answers_503_not_an_unhandled_error(wired, fake, lambda_context, monkeypatch) -> None:
    _connect(fake, wired.arn)
    monkeypatch.setenv(c.ENV_RAW_BUCKET_NAME, "no-such-bucket")
    bootstrap.reset_all()
    raw = b'{"entity": "order"}'
    sig = hmac.new(WEBHOOK_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    assert webhook.handler(_http(raw, sig), lambda_context("CartWebhook"))["statusCode"] == 503


def test_a_signed_body_nested_10000_deep_is_400_and_kept_like_intake(wired, fake, lambda_context) -> None:
    # Given an authentic (signed) body that no JSON parser should recurse through (issue 9 defect 5's class)
    _connect(fake, wired.arn)
    raw = b"[" * 10_000 + b"]" * 10_000
    sig = hmac.new(WEBHOOK_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    # When EC-CUBE posts it
    answer = webhook.handler(_http(raw, sig), lambda_context("CartWebhook"))
    # Then it is refused with a 400, never a 5xx, and kept with its headers (the signature can be re-verified)
    assert answer["statusCode"] == 400
    bucket = os.environ[c.ENV_RAW_BUCKET_NAME]
    (obj,) = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix="raw/eccube/")["Contents"]
    kept = json.loads(boto3.client("s3").get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
    assert kept["reason"] == "too_deep" and kept["headers"]["x-eccube-signature"] == sig
