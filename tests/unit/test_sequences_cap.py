"""The marketing frequency cap is a conditional write (issue 9 defect 7): two marketing messages released together
cannot both pass it; the loser defers to when the cap lapses; a send that certainly did not happen gives it back."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enishi import clock, keys
from enishi.sequences.adapters.store import SequenceStore
from enishi.sequences.domain.cap import cap_allows
from enishi.sequences.domain.errors import RetryableSendError
from enishi.sequences.domain.messages import SendErrorKind
from enishi.sequences.domain.spec import StepPayload, load_spec
from enishi.sequences.step.service import run_step
from enishi.shop_config import REPO_DIR
from tests.unit.test_sequences_ledger import FakeChannels, deps, seed_profile

NOW = datetime(
    2025, 5, 6, 0, 0, tzinfo=UTC
)  # 09:00 JST: the end of quiet hours, when held messages are released
SPEC = load_spec(REPO_DIR / "sequences.yaml")
CAP = timedelta(hours=16)


@pytest.fixture(autouse=True)
def fixed_clock():
    clock.set_provider(lambda: NOW)
    yield
    clock.reset()


def payload(sequence: str, index: int, trigger_id: str) -> dict[str, Any]:
    return {
        "execution": f"e-{sequence}",
        "state": {
            "shop": "s",
            "customer_id": "c1",
            "sequence": sequence,
            "trigger_id": trigger_id,
            "trigger": {},
            "started_at": clock.iso_z(NOW - timedelta(days=3)),
            "trigger_at": clock.iso_z(NOW - timedelta(days=3)),
            "wait_until": clock.iso_z(NOW),
        },
        "step": StepPayload.build(sequence, SPEC.sequences[sequence], index).to_json(),
    }


WELCOME_STORY = ("welcome", 1, "customer:c1")  # marketing, +3 d
WINBACK = ("winback", 0, "o9")  # marketing


# ---- the condition, pure
@settings(deadline=None)  # examples: the loaded profile (HYPOTHESIS_PROFILE)
@given(
    st.integers(min_value=0, max_value=10 * 86400),
    st.integers(min_value=0, max_value=10 * 86400 * 1_000_000),
    st.integers(min_value=0, max_value=48),
    st.booleans(),
)
def test_the_cap_condition_allows_exactly_when_the_cap_has_lapsed_or_the_message_holds_it(
    last_s, now_us, cap_h, holder
):
    base = datetime(2025, 1, 1, tzinfo=UTC)
    last = base + timedelta(seconds=last_s)  # stored as clock.iso_z: whole seconds
    now = base + timedelta(microseconds=now_us)
    cap = timedelta(hours=cap_h)
    expected = (
        holder or last + cap <= now
    )  # eligibility's rule: lapses = last + cap; defer while lapses > now
    assert cap_allows(clock.iso_z(last), "k" if holder else "other", "k", now, cap) is expected
    assert cap_allows(None, None, "k", now, cap)


# ---- the conditional write under moto
def test_the_cap_is_claimed_once_and_the_loser_learns_when_it_lapses(table):
    profile = seed_profile(table)
    store = SequenceStore(table)
    first = store.claim_cap(profile, "a", now=NOW, cap=CAP)
    second = store.claim_cap(profile, "b", now=NOW, cap=CAP)
    assert first.won and not second.won and second.lapses_at == NOW + CAP
    assert store.claim_cap(profile, "a", now=NOW, cap=CAP).won  # the holder's retry keeps it
    assert store.claim_cap(profile, "b", now=NOW + CAP, cap=CAP).won  # lapsed


def test_a_released_cap_restores_the_previous_send_time(table):
    profile = seed_profile(table, last_marketing_sent_at=NOW - timedelta(days=2))
    store = SequenceStore(table)
    claim = store.claim_cap(profile, "a", now=NOW, cap=CAP)
    store.release_cap(profile, "a", claim)
    item = table.get_item(Key=keys.profile_key("s", "c1"))["Item"]
    assert (
        item["last_marketing_sent_at"] == clock.iso_z(NOW - timedelta(days=2))
        and "marketing_cap_key" not in item
    )
    assert store.claim_cap(profile, "b", now=NOW, cap=CAP).won


@pytest.fixture
def atomic_writes(monkeypatch):
    """DynamoDB evaluates a condition and applies its write atomically per item; moto's in-process backend does not
    serialize concurrent requests, so threads could interleave inside one of them. Serialize the writes as DynamoDB
    does (reads stay concurrent: that is where the race of the 09:00 release is)."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.Lock()
    for name in ("update_item", "put_item", "delete_item"):
        original = getattr(DynamoDBBackend, name)

        def locked(self, *args, __original=original, **kwargs):
            with lock:
                return __original(self, *args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, locked)


class BarrierStore(SequenceStore):
    """Both steps read the profile (the cheap pre-check passes for both) before either claims: the 09:00 race."""

    def __init__(self, table: Any, barrier: threading.Barrier) -> None:
        super().__init__(table)
        self._barrier = barrier

    def get_profile(self, shop: str, customer_id: str):
        profile = super().get_profile(shop, customer_id)
        self._barrier.wait(timeout=10)
        return profile


def test_two_marketing_messages_released_together_send_one_and_defer_the_other(table, atomic_writes):
    seed_profile(table)
    barrier = threading.Barrier(2)
    channels = FakeChannels()
    results: dict[str, dict[str, Any]] = {}

    def run(name: str, sequence: str, index: int, trigger: str) -> None:
        d = deps(table, channels)
        d.store = BarrierStore(table, barrier)
        results[name] = run_step(payload(sequence, index, trigger), d)

    threads = [
        threading.Thread(target=run, args=(n, *spec)) for n, spec in (("w", WELCOME_STORY), ("b", WINBACK))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    actions = sorted(r.result.action for r in results.values())
    assert actions == ["defer", "sent"], results
    assert len(channels.delivered) == 1
    [deferred] = [r for r in results.values() if r.result.action == "defer"]
    assert deferred.result.reason == "frequency_cap"
    assert deferred.state["wait_until"] == clock.iso_z(
        NOW + CAP
    )  # deferred to when the cap lapses, not skipped
    # and its ledger claim was given back: when it is due again (the cap lapses at 01:00 JST, quiet hours move it
    # to 09:00 JST) it sends
    clock.set_provider(lambda: NOW + timedelta(days=1))
    sequence, index, trigger = WELCOME_STORY if results["w"] is deferred else WINBACK
    again = run_step(payload(sequence, index, trigger), deps(table, channels)).result
    assert again.action == "sent", again


@pytest.mark.parametrize("kind", [SendErrorKind.NOT_SENT_RETRY, SendErrorKind.REJECTED])
def test_a_send_that_certainly_did_not_happen_gives_the_cap_back(table, kind):
    seed_profile(table)
    channels = FakeChannels(kind)
    if kind is SendErrorKind.NOT_SENT_RETRY:
        with pytest.raises(RetryableSendError):
            run_step(payload(*WELCOME_STORY), deps(table, channels))
    else:
        assert run_step(payload(*WELCOME_STORY), deps(table, channels)).result.reason == "send_failed"
    # another marketing message may go at once
    assert run_step(payload(*WINBACK), deps(table, channels)).result.action == "sent"


def test_an_ambiguous_send_keeps_the_cap(table):
    seed_profile(table)
    channels = FakeChannels(SendErrorKind.AMBIGUOUS_RETRY)
    run_step(payload(*WELCOME_STORY), deps(table, channels))  # may have gone out: counts against the cap
    assert run_step(payload(*WINBACK), deps(table, channels)).result.action == "defer"
