"""Preferences λ under moto: the page, RFC 8058 one-click unsubscribe, the form, re-subscribe, bad tokens."""

from __future__ import annotations

import base64
import json
from urllib.parse import urlencode

import pytest

from enishi import bootstrap, keys
from enishi import constants as c
from enishi.unsubscribe import make_token

SHOP = "enishi-demo.myshopify.com"
SECRET = "unsubscribe-secret-for-tests-0123456789"
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"


def http_event(
    method: str, token: str, body: str = "", headers: dict | None = None, b64: bool = False
) -> dict:
    raw = body.encode()
    return {
        "version": "2.0",
        "routeKey": f"{method} /u/{{token}}",
        "rawPath": f"/u/{token}",
        "rawQueryString": "",
        "headers": {"host": "api.example", **(headers or {})},
        "requestContext": {
            "http": {
                "method": method,
                "path": f"/u/{token}",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.9",
                "userAgent": (headers or {}).get("user-agent", ""),
            },
            "routeKey": f"{method} /u/{{token}}",
            "stage": "$default",
        },
        "pathParameters": {"token": token},
        "body": base64.b64encode(raw).decode() if b64 else body,
        "isBase64Encoded": b64,
    }


@pytest.fixture
def secret_arn(aws, monkeypatch):
    import boto3
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()
    arn = boto3.client("secretsmanager").create_secret(Name="enishi/unsubscribe", SecretString=SECRET)["ARN"]
    monkeypatch.setenv(c.ENV_UNSUBSCRIBE_SECRET_ARN, arn)
    return arn


@pytest.fixture
def preferences(table, bus, secret_arn, monkeypatch, lambda_context):
    from enishi.preferences import handler as module

    bootstrap.reset_all()
    context = lambda_context("Preferences")
    return lambda event: module.handler(event, context)


def token_for(
    customer_id: str = "7001", channel: str = "email", secret: str = SECRET, shop: str = SHOP
) -> str:
    return make_token(secret.encode(), shop, customer_id, channel)


def consent_events(bus) -> list[dict]:
    return [e for e in bus.drain() if e["detail-type"] == c.CONSENT_CHANGED]


def test_get_shows_the_japanese_page_and_changes_nothing(preferences, bus):
    # When a customer (or a link scanner) opens the link
    response = preferences(http_event("GET", token_for()))
    # Then the page shows the shop and the stop button, and nothing is published
    assert response["statusCode"] == 200
    assert response["headers"]["content-type"] == "text/html; charset=utf-8"
    assert response["headers"]["referrer-policy"] == "no-referrer"
    assert response["headers"]["cache-control"] == "no-store"
    body = response["body"]
    assert "縁茶房" in body and "配信停止" in body and 'method="post"' in body
    assert 'name="viewport"' in body
    assert consent_events(bus) == []


def test_one_click_post_unsubscribes_at_once_with_evidence(preferences, bus):
    # When the mailbox provider POSTs the RFC 8058 body
    response = preferences(
        http_event(
            "POST",
            token_for(),
            "List-Unsubscribe=One-Click",
            {
                "content-type": "application/x-www-form-urlencoded",
                "user-agent": "Mozilla/5.0 (compatible; mail)",
            },
        )
    )
    # Then it answers 200 with a short page and publishes the unsubscribe with its evidence
    assert response["statusCode"] == 200
    assert "配信を停止しました" in response["body"]
    (event,) = consent_events(bus)
    assert event["source"] == c.EVENT_SOURCE_INTAKE
    detail = event["detail"]
    assert detail["shop"] == SHOP
    assert detail["customer"]["customer_id"] == "7001"
    consent = detail["consent"]
    assert (consent["channel"], consent["state"], consent["source"]) == ("email", "unsubscribed", "one_click")
    assert consent["evidence"]["request"] == "one_click"
    assert consent["evidence"]["method"] == "POST"
    assert consent["evidence"]["user_agent_class"] == "browser"
    assert "203.0.113.9" not in json.dumps(event)  # no IP kept


