"""A campaign's LINE recipients by multicast (``line_delivery: multicast``), against the fake LINE server and moto:
≤ 500 identical messages per request, every recipient through the step's checks with one record, a retried request
or a re-driven batch messaging nobody twice, LINE's monthly quota met mid-campaign, and LINE's 400 for a bad id."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from enishi import clock, keys
from enishi.campaigns import multicast as mc
from enishi.campaigns.recipients import Recipient
from enishi.campaigns.send import Batch, Deps, send_batch
from enishi.campaigns.store import CampaignRuns
from enishi.channels.line import LineClient
from enishi.events import Consent
from enishi.profiles.model import LineIdentity, Profile
from enishi.profiles.serialize import to_item
from enishi.sequences.adapters.delivery import Delivery
from enishi.sequences.adapters.ledger import Ledger
from enishi.sequences.adapters.messages import MessageComposer
from enishi.sequences.adapters.store import SequenceStore
from enishi.sequences.domain import eligibility
from enishi.sequences.domain.errors import RetryableSendError
from enishi.sequences.domain.ledger import FIELD_REQUEST_KEY
from enishi.sequences.domain.quiet_hours import QuietWindow
from enishi.sequences.step.service import Deps as StepDeps
from enishi.shop_config import REPO_DIR, QuietHours, load_shop_config
from enishi_local.fake_line import DEFAULT_ACCESS_TOKEN, FakeLine

NOON = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)  # 12:00 JST
CAMPAIGN = "winter-sale"


def user_id(customer_id: str) -> str:
    return "U" + hashlib.md5(customer_id.encode()).hexdigest()


class Emails:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, to: str, rendered: Any, *, tags: Any, unsubscribe_url: Any) -> str:
        self.sent.append(to)
        return f"ses-{len(self.sent)}"


@pytest.fixture
def now():
    clock.set_provider(lambda: NOON)
    yield NOON
    clock.reset()


@pytest.fixture
def line(now):
    with FakeLine(now=lambda: NOON) as fake:
        yield fake


def customer(
    table, cid: str, *, line_id: str | None = "", first_name: str | None = None, consent: str = "subscribed"
) -> None:
    email_consent = Consent(state=consent, source="shopify", collected_at=NOON - timedelta(days=90))
    identity = None
    if line_id is not None:
        identity = LineIdentity(user_id=line_id or user_id(cid), updated_at=NOON - timedelta(days=30))
    p = Profile(
        shop="s",
        customer_id=cid,
        created_at=NOON - timedelta(days=90),
        updated_at=NOON - timedelta(days=1),
        email=f"{cid}@example.jp",
        email_consent=email_consent,
        line=identity,
        first_name=first_name,
        last_name="山田" if first_name else None,
    )
    table.put_item(Item=to_item(p, keys.profile_key("s", cid)))


class Rig:
    """The campaign send's real dependencies: moto's table, ``Delivery`` over the real ``LineClient`` talking to the
    fake LINE, and an email stub; ``limit`` shrinks the request size so small batches show the grouping."""

    def __init__(self, table, line: FakeLine, limit: int = mc.MAX_RECIPIENTS) -> None:
        self.table, self.line, self.emails = table, line, Emails()
        self.client = LineClient(line.url, DEFAULT_ACCESS_TOKEN, sleep=lambda _s: None)
        store = SequenceStore(table)
        self.delivery = Delivery(lambda: self.emails, lambda: self.client)
        self.step = StepDeps(
            store=store,
            ledger=Ledger(table),
            channels=self.delivery,
            policy=eligibility.Policy(quiet=QuietWindow.from_config(QuietHours())),
            messages=MessageComposer(
                load_shop_config(str(REPO_DIR)),
                public_base_url="https://x.example",
                signing_keys=lambda: [b"k"],
                served=frozenset({"s"}),
                profiles=store,
            ),
        )
        self.multicast: mc.Multicast = self.delivery.multicast
        self.limit = limit
        self.sleeps: list[float] = []

    def deps(self) -> Deps:
        return Deps(
            step=self.step,
            cancelled=CampaignRuns(self.table).cancelled,
            multicast=self.multicast,
            multicast_size=self.limit,
            sleep=self.sleeps.append,
            monotonic=lambda: 0.0,
        )

    def run(
        self,
        *recipients: Recipient,
        delivery: str = "multicast",
        variants=None,
        channel: str = "prefer_line",
        spm: float = 0.0,
    ) -> dict[str, int]:
        batch = Batch(
            shop="s",
            campaign_id=CAMPAIGN,
            template="campaign_winter_gift",
            channel=channel,  # type: ignore[arg-type]
            started_at=clock.iso_z(NOON),
            line_delivery=delivery,  # type: ignore[arg-type]
            variant_templates=variants or {},
            seconds_per_message=spm,
        )
        event = {
            "Items": [r.to_json() for r in recipients],
            "BatchInput": {"batch": batch.model_dump(mode="json")},
        }
        return send_batch(event, self.deps())

    def records(self) -> dict[str, dict]:
        items = self.table.scan()["Items"]
        return {i["pk"].split("#CUST#")[1]: i for i in items if i["sk"].startswith(keys.MSG_SK_PREFIX)}

    def line_deliveries(self) -> Counter[str]:
        return Counter(p["to"] for p in self.line.pushes())


def people(n: int, prefix: str = "c") -> list[Recipient]:
    return [Recipient(f"{prefix}{i:03d}", False) for i in range(n)]


def test_identical_line_messages_go_out_in_requests_of_at_most_the_limit(table, line):
    rig = Rig(table, line, limit=3)
    batch = people(7)
    for r in batch:
        customer(table, r.customer_id, first_name="花子")  # a name the shared message must not carry
    customer(table, "mail_only", line_id=None)
    customer(table, "held")  # held out only where it would have been sent: it needs a profile like the others
    assert rig.run(*batch, Recipient("mail_only", False), Recipient("held", True)) == {
        "sent": 8,
        "holdout": 1,
    }
    requests = line.multicasts()
    assert [len(m["to"]) for m in requests] == [3, 3, 1]
    assert rig.line_deliveries() == Counter({user_id(r.customer_id): 1 for r in batch})
    assert rig.emails.sent == ["mail_only@example.jp"]
    assert line.usage() == 7  # the quota counts recipients, not requests
    body = str(requests[0]["messages"])
    assert "花子" not in body and "/r/" not in body and "お客様" in body  # composed for the campaign
    by_user = {user_id(r.customer_id): r.customer_id for r in batch}
    for m in requests:  # each request's retry key is derived from its members' message keys
        members = (keys.campaign_message_key("s", by_user[u], CAMPAIGN) for u in m["to"])
        assert m["retry_key"] == mc.request_key(members)
    records = rig.records()
    assert {cid: r["status"] for cid, r in records.items()} == {
        **{r.customer_id: "sent" for r in batch},
        "mail_only": "sent",
        "held": "skipped",
    }
    assert {records[r.customer_id]["channel"] for r in batch} == {"line"}


def test_the_aggregation_unit_names_the_campaign(table, line):
    rig = Rig(table, line)
    customer(table, "c1")
    seen: list[str | None] = []
    real = rig.multicast

    def spy(to, messages, retry_key, unit):
        seen.append(unit)
        return real(to, messages, retry_key, unit)

    rig.multicast = spy
    assert rig.run(Recipient("c1", False)) == {"sent": 1}
    assert seen == [mc.aggregation_unit(CAMPAIGN)] == ["winter_sale"]


def test_variants_with_different_messages_go_in_different_requests(table, line):
    rig = Rig(table, line)
    batch = [Recipient(f"v{i}", False, "a" if i % 2 else "b") for i in range(6)]
    for r in batch:
        customer(table, r.customer_id)
    assert rig.run(*batch, variants={"b": "welcome_brand_story"}) == {"sent": 6}
    requests = line.multicasts()
    assert sorted(len(m["to"]) for m in requests) == [3, 3]
    assert mc.fingerprint(requests[0]["messages"]) != mc.fingerprint(requests[1]["messages"])


def test_push_mode_is_unchanged_one_push_per_recipient(table, line):
    rig = Rig(table, line)
    for r in people(3):
        customer(table, r.customer_id)
    assert rig.run(*people(3), delivery="push") == {"sent": 3}
    assert line.multicasts() == [] and len(line.pushes()) == 3


def test_a_multicast_retried_with_its_retry_key_is_sent_once(table, line):
    """LINE accepts the request but the answer is lost (500): the client's retry meets 409 → everyone ``sent``."""
    rig = Rig(table, line)
    for r in people(4):
        customer(table, r.customer_id)
    line.fail_next(1, 500, accept=True)
    assert rig.run(*people(4)) == {"sent": 4}
    assert len(line.multicasts()) == 1 and line.usage() == 4
    assert rig.line_deliveries() == Counter({user_id(r.customer_id): 1 for r in people(4)})


