"""Ledger + runner: exactly-once message records; a retry never sends twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from enishi import clock, keys
from enishi.events import Consent
from enishi.profiles.model import LineIdentity, Profile
from enishi.profiles.serialize import to_item
from enishi.sequences.adapters.ledger import Ledger
from enishi.sequences.adapters.store import SequenceStore
from enishi.sequences.domain import eligibility
from enishi.sequences.domain.errors import RetryableSendError
from enishi.sequences.domain.ledger import MessageRef, line_retry_key
from enishi.sequences.domain.messages import Outgoing, SendError, SendErrorKind
from enishi.sequences.domain.quiet_hours import QuietWindow
from enishi.sequences.domain.spec import StepPayload, load_spec
from enishi.sequences.step.service import Deps, run_step
from enishi.shop_config import REPO_DIR, QuietHours

NOW = datetime(2025, 5, 6, 3, 0, tzinfo=UTC)  # 12:00 JST
SPEC = load_spec(REPO_DIR / "sequences.yaml")
REF = MessageRef("s", "c1", "cart_recovery.reminder_1.abc", "cart_recovery", "reminder_1", "tok", True)


@pytest.fixture(autouse=True)
def fixed_clock():
    clock.set_provider(lambda: NOW)
    yield
    clock.reset()


class FakeChannels:
    """Scripted provider: each call pops the next outcome (an exception kind or None = delivered)."""

    def __init__(self, *script: SendErrorKind | None) -> None:
        self.script = list(script)
        self.calls: list[Outgoing] = []
        self.delivered: list[Outgoing] = []

    def send(self, message: Outgoing) -> str | None:
        self.calls.append(message)
        outcome = self.script.pop(0) if self.script else None
        if outcome is not None:
            raise SendError(outcome, "scripted")
        self.delivered.append(message)
        return f"id-{len(self.calls)}"


def seed_profile(table, **kw) -> Profile:
    p = Profile(
        shop="s",
        customer_id="c1",
        created_at=NOW - timedelta(days=9),
        updated_at=NOW - timedelta(days=1),
        email="hanako@example.jp",
        email_consent=Consent(state="subscribed", source="shopify", collected_at=NOW - timedelta(days=9)),
        **kw,
    )
    table.put_item(Item=to_item(p, keys.profile_key("s", "c1")))
    return p


UNSUBSCRIBE_KEY = b"unsubscribe-test-key"


def deps(table, channels, *, served=frozenset({"s"})) -> Deps:
    from enishi.sequences.adapters.messages import MessageComposer
    from enishi.shop_config import load_shop_config

    store = SequenceStore(table)
    # the production composer: links signed with UNSUBSCRIBE_KEY under https://x.example, checked against
    # ``served``; the template context stubbed (FakeChannels renders nothing)
    messages = MessageComposer(
        load_shop_config(str(REPO_DIR)),
        public_base_url="https://x.example",
        signing_keys=lambda: [UNSUBSCRIBE_KEY],
        served=served,
        profiles=store,
    )
    messages.context = lambda seq, step, profile, trigger, unsub, marketing: {"step": step}  # type: ignore[method-assign]
    return Deps(
        store=store,
        ledger=Ledger(table),
        channels=channels,
        policy=eligibility.Policy(quiet=QuietWindow.from_config(QuietHours())),
        messages=messages,
    )


def payload(sequence="cart_recovery", index=0) -> dict[str, Any]:
    return {
        "execution": "e1",
        "state": {
            "shop": "s",
            "customer_id": "c1",
            "sequence": sequence,
            "trigger_id": "tok",
            "trigger": {"checkout_token": "tok"},
            "started_at": clock.iso_z(NOW - timedelta(hours=1)),
            "trigger_at": clock.iso_z(NOW - timedelta(hours=1)),
            "wait_until": clock.iso_z(NOW),
        },
        "step": StepPayload.build(sequence, SPEC.sequences[sequence], index).to_json(),
    }


def records(table) -> list[dict]:
    items = table.scan()["Items"]
    return [i for i in items if i["sk"].startswith("MSG#")]


# ---- ledger protocol
def test_claim_is_won_once(table):
    ledger = Ledger(table)
    assert ledger.claim(REF, channel="email", recipient_hash="h", now=NOW).won
    second = ledger.claim(REF, channel="email", recipient_hash="h", now=NOW)
    assert not second.won and second.existing_status == "sending"


def test_release_lets_a_retry_claim_again(table):
    ledger = Ledger(table)
    ledger.claim(REF, channel="email", recipient_hash="h", now=NOW)
    ledger.release(REF)
    assert ledger.claim(REF, channel="email", recipient_hash="h", now=NOW).won


def test_release_never_deletes_a_sent_record(table):
    ledger = Ledger(table)
    ledger.claim(REF, channel="email", recipient_hash="h", now=NOW)
    ledger.mark_sent(REF, provider_message_id="m1", now=NOW)
    ledger.release(REF)
    assert ledger.get(REF)["status"] == "sent"


def test_skip_record_does_not_overwrite_a_send(table):
    ledger = Ledger(table)
    ledger.claim(REF, channel="email", recipient_hash="h", now=NOW)
    assert ledger.record_skip(REF, reason="no_consent", now=NOW) is False


def test_line_retry_key_is_stable_per_message():
    assert line_retry_key("k1") == line_retry_key("k1") != line_retry_key("k2")


# ---- runner: a retry never sends twice
def test_sent_once_then_a_replayed_step_is_skipped(table):
    seed_profile(table)
    channels = FakeChannels()
    first = run_step(payload(), deps(table, channels))
    second = run_step(payload(), deps(table, channels))
    assert first.result.action == "sent" and first.result.channel == "email"
    assert second.result.to_json() == {
        **second.result.to_json(),
        "action": "skipped",
        "reason": "already_sent",
    }
    assert len(channels.delivered) == 1
    [record] = records(table)
    assert record["status"] == "sent" and record["provider_message_id"] == "id-1"
    assert record["cost_usd"] > 0


def test_ses_throttled_releases_and_the_retry_sends_exactly_once(table):
    seed_profile(table)
    channels = FakeChannels(SendErrorKind.NOT_SENT_RETRY, SendErrorKind.NOT_SENT_RETRY, None)
    for _ in range(2):
        with pytest.raises(RetryableSendError):
            run_step(payload(), deps(table, channels))
        assert records(table) == []  # released: nothing half-claimed
    assert run_step(payload(), deps(table, channels)).result.action == "sent"
    assert len(channels.delivered) == 1


def test_line_5xx_keeps_the_claim_and_retries_with_the_same_key(table):
    seed_profile(table, line=LineIdentity(user_id="U1", updated_at=NOW))
    channels = FakeChannels(SendErrorKind.AMBIGUOUS_RETRY, SendErrorKind.AMBIGUOUS_RETRY, None)
    for _ in range(2):
        with pytest.raises(RetryableSendError):
            run_step(payload(), deps(table, channels))
    assert run_step(payload(), deps(table, channels)).result.channel == "line"
    assert {m.retry_key for m in channels.calls} == {line_retry_key(channels.calls[0].message_key)}
    assert len(channels.delivered) == 1 and len(channels.calls) == 3


def test_ambiguous_email_is_never_resent(table):
    seed_profile(table)
    channels = FakeChannels(SendErrorKind.AMBIGUOUS_RETRY)
    assert run_step(payload(), deps(table, channels)).result.reason == "ambiguous_not_resent"
    assert run_step(payload(), deps(table, channels)).result.reason == "already_sending"
    assert len(channels.calls) == 1


def test_line_quota_falls_back_to_email_and_flags_the_month(table):
    seed_profile(table, line=LineIdentity(user_id="U1", updated_at=NOW))
    channels = FakeChannels(SendErrorKind.QUOTA, None)
    result = run_step(payload(), deps(table, channels))
    assert (result.result.action, result.result.channel) == ("sent", "email")
    assert SequenceStore(table).line_quota_exhausted("s", NOW)
    assert [m.channel for m in channels.calls] == ["line", "email"]
    # the next message this month goes straight to email without trying LINE
    clock.set_provider(lambda: NOW + timedelta(hours=23))
    later = FakeChannels()
    assert run_step(payload(index=1), deps(table, later)).result.channel == "email"
    assert [m.channel for m in later.calls] == ["email"]


def test_rejected_records_failed_and_moves_on(table):
    seed_profile(table)
    result = run_step(payload(), deps(table, FakeChannels(SendErrorKind.REJECTED)))
    assert result.result.action == "skipped" and result.result.reason == "send_failed"
    assert records(table)[0]["status"] == "failed"


def test_a_send_updates_the_profile_cap_and_version(table):
    seed_profile(table)
    run_step(payload(), deps(table, FakeChannels()))
    item = table.get_item(Key=keys.profile_key("s", "c1"))["Item"]
    # two named-attribute writes, each bumping version: the cap claim before the send, the record after it
    assert item["version"] == 2 and item["last_marketing_sent_at"] == clock.iso_z(NOW)
    assert item["last_message"]["sequence"] == "cart_recovery"


def test_missing_profile_waits_with_a_growing_backoff_not_dropped(table):
    # the event that creates the profile is not applied yet (order.recorded before the profile): defer, 1 min → 6 h
    first = run_step(payload(), deps(table, FakeChannels()))
    assert first.result.action == "defer" and first.result.reason == "profile_not_yet"
    assert first.state["wait_until"] == clock.iso_z(NOW + timedelta(minutes=1))
    again = run_step({**payload(), "state": first.state}, deps(table, FakeChannels()))
    assert (
        again.state["wait_until"] == clock.iso_z(NOW + timedelta(minutes=4))
        and again.state["profile_waits"] == 2
    )
    # and it arrives: the step sends
    seed_profile(table)
    assert run_step({**payload(), "state": again.state}, deps(table, FakeChannels())).result.action == "sent"


def test_a_profile_that_never_comes_stops_the_sequence_with_a_recorded_reason(table):
    clock.set_provider(lambda: NOW + timedelta(days=4))
    result = run_step(payload(), deps(table, FakeChannels()))
    assert (result.result.action, result.result.reason) == ("stop", "no_profile")
    assert records(table)[0]["reason"] == "no_profile"


def test_next_wait_until_is_the_next_step_due_time(table):
    seed_profile(table)
    result = run_step(payload(), deps(table, FakeChannels()))
    # reminder_2 is 24 h after the trigger (NOW - 1 h)
    assert result.state["wait_until"] == clock.iso_z(NOW + timedelta(hours=23))
    assert result.state["shop"] == "s" and result.state["trigger_id"] == "tok"


def test_skip_is_recorded_with_its_reason(table):
    seed_profile(table)
    table.update_item(Key=keys.profile_key("s", "c1"), UpdateExpression="REMOVE email_consent")
    result = run_step(payload(), deps(table, FakeChannels()))
    assert result.result.action == "skipped"
    assert records(table)[0]["reason"] == "no_consent"
