"""Every send is checked right before it happens (DESIGN invariant 3). Pure: facts in, a decision out.

Order of the checks, first match wins:
1. **stop** — the sequence is over: profile redacted, or a stop condition of the sequence is true (checkout
   completed/emptied, the customer ordered again after the trigger, the triggering order was cancelled).
2. **channel** — per the step's policy (``email`` | ``line`` | ``prefer_line``): LINE when linked + following +
   (marketing: opted in — see ``line_reachable``) + this month's quota not used up; else email when there is an
   address that is not suppressed (bounce/complaint) and, for marketing, consent. Nothing usable → **skip** with
   the reason.
   Marketing email needs consent (特定電子メール法 §3): the latest email consent by ``collected_at`` must be
   ``subscribed``; an unsubscribe at the same time or later always wins (§3(3)).
   LINE quota used up and the step says ``wait`` → **defer** to the 1st of next month.
3. **quiet hours** — a step that respects them and is due inside the window → **defer** to the window's end.
4. **frequency cap** — marketing only: one cap shared by email and LINE (``last_marketing_sent_at`` + 16 h by
   default) → **defer** to when the cap lapses. This is the cheap pre-check; the authoritative one is the
   conditional write ``store.claim_cap`` right before the send (two messages released together cannot both pass).
   Deferred, not skipped: the same rule as quiet hours (the message
   waits), and every check runs again when it is due, so a deferred reminder is never sent after a purchase.
   Transactional steps bypass consent (not advertising), quiet hours (unless the step sets them) and the cap.
5. **holdout** — marketing only, and only for a message that would be sent *now*: a customer in the sequence's
   control group (``enishi.experiments``: deterministic by shop, customer and sequence, the same for every step
   and every run) → **skip** ``holdout`` with the channel that would have been used. The skip record is how the
   report counts the control group, so it must pass exactly the filters a sent message passes (stop, channel,
   consent, address, quiet hours, the cap's pre-check, the LINE quota) at the same moment: a control group
   drawn before those checks would hold unreachable customers the treated group cannot contain, and the
   difference between the groups would not be the message's effect (issue 12). A campaign's group is drawn
   when its recipient list is made and handed in as ``holdout``. Transactional steps are never held out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from enishi import clock, experiments
from enishi.events import Consent
from enishi.profiles.items import CheckoutItem, OrderItem
from enishi.profiles.model import Profile
from enishi.sequences.domain.quiet_hours import QuietWindow
from enishi.sequences.domain.spec import ChannelPolicy, QuotaPolicy, Step, StopCondition

Action = Literal["send", "skip", "defer", "stop"]
ChannelName = Literal["email", "line"]

# reasons (recorded on skipped message records and in the step result)
STOP_REDACTED = "redacted"
STOP_CHECKOUT_COMPLETED = "checkout_completed"
STOP_ORDERED_AGAIN = "ordered_again"
STOP_ORDER_CANCELLED = "order_cancelled"
SKIP_NO_CONSENT = "no_consent"
SKIP_SUPPRESSED = "suppressed"
SKIP_NO_ADDRESS = "no_address"
SKIP_NO_LINE = "no_line"
SKIP_HOLDOUT = "holdout"
DEFER_QUIET_HOURS = "quiet_hours"
DEFER_FREQUENCY_CAP = "frequency_cap"
DEFER_LINE_QUOTA = "line_quota"


@dataclass(frozen=True)
class Policy:
    """The shop's messaging settings the checks need."""

    quiet: QuietWindow
    frequency_cap: timedelta = timedelta(hours=16)
    line_marketing_consent: Literal["recorded", "follow"] = "recorded"  # sequences.yaml
    holdout_percent: float = 0.0  # shop.yaml messaging.holdout_percent: a sequence's own value overrides it


