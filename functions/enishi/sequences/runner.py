"""One step of a sequence, end to end, behind ports: read → decide → claim → render → send → record → next state.

``run_step(payload, deps)`` is what the step λ calls (``step.py`` only builds ``deps`` once per cold start).
Payload (docs/internals.md): ``{"execution", "state": <execution state>, "step": StepPayload}``. Returns the new
state: the input state with ``wait_until`` (UTC ``Z``) and ``result: {action, reason, message_key, channel}``;
``action`` is ``sent`` | ``skipped`` | ``defer`` | ``stop`` (the state machine's Choice reads it).

Channel adapters map their provider errors onto ``SendError`` kinds, so this module never imports a provider SDK:
- ``NOT_SENT_RETRY``: certainly not sent, try again (SES throttling, LINE 429 rate limit) → release + retry;
- ``AMBIGUOUS_RETRY``: may have been sent (LINE 5xx / timeout) → keep ``sending``, retry with the same retry key;
- ``QUOTA``: LINE monthly limit → set the month's flag, fall back to email or wait for next month;
- ``REJECTED``: certainly not sent, retrying won't help → record ``failed``, go on with the sequence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any, Protocol

from enishi import clock, keys
from enishi.profiles.model import Profile
from enishi.sequences import eligibility
from enishi.sequences.errors import RetryableSendError
from enishi.sequences.ledger import Ledger, MessageRef, line_retry_key
from enishi.sequences.spec import Step, StepPayload, StopCondition, next_due
from enishi.sequences.store import SequenceStore

EMAIL_COST_USD = Decimal("0.0001")  # SES outbound, per message


class SendErrorKind(Enum):
    NOT_SENT_RETRY = "not_sent_retry"
    AMBIGUOUS_RETRY = "ambiguous_retry"
    QUOTA = "quota"
    REJECTED = "rejected"


class SendError(Exception):
    def __init__(self, kind: SendErrorKind, detail: str = "") -> None:
        super().__init__(f"{kind.value}: {detail}")
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True)
class Outgoing:
    """One message ready for a channel adapter (already rendered by it from ``template`` + ``context``)."""

    channel: str
    to: str
    template: str
    context: dict[str, Any]
    message_key: str
    marketing: bool
    unsubscribe_url: str | None
    tags: dict[str, str]
    retry_key: str | None = None  # LINE


class Channels(Protocol):
    def send(self, message: Outgoing) -> str | None:
        """Render and send; the provider's message id. Raises ``SendError``."""


class ContextBuilder(Protocol):
    def __call__(
        self,
        sequence: str,
        step: str,
        profile: Profile,
        trigger: dict[str, Any],
        unsubscribe_url: str | None,
        marketing: bool,
    ) -> dict[str, Any]: ...


@dataclass
class Deps:
    store: SequenceStore
    ledger: Ledger
    channels: Channels
    policy: eligibility.Policy
    build_context: ContextBuilder
    unsubscribe_url: Callable[[str, str, str], str | None]  # (shop, customer_id, channel) → link
    on_result: Callable[[str, dict[str, Any]], None] = lambda _seq, _result: None  # metrics hook


def ceil_second(value: datetime) -> datetime:
    value = clock.to_utc(value)
    if value.microsecond:
        value = value.replace(microsecond=0) + timedelta(seconds=1)
    return value


def _trigger_facts(state: dict[str, Any]) -> tuple[datetime, str | None, str | None]:
    trigger = state.get("trigger") or {}
    trigger_at = clock.parse_iso(state.get("trigger_at") or state["started_at"])
    order_id = trigger.get("order_id")
    checkout_token = trigger.get("checkout_token")
    return (
        trigger_at,
        (str(order_id) if order_id else None),
        (str(checkout_token) if checkout_token else None),
    )