@pytest.mark.parametrize(
    "accepted", [True, False], ids=["crash-after-LINE-accepted", "crash-before-the-request"]
)
def test_a_batch_re_driven_after_a_crash_messages_nobody_twice(table, line, accepted):
    """The λ dies around the multicast: its records stay ``sending`` and name the request. Before the batch is
    re-driven one recipient withdraws consent (skipped now), so the group is not what it was: the others are
    resent in exactly the named request (409 if LINE had it) and marked ``sent`` — nobody gets two messages."""
    rig = Rig(table, line)
    batch = people(5)
    for r in batch:
        customer(table, r.customer_id)
    real = rig.multicast

    def dies(to, messages, retry_key, unit):
        if accepted:
            real(to, messages, retry_key, unit)
        raise KeyboardInterrupt("killed")  # not an Exception: nothing may swallow it

    rig.multicast = dies
    with pytest.raises(KeyboardInterrupt):
        rig.run(*batch)
    named = {r[FIELD_REQUEST_KEY] for r in rig.records().values()}
    assert {r["status"] for r in rig.records().values()} == {"sending"} and len(named) == 1
    customer(table, "c000", consent="unsubscribed")
    rig.multicast = real
    assert rig.run(*batch) == {"sent": 4, "skipped:no_consent": 1}
    again = rig.run(*batch)  # a third run (a retried campaign) sends nothing
    assert again == {"skipped:already_sent": 4, "skipped:no_consent": 1}
    got = {user_id(r.customer_id): 1 for r in batch[1:]}
    if accepted:
        got[user_id("c000")] = 1  # LINE delivered the first request before the λ died
    assert rig.line_deliveries() == Counter(got)
    assert line.usage() == len(got)
    assert {m["retry_key"] for m in line.multicasts()} == named


