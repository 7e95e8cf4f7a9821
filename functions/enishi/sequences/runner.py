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
from enishi.sequences.store import CapClaim, SequenceStore

EMAIL_COST_USD = Decimal("0.0001")  # SES outbound, per message
PROFILE_WAIT_FIRST = timedelta(minutes=1)
PROFILE_WAIT_MAX = timedelta(hours=6)
PROFILE_WAIT_LIMIT = timedelta(
    days=3
)  # from started_at; then the sequence stops, recorded skipped "no_profile"
PROFILE_WAITS_KEY = "profile_waits"  # in the execution state: how often this execution waited for its profile
DEFER_NO_PROFILE = "profile_not_yet"
SKIP_NO_PROFILE = "no_profile"


class OptOutLinkBroken(Exception):
    """The opt-out link of a marketing message would not unsubscribe: the message is not sent (opt_out.py)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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
    # (link, shop, customer_id, channel) → None if the link unsubscribes this customer via /u/{token}, else why not
    check_opt_out: Callable[[str | None, str, str, str], str | None]
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


# DynamoDB error codes that mean "try again later" (after boto3's own retries): the step is retried by the machine
THROTTLING_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
    }
)


def throttled(err: BaseException) -> bool:
    """A DynamoDB throttle / transient error (botocore ``ClientError``, read without importing botocore)."""
    response = getattr(err, "response", None)
    code = (response or {}).get("Error", {}).get("Code") if isinstance(response, dict) else None
    return code in THROTTLING_CODES


def run_step(payload: dict[str, Any], deps: Deps) -> dict[str, Any]:
    """One step; a DynamoDB throttle becomes ``RetryableSendError`` (the machine retries with backoff): before the
    send nothing went out, after it the ledger's ``sending`` record keeps a retry from sending an email again."""
    try:
        return _run_step(payload, deps)
    except RetryableSendError:
        raise
    except Exception as err:
        if throttled(err):
            raise RetryableSendError(f"dynamodb: {err.response['Error']['Code']}") from err  # type: ignore[attr-defined]
        raise


def _run_step(payload: dict[str, Any], deps: Deps) -> dict[str, Any]:
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
    if (
        profile is None
    ):  # the event that creates the profile has not been applied yet: wait for it, never drop
        return _wait_for_profile(state, deps, sequence, message_key, ref, now)
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
        holds_cap=profile.marketing_cap_key == message_key,
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
    if order_id and not trigger.get("line_items") and not trigger.get("order_name"):
        # started from order.recorded, which the profile consumer publishes just before it writes the order item:
        # the starter may not have seen the order's name and items yet — read them now
        recorded = order or deps.store.get_order(shop, order_id)
        if recorded is not None:
            trigger.update(_order_view(recorded))
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


def profile_wait(waits: int) -> timedelta:
    """How long a step waits for a profile not written yet, after ``waits`` earlier waits: 1 min → 6 h."""
    return min(PROFILE_WAIT_FIRST * (4**waits), PROFILE_WAIT_MAX)


def _wait_for_profile(
    state: dict[str, Any], deps: Deps, sequence: str, message_key: str, ref: MessageRef, now: datetime
) -> dict[str, Any]:
    """Defer with a backoff (the profile consumer may be behind, or its event still on the way); give up — with a
    recorded reason and the ``StepStop`` metric — only after ``PROFILE_WAIT_LIMIT``."""
    waits = int(state.get(PROFILE_WAITS_KEY) or 0)
    started = clock.parse_iso(state["started_at"])  # not trigger_at: a win-back's trigger is 90 days old
    if clock.to_utc(now) - clock.to_utc(started) > PROFILE_WAIT_LIMIT:
        deps.ledger.record_skip(ref, reason=SKIP_NO_PROFILE, now=now)
        return _finish(state, deps, sequence, "stop", SKIP_NO_PROFILE, message_key, None, wait_until=now)
    result = _finish(
        state,
        deps,
        sequence,
        "defer",
        DEFER_NO_PROFILE,
        message_key,
        None,
        wait_until=ceil_second(clock.to_utc(now) + profile_wait(waits)),
    )
    result[PROFILE_WAITS_KEY] = waits + 1
    return result


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


def _order_view(order: Any) -> dict[str, Any]:
    view: dict[str, Any] = {}
    if order.order_name:
        view["order_name"] = order.order_name
    if order.items:
        view["line_items"] = [i.model_dump(mode="json") for i in order.items]
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
    cap: CapClaim | None = None
    if step.marketing:  # the frequency cap, atomically: taken before the send, like the ledger's claim
        try:
            cap = deps.store.claim_cap(profile, ref.message_key, now=now, cap=deps.policy.frequency_cap)
        except Exception:  # throttled (→ retried): give the ledger claim back so the retry can send
            if claim.won:
                deps.ledger.release(ref)
            raise
        if (
            not cap.won
        ):  # another marketing message took it meanwhile: wait until it lapses (deferred, not skipped)
            if claim.won:
                deps.ledger.release(ref)
            return "defer", eligibility.DEFER_FREQUENCY_CAP, channel, cap.lapses_at

    def give_back_cap() -> None:
        if cap is not None and cap.won:
            deps.store.release_cap(profile, ref.message_key, cap)

    while True:
        try:
            provider_id = _deliver(ref, profile, trigger, step, channel, to, deps)
        except OptOutLinkBroken as broken:  # nothing was sent: never a marketing message whose opt-out fails
            give_back_cap()
            deps.ledger.mark_failed(ref, reason=broken.reason, now=now)
            return "skipped", broken.reason, channel, None
        except SendError as err:
            if err.kind is SendErrorKind.NOT_SENT_RETRY:
                give_back_cap()
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
                give_back_cap()
                deps.ledger.release(ref)
                return "defer", eligibility.DEFER_LINE_QUOTA, "line", eligibility.first_of_next_month_jst(now)
            give_back_cap()
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
    if step.marketing:
        problem = deps.check_opt_out(unsubscribe, ref.shop, ref.customer_id, channel)
        if problem is not None:
            raise OptOutLinkBroken(problem)
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


__all__ = ["Channels", "Deps", "Outgoing", "SendError", "SendErrorKind", "ceil_second", "run_step"]