def run_step(payload: dict[str, Any], deps: Deps) -> dict[str, Any]:
    state: dict[str, Any] = dict(payload["state"])
    spec = StepPayload.model_validate(payload["step"])
    step = spec.step
    now = clock.now()
    shop, customer_id, sequence = state["shop"], state["customer_id"], spec.sequence
    trigger_at, order_id, checkout_token = _trigger_facts(state)
    message_key = keys.sequence_message_key(shop, customer_id, sequence, step.id, str(state["trigger_id"]))
    ref = MessageRef(
        shop, customer_id, message_key, sequence, step.id, str(state["trigger_id"]), step.marketing
    )

    profile = deps.store.get_profile(shop, customer_id)
    if profile is None:  # the profile consumer has not caught up yet: retry (with backoff) rather than drop
        raise RetryableSendError("profile not found yet")
    if profile.last_message is not None and profile.last_message.message_key == message_key:
        # this very message went out already (a replayed task): never let its own send defer or resend it
        return _finish(
            state,
            deps,
            sequence,
            "skipped",
            "already_sent",
            message_key,
            profile.last_message.channel,
            wait_until=_next_wait(spec, state, now),
        )
    checkout = (
        deps.store.get_checkout(shop, checkout_token)
        if checkout_token and StopCondition.CHECKOUT_COMPLETED in spec.stop_when
        else None
    )
    order = (
        deps.store.get_order(shop, order_id)
        if order_id and StopCondition.ORDER_CANCELLED in spec.stop_when
        else None
    )
    quota = profile.line is not None and profile.line.following and deps.store.line_quota_exhausted(shop, now)
    facts = eligibility.Facts(
        now=now,
        profile=profile,
        trigger_at=trigger_at,
        trigger_order_id=order_id,
        checkout=checkout,
        order=order,
        line_quota_exhausted=quota,
    )
    decision = eligibility.decide(facts, step, spec.stop_when, deps.policy)

    if decision.action == "defer":
        return _finish(
            state,
            deps,
            sequence,
            "defer",
            decision.reason,
            message_key,
            decision.channel,
            wait_until=ceil_second(decision.not_before or now),
        )
    if decision.action in ("stop", "skip"):
        deps.ledger.record_skip(ref, reason=decision.reason or decision.action, now=now)
        action = "stop" if decision.action == "stop" else "skipped"
        return _finish(
            state,
            deps,
            sequence,
            action,
            decision.reason,
            message_key,
            None,
            wait_until=_next_wait(spec, state, now),
        )

    trigger = dict(state.get("trigger") or {})
    if checkout is not None:  # render the cart as it is now, not as it was when the sequence started
        trigger.update(_checkout_view(checkout))
    result = _send(ref, decision, profile, trigger, step, deps, now)
    if result[0] == "defer":
        return _finish(
            state,
            deps,
            sequence,
            "defer",
            result[1],
            message_key,
            result[2],
            wait_until=ceil_second(result[3] or now),
        )
    return _finish(
        state,
        deps,
        sequence,
        result[0],
        result[1],
        message_key,
        result[2],
        wait_until=_next_wait(spec, state, now),
    )


def _next_wait(spec: StepPayload, state: dict[str, Any], now: datetime) -> datetime:
    if spec.next is None:
        return now
    started = clock.parse_iso(state["started_at"])
    return ceil_second(next_due(spec.next, trigger_at=started, now=now))


def _finish(
    state: dict[str, Any],
    deps: Deps,
    sequence: str,
    action: str,
    reason: str | None,
    message_key: str,
    channel: str | None,
    *,
    wait_until: datetime,
) -> dict[str, Any]:
    result = {"action": action, "reason": reason, "message_key": message_key, "channel": channel}
    deps.on_result(sequence, result)
    return {**state, "wait_until": clock.iso_z(wait_until), "result": result}


def _checkout_view(checkout: Any) -> dict[str, Any]:
    view: dict[str, Any] = {}
    if checkout.items:
        view["line_items"] = [i.model_dump(mode="json") for i in checkout.items]
    if checkout.total is not None:
        view["total"] = str(checkout.total)
    if checkout.recovery_url:
        view["recovery_url"] = checkout.recovery_url
    return view


