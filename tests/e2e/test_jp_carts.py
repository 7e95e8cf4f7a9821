"""End to end on the local stack, against local fakes of the carts' APIs: an EC-CUBE shop (signed id-only webhook →
fetch over GraphQL with OAuth → canonical events) and a カラーミーショップ shop (scheduled sweep): order → welcome,
shipment → shipping notice with a built Yamato link."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from enishi_local.jp_carts import WEBHOOK_SECRET, carts_stack, eccube_webhook_url, run_scenario
from enishi_local.stack import LocalStack

pytestmark = pytest.mark.slow

SHOP = "enishi-demo.myshopify.com"  # shop/shop.yaml's shop_id: the connections publish for the served shop
START = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)  # 11:00 JST
YAMATO = "jizen.kuronekoyamato.co.jp"


@pytest.fixture(scope="module")
def env():
    with carts_stack(start=START) as wired:
        yield wired


def _mails(stack: LocalStack, recipient: str) -> list[dict]:
    return [m for m in stack.outbox() if m["recipient"] == recipient]


def _welcomes(stack: LocalStack, email: str) -> int:
    """How many welcome messages the customer with this address should get: none in the welcome sequence's control
    group (the shipped shop.yaml keeps 10 % back; the carts' customer ids depend on the fakes' counters)."""
    import boto3

    from enishi import experiments
    from enishi.shop_config import load_shop_config

    items = boto3.resource("dynamodb").Table(stack._table_name).scan()["Items"]
    cid = next(str(i["customer_id"]) for i in items if i.get("sk") == "PROFILE" and i.get("email") == email)
    scope = experiments.holdout_scope("sequence", "welcome")
    return 0 if experiments.in_holdout(SHOP, cid, scope, load_shop_config().messaging.holdout_percent) else 1


def test_eccube_order_and_shipment_through_the_webhook(env) -> None:
    stack, eccube, _ = env
    hook = eccube_webhook_url(stack)
    email = "hanako.e2e@example.jp"
    cid = eccube.put_customer(email, mailmaga_flg=1)
    oid = eccube.start_checkout(email, customer_id=cid)
    assert (
        eccube.notify(
            hook,
            WEBHOOK_SECRET,
            [
                {"entity": "customer", "id": int(cid), "action": "created"},
                {"entity": "order", "id": int(oid), "action": "created"},
            ],
        )
        == 200
    )
    assert (
        eccube.notify(
            hook, "wrong-secret-0000000000", [{"entity": "order", "id": int(oid), "action": "created"}]
        )
        == 401
    )
    stack.settle()
    assert _mails(stack, email) == []  # 購入処理中: not a purchase

    stack.advance_to(stack.clock.now() + timedelta(minutes=4))
    eccube.complete(oid)
    assert (
        eccube.notify(hook, WEBHOOK_SECRET, [{"entity": "order", "id": int(oid), "action": "updated"}]) == 200
    )
    stack.settle()
    welcome = [m for m in _mails(stack, email) if m["sequence"] == "welcome"]
    assert len(welcome) == _welcomes(stack, email), _mails(stack, email)

    stack.advance_to(stack.clock.now() + timedelta(hours=2))  # past the token's hour: the fetch refreshes it
    eccube.ship(oid, "4012-3456-7890", "ヤマト運輸")
    assert (
        eccube.notify(hook, WEBHOOK_SECRET, [{"entity": "order", "id": int(oid), "action": "updated"}]) == 200
    )
    stack.settle()
    shipping = [m for m in _mails(stack, email) if m["sequence"] == "shipping_notice"]
    assert shipping, _mails(stack, email)
    assert YAMATO in shipping[0]["html"] + shipping[0]["text"]
    assert "401234567890" in shipping[0]["html"] + shipping[0]["text"]
    assert eccube.refreshes >= 1


def test_colorme_order_and_shipment_through_the_sweep(env) -> None:
    stack, _, colorme = env
    email = "ichiro.e2e@example.jp"
    cid = colorme.put_customer(email, receive_mail_magazine=True)
    sale = colorme.order(cid)
    stack.advance_to(stack.clock.now() + timedelta(minutes=21))  # the 10-minute schedule fires
    welcome = [m for m in _mails(stack, email) if m["sequence"] == "welcome"]
    assert len(welcome) == _welcomes(stack, email), _mails(stack, email)

    colorme.ship(sale, "4012-0000-1111")
    stack.advance_to(stack.clock.now() + timedelta(minutes=21))
    shipping = [m for m in _mails(stack, email) if m["sequence"] == "shipping_notice"]
    assert shipping, _mails(stack, email)
    assert YAMATO in shipping[0]["html"] + shipping[0]["text"]


def test_line_account_linking_from_the_member_page(env) -> None:
    """The EC-CUBE shop's member page redirects a logged-in customer to /line/link (signed); enishi answers 302 to
    LINE's dialog; LINE's accountLink webhook links the customer once; a replayed nonce links nothing."""
    import urllib.error
    import urllib.parse
    import urllib.request
    import uuid

    import boto3

    from enishi import constants as c
    from enishi import keys
    from enishi.line_link.logic import sign
    from enishi.signatures import sign_line

    stack, eccube, _ = env
    link_env = next(e for e in stack._environments.values() if c.ENV_LINE_LINK_SECRET_ARN in e)
    secret = boto3.client("secretsmanager").get_secret_value(SecretId=link_env[c.ENV_LINE_LINK_SECRET_ARN])[
        "SecretString"
    ]
    customer, user = eccube.put_customer("link.e2e@example.jp"), "U" + uuid.uuid4().hex
    exp = int(stack.clock.now().timestamp()) + 300
    query = urllib.parse.urlencode(
        {"shop": SHOP, "c": customer, "u": user, "exp": exp, "sig": sign(secret, SHOP, customer, user, exp)}
    )

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as answer:
        opener.open(stack.url + "/line/link?" + query, timeout=10)
    assert answer.value.code == 302
    location = urllib.parse.urlsplit(answer.value.headers["location"])
    assert location.netloc == "access.line.me"
    nonce = urllib.parse.parse_qs(location.query)["nonce"][0]

    def account_link() -> None:
        body = json.dumps(
            {
                "destination": "U0",
                "events": [
                    {
                        "type": "accountLink",
                        "mode": "active",
                        "timestamp": int(stack.clock.now().timestamp() * 1000),
                        "source": {"type": "user", "userId": user},
                        "webhookEventId": uuid.uuid4().hex,
                        "deliveryContext": {"isRedelivery": False},
                        "link": {"result": "ok", "nonce": nonce},
                    }
                ],
            }
        ).encode()
        req = urllib.request.Request(
            stack.url + "/webhooks/line",
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "x-line-signature": sign_line(body, stack.secrets.line_channel_secret),
            },
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200

    account_link()
    stack.settle()
    table = boto3.resource("dynamodb").Table(stack._table_name)
    lookup = table.get_item(Key=keys.line_lookup_key(SHOP, user)).get("Item")
    assert lookup and lookup["customer_id"] == customer
    account_link()  # the same nonce again (a replay): nothing more is linked
    with pytest.raises(urllib.error.HTTPError) as refused:
        opener.open(stack.url + "/line/link?" + query.replace("sig=", "sig=0"), timeout=10)
    assert refused.value.code == 403


def test_the_jp_carts_command_scenario_sends_welcome_and_shipping_for_both_shops(env) -> None:
    stack, eccube, colorme = env
    sent = run_scenario(stack, eccube, colorme, say=lambda *_: None)
    by = {(m["recipient"].split(".")[0], m["sequence"]) for m in sent}
    welcomed = {
        (name, "welcome") for name in ("hanako", "ichiro") if _welcomes(stack, f"{name}.local@example.jp")
    }
    assert {("hanako", "shipping_notice"), ("ichiro", "shipping_notice"), *welcomed} <= by
    assert {(n, s) for n, s in by if s == "welcome"} == welcomed
