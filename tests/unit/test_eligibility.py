"""Eligibility: every rule checked right before a send (consent, suppression, stop, quiet hours, cap, channel)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enishi import clock
from enishi.events import Consent
from enishi.profiles.items import CheckoutItem, OrderItem
from enishi.profiles.model import LineIdentity, Profile, Suppression
from enishi.sequences.domain import eligibility as el
from enishi.sequences.domain.quiet_hours import QuietWindow
from enishi.sequences.domain.spec import ChannelPolicy, QuotaPolicy, Step, StopCondition
from enishi.shop_config import QuietHours

JST = clock.JST
NOON = datetime(2025, 5, 6, 12, 0, tzinfo=JST)
POLICY = el.Policy(quiet=QuietWindow.from_config(QuietHours()), frequency_cap=timedelta(hours=16))
MARKETING = Step(id="reminder_1", template="cart_recovery_reminder_1", channel=ChannelPolicy.PREFER_LINE)
TRANSACTIONAL = Step(id="shipped", template="shipping_notice_shipped", marketing=False)


def consent(state: str, at: datetime, channel: str = "email") -> Consent:
    return Consent(channel=channel, state=state, source="shopify", collected_at=at)


def profile(**kw) -> Profile:
    base = {
        "shop": "s",
        "customer_id": "c1",
        "created_at": NOON - timedelta(days=30),
        "updated_at": NOON - timedelta(days=1),
        "email": "hanako@example.jp",
        "email_consent": consent("subscribed", NOON - timedelta(days=10)),
    }
    base.update(kw)
    return Profile(**base)


def line(following: bool = True) -> LineIdentity:
    return LineIdentity(user_id="U" + "a" * 32, following=following, updated_at=NOON - timedelta(days=2))


def facts(p: Profile, **kw) -> el.Facts:
    return el.Facts(
        now=kw.pop("now", NOON), profile=p, trigger_at=kw.pop("trigger_at", NOON - timedelta(hours=1)), **kw
    )


def decide(p: Profile, step: Step = MARKETING, stop_when=(), **kw) -> el.Decision:
    return el.decide(facts(p, **kw), step, list(stop_when), POLICY)


# ---- consent (特定電子メール法)
def test_marketing_email_with_consent_is_sent_by_email():
    d = decide(profile())
    assert (d.action, d.channel) == ("send", "email")


@pytest.mark.parametrize("state", ["not_subscribed", "pending", "unsubscribed", "redacted"])
def test_marketing_email_without_subscribed_consent_is_skipped(state):
    d = decide(profile(email_consent=consent(state, NOON - timedelta(days=1))))
    assert (d.action, d.reason) == ("skip", el.SKIP_NO_CONSENT)


def test_no_consent_record_at_all_is_skipped():
    assert decide(profile(email_consent=None)).reason == el.SKIP_NO_CONSENT


def test_the_latest_consent_by_time_wins_even_if_stored_out_of_order():
    # Given an unsubscribe in the history that is newer than the stored "subscribed"
    p = profile(consent_history=[consent("unsubscribed", NOON - timedelta(hours=2))])
    assert decide(p).reason == el.SKIP_NO_CONSENT


def test_an_unsubscribe_at_the_same_instant_overrides_a_subscribe():
    at = NOON - timedelta(days=1)
    p = profile(email_consent=consent("subscribed", at), consent_history=[consent("unsubscribed", at)])
    assert decide(p).reason == el.SKIP_NO_CONSENT


def test_transactional_needs_no_marketing_consent():
    d = decide(profile(email_consent=consent("unsubscribed", NOON - timedelta(days=1))), TRANSACTIONAL)
    assert (d.action, d.channel) == ("send", "email")


# ---- suppression
def test_suppressed_address_is_skipped_even_for_transactional():
    p = profile(email_suppression=Suppression(reason="bounce", at=NOON - timedelta(days=1)))
    assert decide(p).reason == el.SKIP_SUPPRESSED
    assert decide(p, TRANSACTIONAL).reason == el.SKIP_SUPPRESSED


def test_no_email_address_is_skipped():
    assert decide(profile(email=None)).reason == el.SKIP_NO_ADDRESS


# ---- stop conditions
def test_completed_checkout_stops_cart_recovery():
    checkout = CheckoutItem(
        shop="s", checkout_token="t", status="completed", created_at=NOON, updated_at=NOON
    )
    d = decide(profile(), stop_when=[StopCondition.CHECKOUT_COMPLETED], checkout=checkout)
    assert (d.action, d.reason) == ("stop", el.STOP_CHECKOUT_COMPLETED)


def test_an_order_after_the_trigger_stops():
    p = profile(last_order_id="o2", last_order_at=NOON - timedelta(minutes=10))
    d = decide(p, stop_when=[StopCondition.ORDERED_AGAIN], trigger_order_id="o1")
    assert (d.action, d.reason) == ("stop", el.STOP_ORDERED_AGAIN)


def test_the_triggering_order_itself_does_not_stop():
    p = profile(last_order_id="o1", last_order_at=NOON - timedelta(minutes=10))
    assert decide(p, stop_when=[StopCondition.ORDERED_AGAIN], trigger_order_id="o1").action == "send"


def test_an_order_before_the_trigger_does_not_stop():
    p = profile(last_order_id="o0", last_order_at=NOON - timedelta(days=40))
    assert decide(p, stop_when=[StopCondition.ORDERED_AGAIN]).action == "send"


def test_cancelled_order_stops_the_shipping_follow_up():
    order = OrderItem(shop="s", order_id="o1", status="cancelled", updated_at=NOON)
    d = decide(profile(), TRANSACTIONAL, stop_when=[StopCondition.ORDER_CANCELLED], order=order)
    assert d.reason == el.STOP_ORDER_CANCELLED


def test_redacted_profile_stops():
    assert decide(profile(redacted=True)).action == "stop"


# ---- quiet hours
def test_marketing_due_at_23_jst_is_deferred_to_09_jst():
    d = decide(profile(), now=datetime(2025, 5, 6, 23, 0, tzinfo=JST))
    assert (d.action, d.reason) == ("defer", el.DEFER_QUIET_HOURS)
    assert clock.iso_z(d.not_before) == "2025-05-07T00:00:00Z"


def test_transactional_is_not_held_by_quiet_hours():
    assert decide(profile(), TRANSACTIONAL, now=datetime(2025, 5, 6, 23, 0, tzinfo=JST)).action == "send"


def test_a_transactional_step_can_opt_into_quiet_hours():
    step = Step(id="followup", template="x", marketing=False, quiet_hours=True)
    assert decide(profile(), step, now=datetime(2025, 5, 6, 23, 0, tzinfo=JST)).action == "defer"


# ---- frequency cap (shared by email and LINE)
def test_marketing_within_the_cap_is_deferred_until_it_lapses():
    p = profile(last_marketing_sent_at=NOON - timedelta(hours=4))
    d = decide(p)
    assert (d.action, d.reason) == ("defer", el.DEFER_FREQUENCY_CAP)
    # 16 h after 08:00 JST is 00:00 JST: inside quiet hours, so 09:00 JST
    assert d.not_before == datetime(2025, 5, 7, 9, 0, tzinfo=JST)


def test_cap_counts_line_sends_too():
    p = profile(line=line(), last_marketing_sent_at=NOON - timedelta(hours=1))
    assert decide(p).reason == el.DEFER_FREQUENCY_CAP


def test_transactional_bypasses_the_cap():
    assert decide(profile(last_marketing_sent_at=NOON - timedelta(minutes=5)), TRANSACTIONAL).action == "send"


def test_after_the_cap_it_sends():
    assert decide(profile(last_marketing_sent_at=NOON - timedelta(hours=17))).action == "send"


# ---- channel choice
def test_linked_and_following_prefers_line_with_email_as_quota_fallback():
    d = decide(profile(line=line()))
    assert (d.action, d.channel, d.fallback) == ("send", "line", "email")


def test_blocked_line_falls_back_to_email():
    assert decide(profile(line=line(following=False))).channel == "email"


def test_line_marketing_opt_out_uses_email_but_transactional_still_line():
    p = profile(line=line(), line_consent=consent("unsubscribed", NOON - timedelta(days=1), channel="line"))
    assert decide(p).channel == "email"
    assert decide(p, TRANSACTIONAL).channel == "line"


def test_line_quota_used_up_falls_back_to_email():
    d = decide(profile(line=line()), line_quota_exhausted=True)
    assert (d.action, d.channel) == ("send", "email")


def test_line_quota_used_up_with_wait_policy_defers_to_next_month():
    step = Step(id="winback_2", template="x", on_line_quota_exhausted=QuotaPolicy.WAIT)
    d = decide(profile(line=line()), step, line_quota_exhausted=True)
    assert (d.action, d.reason) == ("defer", el.DEFER_LINE_QUOTA)
    assert d.not_before == datetime(2025, 6, 1, 0, 0, tzinfo=JST)


def test_line_only_step_without_line_is_skipped():
    step = Step(id="x", template="x", channel=ChannelPolicy.LINE)
    assert decide(profile(), step).reason == el.SKIP_NO_LINE


def test_email_only_step_ignores_line():
    step = Step(id="x", template="x", channel=ChannelPolicy.EMAIL)
    assert decide(profile(line=line()), step).channel == "email"


def test_line_friend_without_any_recorded_opt_in_gets_no_promotion_but_transactional():
    p = profile(line=line(), email_consent=None)
    assert decide(p).action == "skip"
    assert decide(p, TRANSACTIONAL).channel == "line"


def test_line_opt_in_without_email_consent_gets_line():
    p = profile(line=line(), email_consent=None, line_consent=consent("subscribed", NOON, channel="line"))
    d = decide(p)
    assert (d.action, d.channel, d.fallback) == ("send", "line", None)


def test_follow_mode_treats_the_line_friend_as_opted_in():
    follow = el.Policy(quiet=POLICY.quiet, line_marketing_consent="follow")
    d = el.decide(facts(profile(line=line(), email_consent=None)), MARKETING, [], follow)
    assert (d.action, d.channel) == ("send", "line")
    opted_out = profile(line=line(), line_consent=consent("unsubscribed", NOON, channel="line"))
    assert el.decide(facts(opted_out), MARKETING, [], follow).channel == "email"


# ---- holdout (issue 12): the sequence's control group receives none of its marketing steps
def _held_and_not(percent: float) -> tuple[str, str]:
    from enishi import experiments

    scope = experiments.holdout_scope("sequence", "welcome")
    ids = [f"c{i}" for i in range(1000)]
    held = next(i for i in ids if experiments.in_holdout("s", i, scope, percent))
    free = next(i for i in ids if not experiments.in_holdout("s", i, scope, percent))
    return held, free


def test_a_customer_in_the_sequences_control_group_is_skipped_for_marketing_only():
    held, free = _held_and_not(10)
    policy = el.Policy(quiet=POLICY.quiet, holdout_percent=10)
    at_noon = facts(profile(customer_id=held))
    assert el.decide(at_noon, MARKETING, [], policy, sequence="welcome") == el.Decision(
        "skip", reason="holdout", channel="email"
    )
    assert el.decide(at_noon, TRANSACTIONAL, [], policy, sequence="welcome").action == "send"
    assert (
        el.decide(facts(profile(customer_id=free)), MARKETING, [], policy, sequence="welcome").action
        == "send"
    )
    # the sequence's own percentage overrides the shop's; 0 keeps nobody back
    assert el.decide(at_noon, MARKETING, [], policy, sequence="welcome", holdout_percent=0).action == "send"


def test_a_stop_outranks_the_holdout():
    held, _ = _held_and_not(10)
    policy = el.Policy(quiet=POLICY.quiet, holdout_percent=10)
    d = el.decide(facts(profile(customer_id=held, redacted=True)), MARKETING, [], policy, sequence="welcome")
    assert d.action == "stop"


# the control group is "would have been sent now" (issue 12): held out only after the channel, consent, address,
# quiet hours and the cap, so both groups pass the same filters at the same moment
HELD_POLICY = el.Policy(quiet=POLICY.quiet, holdout_percent=10)


def _held_decide(p: Profile, **kw) -> el.Decision:
    return el.decide(facts(p, **kw), MARKETING, [], HELD_POLICY, sequence="welcome")


def test_an_unreachable_customer_of_the_control_group_is_skipped_for_what_a_treated_one_would_be():
    held, _ = _held_and_not(10)
    assert _held_decide(profile(customer_id=held, email_consent=None)).reason == "no_consent"
    assert _held_decide(profile(customer_id=held, email=None)).reason == "no_address"
    bounced = Suppression(reason="bounce", at=NOON - timedelta(days=3))
    assert _held_decide(profile(customer_id=held, email_suppression=bounced)).reason == "suppressed"


def test_a_control_group_message_inside_quiet_hours_or_the_cap_waits_like_a_treated_one():
    held, _ = _held_and_not(10)
    night = datetime(2025, 5, 6, 22, 0, tzinfo=JST)
    d = _held_decide(profile(customer_id=held), now=night)
    assert (d.action, d.reason) == ("defer", "quiet_hours")
    capped = profile(customer_id=held, last_marketing_sent_at=NOON - timedelta(hours=2))
    assert (_held_decide(capped).action, _held_decide(capped).reason) == ("defer", "frequency_cap")
    # when it is due again it is held out, with the channel it would have gone by
    d = _held_decide(profile(customer_id=held, line=line()), now=NOON + timedelta(days=1))
    assert (d.action, d.reason, d.channel) == ("skip", "holdout", "line")


def test_a_membership_decided_upstream_overrides_the_percentage():
    held, free = _held_and_not(10)
    p = profile(customer_id=free)
    d = el.decide(facts(p), MARKETING, [], HELD_POLICY, sequence="welcome", holdout=True)
    assert (d.action, d.reason) == ("skip", "holdout")
    d = el.decide(
        facts(profile(customer_id=held)), MARKETING, [], HELD_POLICY, sequence="welcome", holdout=False
    )
    assert d.action == "send"


@settings(max_examples=150, deadline=None)
@given(
    consent_state=st.sampled_from([None, "subscribed", "unsubscribed"]),
    has_email=st.booleans(),
    following=st.sampled_from([None, True, False]),
    hour=st.integers(0, 23),
    capped_hours_ago=st.sampled_from([None, 1, 10, 30]),
)
def test_holding_out_changes_only_a_send_into_a_holdout_skip(
    consent_state, has_email, following, hour, capped_hours_ago
):
    """For every customer state and time: the decision for a control-group customer is the treated decision,
    except that a send becomes ``skip holdout`` on the same channel — so both groups pass the same filters."""
    now = datetime(2025, 5, 6, hour, 0, tzinfo=JST)
    fields: dict = {"email": "hanako@example.jp" if has_email else None}
    fields["email_consent"] = consent(consent_state, now - timedelta(days=10)) if consent_state else None
    if following is not None:
        fields["line"] = line(following)
    if capped_hours_ago is not None:
        fields["last_marketing_sent_at"] = now - timedelta(hours=capped_hours_ago)
    f = facts(profile(**fields), now=now)
    treated = el.decide(f, MARKETING, [], HELD_POLICY, sequence="welcome", holdout=False)
    control = el.decide(f, MARKETING, [], HELD_POLICY, sequence="welcome", holdout=True)
    if treated.action == "send":
        assert (control.action, control.reason, control.channel) == ("skip", "holdout", treated.channel)
    else:
        assert control == treated
