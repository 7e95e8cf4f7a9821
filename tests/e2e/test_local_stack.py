"""End to end through the local stack: a signed Shopify webhook over HTTP → intake → bus → profiles and the
sequence starter → the synthesized cart-recovery state machine (Wait on the virtual clock) → the send step → SES
(moto) → /_local/outbox."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from enishi_local.cli import curl_example
from enishi_local.shopify_webhooks import post_shopify
from enishi_local.stack import LocalSecrets, LocalStack

pytestmark = pytest.mark.slow

EVENTS = Path(__file__).resolve().parents[1] / "events" / "shopify"
SHOP = "enishi-demo.myshopify.com"
START = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)  # 11:00 JST: outside quiet hours
SECRETS = LocalSecrets(shopify="e2e-shopify-secret")


@pytest.fixture(scope="module")
def stack():
    with LocalStack(port=0, start=START, secrets=SECRETS) as s:
        yield s


def _post_checkout(
    stack: LocalStack,
    topic: str,
    fixture: str,
    *,
    token: str,
    email: str,
    at: datetime,
    completed: bool = False,
) -> int:
    body = json.loads((EVENTS / fixture).read_text(encoding="utf-8"))
    local = at.astimezone().isoformat()
    body |= {
        "token": token,
        "cart_token": token[:16],
        "email": email,
        "created_at": local,
        "updated_at": local,
        "completed_at": local if completed else None,
    }
    body["customer"] = {**body.get("customer", {}), "id": int(uuid.UUID(token).int % 10**12), "email": email}
    raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
    status, _ = post_shopify(
        stack.url,
        raw,
        SECRETS.shopify,
        topic=topic,
        shop=SHOP,
        api_version="2025-01",
        webhook_id=str(uuid.uuid4()),
        event_id=str(uuid.uuid4()),
        triggered_at=at.isoformat(),
    )
    return status


def _treated_token(sequence: str = "cart_recovery") -> str:
    """A checkout token whose customer (id = the token as a number) is outside the sequence's control group: the
    shipped shop.yaml keeps 10 % of customers back, so a random id would land there 1 time in 10."""
    from enishi import experiments
    from enishi.shop_config import load_shop_config

    percent = load_shop_config().messaging.holdout_percent
    scope = experiments.holdout_scope("sequence", sequence)
    while True:
        token = uuid.uuid4().hex
        if not experiments.in_holdout(SHOP, str(uuid.UUID(token).int % 10**12), scope, percent):
            return token


def _outbox(stack: LocalStack, recipient: str) -> list[dict]:
    with urllib.request.urlopen(stack.url + "/_local/outbox", timeout=10) as resp:
        return [m for m in json.loads(resp.read()) if m["recipient"] == recipient]


def test_an_abandoned_checkout_gets_exactly_one_reminder_after_an_hour(stack):
    # Given a signed checkouts/create with contact info, posted over HTTP
    email, token = "e2e.abandoned@example.jp", _treated_token()
    now = stack.clock.now()
    assert (
        _post_checkout(stack, "checkouts/create", "checkouts__create.json", token=token, email=email, at=now)
        == 200
    )
    stack.settle()
    assert _outbox(stack, email) == []  # nothing before the hour is up
    # When more than an hour passes (virtual)
    stack.advance_to(now + timedelta(hours=1, minutes=5))
    # Then exactly one cart-recovery email went to that address
    sent = _outbox(stack, email)
    assert [(m["channel"], m["sequence"]) for m in sent] == [("email", "cart_recovery")], sent
    assert sent[0]["subject"]
    assert datetime.fromisoformat(sent[0]["sent_at"]) >= now + timedelta(hours=1)


def test_a_checkout_completed_before_the_reminder_gets_none(stack):
    email, token = "e2e.completed@example.jp", _treated_token()
    now = stack.clock.now()
    assert (
        _post_checkout(stack, "checkouts/create", "checkouts__create.json", token=token, email=email, at=now)
        == 200
    )
    stack.advance_to(now + timedelta(minutes=20))
    assert (
        _post_checkout(
            stack,
            "checkouts/update",
            "checkouts__update--completed.json",
            token=token,
            email=email,
            at=stack.clock.now(),
            completed=True,
        )
        == 200
    )
    stack.advance_to(now + timedelta(hours=26))
    assert _outbox(stack, email) == []


def test_a_badly_signed_webhook_is_rejected(stack):
    req = urllib.request.Request(
        stack.url + "/webhooks/shopify",
        data=b"{}",
        method="POST",
        headers={
            "X-Shopify-Topic": "checkouts/create",
            "X-Shopify-Shop-Domain": SHOP,
            "X-Shopify-Hmac-Sha256": "bm90IGEgc2lnbmF0dXJl",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 401


@pytest.mark.skipif(
    shutil.which("openssl") is None or shutil.which("curl") is None, reason="needs openssl, curl"
)
def test_the_readme_curl_is_accepted_and_its_reminder_arrives(stack):
    # Given the printed curl snippet (it stamps the body with the stack's virtual now)
    now = stack.clock.now()
    snippet = curl_example(stack.url, SECRETS.shopify).replace(
        "curl -sS -X", "curl -sS -o /dev/null -w '%{http_code}' -X"
    )
    out = subprocess.run(["bash", "-c", snippet], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "200", out
    # When the hour passes, Then the reminder is in the outbox
    stack.advance_to(now + timedelta(hours=1, minutes=5))
    sent = _outbox(stack, "you@example.jp")
    assert [(m["channel"], m["sequence"], m["step"]) for m in sent] == [
        ("email", "cart_recovery", "reminder_1")
    ]


def test_settle_never_needed_its_safety_net(stack):
    """Every change a settle waited for was reported (``activity.bump``): none was found by the 0.1 s safety net."""
    stack.advance(timedelta(hours=2))
    assert stack.missed_notifications == 0


def test_a_generic_webhook_signed_with_the_real_time_is_accepted_whatever_the_virtual_time(stack):
    """Issue 9, defect 12: the replay window compared a real sender's ``t`` (``date +%s``) with the *virtual*
    clock, so the documented curl was refused as soon as virtual time ran away from real time. The sender is real:
    its ``t`` is judged on the wall clock; a ``t`` stamped with the virtual time is the one that is stale."""
    import time

    from enishi.signatures import sign_generic

    assert abs((stack.clock.now() - datetime.now(UTC)).total_seconds()) > 3600  # the two clocks far apart
    body = json.loads(
        (
            Path(__file__).resolve().parents[2] / "docs" / "examples" / "generic" / "order.placed.json"
        ).read_text(encoding="utf-8")
    )
    body |= {"shop": SHOP, "id": f"wall-clock-{uuid.uuid4()}"}
    raw = json.dumps(body, ensure_ascii=False).encode("utf-8")

    def post(t: int) -> int:
        req = urllib.request.Request(
            stack.url + "/webhooks/generic",
            data=raw,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "X-Enishi-Signature": sign_generic(raw, SECRETS.generic, t),
            },
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status
        except urllib.error.HTTPError as err:
            return err.code

    assert post(int(stack.clock.now().timestamp())) == 401
    assert post(int(time.time())) == 200