def test_a_crash_before_the_flush_resumes_every_held_recipient(table, line):
    """Killed while the recipients were still being checked: their claims are ``sending`` and name no request;
    the re-driven batch sends each once."""
    rig = Rig(table, line)
    batch = people(4)
    for r in batch:
        customer(table, r.customer_id)
    rig.multicast = None  # type: ignore[assignment]  # the flush fails: as if the λ died before it
    with pytest.raises(RuntimeError):
        rig.run(*batch)
    rig.multicast = rig.delivery.multicast
    assert rig.run(*batch) == {"sent": 4}
    assert rig.line_deliveries() == Counter({user_id(r.customer_id): 1 for r in batch})


def test_quota_met_mid_campaign_falls_back_to_email_and_never_exceeds_it(table, line):
    """Quota 5, requests of 3: the first multicast uses 3; the second (3 more) is refused whole with 429; those
    recipients and the later ones go by email (the step's fallback), each with one record."""
    line.monthly_quota = 5
    rig = Rig(table, line, limit=3)
    batch = people(8)
    for r in batch:
        customer(table, r.customer_id)
    assert rig.run(*batch, spm=0.5) == {"sent": 8}
    assert rig.sleeps == [0.5, 1.0, 1.5, 2.0, 2.5]  # the fallback emails keep to SES's rate
    assert line.usage() == 3 <= line.monthly_quota
    assert [len(m["to"]) for m in line.multicasts()] == [3]
    assert len(rig.emails.sent) == 5
    records = rig.records()
    assert sorted(r["channel"] for r in records.values()) == ["email"] * 5 + ["line"] * 3
    assert {r["status"] for r in records.values()} == {"sent"}
    assert SequenceStore(table).line_quota_exhausted("s", NOON)