@dataclass(frozen=True)
class Facts:
    """What is true right now about the customer and the trigger (read by the step just before the send)."""

    now: datetime
    profile: Profile
    trigger_at: (
        datetime  # when the trigger happened (the first order, the checkout, the shipment, the last order)
    )
    trigger_order_id: str | None = None
    checkout: CheckoutItem | None = None  # cart recovery: the triggering checkout as stored now
    order: OrderItem | None = None  # shipping notice: the order being shipped
    line_quota_exhausted: bool = False
    holds_cap: bool = (
        False  # this message claimed the cap earlier (a retried step): its own claim never defers it
    )


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str | None = None
    channel: ChannelName | None = None
    not_before: datetime | None = None  # defer: when to try again (aware UTC)
    fallback: ChannelName | None = (
        None  # send: the channel to try if the chosen one turns out to be out of quota
    )
    checks: tuple[str, ...] = field(default_factory=tuple)


def stop_reason(facts: Facts, stop_when: list[StopCondition]) -> str | None:
    p = facts.profile
    if p.redacted:
        return STOP_REDACTED
    checkout = facts.checkout
    if (
        StopCondition.CHECKOUT_COMPLETED in stop_when
        and checkout is not None
        and checkout.status in ("completed", "emptied")
    ):
        return STOP_CHECKOUT_COMPLETED
    if StopCondition.ORDERED_AGAIN in stop_when and ordered_since(
        p, facts.trigger_at, facts.trigger_order_id
    ):
        return STOP_ORDERED_AGAIN
    if (
        StopCondition.ORDER_CANCELLED in stop_when
        and facts.order is not None
        and facts.order.status == "cancelled"
    ):
        return STOP_ORDER_CANCELLED
    return None


def ordered_since(profile: Profile, since: datetime, trigger_order_id: str | None) -> bool:
    """The customer placed an order after ``since`` other than the triggering one."""
    if profile.last_order_at is None or profile.last_order_id is None:
        return False
    if trigger_order_id is not None and profile.last_order_id == trigger_order_id:
        return False
    return clock.to_utc(profile.last_order_at) > clock.to_utc(since)


def latest_consent(profile: Profile, channel: ChannelName) -> Consent | None:
    """The channel's latest consent by collected_at; on a tie an unsubscribe wins."""
    candidates = [c for c in profile.consent_history if c.channel == channel]
    current = profile.email_consent if channel == "email" else profile.line_consent
    if current is not None:
        candidates.append(current)
    if not candidates:
        return None
    return max(candidates, key=lambda c: (clock.to_utc(c.collected_at), c.state == "unsubscribed"))


def email_marketing_consent(profile: Profile) -> bool:
    consent = latest_consent(profile, "email")
    return consent is not None and consent.state == "subscribed"


def line_reachable(profile: Profile, marketing: bool, consent_mode: str = "recorded") -> bool:
    """Linked and following; for a promotion also opted in: a LINE consent decides when there is one, else (mode
    "recorded") the email opt-in, or (mode "follow") following itself. A LINE friend without an opt-in still gets
    transactional notices."""
    line = profile.line
    if line is None or not line.user_id or not line.following:
        return False
    if not marketing:
        return True
    consent = latest_consent(profile, "line")
    if consent is not None:
        return consent.state == "subscribed"
    return consent_mode == "follow" or email_marketing_consent(profile)


def email_problem(profile: Profile, marketing: bool) -> str | None:
    if not profile.email:
        return SKIP_NO_ADDRESS
    if profile.email_suppression is not None:
        return SKIP_SUPPRESSED
    if marketing and not email_marketing_consent(profile):
        return SKIP_NO_CONSENT
    return None


def first_of_next_month_jst(now: datetime) -> datetime:
    local = clock.to_utc(now).astimezone(clock.JST)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return clock.to_utc(
        local.replace(year=year, month=month, day=1, hour=0, minute=0, second=0, microsecond=0)
    )


