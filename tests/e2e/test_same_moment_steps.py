"""Issue 14, determinism: two marketing steps of one customer due at the same virtual moment — the welcome series'
``story`` and the shipping notice's ``follow_up``, both three days after an order shipped the moment it was placed —
compete for the customer's shared frequency cap: one is sent, the other waits out the cap. Which one is sent must
not depend on which execution thread happens to run first.

Before the fix both executions were woken together and raced for the cap's conditional claim; the 120 customers ×
60 days demo sent one customer's ``shipping_notice/follow_up`` in one run and ``welcome/story`` in the next. Here each
run slows one of the two executions down right after its Wait ends (real time, as a busy machine would): the winner
must be the same both times."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from enishi_local import moto_patches
from enishi_local.shopify_webhooks import post_shopify
from enishi_local.stack import LocalSecrets, LocalStack

pytestmark = pytest.mark.slow

EVENTS = Path(__file__).resolve().parents[1] / "events" / "shopify"
SHOP = "enishi-demo.myshopify.com"
START = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)  # 11:00 JST: not in quiet hours, nor three days later
SECRETS = LocalSecrets(shopify="same-moment-secret")
RACING = {("welcome", "story"), ("shipping_notice", "follow_up")}


def _deliver(stack: LocalStack, body: dict[str, Any], *, topic: str, event_id: str) -> None:
    raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
    status, _ = post_shopify(
        stack.url,
        raw,
        SECRETS.shopify,
        topic=topic,
        shop=SHOP,
        api_version="2025-01",
        webhook_id=f"wh-{event_id}",
        event_id=event_id,
    )
    assert status == 200


def _slowed(slow_sequence: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """After a Wait of ``slow_sequence``'s execution ends, its thread dawdles before going on."""
    original = moto_patches._sleep_parked

    def sleep_parked(clock: Any, env: Any, target: datetime) -> None:
        original(clock, env, target)
        if f":{slow_sequence}-" in moto_patches._execution_arn(env):
            time.sleep(0.3)

    monkeypatch.setattr(moto_patches, "_sleep_parked", sleep_parked)


def _first_of_the_racing_steps(slow_sequence: str, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    _slowed(slow_sequence, monkeypatch)
    with LocalStack(port=0, start=START, secrets=SECRETS) as stack:
        at = stack.clock.now().isoformat()
        order = json.loads((EVENTS / "orders__create.json").read_text(encoding="utf-8"))
        order |= {"created_at": at, "updated_at": at, "processed_at": at}
        fulfillment = json.loads((EVENTS / "fulfillments__create.json").read_text(encoding="utf-8"))
        fulfillment |= {"created_at": at, "updated_at": at, "order_id": order["id"]}
        _deliver(stack, order, topic="orders/create", event_id="evt-ord-1")
        stack.settle()
        _deliver(stack, fulfillment, topic="fulfillments/create", event_id="evt-ful-1")
        stack.settle()
        sent_then = {(m["sequence"], m["step"]) for m in stack.outbox()}
        assert ("welcome", "thanks") in sent_then and ("shipping_notice", "notice") in sent_then

        # the two steps are due at the same moment, three days on; the cap lets one of them through
        stack.advance_to(START + timedelta(days=3, minutes=1))
        sent = [(m["sequence"], m["step"]) for m in stack.outbox() if (m["sequence"], m["step"]) in RACING]
        assert len(sent) == 1, sent
        return sent


def test_which_of_two_steps_due_together_is_sent_does_not_depend_on_thread_timing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    welcome_slow = _first_of_the_racing_steps("welcome", monkeypatch)
    monkeypatch.undo()
    shipping_slow = _first_of_the_racing_steps("shipping_notice", monkeypatch)
    assert welcome_slow == shipping_slow