def test_line_only_recipients_are_skipped_when_the_quota_is_met(table, line):
    """A LINE-only campaign after the monthly limit: a ``line_quota`` skip record each (a one-off does not wait)."""
    line.monthly_quota = 1
    rig = Rig(table, line)
    batch = people(2)
    for r in batch:
        customer(table, r.customer_id)
    assert rig.run(*batch, channel="line") == {"skipped:line_quota": 2}
    assert line.usage() == 0 and rig.emails.sent == []
    assert {r["reason"] for r in rig.records().values()} == {"line_quota"}


def test_a_bad_user_id_fails_alone_and_the_others_are_sent(table, line):
    """LINE's 400 names ``to[i]``: that recipient's record is ``failed``; the rest go in a new request."""
    rig = Rig(table, line)
    batch = people(3)
    for r in batch:
        customer(table, r.customer_id)
    customer(table, "bad", line_id="not-a-line-user-id")
    counts = rig.run(*batch, Recipient("bad", False))
    assert counts == {"sent": 3, "skipped:send_failed": 1}
    records = rig.records()
    assert records["bad"]["status"] == "failed" and records["bad"]["reason"] == mc.REASON_REJECTED
    assert [len(m["to"]) for m in line.multicasts()] == [3]
    profile = SequenceStore(table).get_profile("s", "bad")
    assert profile is not None and profile.marketing_cap_key is None  # the cap was given back


def test_a_rate_limited_multicast_gives_everything_back_and_the_retry_sends(table, line):
    rig = Rig(table, line)
    batch = people(3)
    for r in batch:
        customer(table, r.customer_id)
    line.fail_next(1, 429)
    with pytest.raises(RetryableSendError):
        rig.run(*batch)
    assert rig.records() == {}  # nothing sent: the claims were given back
    assert rig.run(*batch) == {"sent": 3}
    assert line.usage() == 3


@pytest.mark.parametrize("delivery", ["push", "multicast"])
def test_only_emails_wait_for_their_share_of_the_ses_rate(table, line, delivery):
    """Failed before the fix (push): every sent message slept its share of SES's rate, LINE pushes too — a
    LINE campaign of 100k at SES's 14/s took two hours where LINE allows 2,000 pushes a second."""
    rig = Rig(table, line)
    for r in people(3):
        customer(table, r.customer_id)
    customer(table, "m1", line_id=None)
    customer(table, "m2", line_id=None)
    batch = [*people(3), Recipient("m1", False), Recipient("m2", False)]
    assert rig.run(*batch, delivery=delivery, spm=0.5) == {"sent": 5}
    assert rig.sleeps == [0.5, 1.0]  # the two emails; cumulative due times on a clock standing still


def test_the_step_metrics_count_each_multicast_message_as_sent(table, line):
    """Failed before the fix: a held message ended with no ``sent`` result (the step λ's metrics and the business
    metric ``message_sent`` never counted multicast messages)."""
    rig = Rig(table, line)
    seen: list[tuple[str, str | None]] = []
    rig.step.on_result = lambda _seq, result: seen.append((result.action, result.channel))
    for r in people(3):
        customer(table, r.customer_id)
    customer(table, "bad", line_id="not-a-line-user-id")
    assert rig.run(*people(3), Recipient("bad", False)) == {"sent": 3, "skipped:send_failed": 1}
    assert Counter(seen) == Counter({("held", "line"): 4, ("sent", "line"): 3, ("skipped", "line"): 1})