def choose_channel(facts: Facts, step: Step, consent_mode: str = "recorded") -> Decision:
    """The channel per the step's policy, or why there is none (skip) or why to wait (LINE quota)."""
    p = facts.profile
    line_ok = step.channel in (ChannelPolicy.LINE, ChannelPolicy.PREFER_LINE) and line_reachable(
        p, step.marketing, consent_mode
    )
    email_reason = email_problem(p, step.marketing) if step.channel != ChannelPolicy.LINE else SKIP_NO_LINE
    email_ok = email_reason is None
    if line_ok and facts.line_quota_exhausted:
        if step.on_line_quota_exhausted is QuotaPolicy.FALLBACK_EMAIL and email_ok:
            return Decision("send", channel="email", reason="line_quota_fallback")
        if step.on_line_quota_exhausted is QuotaPolicy.WAIT or step.channel == ChannelPolicy.LINE:
            return Decision("defer", reason=DEFER_LINE_QUOTA, not_before=first_of_next_month_jst(facts.now))
        line_ok = False
    if line_ok:
        fallback: ChannelName | None = (
            "email" if email_ok and step.on_line_quota_exhausted is QuotaPolicy.FALLBACK_EMAIL else None
        )
        return Decision("send", channel="line", fallback=fallback)
    if step.channel == ChannelPolicy.LINE:
        return Decision("skip", reason=SKIP_NO_LINE)
    if email_ok:
        return Decision("send", channel="email")
    return Decision("skip", reason=email_reason)


def held_out(profile: Profile, sequence: str, percent: float) -> bool:
    """The customer is in the sequence's control group."""
    scope = experiments.holdout_scope("sequence", sequence)
    return percent > 0 and experiments.in_holdout(profile.shop, profile.customer_id, scope, percent)


def decide(
    facts: Facts,
    step: Step,
    stop_when: list[StopCondition],
    policy: Policy,
    sequence: str = "",
    holdout_percent: float | None = None,
    holdout: bool | None = None,
) -> Decision:
    """The one decision for this step, now: send (on which channel), skip, defer (until when) or stop.

    ``holdout``: the customer's control-group membership when it was decided elsewhere (a campaign's recipient
    list); None: drawn here from ``holdout_percent`` (the sequence's own) or the shop's default."""
    reason = stop_reason(facts, stop_when)
    if reason is not None:
        return Decision("stop", reason=reason)
    channel = choose_channel(facts, step, policy.line_marketing_consent)
    if channel.action != "send":
        return channel
    deferral = _deferral(facts, step, policy, channel.channel)
    if deferral is not None:
        return deferral
    if step.marketing and _in_control(facts.profile, sequence, policy, holdout_percent, holdout):
        return Decision("skip", reason=SKIP_HOLDOUT, channel=channel.channel)
    return channel


def _in_control(
    profile: Profile, sequence: str, policy: Policy, percent: float | None, holdout: bool | None
) -> bool:
    if holdout is not None:
        return holdout
    return held_out(profile, sequence, policy.holdout_percent if percent is None else percent)


def _deferral(facts: Facts, step: Step, policy: Policy, channel: ChannelName | None) -> Decision | None:
    """Quiet hours and the frequency cap's pre-check: when the message may go, if not now."""
    earliest = clock.to_utc(facts.now)
    defer_reason: str | None = None
    last = facts.profile.last_marketing_sent_at
    if step.marketing and last is not None and not facts.holds_cap:
        lapses = clock.to_utc(last) + policy.frequency_cap
        if lapses > earliest:
            earliest, defer_reason = lapses, DEFER_FREQUENCY_CAP
    if step.respects_quiet_hours:
        allowed = policy.quiet.next_allowed(earliest)
        if allowed > earliest:
            earliest = allowed
            defer_reason = defer_reason or DEFER_QUIET_HOURS
    if defer_reason is not None:
        return Decision("defer", reason=defer_reason, not_before=earliest, channel=channel)
    return None
