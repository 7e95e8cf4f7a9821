"""Click λ under moto: a tracked link redirects and marks the message record once; nothing else redirects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from enishi import bootstrap, keys
from enishi import constants as c
from enishi.tracking import links

SHOP = "enishi-demo.myshopify.com"  # shop/shop.yaml's shop_id
SECRET = "unsubscribe-secret-for-tests-0123456789"
TARGET = "https://enishi-demo.example/products/tea?utm_source=enishi"
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/130.0 Safari/537.36"
MESSAGE = "welcome.f2_nudge.0123456789abcdef"


def http_event(method: str, token: str, headers: dict[str, str] | None = None) -> dict:
    return {
        "version": "2.0",
        "routeKey": f"{method} /r/{{token}}",
        "rawPath": f"/r/{token}",
        "headers": {"host": "api.example", **(headers if headers is not None else {"user-agent": CHROME})},
        "requestContext": {"http": {"method": method, "path": f"/r/{token}"}, "stage": "$default"},
        "pathParameters": {"token": token},
        "isBase64Encoded": False,
    }


@pytest.fixture
def click(table, monkeypatch, lambda_context, aws):
    import boto3
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()
    arn = boto3.client("secretsmanager").create_secret(Name="enishi/unsubscribe", SecretString=SECRET)["ARN"]
    monkeypatch.setenv(c.ENV_UNSUBSCRIBE_SECRET_ARN, arn)
    bootstrap.reset_all()
    from enishi.tracking import handler as module

    context = lambda_context("Click")
    yield lambda event: module.handler(event, context)
    bootstrap.reset_all()


def put_message(table, customer_id: str = "7001") -> dict:
    key = keys.message_key(SHOP, customer_id, MESSAGE)
    table.put_item(Item={**key, "status": "sent", "channel": "email", "sequence": "welcome"})
    return key


def token(customer_id: str = "7001", *, expires: datetime | None = None, shop: str = SHOP) -> str:
    at = expires or datetime.now(UTC) + timedelta(days=30)
    claims = links.ClickClaims(shop, customer_id, MESSAGE, "cta", TARGET, int(at.timestamp()))
    return links.make_token(SECRET.encode(), claims)


def test_a_click_redirects_and_marks_the_record_once(click, table) -> None:
    key = put_message(table)
    first = click(http_event("GET", token()))
    assert first["statusCode"] == 302 and first["headers"]["Location"] == TARGET
    assert first["headers"]["Cache-Control"] == "no-store"
    item = table.get_item(Key=key)["Item"]
    clicked = item["clicked_at"]
    assert item["clicked_link"] == "cta"
    again = click(http_event("GET", token()))
    assert again["statusCode"] == 302
    assert table.get_item(Key=key)["Item"]["clicked_at"] == clicked  # the first click stays the click


def test_a_scanner_is_redirected_but_not_counted(click, table) -> None:
    key = put_message(table)
    for event in (
        http_event("HEAD", token()),
        http_event("GET", token(), {"user-agent": "Barracuda Sentinel"}),
    ):
        assert click(event)["headers"]["Location"] == TARGET
    assert "clicked_at" not in table.get_item(Key=key)["Item"]


def test_an_expired_link_goes_to_the_shop_and_counts_nothing(click, table) -> None:
    from enishi.shop_config import load_shop_config

    key = put_message(table)
    answer = click(http_event("GET", token(expires=datetime.now(UTC) - timedelta(seconds=5))))
    assert answer["statusCode"] == 302 and answer["headers"]["Location"] == load_shop_config().site_url
    assert "clicked_at" not in table.get_item(Key=key)["Item"]


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "c1.AAAA.BBBB",
        token()[:-2] + ("AA" if not token().endswith("AA") else "BB"),
        token(shop="other-shop.myshopify.com"),
        links.make_token(
            b"another-key-entirely",
            links.ClickClaims(SHOP, "1", MESSAGE, "cta", "https://evil.example/", 2**40),
        ),
    ],
)
def test_nothing_else_redirects(click, table, bad: str) -> None:
    answer = click(http_event("GET", bad))
    assert answer["statusCode"] == 404 and "Location" not in answer["headers"]


def test_a_click_for_an_erased_record_still_redirects(click, table) -> None:
    answer = click(http_event("GET", token("no-such-customer")))
    assert answer["statusCode"] == 302 and answer["headers"]["Location"] == TARGET
