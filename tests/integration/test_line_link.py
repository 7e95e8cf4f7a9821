"""LINE account linking end to end under moto with the fake LINE API: the shop's signed redirect → link token and
nonce → 302 to LINE's dialog; the accountLink webhook links that nonce's customer once. A forged, reused or expired
nonce links nothing; a forged or expired redirect stores no nonce."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from enishi import bootstrap, clock
from enishi import constants as c
from enishi.line_link import handler as link_handler
from enishi.line_link.logic import sign
from enishi.signatures import sign_line
from enishi_local.fake_line import FakeLine

SHOP = "enishi-demo.myshopify.com"  # shop/shop.yaml
USER = "U4af4980629a1b2c3d4e5f60718293a4b"
LINK_SECRET = "shop-backend-link-secret-for-tests"
CHANNEL_SECRET = "line-channel-secret-for-tests"
ACCESS_TOKEN = "line-access-token-for-tests"


class Clock:
    def __init__(self) -> None:
        self.t = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.t


@pytest.fixture
def now():
    t = Clock()
    clock.set_provider(t)
    yield t
    clock.reset()


@pytest.fixture
def wired(table, bus, monkeypatch, now, lambda_context):
    from aws_lambda_powertools.utilities import parameters

    from enishi.line_webhook import handler as webhook_module

    parameters.clear_caches()
    sm = boto3.client("secretsmanager")
    line_arn = sm.create_secret(
        Name="line",
        SecretString=json.dumps({"channel_secret": CHANNEL_SECRET, "channel_access_token": ACCESS_TOKEN}),
    )["ARN"]
    link_arn = sm.create_secret(Name="link", SecretString=LINK_SECRET)["ARN"]
    with FakeLine(access_token=ACCESS_TOKEN) as line:
        monkeypatch.setenv(c.ENV_LINE_SECRET_ARN, line_arn)
        monkeypatch.setenv(c.ENV_LINE_LINK_SECRET_ARN, link_arn)
        monkeypatch.setenv(c.ENV_LINE_API_BASE_URL, line.url)
        bootstrap.reset_all()

        def start(
            customer: str = "318", exp_in: timedelta = timedelta(minutes=5), secret: str = LINK_SECRET
        ) -> dict:
            exp = int((now() + exp_in).timestamp())
            q = {
                "shop": SHOP,
                "c": customer,
                "u": USER,
                "exp": str(exp),
                "sig": sign(secret, SHOP, customer, USER, exp),
            }
            return link_handler.handler(
                {
                    "version": "2.0",
                    "routeKey": "GET /line/link",
                    "rawPath": "/line/link",
                    "queryStringParameters": q,
                    "headers": {},
                    "requestContext": {"http": {"method": "GET", "path": "/line/link"}},
                },
                lambda_context("LineLink"),
            )

        def account_link(nonce: str, result: str = "ok") -> None:
            body = json.dumps(
                {
                    "destination": "U0",
                    "events": [
                        {
                            "type": "accountLink",
                            "mode": "active",
                            "timestamp": int(now().timestamp() * 1000),
                            "source": {"type": "user", "userId": USER},
                            "webhookEventId": uuid.uuid4().hex,
                            "deliveryContext": {"isRedelivery": False},
                            "link": {"result": result, "nonce": nonce},
                        }
                    ],
                }
            ).encode()
            answer = webhook_module.handler(
                {
                    "version": "2.0",
                    "routeKey": "POST /webhooks/line",
                    "rawPath": "/webhooks/line",
                    "headers": {"x-line-signature": sign_line(body, CHANNEL_SECRET)},
                    "body": body.decode(),
                    "isBase64Encoded": False,
                    "requestContext": {"http": {"method": "POST", "path": "/webhooks/line"}},
                },
                lambda_context("LineWebhook"),
            )
            assert answer["statusCode"] == 200

        yield start, account_link, bus, table
        bootstrap.reset_all()


def linked(bus) -> list[dict]:
    return [
        e["detail"]
        for e in bus.drain()
        if e["detail-type"] == c.LINE_IDENTITY_CHANGED and e["detail"]["change"] == "linked"
    ]


def nonce_of(answer: dict) -> str:
    assert answer["statusCode"] == 302, answer
    url = urlsplit(answer["headers"]["location"])
    assert url.netloc == "access.line.me"
    return parse_qs(url.query)["nonce"][0]


def test_signed_redirect_then_account_link_links_the_customer_once(wired) -> None:
    start, account_link, bus, _ = wired
    nonce = nonce_of(start("318"))
    account_link(nonce)
    events = linked(bus)
    assert [(e["customer"]["customer_id"], e["line_user_id"]) for e in events] == [("318", USER)]
    account_link(nonce)  # reused nonce
    assert linked(bus) == []


def test_forged_nonce_links_nothing(wired) -> None:
    start, account_link, bus, _ = wired
    nonce_of(start("318"))
    account_link("forged-" + "x" * 40)
    assert linked(bus) == []


def test_expired_nonce_links_nothing(wired, now) -> None:
    start, account_link, bus, _ = wired
    nonce = nonce_of(start("318"))
    now.t += timedelta(minutes=11)
    account_link(nonce)
    assert linked(bus) == []


def test_forged_or_expired_redirect_stores_no_nonce(wired, now) -> None:
    start, _, _, table = wired
    before = len(table.scan()["Items"])
    for answer in (
        start(secret="forged-secret-000"),
        start(exp_in=timedelta(seconds=-1)),
        start(exp_in=timedelta(days=1)),
    ):
        assert answer["statusCode"] == 403 and "location" not in answer["headers"]
    assert len(table.scan()["Items"]) == before
