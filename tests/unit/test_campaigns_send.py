"""A campaign's send batch: every recipient through the sequence step's checks and ledger (consent, suppression,
quiet hours, the frequency cap, holdout → a skip record), exactly once across retried runs and re-driven batches,
stopped by the cancel flag, paced to the send rate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from enishi import clock, keys
from enishi.campaigns.recipients import Recipient
from enishi.campaigns.send import Batch, Deps, send_batch
from enishi.campaigns.store import CampaignRuns
from enishi.events import Consent
from enishi.profiles.model import Profile, Suppression
from enishi.profiles.serialize import to_item
from enishi.sequences.adapters.ledger import Ledger
from enishi.sequences.adapters.store import SequenceStore
from enishi.sequences.domain import eligibility
from enishi.sequences.domain.messages import Outgoing
from enishi.sequences.domain.quiet_hours import QuietWindow
from enishi.sequences.step.service import Deps as StepDeps
from enishi.shop_config import REPO_DIR, QuietHours

NOON = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)  # 12:00 JST
EVENING = datetime(2026, 12, 1, 11, 50, tzinfo=UTC)  # 20:50 JST


class Channels:
    """Delivers, or raises ``crash`` once after ``crash_after`` deliveries (a λ killed mid-batch)."""

    def __init__(self, crash_after: int | None = None) -> None:
        self.delivered: list[Outgoing] = []
        self.crash_after = crash_after

    def send(self, message: Outgoing) -> str:
        if self.crash_after is not None and len(self.delivered) == self.crash_after:
            self.crash_after = None
            raise KeyboardInterrupt("killed")  # not an Exception: nothing in the step may swallow it
        self.delivered.append(message)
        return f"id-{len(self.delivered)}"


@pytest.fixture
def now():
    at = [NOON]
    clock.set_provider(lambda: at[0])
    yield at
    clock.reset()


def profile(table, customer_id: str, **kw) -> Profile:
    fields = {
        "email": f"{customer_id}@example.jp",
        "email_consent": Consent(
            state="subscribed", source="shopify", collected_at=NOON - timedelta(days=90)
        ),
        **kw,
    }
    p = Profile(
        shop="s",
        customer_id=customer_id,
        created_at=NOON - timedelta(days=90),
        updated_at=NOON - timedelta(days=1),
        **fields,
    )
    table.put_item(Item=to_item(p, keys.profile_key("s", customer_id)))
    return p


def make_deps(
    table, channels: Channels, sleeps: list[float] | None = None, sequence_holdout_percent: float = 0
) -> Deps:
    from enishi.sequences.adapters.messages import MessageComposer
    from enishi.shop_config import load_shop_config

    store = SequenceStore(table)
    messages = MessageComposer(
        load_shop_config(str(REPO_DIR)),
        public_base_url="https://x.example",
        signing_keys=lambda: [b"k"],
        served=frozenset({"s"}),
        profiles=store,
    )
    step = StepDeps(
        store=store,
        ledger=Ledger(table),
        channels=channels,
        policy=eligibility.Policy(
            quiet=QuietWindow.from_config(QuietHours()), holdout_percent=sequence_holdout_percent
        ),
        messages=messages,
    )
    ticks = iter(range(10**6))
    return Deps(
        step=step,
        cancelled=CampaignRuns(table).cancelled,
        sleep=(sleeps.append if sleeps is not None else lambda _s: None),
        monotonic=lambda: float(next(ticks)) * 0.0,
        now=clock.now,
    )


def event(*recipients: Recipient, spm: float = 0.0) -> dict:
    batch = Batch(
        shop="s",
        campaign_id="winter-sale",
        template="winback_winback_1",
        channel="email",
        started_at=clock.iso_z(NOON),
        seconds_per_message=spm,
    )
    return {"Items": [r.to_json() for r in recipients], "BatchInput": batch.model_dump(mode="json")}


def records(table) -> dict[str, dict]:
    return {i["pk"]: i for i in table.scan()["Items"] if i["sk"].startswith(keys.MSG_SK_PREFIX)}


def test_each_check_of_a_sequence_step_applies(table, now):
    profile(table, "ok")
    profile(table, "held")
    profile(table, "no_consent", email_consent=None)
    profile(table, "bounced", email_suppression=Suppression(reason="bounce", at=NOON - timedelta(days=3)))
    profile(table, "capped", last_marketing_sent_at=NOON - timedelta(hours=2))
    channels = Channels()
    counts = send_batch(
        event(
            Recipient("ok", False, "a"),
            Recipient("held", True),
            Recipient("no_consent", False),
            Recipient("bounced", False),
            Recipient("capped", False),
        ),
        make_deps(table, channels),
    )
    assert counts == {
        "sent": 1,
        "holdout": 1,
        "skipped:no_consent": 1,
        "skipped:suppressed": 1,
        "skipped:frequency_cap": 1,
    }
    assert [m.to for m in channels.delivered] == ["ok@example.jp"]
    sent = channels.delivered[0]
    assert sent.message_key == keys.campaign_message_key("s", "ok", "winter-sale")
    assert sent.marketing and sent.unsubscribe_url and sent.unsubscribe_url.startswith("https://x.example/")
    by_customer = {pk.split("#CUST#")[1]: r for pk, r in records(table).items()}
    assert by_customer["ok"]["status"] == "sent"
    assert {c: by_customer[c]["reason"] for c in ("held", "no_consent", "bounced", "capped")} == {
        "held": "holdout",
        "no_consent": "no_consent",
        "bounced": "suppressed",
        "capped": "frequency_cap",
    }
    assert {r["sequence"] for r in by_customer.values()} == {"campaign-winter-sale"}


def test_a_held_out_customer_is_never_sent_even_with_consent(table, now):
    profile(table, "held")
    channels = Channels()
    assert send_batch(event(Recipient("held", True)), make_deps(table, channels)) == {"holdout": 1}
    assert channels.delivered == []


def test_the_control_group_passes_the_same_checks_as_the_treated_group(table, now):
    """Issue 12: a held-out recipient who could not have been messaged (no consent, bounced, capped) is skipped for
    that reason like a treated one, not counted in the control group; one who could is held out, and its record
    keeps the channel the message would have gone by."""
    profile(table, "held")
    profile(table, "held_no_consent", email_consent=None)
    profile(
        table, "held_bounced", email_suppression=Suppression(reason="bounce", at=NOON - timedelta(days=3))
    )
    profile(table, "held_capped", last_marketing_sent_at=NOON - timedelta(hours=2))
    channels = Channels()
    held = ("held", "held_no_consent", "held_bounced", "held_capped")
    counts = send_batch(event(*(Recipient(c, True) for c in held)), make_deps(table, channels))
    assert counts == {
        "holdout": 1,
        "skipped:no_consent": 1,
        "skipped:suppressed": 1,
        "skipped:frequency_cap": 1,
    }
    by_customer = {pk.split("#CUST#")[1]: r for pk, r in records(table).items()}
    assert (by_customer["held"]["reason"], by_customer["held"]["channel"]) == ("holdout", "email")
    assert channels.delivered == []


def test_a_held_out_recipient_in_quiet_hours_waits_like_a_treated_one(table, now):
    now[0] = EVENING + timedelta(minutes=20)
    profile(table, "held")
    deps = make_deps(table, Channels())
    assert send_batch(event(Recipient("held", True)), deps) == {"deferred:quiet_hours": 1}
    assert records(table) == {}


def test_a_treated_recipient_is_not_held_out_again_by_the_shops_sequence_default(table, now):
    """The campaign's control group is drawn once, when the recipient list is made: with the shop's sequence
    default at its maximum, every treated recipient still gets the message (a second draw would move half of them
    into the control group the report counts)."""
    ids = [f"t{i}" for i in range(20)]
    for cid in ids:
        profile(table, cid)
    channels = Channels()
    deps = make_deps(table, channels, sequence_holdout_percent=50)
    assert send_batch(event(*(Recipient(cid, False) for cid in ids)), deps) == {"sent": len(ids)}


def test_quiet_hours_defer_without_a_record_so_a_later_run_reaches_them(table, now):
    now[0] = EVENING + timedelta(minutes=20)  # 21:10 JST: the run reached the quiet hours
    profile(table, "late")
    channels = Channels()
    deps = make_deps(table, channels)
    assert send_batch(event(Recipient("late", False)), deps) == {"deferred:quiet_hours": 1}
    assert records(table) == {} and channels.delivered == []
    now[0] = NOON + timedelta(days=1)
    assert send_batch(event(Recipient("late", False)), deps) == {"sent": 1}


def test_a_retried_run_messages_nobody_twice(table, now):
    """Kill the batch after two sends, run the whole batch again (a re-driven map), then the whole run again."""
    people = [Recipient(f"c{i}", False) for i in range(5)]
    for r in people:
        profile(table, r.customer_id)
    channels = Channels(crash_after=2)
    deps = make_deps(table, channels)
    with pytest.raises(KeyboardInterrupt):
        send_batch(event(*people), deps)
    assert len(channels.delivered) == 2
    # the killed λ left the third recipient's claim "sending": an email that may have gone out is not resent
    second = send_batch(event(*people), deps)
    assert second == {"skipped:already_sent": 2, "skipped:already_sending": 1, "sent": 2}
    third = send_batch(event(*people), deps)
    assert third == {"skipped:already_sent": 4, "skipped:already_sending": 1}
    to = [m.to for m in channels.delivered]
    assert len(to) == len(set(to)) == 4


def test_cancel_flag_stops_every_later_batch(table, now):
    profile(table, "c1")
    runs = CampaignRuns(table)
    runs.started("s", "winter-sale", execution_arn="arn:x", now=NOON)
    channels = Channels()
    deps = make_deps(table, channels)
    assert runs.cancel("s", "winter-sale", now=NOON)["status"] == "running"
    assert send_batch(event(Recipient("c1", False)), deps) == {"cancelled": 1}
    assert channels.delivered == [] and records(table) == {}


def test_cancel_of_a_campaign_that_never_ran_says_so(table):
    assert CampaignRuns(table).cancel("s", "nope", now=NOON) is None


def test_sends_are_paced_to_the_share_of_the_send_rate(table, now):
    people = [Recipient(f"c{i}", False) for i in range(4)]
    for r in people:
        profile(table, r.customer_id)
    sleeps: list[float] = []
    send_batch(event(*people, spm=0.25), make_deps(table, Channels(), sleeps))
    assert sleeps == [0.25, 0.5, 0.75, 1.0]  # the fake monotonic clock stands still: due times are cumulative
