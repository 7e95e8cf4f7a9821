"""LINE webhook λ under moto: signature, follow/unfollow, account link with single-use nonces, dedupe."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from enishi import bootstrap, clock, keys
from enishi import constants as c
from enishi.signatures import sign_line

EVENTS_DIR = Path(__file__).resolve().parents[1] / "events" / "line"
SHOP = "enishi-demo.myshopify.com"
CHANNEL_SECRET = "line-channel-secret-for-tests"
USER = "U4af4980629a1b2c3d4e5f60718293a4b"
NONCE = "q7Zb1p0kXyV2mN8rT4sW6uE3iO5aD9fG1hJ2kL3zX4c"
NOW = datetime(2026, 3, 2, 1, 10, tzinfo=UTC)


def raw(name: str) -> bytes:
    return (EVENTS_DIR / f"{name}.json").read_bytes()


def http_event(body: bytes, signature: str | None, b64: bool = False) -> dict:
    headers = {
        "host": "api.example",
        "content-type": "application/json; charset=utf-8",
        "user-agent": "LineBotWebhook/2.0",
    }
    if signature is not None:
        headers["x-line-signature"] = signature
    return {
        "version": "2.0",
        "routeKey": "POST /webhooks/line",
        "rawPath": "/webhooks/line",
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {"http": {"method": "POST", "path": "/webhooks/line"}, "stage": "$default"},
        "body": base64.b64encode(body).decode() if b64 else body.decode("utf-8"),
        "isBase64Encoded": b64,
    }


@pytest.fixture
def fixed_clock():
    clock.set_provider(lambda: NOW)
    yield
    clock.reset()


@pytest.fixture
def line(table, bus, fixed_clock, monkeypatch, lambda_context):
    import boto3
    from aws_lambda_powertools.utilities import parameters

    from enishi.line_webhook import handler as module

    parameters.clear_caches()
    arn = boto3.client("secretsmanager").create_secret(
        Name="enishi/line",
        SecretString=json.dumps({"channel_secret": CHANNEL_SECRET, "channel_access_token": "tok"}),
    )["ARN"]
    monkeypatch.setenv(c.ENV_LINE_SECRET_ARN, arn)
    bootstrap.reset_all()
    context = lambda_context("LineWebhook")

    def post(body: bytes, signature: str | None = "sign", b64: bool = False) -> dict:
        sig = sign_line(body, CHANNEL_SECRET) if signature == "sign" else signature
        return module.handler(http_event(body, sig, b64), context)

    return post


@pytest.fixture
def store(table):
    import boto3

    from enishi.line_webhook.store import DynamoLineStore

    return DynamoLineStore(boto3.client("dynamodb"), table.name)


def identity_events(bus) -> list[dict]:
    return [e for e in bus.drain() if e["detail-type"] == c.LINE_IDENTITY_CHANGED]


def item_count(table) -> int:
    return len(table.scan()["Items"])  # test-only inspection


# ---- signature


@pytest.mark.parametrize(
    "signature",
    [None, "", "AAAA", sign_line(b"other body", CHANNEL_SECRET), sign_line(raw("follow"), "wrong-secret")],
)
def test_bad_signature_is_401_and_leaves_nothing(line, table, bus, signature):
    response = line(raw("follow"), signature)
    assert response["statusCode"] == 401
    assert identity_events(bus) == []
    assert item_count(table) == 0


def test_signature_is_checked_on_the_raw_bytes_even_when_base64_encoded(line, bus):
    assert line(raw("follow"), b64=True)["statusCode"] == 200
    assert len(identity_events(bus)) == 1


def test_reserialized_body_fails_the_signature(line, bus):
    body = raw("follow")
    resigned_other = sign_line(json.dumps(json.loads(body)).encode(), CHANNEL_SECRET)
    assert line(body, resigned_other)["statusCode"] == 401


def test_verification_request_with_no_events_is_200(line, table, bus):
    assert line(raw("verification"))["statusCode"] == 200
    assert identity_events(bus) == [] and item_count(table) == 0


# ---- follow / unfollow


def test_follow_publishes_followed_for_an_unknown_user(line, bus):
    assert line(raw("follow"))["statusCode"] == 200
    (event,) = identity_events(bus)
    assert event["source"] == c.EVENT_SOURCE_INTAKE
    detail = event["detail"]
    assert (detail["change"], detail["line_user_id"], detail["customer"]) == ("followed", USER, None)
    assert detail["event_id"] == "line:01JNF3Q8Z4W7X2K9M5R6T1V0A1"
    assert detail["occurred_at"].startswith("2026-03-02T01:00:00")


def test_unfollow_of_a_linked_user_carries_the_customer(line, table, bus):
    # Given the profile consumer's LINE lookup for a linked user
    table.put_item(Item={**keys.line_lookup_key(SHOP, USER), "customer_id": "7001"})
    line(raw("unfollow"))
    (event,) = identity_events(bus)
    assert event["detail"]["change"] == "unfollowed"
    assert event["detail"]["customer"]["customer_id"] == "7001"


def test_redelivery_is_published_once(line, bus):
    line(raw("follow"))
    assert line(raw("redelivery"))["statusCode"] == 200
    assert len(identity_events(bus)) == 1


def test_other_event_types_are_ignored_without_a_marker(line, table, bus):
    assert line(raw("message"))["statusCode"] == 200
    assert identity_events(bus) == [] and item_count(table) == 0


# ---- account link


def test_issue_nonce_is_random_single_use_and_expires_in_10_minutes(fixed_clock, store, table):
    from enishi.line_webhook.linking import account_link_url, issue_nonce

    a, b = issue_nonce(store, SHOP, "7001"), issue_nonce(store, SHOP, "7001")
    assert a != b and len(a) >= 22 and all(ch.isalnum() or ch in "-_" for ch in a)
    item = table.get_item(Key=keys.line_link_nonce_key(SHOP, a))["Item"]
    assert item["customer_id"] == "7001"
    assert int(item[c.ATTR_TTL]) == int((NOW + timedelta(minutes=10)).timestamp())
    url = account_link_url("LINKTOKEN123", a)
    assert url.startswith("https://access.line.me/dialog/bot/accountLink?linkToken=LINKTOKEN123&nonce=")


def test_account_link_ok_links_the_customer_and_consumes_the_nonce(line, store, table, bus):
    # Given a nonce issued by the shop's login page for customer 7001
    store.put_nonce(SHOP, NONCE, "7001", NOW, NOW + timedelta(minutes=10))
    # When LINE reports the link
    assert line(raw("account_link_ok"))["statusCode"] == 200
    # Then linked is published with the customer, and the nonce is gone
    (event,) = identity_events(bus)
    assert event["detail"]["change"] == "linked"
    assert event["detail"]["customer"]["customer_id"] == "7001"
    assert event["detail"]["line_user_id"] == USER
    assert "Item" not in table.get_item(Key=keys.line_link_nonce_key(SHOP, NONCE))


def test_a_nonce_links_only_once(line, store, bus):
    store.put_nonce(SHOP, NONCE, "7001", NOW, NOW + timedelta(minutes=10))
    line(raw("account_link_ok"))
    # A second, different accountLink event carrying the same nonce
    other = json.loads(raw("account_link_ok"))
    other["events"][0]["webhookEventId"] = "01JNF4ZZZZZZZZZZZZZZZZZZZZ"
    other["events"][0]["source"]["userId"] = "U9999999999999999999999999999999"
    line(json.dumps(other).encode())
    events = identity_events(bus)
    assert [e["detail"]["line_user_id"] for e in events] == [USER]


def test_expired_nonce_does_not_link(line, store, bus):
    store.put_nonce(SHOP, NONCE, "7001", NOW - timedelta(minutes=20), NOW - timedelta(minutes=10))
    assert line(raw("account_link_ok"))["statusCode"] == 200
    assert identity_events(bus) == []


def test_unknown_nonce_does_not_link(line, bus):
    assert line(raw("account_link_ok"))["statusCode"] == 200
    assert identity_events(bus) == []


def test_failed_link_publishes_nothing_and_burns_the_nonce(line, store, table, bus):
    store.put_nonce(SHOP, NONCE, "7001", NOW, NOW + timedelta(minutes=10))
    assert line(raw("account_link_failed"))["statusCode"] == 200
    assert identity_events(bus) == []
    assert "Item" not in table.get_item(Key=keys.line_link_nonce_key(SHOP, NONCE))


def test_publish_failure_is_503_and_undoes_claims_and_nonces(line, store, table, bus):
    from enishi.line_webhook import handler as module
    from enishi.publish import InMemoryPublisher

    store.put_nonce(SHOP, NONCE, "7001", NOW, NOW + timedelta(minutes=10))
    module.deps().publisher = InMemoryPublisher(fail=True)
    # When the bus is unavailable
    assert line(raw("account_link_ok"))["statusCode"] == 503
    # Then the marker is released and the nonce restored, so LINE's redelivery can still link
    assert "Item" not in table.get_item(Key=keys.dedupe_key(SHOP, "line", "01JNF3Z1A2B3C4D5E6F7G8H9J0"))
    assert table.get_item(Key=keys.line_link_nonce_key(SHOP, NONCE))["Item"]["customer_id"] == "7001"
    module.deps().publisher = InMemoryPublisher()
    assert line(raw("account_link_ok"))["statusCode"] == 200
    assert [e.change for e in module.deps().publisher.published] == ["linked"]


def test_not_json_but_signed_is_400(line):
    assert line(b"not json")["statusCode"] == 400


# ---- contract with the profile consumer


def test_link_then_unfollow_reaches_the_profile(line, store, table, bus):
    from enishi import events as ev
    from enishi.profiles.store import ProfileStore
    from enishi.publish import InMemoryPublisher

    profiles = ProfileStore(table, InMemoryPublisher())

    def apply_all() -> None:
        for message in bus.drain():
            profiles.handle(ev.parse_event(message["detail"]))

    profiles.handle(
        ev.CustomerUpserted(
            event_id="shopify:seed",
            shop=SHOP,
            source="shopify",
            occurred_at=NOW - timedelta(days=1),
            received_at=NOW - timedelta(days=1),
            customer=ev.CustomerRef(customer_id="7001"),
        )
    )
    # Given an account link through a nonce issued for customer 7001
    store.put_nonce(SHOP, NONCE, "7001", NOW, NOW + timedelta(minutes=10))
    line(raw("account_link_ok"))
    apply_all()
    profile = table.get_item(Key=keys.profile_key(SHOP, "7001"))["Item"]
    assert profile["line"]["user_id"] == USER and profile["line"]["following"] is True
    # When the user blocks the account later
    line(raw("unfollow"))
    apply_all()
    # Then the profile knows LINE can no longer be used
    profile = table.get_item(Key=keys.profile_key(SHOP, "7001"))["Item"]
    assert profile["line"]["following"] is False


# ---- hostile but signed events (issue 9, defect 5): each bad event kept, the good ones processed, never 5xx

LINE_RAW_BUCKET = "enishi-raw-line-test"


@pytest.fixture
def kept(line, monkeypatch):
    """The raw-payload bucket the LINE webhook keeps malformed events in; returns a reader of what was kept."""
    import boto3

    s3 = boto3.client("s3")
    s3.create_bucket(
        Bucket=LINE_RAW_BUCKET, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"}
    )
    monkeypatch.setenv(c.ENV_RAW_BUCKET_NAME, LINE_RAW_BUCKET)
    bootstrap.reset_all()

    def read() -> list[dict]:
        keys_ = [o["Key"] for o in s3.list_objects_v2(Bucket=LINE_RAW_BUCKET).get("Contents", [])]
        return [json.loads(s3.get_object(Bucket=LINE_RAW_BUCKET, Key=k)["Body"].read()) for k in keys_]

    return read


def _follow(**override) -> dict:
    event = json.loads(raw("follow"))["events"][0]
    return {**event, **override}


BAD_EVENTS = {
    "string-source": _follow(
        source="U4af4980629a1b2c3d4e5f60718293a4b", webhookEventId="01BAD0000000000000000000A1"
    ),
    "string-link": {**_follow(type="accountLink", webhookEventId="01BAD0000000000000000000A2"), "link": "ok"},
    "list-userId": _follow(
        source={"type": "user", "userId": ["U1"]}, webhookEventId="01BAD0000000000000000000A3"
    ),
    "timestamp-1e20": _follow(timestamp=1e20, webhookEventId="01BAD0000000000000000000A4"),
    "timestamp-400-digits": _follow(timestamp=10**400, webhookEventId="01BAD0000000000000000000A6"),
    "webhookEventId-5000": _follow(webhookEventId="W" * 5000),
}


@pytest.mark.parametrize("name", list(BAD_EVENTS))
def test_a_malformed_event_is_kept_and_the_valid_one_beside_it_still_published(line, kept, bus, name):
    body = json.dumps({"destination": "U0", "events": [BAD_EVENTS[name], _follow()]}).encode()
    response = line(body)
    assert response["statusCode"] == 200
    (event,) = identity_events(bus)
    assert event["detail"]["change"] == "followed"
    [doc] = kept()
    assert doc["reason"] == "invalid_event" and doc["details"][0]["loc"].startswith("events.0.")
    assert base64.b64decode(doc["body_base64"]) == body  # the exact bytes, re-verifiable


def test_infinity_timestamp_is_kept_not_500(line, kept, bus):
    body = (
        b'{"events": ['
        + json.dumps(_follow(webhookEventId="01BAD0000000000000000000A5"))
        .replace('"timestamp": 1772413200000', '"timestamp": Infinity')
        .encode()
        + b"]}"
    )
    assert b"Infinity" in body
    assert line(body)["statusCode"] == 200
    assert identity_events(bus) == [] and kept()[0]["reason"] == "invalid_event"


@pytest.mark.parametrize(
    "body", [b"[" * 10_000 + b"]" * 10_000, b'{"events": ' + b"[" * 5000 + b"]" * 5000 + b"}"]
)
def test_deeply_nested_body_is_400_and_kept(line, kept, body):
    assert line(body)["statusCode"] == 400
    assert kept()[0]["reason"] == "too_deep"