def test_one_click_as_multipart_form_data(preferences, bus):
    boundary = "----enishi"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n'
        f"--{boundary}--\r\n"
    )
    response = preferences(
        http_event(
            "POST", token_for(), body, {"content-type": f"multipart/form-data; boundary={boundary}"}, b64=True
        )
    )
    assert response["statusCode"] == 200
    (event,) = consent_events(bus)
    assert event["detail"]["consent"]["source"] == "one_click"


def test_browser_form_post_unsubscribes_from_the_link(preferences, bus):
    response = preferences(
        http_event(
            "POST",
            token_for(),
            urlencode({"action": "unsubscribe"}),
            {"content-type": "application/x-www-form-urlencoded", "user-agent": IPHONE},
        )
    )
    assert response["statusCode"] == 200
    (event,) = consent_events(bus)
    consent = event["detail"]["consent"]
    assert consent["source"] == "unsubscribe_link"
    assert consent["evidence"] == {
        "request": "form",
        "method": "POST",
        "user_agent_class": "mobile_browser",
        "endpoint": "/u/{token}",
    }


def test_a_second_post_is_fine(preferences, bus):
    event = http_event(
        "POST",
        token_for(),
        "List-Unsubscribe=One-Click",
        {"content-type": "application/x-www-form-urlencoded"},
    )
    assert preferences(event)["statusCode"] == 200
    assert preferences(event)["statusCode"] == 200
    states = [e["detail"]["consent"]["state"] for e in consent_events(bus)]
    assert states and set(states) == {"unsubscribed"}


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_bad_token_is_a_404_page_and_publishes_nothing(preferences, bus, method):
    token = token_for()
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for bad in (
        tampered,
        token_for(secret="another-secret"),
        token_for(shop="other.myshopify.com"),
        "nonsense",
    ):
        response = preferences(http_event(method, bad, "List-Unsubscribe=One-Click"))
        assert response["statusCode"] == 404
        assert "ページが見つかりません" in response["body"]
    assert consent_events(bus) == []


def test_line_token_unsubscribes_line(preferences, bus):
    response = preferences(http_event("GET", token_for(channel="line")))
    assert "LINE配信の設定" in response["body"]
    preferences(http_event("POST", token_for(channel="line"), "action=unsubscribe"))
    (event,) = consent_events(bus)
    assert event["detail"]["consent"]["channel"] == "line"


def test_page_offers_resubscribe_when_already_unsubscribed(preferences, table, bus):
    # Given a profile whose email consent is unsubscribed
    table.put_item(
        Item={
            **keys.profile_key(SHOP, "7001"),
            "shop": SHOP,
            "customer_id": "7001",
            "email_consent": {
                "channel": "email",
                "state": "unsubscribed",
                "source": "one_click",
                "collected_at": "2026-03-01T00:00:00+00:00",
            },
        }
    )
    # When the page is opened
    body = preferences(http_event("GET", token_for()))["body"]
    # Then it says so and offers to resume, showing the consent wording
    assert "配信を再開する" in body
    assert "株式会社えにし茶房" in body


def test_resubscribe_publishes_subscribed_with_the_wording(preferences, bus):
    response = preferences(
        http_event(
            "POST", token_for(), "action=resubscribe", {"content-type": "application/x-www-form-urlencoded"}
        )
    )
    assert "配信を再開しました" in response["body"]
    (event,) = consent_events(bus)
    consent = event["detail"]["consent"]
    assert consent["state"] == "subscribed"
    assert consent["source"] == "preference_page"
    assert consent["wording"].startswith("縁茶房からのお知らせ")


def test_previous_secret_still_works_during_rotation(preferences, bus, secret_arn):
    import boto3
    from aws_lambda_powertools.utilities import parameters

    boto3.client("secretsmanager").put_secret_value(
        SecretId=secret_arn, SecretString=json.dumps({"current": "new-secret-xyz", "previous": SECRET})
    )
    parameters.clear_caches()
    assert preferences(http_event("GET", token_for()))["statusCode"] == 200
    assert preferences(http_event("GET", token_for(secret="new-secret-xyz")))["statusCode"] == 200


