"""Fault injection at the send step (issue 9 suite item 4), under moto: each fault with its expected outcome.

Channel-level faults (SES throttling/5xx, LINE 5xx/429/timeout/409/quota) are covered where the clients are
(tests/unit/test_channels_*.py, tests/integration/test_email_send.py) and end to end in
tests/infra/test_sequence_execution.py; this file adds what happens to the *step* around them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from enishi import clock, keys
from enishi.profiles.model import LineIdentity
from enishi.sequences.adapters.store import SequenceStore
from enishi.sequences.domain.errors import RetryableSendError
from enishi.sequences.domain.ledger import line_retry_key
from enishi.sequences.domain.messages import Outgoing, SendErrorKind
from enishi.sequences.step.service import run_step
from tests.unit.test_sequences_ledger import FakeChannels, deps, payload, records, seed_profile

NOW = datetime(2025, 5, 6, 3, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fixed_clock():
    clock.set_provider(lambda: NOW)
    yield
    clock.reset()


def throttle(operation: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, operation
    )


class Flaky:
    """Wraps a method: raises ``error`` on the first ``times`` calls, then behaves."""

    def __init__(self, method, error: Exception, times: int = 1) -> None:
        self.method, self.error, self.times = method, error, times

    def __call__(self, *args, **kwargs):
        if self.times > 0:
            self.times -= 1
            raise self.error
        return self.method(*args, **kwargs)


class DedupingLine(FakeChannels):
    """LINE as the API behaves: a push with a retry key already accepted is answered 409 (nothing sent twice)."""

    def __init__(self) -> None:
        super().__init__()
        self.accepted: set[str] = set()

    def send(self, message: Outgoing) -> str | None:
        self.calls.append(message)
        if message.retry_key in self.accepted:
            return None  # 409: already accepted
        self.accepted.add(message.retry_key or "")
        self.delivered.append(message)
        return f"line-{len(self.calls)}"


def test_dynamodb_throttling_on_the_ledger_claim_is_retried_and_sends_once(table):
    seed_profile(table)
    channels = FakeChannels()
    d = deps(table, channels)
    d.ledger.claim = Flaky(d.ledger.claim, throttle("PutItem"))  # type: ignore[method-assign]
    with pytest.raises(RetryableSendError, match="ProvisionedThroughputExceeded"):
        run_step(payload(), d)
    assert channels.calls == [] and records(table) == []
    assert run_step(payload(), d).result.action == "sent"
    assert len(channels.delivered) == 1


def test_dynamodb_throttling_on_the_cap_claim_gives_the_ledger_claim_back_and_is_retried(table):
    seed_profile(table)
    channels = FakeChannels()
    d = deps(table, channels)
    d.store.claim_cap = Flaky(d.store.claim_cap, throttle("UpdateItem"))  # type: ignore[method-assign]
    with pytest.raises(RetryableSendError):
        run_step(payload(), d)
    assert records(table) == []  # the ledger claim was released: the retry may send
    assert run_step(payload(), d).result.action == "sent"
    assert len(channels.delivered) == 1


def test_dynamodb_throttling_on_the_profile_read_is_retried(table):
    seed_profile(table)
    d = deps(table, FakeChannels())
    d.store.get_profile = Flaky(d.store.get_profile, throttle("GetItem"))  # type: ignore[method-assign]
    with pytest.raises(RetryableSendError):
        run_step(payload(), d)
    assert run_step(payload(), d).result.action == "sent"


def test_a_conditional_failure_on_the_cap_release_leaves_another_holder_alone(table):
    profile = seed_profile(table)
    store = SequenceStore(table)
    mine = store.claim_cap(profile, "a", now=NOW, cap=timedelta(hours=16))
    table.update_item(  # another message took the cap meanwhile (e.g. after this one's was lapsed)
        Key=keys.profile_key("s", "c1"),
        UpdateExpression="SET marketing_cap_key = :b",
        ExpressionAttributeValues={":b": "b"},
    )
    store.release_cap(profile, "a", mine)  # ConditionalCheckFailed inside: swallowed, nothing changed
    item = table.get_item(Key=keys.profile_key("s", "c1"))["Item"]
    assert item["marketing_cap_key"] == "b" and item["last_marketing_sent_at"] == clock.iso_z(NOW)


def test_an_email_step_that_dies_after_ses_accepted_and_before_the_record_is_never_sent_twice(table):
    seed_profile(table)
    channels = FakeChannels()
    d = deps(table, channels)
    d.ledger.mark_sent = Flaky(d.ledger.mark_sent, RuntimeError("Sandbox.Timedout"))  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        run_step(
            payload(), d
        )  # the λ died: Step Functions retries the task (Sandbox.Timedout / Lambda.Unknown)
    retried = run_step(payload(), d)
    assert (retried.result.action, retried.result.reason) == ("skipped", "already_sending")
    assert len(channels.delivered) == 1  # at most once: the email is not sent again


def test_a_line_step_that_dies_after_line_accepted_resends_with_the_same_retry_key_and_line_dedupes(table):
    seed_profile(table, line=LineIdentity(user_id="U1", updated_at=NOW))
    channels = DedupingLine()
    d = deps(table, channels)
    d.ledger.mark_sent = Flaky(d.ledger.mark_sent, RuntimeError("Sandbox.Timedout"))  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        run_step(payload(), d)
    retried = run_step(payload(), d)
    assert (retried.result.action, retried.result.channel) == ("sent", "line")
    assert len(channels.delivered) == 1 and len(channels.calls) == 2
    assert {m.retry_key for m in channels.calls} == {line_retry_key(channels.calls[0].message_key)}
    assert records(table)[0]["status"] == "sent"


def test_line_429_rate_limited_gives_everything_back_and_is_retried_into_one_push(table):
    seed_profile(table, line=LineIdentity(user_id="U1", updated_at=NOW))
    channels = FakeChannels(SendErrorKind.NOT_SENT_RETRY, None)
    with pytest.raises(RetryableSendError):
        run_step(payload(), deps(table, channels))
    assert records(table) == []
    profile = table.get_item(Key=keys.profile_key("s", "c1"))["Item"]
    assert "marketing_cap_key" not in profile  # the cap was given back too
    assert run_step(payload(), deps(table, channels)).result.channel == "line"
    assert len(channels.delivered) == 1


def test_a_welcome_started_before_the_order_item_was_written_renders_the_order_read_at_send_time(table):
    """order.recorded is published just before the order item is written: the starter may see no items."""
    from enishi.profiles.items import OrderItem, OrderLine
    from enishi.profiles.store import order_to_item

    seed_profile(table)
    table.put_item(
        Item=order_to_item(
            OrderItem(
                shop="s",
                order_id="o1",
                customer_id="c1",
                order_name="#1001",
                placed_at=NOW,
                updated_at=NOW,
                items=[OrderLine(product_id="8001", title="八女茶", quantity=1, price=1620)],
            )
        )
    )
    seen: list[dict] = []
    d = deps(table, FakeChannels())
    d.messages.context = lambda seq, step, profile, trigger, unsub, marketing: seen.append(trigger) or {}  # type: ignore[attr-defined]
    p = payload("welcome")
    p["state"] = {
        **p["state"],
        "trigger_id": "customer:c1",
        "trigger": {"order_id": "o1", "order_name": None, "line_items": []},
    }
    assert run_step(p, d).result.action == "sent"
    assert seen[0]["order_name"] == "#1001" and seen[0]["line_items"][0]["title"] == "八女茶"
