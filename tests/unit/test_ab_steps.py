"""A/B tests in sequence steps: the spec's variants, their deterministic assignment, and what a variant changes in the
message the real step service sends (subject, template, channel, send time) and records (``variant``)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from enishi import clock, experiments, keys
from enishi.campaigns.recipients import Recipient
from enishi.campaigns.send import Batch, send_batch
from enishi.campaigns.send import Deps as CampaignDeps
from enishi.channels.render import render_email
from enishi.events import Consent
from enishi.profiles.model import LineIdentity, Profile
from enishi.profiles.serialize import to_item
from enishi.sequences.adapters.ledger import Ledger
from enishi.sequences.adapters.messages import MessageComposer
from enishi.sequences.adapters.store import SequenceStore
from enishi.sequences.domain import eligibility
from enishi.sequences.domain.messages import Outgoing
from enishi.sequences.domain.quiet_hours import QuietWindow
from enishi.sequences.domain.spec import (
    Sequence,
    SequencesSpec,
    Step,
    StepPayload,
    as_sent,
    at_hour,
    load_spec,
    next_due,
    variant_of,
)
from enishi.sequences.domain.starting import start_for
from enishi.sequences.step.service import Deps, run_step
from enishi.shop_config import REPO_DIR, QuietHours, load_shop_config

NOW = datetime(2025, 5, 6, 3, 0, tzinfo=UTC)  # 12:00 JST
SHOP = "s"

AB_STEP = {
    "id": "nudge",
    "delay": "7d",
    "after": "trigger",
    "template": "welcome_f2_nudge",
    "channel": "prefer_line",
    "variants": [
        {"name": "a", "weight": 1},
        {"name": "b", "weight": 1, "template": "welcome_f2_nudge_b"},
        {
            "name": "c",
            "weight": 1,
            "subject": "{{ shop.name }}より、次のお買い物のご提案",
            "channel": "email",
        },
        {"name": "d", "weight": 1, "delay": "5d", "send_hour": 20},
    ],
}
SEQUENCE = Sequence(
    trigger="order",
    steps=[Step(id="thanks", template="welcome_welcome"), Step.model_validate(AB_STEP)],
)


@pytest.fixture(autouse=True)
def fixed_clock():
    clock.set_provider(lambda: NOW)
    yield
    clock.reset()


def customer_in(variant: str, step: Step = SEQUENCE.steps[1], sequence: str = "welcome") -> str:
    """The first customer id the assignment puts into ``variant``."""
    return next(f"c{i}" for i in range(10_000) if variant_of(step, SHOP, f"c{i}", sequence) == variant)


# ---------------------------------------------------------------- the spec


def spec_with(step: dict[str, Any]) -> dict[str, Any]:
    return {"sequences": {"welcome": {"trigger": "x", "steps": [step]}}}


@pytest.mark.parametrize(
    ("variants", "error"),
    [
        ([{"name": "a"}, {"name": "a"}], "unique"),
        ([{"name": "a"}], "at least two"),
        ([{"name": "a", "weight": 0}, {"name": "b"}], "greater than or equal to 1"),
        ([{"name": "a", "weight": -1}, {"name": "b"}], "greater than or equal to 1"),
        ([{"name": "a"}, {"name": "b", "delay": "soon"}], "delay"),
        ([{"name": "a"}, {"name": "b", "send_hour": 24}], "less than or equal to 23"),
        ([{"name": "a"}, {"name": "b", "channel": "fax"}], "channel"),
        ([{"name": "a"}, {"name": "B"}], "pattern"),
        ([{"name": "a"}, {"name": "b", "sender": "x"}], "Extra inputs"),
        ([{"name": "a"}, {"name": "b", "subject": ""}], "at least 1 character"),
        ([{"name": "a"}, {"name": "b", "subject": "{{ shop.name"}], "subject"),
    ],
)
def test_bad_variant_specs_are_refused(variants, error):
    with pytest.raises(ValidationError, match=error):
        SequencesSpec.model_validate(
            spec_with({"id": "n", "template": "welcome_f2_nudge", "variants": variants})
        )


def write_spec(tmp_path: Path, step: dict[str, Any]) -> Path:
    path = tmp_path / "sequences.yaml"
    path.write_text(yaml.safe_dump(spec_with(step), allow_unicode=True), encoding="utf-8")
    return path


def test_a_variant_naming_a_template_that_is_not_there_fails_at_load(tmp_path):
    step = {
        "id": "n",
        "template": "welcome_f2_nudge",
        "variants": [{"name": "a"}, {"name": "b", "template": "welcome_f2_nudge_typo"}],
    }
    with pytest.raises(ValueError, match=r"welcome\.n: email/welcome_f2_nudge_typo\.txt"):
        load_spec(write_spec(tmp_path, step))


def test_a_variant_template_needs_only_the_files_of_its_channel_and_the_shop_may_supply_them(tmp_path):
    # a LINE-only variant needs line/<name>.json, found in the shop's own templates/ beside sequences.yaml
    step = {
        "id": "n",
        "template": "welcome_f2_nudge",
        "variants": [{"name": "a"}, {"name": "b", "template": "shop_only", "channel": "line"}],
    }
    path = write_spec(tmp_path, step)
    with pytest.raises(ValueError, match=r"line/shop_only\.json"):
        load_spec(path)
    (tmp_path / "templates" / "line").mkdir(parents=True)
    (tmp_path / "templates" / "line" / "shop_only.json").write_text("[]", encoding="utf-8")
    assert load_spec(path).sequences["welcome"].steps[0].variants is not None


def test_the_shipped_welcome_f2_nudge_is_a_fifty_fifty_test_with_its_own_japanese_template():
    step = load_spec(REPO_DIR / "sequences.yaml").sequences["welcome"].step("f2_nudge")
    arms = {v.name: v for v in step.variants or ()}
    assert set(arms) == {"a", "b"} and arms["a"].weight == arms["b"].weight
    assert arms["a"].overrides() == {} and arms["b"].template == "welcome_f2_nudge_b"
    assert not step.timed_variants  # the same day for both: the test is the message, not the time


def test_a_step_without_variants_compiles_to_the_same_payload_as_before():
    payload = StepPayload.build("welcome", SEQUENCE, 0).to_json()
    assert "variants" not in payload["step"] and "variant" not in payload
    assert "subject" not in payload["step"] and "send_hour" not in payload["step"]


# ---------------------------------------------------------------- assignment


@settings(max_examples=100, deadline=None)
@given(shop=st.text(min_size=1, max_size=20), customer=st.text(min_size=1, max_size=30))
def test_the_variant_is_a_pure_function_of_shop_customer_sequence_and_step(shop, customer):
    step = SEQUENCE.steps[1]
    first = variant_of(step, shop, customer, "welcome")
    arms = [experiments.Variant(v.name, v.weight) for v in step.variants or ()]
    assert first == experiments.variant(shop, customer, "welcome/nudge", arms)
    assert all(variant_of(step, shop, customer, "welcome") == first for _ in range(3))  # a retry, a rerun
    sent, name = as_sent(step, shop, customer, "welcome")
    assert name == first and sent.variants is None
    chosen = next(v for v in step.variants or () if v.name == name)
    assert all(getattr(sent, k) == v for k, v in chosen.overrides().items())


def test_weights_are_respected_over_many_customers():
    step = Step(
        id="n",
        template="t",
        variants=[{"name": "big", "weight": 3}, {"name": "small", "weight": 1}],  # type: ignore[list-item]
    )
    counts = Counter(variant_of(step, SHOP, f"customer-{i}", "welcome") for i in range(8_000))
    assert counts["big"] / 8_000 == pytest.approx(0.75, abs=0.02)


def test_two_steps_and_two_sequences_assign_independently():
    other = SEQUENCE.steps[1].model_copy(update={"id": "other"})
    ids = [f"c{i}" for i in range(2_000)]
    same = sum(
        variant_of(SEQUENCE.steps[1], SHOP, c, "welcome") == variant_of(other, SHOP, c, "welcome")
        for c in ids
    )
    assert same / len(ids) == pytest.approx(0.25, abs=0.04)  # four arms: agreement by chance only


# ---------------------------------------------------------------- send time


def test_send_hour_moves_the_due_time_to_the_next_such_hour_in_japan():
    due = datetime(2025, 5, 6, 12, 30, tzinfo=UTC)  # 21:30 JST
    assert at_hour(due, 20) == datetime(2025, 5, 7, 11, 0, tzinfo=UTC)  # 20:00 JST the next day
    assert at_hour(due, 22) == datetime(2025, 5, 6, 13, 0, tzinfo=UTC)
    assert at_hour(datetime(2025, 5, 6, 11, 0, tzinfo=UTC), 20) == datetime(2025, 5, 6, 11, 0, tzinfo=UTC)


def test_the_previous_step_waits_as_long_as_the_customers_variant_of_the_next_step_says(table):
    channels = Channels()
    deps = make_deps(table, channels)
    for variant, expected in [
        ("a", NOW + timedelta(days=7)),
        ("d", at_hour(NOW + timedelta(days=5), 20)),  # 5 days, then 20:00 JST
    ]:
        customer = customer_in(variant)
        step, _ = as_sent(SEQUENCE.steps[1], SHOP, customer, "welcome")
        assert next_due(step, trigger_at=NOW, now=NOW) == expected
        seed(table, customer)
        outcome = run_step(payload(customer, index=0, started=NOW), deps)  # "thanks", right after the trigger
        assert outcome.result.action == "sent"
        assert outcome.state["wait_until"] == clock.iso_z(expected), variant


def test_the_starter_waits_for_a_first_step_by_the_customers_variant():
    first = Step.model_validate({**AB_STEP, "delay": "0"})
    spec = SequencesSpec(sequences={"welcome": Sequence(trigger="x", steps=[first])})
    for variant, due in [("a", NOW), ("d", at_hour(NOW + timedelta(days=5), 20))]:
        customer = customer_in(variant, first)
        start = start_for(spec, "welcome", SHOP, customer, "t1", {}, NOW, NOW)
        assert start is not None and start.input["wait_until"] == clock.iso_z(due), variant


def test_a_first_step_with_a_timed_variant_is_not_sent_at_once_by_the_machine():
    pytest.importorskip("aws_cdk")
    from infra.constructs.sequences import _entry

    first = Step.model_validate({**AB_STEP, "delay": "0"})
    plain = Step(id="p", template="welcome_welcome")
    waits, sends = {0: "wait"}, {0: "send"}
    assert _entry(Sequence(trigger="x", steps=[plain]), 0, waits, sends) == "send"  # type: ignore[arg-type]
    assert _entry(Sequence(trigger="x", steps=[first]), 0, waits, sends) == "wait"  # type: ignore[arg-type]


# ---------------------------------------------------------------- the step service


class Channels:
    def __init__(self) -> None:
        self.delivered: list[Outgoing] = []

    def send(self, message: Outgoing) -> str:
        self.delivered.append(message)
        return f"id-{len(self.delivered)}"


def seed(table, customer: str, *, consent: bool = True, line: bool = False) -> None:
    p = Profile(
        shop=SHOP,
        customer_id=customer,
        created_at=NOW - timedelta(days=9),
        updated_at=NOW - timedelta(days=1),
        email=f"{customer}@example.jp",
        email_consent=Consent(
            state="subscribed" if consent else "unsubscribed",
            source="shopify",
            collected_at=NOW - timedelta(days=9),
        ),
        line=LineIdentity(user_id="U" + "0" * 32, following=True, updated_at=NOW) if line else None,
    )
    table.put_item(Item=to_item(p, keys.profile_key(SHOP, customer)))


def make_deps(table, channels: Channels, holdout_percent: float = 0.0) -> Deps:
    store = SequenceStore(table)
    return Deps(
        store=store,
        ledger=Ledger(table),
        channels=channels,
        policy=eligibility.Policy(
            quiet=QuietWindow.from_config(QuietHours()), holdout_percent=holdout_percent
        ),
        messages=MessageComposer(
            load_shop_config(str(REPO_DIR)),
            public_base_url="https://x.example",
            signing_keys=lambda: [b"k"],
            served=frozenset({SHOP}),
            profiles=store,
        ),
    )


def payload(customer: str, index: int = 1, started: datetime = NOW - timedelta(days=7)) -> dict[str, Any]:
    return {
        "execution": "e1",
        "state": {
            "shop": SHOP,
            "customer_id": customer,
            "sequence": "welcome",
            "trigger_id": "o1",
            "trigger": {
                "order_id": "o1",
                "order_name": "#1001",
                "line_items": [{"title": "煎茶 翠", "quantity": 1}],
            },
            "started_at": clock.iso_z(started),
            "trigger_at": clock.iso_z(started),
            "wait_until": clock.iso_z(NOW),
        },
        "step": StepPayload.build("welcome", SEQUENCE, index).to_json(),
    }


def record(table, customer: str) -> dict[str, Any]:
    items = [i for i in table.scan()["Items"] if i["sk"].startswith(keys.MSG_SK_PREFIX)]
    (item,) = [i for i in items if i["customer_id"] == customer]
    return item


def test_each_variant_changes_what_the_step_sends_and_is_recorded(table):
    channels = Channels()
    deps = make_deps(table, channels)
    sent: dict[str, Outgoing] = {}
    for variant in "abcd":
        customer = customer_in(variant)
        seed(
            table, customer, line=True
        )  # LINE-reachable: prefer_line sends by LINE unless the variant says email
        assert run_step(payload(customer), deps).result.action == "sent"
        sent[variant] = channels.delivered[-1]
        assert record(table, customer)["variant"] == variant
    assert (sent["a"].template, sent["a"].channel, sent["a"].subject) == ("welcome_f2_nudge", "line", None)
    assert sent["d"].template == "welcome_f2_nudge" and sent["d"].channel == "line"
    assert sent["b"].template == "welcome_f2_nudge_b"
    assert (sent["c"].template, sent["c"].channel) == ("welcome_f2_nudge", "email")
    # the subject the variant declares is the subject the email carries
    rendered = render_email(sent["c"].template, sent["c"].context, subject=sent["c"].subject)
    shop_name = load_shop_config(str(REPO_DIR)).name
    assert rendered.subject == f"{shop_name}より、次のお買い物のご提案"
    plain = render_email(sent["a"].template, sent["a"].context)
    assert plain.subject != rendered.subject


def test_a_redelivered_step_sees_the_same_variant_and_sends_nothing_again(table):
    channels = Channels()
    deps = make_deps(table, channels)
    customer = customer_in("b")
    seed(table, customer)
    run_step(payload(customer), deps)
    again = run_step(payload(customer), deps)
    assert again.result.action == "skipped" and again.result.reason == "already_sent"
    assert len(channels.delivered) == 1 and record(table, customer)["variant"] == "b"


def test_a_skip_after_the_assignment_carries_the_variant(table):
    customer = customer_in("b")
    seed(table, customer, consent=False)
    result = run_step(payload(customer), make_deps(table, Channels())).result
    assert (result.action, result.reason) == ("skipped", "no_consent")
    assert record(table, customer)["variant"] == "b"


def test_the_holdout_comes_first_a_held_out_customer_gets_no_variant(table):
    held = next(
        f"h{i}"
        for i in range(10_000)
        if experiments.in_holdout(SHOP, f"h{i}", experiments.holdout_scope("sequence", "welcome"), 20)
    )
    seed(table, held)
    channels = Channels()
    result = run_step(payload(held), make_deps(table, channels, holdout_percent=20)).result
    assert (result.action, result.reason) == ("skipped", "holdout")
    assert "variant" not in record(table, held) and channels.delivered == []


def test_a_step_without_variants_records_none(table):
    customer = "plain"
    seed(table, customer)
    assert run_step(payload(customer, index=0), make_deps(table, Channels())).result.action == "sent"
    assert "variant" not in record(table, customer)


# ---------------------------------------------------------------- campaigns: the same path


def test_a_campaign_variant_is_recorded_and_its_subject_is_the_one_sent(table):
    """Before: the campaign send dropped a variant's ``subject`` and recorded no variant on the message."""
    channels = Channels()
    deps = CampaignDeps(
        step=make_deps(table, channels), cancelled=lambda _s, _c: False, sleep=lambda _s: None
    )
    batch = Batch(
        shop=SHOP,
        campaign_id="winter-sale",
        template="winback_winback_1",
        channel="email",  # type: ignore[arg-type]
        variant_subjects={"b": "冬のおすすめ"},
        started_at=clock.iso_z(NOW),
    )
    for customer in ("x1", "x2"):
        seed(table, customer)
    items = [Recipient("x1", False, "a").to_json(), Recipient("x2", False, "b").to_json()]
    assert send_batch({"Items": items, "BatchInput": batch.model_dump(mode="json")}, deps) == {"sent": 2}
    by_customer = {m.tags["customer"]: m for m in channels.delivered}
    assert by_customer["x1"].subject is None and by_customer["x2"].subject == "冬のおすすめ"
    assert record(table, "x1")["variant"] == "a" and record(table, "x2")["variant"] == "b"


def test_a_tracked_link_can_carry_the_variant_in_its_utm_parameters(table):
    from enishi.sequences.domain.ledger import MessageRef
    from enishi.tracking import links

    shop = load_shop_config(str(REPO_DIR))
    tracking = shop.messaging.tracking.model_copy(update={"utm": {"utm_content": "{step}-{variant}"}})
    shop = shop.model_copy(update={"messaging": shop.messaging.model_copy(update={"tracking": tracking})})
    composer = MessageComposer(
        shop,
        public_base_url="https://x.example",
        signing_keys=lambda: [b"k"],
        served=frozenset({SHOP}),
        profiles=SequenceStore(table),
    )
    targets = []
    for variant in ("b", None):
        ref = MessageRef(SHOP, "c1", "m1", "welcome", "f2_nudge", "o1", True, variant)
        url = composer.track(ref, "email", {"site_url": "https://shop.example/"})["site_url"]
        token = url.rsplit("/", 1)[-1]
        resolution = links.resolve([b"k"], token, {SHOP}, NOW)
        assert resolution.claims is not None
        targets.append(resolution.claims.target)
    assert targets == [
        "https://shop.example/?utm_content=f2_nudge-b",
        "https://shop.example/?utm_content=f2_nudge-",
    ]