def test_a_link_signed_with_a_retired_key_still_unsubscribes_after_two_rotations(
    preferences, bus, secret_arn
):
    import boto3
    from aws_lambda_powertools.utilities import parameters

    # Given a mail sent under the first key, then two rotations (the first key is neither current nor previous)
    boto3.client("secretsmanager").put_secret_value(
        SecretId=secret_arn,
        SecretString=json.dumps({"current": "third-key", "previous": "second-key", "retired": [SECRET]}),
    )
    parameters.clear_caches()
    # When the customer uses the old mail's one-click link
    answer = preferences(
        http_event(
            "POST",
            token_for(),
            "List-Unsubscribe=One-Click",
            {"content-type": "application/x-www-form-urlencoded"},
        )
    )
    # Then it still unsubscribes (the law wants every opt-out link ever sent to work)
    assert answer["statusCode"] == 200
    (event,) = consent_events(bus)
    assert event["detail"]["consent"]["state"] == "unsubscribed"


def test_publish_failure_answers_503_so_the_provider_retries(preferences, bus, monkeypatch):
    from enishi.preferences import handler as module
    from enishi.publish import InMemoryPublisher

    module.deps().publisher = InMemoryPublisher(fail=True)
    response = preferences(http_event("POST", token_for(), "List-Unsubscribe=One-Click"))
    assert response["statusCode"] == 503


# ---- contract with the profile consumer: what we publish is applied, with its evidence


def apply_published(table, published: list[dict]) -> None:
    from enishi import events as ev
    from enishi.profiles.store import ProfileStore
    from enishi.publish import InMemoryPublisher

    store = ProfileStore(table, InMemoryPublisher())
    for message in published:
        store.handle(ev.parse_event(message["detail"]))


def seed_subscribed_customer(table) -> None:
    from datetime import UTC, datetime

    from enishi import events as ev

    at = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
    upsert = ev.CustomerUpserted(
        event_id="shopify:seed:customer.upserted",
        shop=SHOP,
        source="shopify",
        occurred_at=at,
        received_at=at,
        customer=ev.CustomerRef(customer_id="7001", email="taro.yamada@example.jp"),
        email_consent=ev.Consent(
            state="subscribed", opt_in_level="single_opt_in", source="shopify", collected_at=at
        ),
    )
    apply_published(table, [{"detail": ev.to_detail_dict(upsert)}])


def test_profile_consumer_records_the_one_click_unsubscribe_with_its_evidence(preferences, table, bus):
    # Given a subscribed customer
    seed_subscribed_customer(table)
    # When the mailbox provider POSTs one-click and the consumer applies what was published
    preferences(
        http_event(
            "POST",
            token_for(),
            "List-Unsubscribe=One-Click",
            {"content-type": "application/x-www-form-urlencoded"},
        )
    )
    apply_published(table, consent_events(bus))
    # Then the profile is unsubscribed, with the source of the request
    profile = table.get_item(Key=keys.profile_key(SHOP, "7001"))["Item"]
    consent = profile["email_consent"]
    assert consent["state"] == "unsubscribed"
    assert consent["source"] == "one_click"
    # And its evidence is in the consent ledger (the profile holds the state only: issue 9 defect 8)
    from boto3.dynamodb.conditions import Key

    records = table.query(
        KeyConditionExpression=Key("pk").eq(keys.customer_pk(SHOP, "7001"))
        & Key("sk").begins_with(keys.CONSENT_SK_PREFIX)
    )["Items"]
    [record] = [r for r in records if r["state"] == "unsubscribed"]
    assert record["source"] == "one_click" and record["evidence"]["request"] == "one_click"
    # And the page now offers to resume
    assert "配信を再開する" in preferences(http_event("GET", token_for()))["body"]
