"""The consent rule (enishi.consent) for all inputs: hypothesis over sets of consent records in any order.

Records are built the way adapters build them (``consent.make``): states, acts and snapshots, channels, sender times
absent, in the past or skewed hours into the future, receive times, checkout creation times. Then, whatever the
order of application and however many duplicates:

(i)   the final state (and the whole fold) does not depend on the order;
(ii)  the final state is what ``consent.derive`` says over the set, and it is ``subscribed`` only if
      either an affirmative act is greater (``record_key``: later, or as late and less restrictive than none) than
      every restrictive record, or there is no opt-out at all and the earliest affirmative snapshot is greater than
      every act and every restrictive record;
(iii) no snapshot ever turns an opt-out (unsubscribed / redacted) into subscribed;
(iv)  every record that changed the fold, and every act, is in the ledger, and the ledger alone gives the same state.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enishi import consent as rule
from enishi import events as ev

T0 = datetime(2025, 3, 1, 3, 0, tzinfo=UTC)
EXAMPLES = 2000 if os.environ.get("HYPOTHESIS_PROFILE") == "long" else 100
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

minutes = st.integers(min_value=-3 * 24 * 60, max_value=3 * 24 * 60)
# sender clocks: absent, plausible, a few minutes ahead (trusted, clamped), hours ahead (JST written as Z: untrusted)
skew = st.sampled_from([0, 0, 0, 3, 4, 6, 60, 9 * 60])


@st.composite
def records(draw) -> ev.Consent:
    received = T0 + timedelta(minutes=draw(st.integers(min_value=0, max_value=3 * 24 * 60)))
    sender = draw(
        st.one_of(
            st.none(),
            minutes.map(lambda m: T0 + timedelta(minutes=m)),
            skew.map(lambda s: received + timedelta(minutes=s)),
        )
    )
    origin = draw(st.one_of(st.none(), minutes.map(lambda m: T0 + timedelta(minutes=m))))
    return rule.make(
        state=draw(
            st.sampled_from(
                ["subscribed", "subscribed", "not_subscribed", "unsubscribed", "pending", "redacted"]
            )
        ),
        kind=draw(st.sampled_from(["act", "snapshot"])),
        source=draw(st.sampled_from(["shopify", "one_click", "generic"])),
        channel=draw(st.sampled_from(["email", "email", "line"])),
        received_at=received,
        sender_at=sender,
        origin_at=origin,
    )


def fold_all(rs) -> dict[str, rule.ConsentFold]:
    folds: dict[str, rule.ConsentFold] = {}
    for r in rs:
        folds[r.channel] = rule.fold_in(folds.get(r.channel), r)
    return folds


def state(folds, channel: str) -> str | None:
    c = rule.current(folds.get(channel))
    return c.state if c is not None else None


def restrictive(r: ev.Consent) -> bool:
    return not rule.is_affirmative(r.state)


@SETTINGS
@given(st.lists(records(), min_size=1, max_size=12), st.randoms(use_true_random=False), st.data())
def test_final_state_is_independent_of_order_and_duplicates(rs, rnd, data):
    # Given the records in two orders, the second with duplicates
    shuffled = list(rs) + data.draw(st.lists(st.sampled_from(rs), max_size=6))
    rnd.shuffle(shuffled)
    # Then the folds, and so the states, are equal (i)
    assert fold_all(rs) == fold_all(shuffled)
    # And folding two halves separately and merging them (a guest merged into its customer) gives the same
    cut = data.draw(st.integers(min_value=0, max_value=len(shuffled)))
    a, b = fold_all(shuffled[:cut]), fold_all(shuffled[cut:])
    for ch in ("email", "line"):
        assert rule.merge(a.get(ch), b.get(ch)) == (fold_all(rs).get(ch) or rule.ConsentFold())


@SETTINGS
@given(st.lists(records(), min_size=1, max_size=12))
def test_subscribed_only_after_an_affirmative_act_later_than_every_restrictive_record(rs):
    folds = fold_all(rs)
    for ch in ("email", "line"):
        mine = [r for r in rs if r.channel == ch]
        final = rule.current(folds.get(ch))
        # (ii) the fold says what the rule says over the set
        assert final == rule.derive(mine)
        if final is None or final.state != "subscribed":
            continue
        keys_restrictive = [rule.record_key(r) for r in mine if restrictive(r)]
        acts_sub = [r for r in mine if r.kind == "act" and r.state == "subscribed"]
        by_act = any(all(rule.record_key(a) > k for k in keys_restrictive) for a in acts_sub)
        snaps = [r for r in mine if rule.is_p_class(r)]
        others = [rule.record_key(r) for r in mine if not rule.is_p_class(r)]
        first = min(snaps, key=rule.record_key) if snaps else None
        by_snapshot = (
            first is not None
            and not any(rule.is_opt_out(r.state) for r in mine)
            and all(rule.record_key(first) > k for k in others)
        )
        assert by_act or by_snapshot
        if any(rule.is_opt_out(r.state) for r in mine):
            assert final.kind == "act"  # after a "no", only an act says yes


@SETTINGS
@given(st.lists(records(), min_size=1, max_size=10), st.lists(records(), min_size=1, max_size=6))
def test_no_snapshot_turns_an_opt_out_into_subscribed(before, snapshots):
    # Given any history whose current state (per channel) is not subscribed and that holds an opt-out
    folds = fold_all(before)
    snaps = [s.model_copy(update={"kind": "snapshot"}) for s in snapshots]
    for ch, f in folds.items():
        if not f.opted_out or state(folds, ch) == "subscribed":
            continue
        # When any checkout snapshots arrive, in any number, at any time
        after = f
        for s in snaps:
            if s.channel == ch:
                after = rule.fold_in(after, s)
        # Then the customer is still not subscribed (iii)
        assert rule.current(after) is None or rule.current(after).state != "subscribed"


@SETTINGS
@given(st.lists(records(), min_size=1, max_size=12), st.randoms(use_true_random=False))
def test_every_applied_record_is_in_the_ledger_and_the_ledger_alone_gives_the_state(rs, rnd):
    order = list(rs) + list(rs[: len(rs) // 2])
    rnd.shuffle(order)
    ledger: dict[str, ev.Consent] = {}
    folds: dict[str, rule.ConsentFold] = {}
    for r in order:
        before = folds.get(r.channel)
        applied = rule.changes_fold(before, r)
        if applied or (r.kind == "act" and not rule.known(before, r)):
            ledger.setdefault(rule.digest(r), r)  # the conditional put: one item per distinct record
        folds[r.channel] = rule.fold_in(before, r)
        # (iv) a record that changed the fold, or an act, is in the ledger
        if applied or r.kind == "act":
            assert rule.digest(r) in ledger
    for ch in ("email", "line"):
        assert rule.derive([x for x in ledger.values() if x.channel == ch]) == rule.current(folds.get(ch))


# ---- the time rule, example by example (defect 1 witnesses)

RECEIVED = datetime(2025, 3, 2, 13, 0, tzinfo=UTC)


def test_a_sender_time_in_the_future_is_not_trusted():
    # JST written as Z: 22:00 JST claimed as 22:00 UTC, 9 hours ahead of the receipt
    at, kind = rule.effective_at(
        "subscribed", "act", sender_at=RECEIVED + timedelta(hours=9), received_at=RECEIVED
    )
    assert (at, kind) == (RECEIVED, "snapshot")  # no trusted time: it cannot outrank an opt-out
    at, _ = rule.effective_at(
        "unsubscribed", "act", sender_at=RECEIVED + timedelta(hours=9), received_at=RECEIVED
    )
    assert at == RECEIVED


def test_a_sender_time_a_little_ahead_is_clamped_to_the_receipt():
    at, kind = rule.effective_at(
        "subscribed", "act", sender_at=RECEIVED + timedelta(minutes=4), received_at=RECEIVED
    )
    assert (at, kind) == (RECEIVED, "act")


def test_without_a_sender_time_restrictive_takes_the_receipt_and_affirmative_the_creation():
    created = RECEIVED - timedelta(days=30)
    assert rule.effective_at(
        "not_subscribed", "act", sender_at=None, received_at=RECEIVED, origin_at=created
    ) == (RECEIVED, "act")
    assert rule.effective_at(
        "subscribed", "act", sender_at=None, received_at=RECEIVED, origin_at=created
    ) == (created, "act")
    snap = rule.effective_at(
        "subscribed",
        "snapshot",
        sender_at=RECEIVED - timedelta(days=40),
        received_at=RECEIVED,
        origin_at=created,
    )
    assert snap == (RECEIVED - timedelta(days=40), "snapshot")


def test_a_late_snapshot_never_outranks_a_one_click_unsubscribe():
    # konbini: order created 10:00, one-click unsubscribe 11:00, orders/paid (buyer_accepts_marketing) at 16:00
    created = datetime(2025, 3, 2, 1, 0, tzinfo=UTC)
    snapshot = rule.make(
        state="subscribed",
        kind="snapshot",
        source="shopify",
        origin_at=created,
        sender_at=created + timedelta(hours=6),
        received_at=created + timedelta(hours=6),
    )
    unsub = rule.make(
        state="unsubscribed",
        kind="act",
        source="one_click",
        sender_at=created + timedelta(hours=1),
        received_at=created + timedelta(hours=1),
    )
    for order in ([snapshot, unsub], [unsub, snapshot]):
        assert rule.current(fold_all(order)["email"]).state == "unsubscribed"
    # even a snapshot dated after the opt-out (a checkout created later) does not re-grant
    later = rule.make(
        state="subscribed",
        kind="snapshot",
        source="shopify",
        origin_at=created + timedelta(days=3),
        received_at=created + timedelta(days=3),
    )
    assert rule.current(fold_all([unsub, later])["email"]).state == "unsubscribed"
    # an act does
    act = rule.make(
        state="subscribed",
        kind="act",
        source="preference_page",
        sender_at=created + timedelta(days=3),
        received_at=created + timedelta(days=3),
    )
    assert rule.current(fold_all([act, unsub, later])["email"]).state == "subscribed"


# ---- the same through the profile logic (apply, merge_guest, redact, consent_ledger_entries)


def as_event(r: ev.Consent, i: int) -> ev.ConsentChanged:
    # the adapters' output: a received_at at or after the effective time
    received = r.collected_at + timedelta(minutes=i % 3)
    return ev.ConsentChanged(
        event_id=f"e{i}",
        shop="s",
        source="shopify",
        occurred_at=received,
        received_at=received,
        customer=ev.CustomerRef(customer_id="c1"),
        consent=r,
    )


@SETTINGS
@given(st.lists(records(), min_size=1, max_size=10), st.randoms(use_true_random=False), st.data())
def test_profiles_apply_the_rule_in_any_order_and_a_merge_keeps_it(rs, rnd, data):
    from enishi.profiles import apply as logic

    events = [as_event(r, i) for i, r in enumerate(rs)]
    shuffled = events + events[:2]
    rnd.shuffle(shuffled)
    ledger: dict[str, ev.Consent] = {}
    profiles = []
    for order in (events, shuffled):
        p = None
        for e in order:
            before = p
            p = logic.apply(p, e, e.received_at)
            for entry in logic.consent_ledger_entries(before, e, p):
                ledger.setdefault(rule.digest(entry.consent), entry.consent)
        profiles.append(p)
    # (i) the same profile consent whatever the order
    assert profiles[0].email_consent == profiles[1].email_consent
    assert profiles[0].line_consent == profiles[1].line_consent
    # (iv) the ledger alone gives the profile's state
    for ch in ("email", "line"):
        assert rule.derive([x for x in ledger.values() if x.channel == ch]) == getattr(
            profiles[0], f"{ch}_consent"
        )
    # and a guest holding part of the records, merged into the customer holding the rest, is the same
    cut = data.draw(st.integers(min_value=0, max_value=len(events)))
    guest = customer = None
    for e in events[:cut]:
        guest = logic.apply(guest, e, e.received_at, customer_id="guest-x")
    for e in events[cut:]:
        customer = logic.apply(customer, e, e.received_at)
    if guest is not None:
        merged, _ = logic.merge_guest(customer, guest, "c1")
        assert merged.email_consent == profiles[0].email_consent
        # (iii) after a redaction nothing is subscribed, whatever arrives later that predates it
        redacted = logic.redact(merged, max(e.received_at for e in events))
        for e in shuffled:
            redacted = logic.apply(redacted, e, e.received_at)
        assert redacted.email_consent.state == "redacted"