def _recipient(profile: Profile, channel: str) -> tuple[str, str | None]:
    if channel == "line":
        assert profile.line is not None
        return profile.line.user_id, None
    assert profile.email is not None
    return profile.email, profile.email_hash or keys.email_hash(profile.email)


def _send(
    ref: MessageRef,
    decision: eligibility.Decision,
    profile: Profile,
    trigger: dict[str, Any],
    step: Step,
    deps: Deps,
    now: datetime,
) -> tuple[str, str | None, str | None, datetime | None]:
    """(action, reason, channel, defer_until)."""
    channel = decision.channel or "email"
    to, recipient_hash = _recipient(profile, channel)
    claim = deps.ledger.claim(ref, channel=channel, recipient_hash=recipient_hash, now=now)
    if not claim.won:
        if claim.resumable_line:
            channel = "line"
            to, recipient_hash = _recipient(profile, channel)
        else:
            status = claim.existing_status
            reason = "already_sent" if status == "sent" else f"already_{status}"
            return "skipped", reason, (claim.existing or {}).get("channel"), None
    while True:
        try:
            provider_id = _deliver(ref, profile, trigger, step, channel, to, deps)
        except SendError as err:
            if err.kind is SendErrorKind.NOT_SENT_RETRY:
                deps.ledger.release(ref)
                raise RetryableSendError(f"{channel}: {err.detail}") from err
            if err.kind is SendErrorKind.AMBIGUOUS_RETRY:
                if channel != "line":  # an email that may have gone out is never sent again (at most once)
                    return "skipped", "ambiguous_not_resent", channel, None
                raise RetryableSendError(f"line: {err.detail}") from err
            if err.kind is SendErrorKind.QUOTA:
                deps.store.set_line_quota_exhausted(ref.shop, now)
                if decision.fallback == "email":
                    channel = "email"
                    to, recipient_hash = _recipient(profile, channel)
                    deps.ledger.switch_channel(ref, channel=channel, recipient_hash=recipient_hash)
                    continue
                deps.ledger.release(ref)
                return "defer", eligibility.DEFER_LINE_QUOTA, "line", eligibility.first_of_next_month_jst(now)
            deps.ledger.mark_failed(ref, reason=f"{channel}_rejected", now=now)
            return "skipped", "send_failed", channel, None
        break
    deps.ledger.mark_sent(
        ref, provider_message_id=provider_id, now=now, cost_usd=EMAIL_COST_USD if channel == "email" else None
    )
    deps.store.record_send(
        profile,
        last_message={
            "message_key": ref.message_key,
            "sequence": ref.sequence,
            "step": ref.step,
            "channel": channel,
            "sent_at": clock.iso_z(now),
        },
        marketing=step.marketing,
        now=now,
    )
    return "sent", None, channel, None


def _deliver(
    ref: MessageRef, profile: Profile, trigger: dict[str, Any], step: Step, channel: str, to: str, deps: Deps
) -> str | None:
    unsubscribe = deps.unsubscribe_url(ref.shop, ref.customer_id, channel) if step.marketing else None
    context = deps.build_context(ref.sequence, step.id, profile, trigger, unsubscribe, step.marketing)
    message = Outgoing(
        channel=channel,
        to=to,
        template=step.template,
        context=context,
        message_key=ref.message_key,
        marketing=step.marketing,
        unsubscribe_url=unsubscribe,
        # the feedback function finds the message record from these (feedback/tags.py names)
        tags={
            "shop": ref.shop,
            "customer": ref.customer_id,
            "sequence": ref.sequence,
            "step": ref.step,
            "message_key": ref.message_key,
        },
        retry_key=line_retry_key(ref.message_key) if channel == "line" else None,
    )
    return deps.channels.send(message)


__all__ = ["Channels", "Deps", "Outgoing", "SendError", "SendErrorKind", "run_step", "ceil_second"]
