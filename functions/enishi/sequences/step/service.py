"""One step of a sequence, end to end: read → decide → claim → compose → send → record → next state.

``run_step(payload, deps)`` is what the step λ calls (``step/handler.py`` only builds ``deps`` once per cold
start). Payload (docs/internals.md): ``{"execution", "state": <execution state>, "step": StepPayload}``. Returns a
``StepOutcome``: the typed ``StepResult`` (``action`` ``sent`` | ``skipped`` | ``defer`` | ``stop``, ``reason``,
``message_key``, ``channel``) and the new execution state for the state machine — the input state with
``wait_until`` (UTC ``Z``) and ``result`` (the state machine's Choice reads ``result.action``).

Everything goes down from here: the decisions are pure (``domain/eligibility.py``, ``domain/step.py``), the I/O
goes through ports (``adapters/store.py``, ``adapters/ledger.py``, the ``Composer`` and ``Channels`` of
``domain/messages.py``); nothing calls back into the handler.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from enishi import clock, keys
from enishi.profiles.items import CheckoutItem, OrderItem
from enishi.profiles.model import Profile
from enishi.sequences.adapters.ledger import Ledger
from enishi.sequences.adapters.store import SequenceStore
from enishi.sequences.domain import eligibility
from enishi.sequences.domain.cap import CapClaim
from enishi.sequences.domain.errors import RetryableSendError
from enishi.sequences.domain.ledger import MessageRef
from enishi.sequences.domain.messages import (
    Channels,
    Composer,
    HeldSend,
    OptOutLinkBroken,
    SendError,
    SendHeld,
    outgoing,
)
from enishi.sequences.domain.spec import Step, StepPayload, StopCondition, as_sent, next_due
from enishi.sequences.domain.step import (
    EMAIL_COST_USD,
    SKIP_NO_PROFILE,
    StepOutcome,
    StepResult,
    Verdict,
    after_decision,
    already_claimed,
    ceil_second,
    checkout_view,
    deferred,
    order_view,
    outcome,
    recipient,
    send_error_action,
    throttled,
    trigger_facts,
    wait_for_profile,
)


def _nobody_holds(held: HeldSend) -> None:
    raise RuntimeError("a channel held a message, but no collector was given (Deps.on_held)")


@dataclass
class Deps:
    store: SequenceStore
    ledger: Ledger
    channels: Channels
    policy: eligibility.Policy
    messages: Composer  # context + opt-out link of one message (adapters/messages.MessageComposer)
    on_result: Callable[[str, StepResult], None] = lambda _seq, _result: None  # metrics hook
    on_held: Callable[[HeldSend], None] = field(default=_nobody_holds)  # a batching channel's collector


@dataclass(frozen=True)
class _Run:
    """The step being run: its execution state, its spec, the time, and the message it is about.

    ``step`` is the step as this customer gets it: with their A/B variant's overrides applied (``as_sent``, a pure
    function of shop, customer and step — the same on every retry and redelivery); ``ref.variant`` names it."""

    state: dict[str, Any]
    spec: StepPayload
    now: datetime
    ref: MessageRef
    trigger_at: datetime
    order_id: str | None
    checkout_token: str | None
    step: Step

    @classmethod
    def of(cls, payload: dict[str, Any]) -> _Run:
        state: dict[str, Any] = dict(payload["state"])
        spec = StepPayload.model_validate(payload["step"])
        shop, customer_id, trigger_id = state["shop"], state["customer_id"], str(state["trigger_id"])
        step, variant = (
            (spec.step, spec.variant)
            if spec.variant is not None
            else as_sent(spec.step, shop, customer_id, spec.sequence)
        )
        message_key = keys.sequence_message_key(shop, customer_id, spec.sequence, spec.step.id, trigger_id)
        ref = MessageRef(
            shop, customer_id, message_key, spec.sequence, spec.step.id, trigger_id, step.marketing, variant
        )
        trigger_at, order_id, checkout_token = trigger_facts(state)
        return cls(state, spec, clock.now(), ref, trigger_at, order_id, checkout_token, step)

    def next_wait(self) -> datetime:
        """When the next step is due — this customer's variant of it decides its delay and send hour."""
        if self.spec.next is None:
            return self.now
        started = clock.parse_iso(self.state["started_at"])
        following, _ = as_sent(self.spec.next, self.ref.shop, self.ref.customer_id, self.spec.sequence)
        return ceil_second(next_due(following, trigger_at=started, now=self.now))

    def unassigned(self) -> MessageRef:
        """The ref of a record written before any variant was assigned (a stopped sequence, the holdout)."""
        return replace(self.ref, variant=None)


def run_step(payload: dict[str, Any], deps: Deps) -> StepOutcome:
    """One step; a DynamoDB throttle becomes ``RetryableSendError`` (the machine retries with backoff): before the
    send nothing went out, after it the ledger's ``sending`` record keeps a retry from sending an email again."""
    try:
        run = _Run.of(payload)
        return _finish(run, _verdict(run, deps), deps)
    except RetryableSendError:
        raise
    except Exception as err:
        if throttled(err):
            raise RetryableSendError(f"dynamodb: {err.response['Error']['Code']}") from err  # type: ignore[attr-defined]
        raise


def _finish(run: _Run, verdict: Verdict, deps: Deps) -> StepOutcome:
    result = StepResult(verdict.action, verdict.reason, run.ref.message_key, verdict.channel)
    deps.on_result(run.spec.sequence, result)
    wait_until = run.next_wait() if verdict.wait_until is None else verdict.wait_until
    return outcome(run.state, result, wait_until, verdict.profile_waits)


def _verdict(run: _Run, deps: Deps) -> Verdict:
    ref, now = run.ref, run.now
    profile = deps.store.get_profile(ref.shop, ref.customer_id)
    if profile is None:
        # the event that creates the profile has not been applied yet: wait for it, never drop
        waiting = wait_for_profile(run.state, now)
        if waiting.action == "stop":
            deps.ledger.record_skip(run.unassigned(), reason=SKIP_NO_PROFILE, now=now)
        return waiting
    if profile.last_message is not None and profile.last_message.message_key == ref.message_key:
        # this very message went out already (a replayed task): never let its own send defer or resend it
        return Verdict("skipped", "already_sent", profile.last_message.channel)
    checkout, order = _trigger_items(run, deps)
    decision = eligibility.decide(
        _facts(run, deps, profile, checkout, order),
        run.step,
        run.spec.stop_when,
        deps.policy,
        sequence=run.spec.sequence,
        holdout_percent=run.spec.holdout_percent,
        holdout=run.spec.holdout,
    )
    verdict = after_decision(decision, now)
    if verdict is None:
        return _Send(run, deps, profile, decision).send(_send_trigger(run, deps, checkout, order))
    if verdict.action != "defer":
        # a variant is assigned after the stop conditions and the holdout: their records carry none; a held-out
        # message keeps the channel it would have gone by (the report's control group by channel)
        assigned = decision.action != "stop" and decision.reason != eligibility.SKIP_HOLDOUT
        skipped = ref if assigned else run.unassigned()
        deps.ledger.record_skip(
            skipped, reason=decision.reason or decision.action, now=now, channel=decision.channel
        )
    return verdict


def _trigger_items(run: _Run, deps: Deps) -> tuple[CheckoutItem | None, OrderItem | None]:
    """The trigger's checkout and order as stored now, when a stop condition of the sequence reads them."""
    shop, stop_when = run.ref.shop, run.spec.stop_when
    checkout = (
        deps.store.get_checkout(shop, run.checkout_token)
        if run.checkout_token and StopCondition.CHECKOUT_COMPLETED in stop_when
        else None
    )
    order = (
        deps.store.get_order(shop, run.order_id)
        if run.order_id and StopCondition.ORDER_CANCELLED in stop_when
        else None
    )
    return checkout, order


def _facts(
    run: _Run, deps: Deps, profile: Profile, checkout: CheckoutItem | None, order: OrderItem | None
) -> eligibility.Facts:
    following = profile.line is not None and profile.line.following
    return eligibility.Facts(
        now=run.now,
        profile=profile,
        trigger_at=run.trigger_at,
        trigger_order_id=run.order_id,
        checkout=checkout,
        order=order,
        line_quota_exhausted=following and deps.store.line_quota_exhausted(run.ref.shop, run.now),
        holds_cap=profile.marketing_cap_key == run.ref.message_key,
    )


def _send_trigger(
    run: _Run, deps: Deps, checkout: CheckoutItem | None, order: OrderItem | None
) -> dict[str, Any]:
    """The trigger data the message renders."""
    trigger = dict(run.state.get("trigger") or {})
    if checkout is not None:  # render the cart as it is now, not as it was when the sequence started
        trigger.update(checkout_view(checkout))
    if run.order_id and not trigger.get("line_items") and not trigger.get("order_name"):
        # started from order.recorded, which the profile consumer publishes just before it writes the order item:
        # the starter may not have seen the order's name and items yet — read them now
        recorded = order or deps.store.get_order(run.ref.shop, run.order_id)
        if recorded is not None:
            trigger.update(order_view(recorded))
    return trigger


class _Send:
    """One send under the ledger's claim and the frequency cap (docs/internals.md "Message records")."""

    def __init__(self, run: _Run, deps: Deps, profile: Profile, decision: eligibility.Decision) -> None:
        self.deps, self.profile, self.decision = deps, profile, decision
        self.ref, self.now, self.step = run.ref, run.now, run.step
        self.channel = decision.channel or "email"
        self.claim_won = False
        self.cap: CapClaim | None = None

    def send(self, trigger: dict[str, Any]) -> Verdict:
        return self._claim() or self._take_cap() or self._deliver(trigger)

    def _claim(self) -> Verdict | None:
        _, recipient_hash = recipient(self.profile, self.channel)
        claim = self.deps.ledger.claim(
            self.ref, channel=self.channel, recipient_hash=recipient_hash, now=self.now
        )
        self.claim_won = claim.won
        if claim.won:
            return None
        if claim.resumable_line:  # an ambiguous LINE push: resending with the same retry key is safe
            self.channel = "line"
            return None
        return already_claimed(claim.existing)

    def _take_cap(self) -> Verdict | None:
        """Marketing: the frequency cap, atomically — taken before the send, like the ledger's claim."""
        if not self.step.marketing:
            return None
        try:
            self.cap = self.deps.store.claim_cap(
                self.profile, self.ref.message_key, now=self.now, cap=self.deps.policy.frequency_cap
            )
        except Exception:  # throttled (→ retried): give the ledger claim back so the retry can send
            self._release_claim()
            raise
        if self.cap.won:
            return None
        # another marketing message took it meanwhile: wait until it lapses (deferred, not skipped)
        self._release_claim()
        return deferred(eligibility.DEFER_FREQUENCY_CAP, self.channel, self.cap.lapses_at, self.now)

    def _release_claim(self) -> None:
        if self.claim_won:
            self.deps.ledger.release(self.ref)

    def _give_back_cap(self) -> None:
        if self.cap is not None and self.cap.won:
            self.deps.store.release_cap(self.profile, self.ref.message_key, self.cap)

    def _deliver(self, trigger: dict[str, Any]) -> Verdict:
        while True:
            try:
                provider_id = self._send_once(trigger)
            except SendHeld:  # a batching channel (a campaign's LINE multicast) sends it later
                return self._hold()
            except (
                OptOutLinkBroken
            ) as broken:  # nothing was sent: never a marketing message whose opt-out fails
                self._give_back_cap()
                self.deps.ledger.mark_failed(self.ref, reason=broken.reason, now=self.now)
                return Verdict("skipped", broken.reason, self.channel)
            except SendError as err:
                verdict = self._after_error(err)
                if verdict is None:  # LINE quota: falls back to email
                    continue
                return verdict
            return self._record(provider_id)

    def _hold(self) -> Verdict:
        """Claim and cap stay taken; the holder ends the message through exactly one of the ``HeldSend`` ends."""

        def complete(provider_id: str | None) -> None:  # as a direct send ends, its metrics included
            verdict = self._record(provider_id)
            result = StepResult(verdict.action, None, self.ref.message_key, verdict.channel)
            self.deps.on_result(self.ref.sequence, result)

        def give_back() -> None:
            self._give_back_cap()
            self.deps.ledger.release(self.ref)

        def fail(reason: str) -> None:
            self._give_back_cap()
            self.deps.ledger.mark_failed(self.ref, reason=reason, now=self.now)
            self.deps.on_result(
                self.ref.sequence, StepResult("skipped", reason, self.ref.message_key, "line")
            )

        self.deps.on_held(HeldSend(self.ref, not self.claim_won, complete, give_back, fail))
        return Verdict("held", None, self.channel)

    def _send_once(self, trigger: dict[str, Any]) -> str | None:
        to, _ = recipient(self.profile, self.channel)
        composed = self.deps.messages.compose(self.ref, self.step, self.profile, trigger, self.channel)
        return self.deps.channels.send(outgoing(self.ref, self.step, self.channel, to, composed))

    def _after_error(self, err: SendError) -> Verdict | None:
        action = send_error_action(err.kind, self.channel)
        if action == "release_and_retry":
            self._give_back_cap()
            self.deps.ledger.release(self.ref)
        if action in ("release_and_retry", "retry"):
            raise RetryableSendError(f"{self.channel}: {err.detail}") from err
        if action == "skip_ambiguous":
            return Verdict("skipped", "ambiguous_not_resent", self.channel)
        if action == "quota":
            return self._quota()
        self._give_back_cap()
        self.deps.ledger.mark_failed(self.ref, reason=f"{self.channel}_rejected", now=self.now)
        return Verdict("skipped", "send_failed", self.channel)

    def _quota(self) -> Verdict | None:
        """LINE's monthly limit: every send this month goes by the fallback (email), or waits for next month."""
        self.deps.store.set_line_quota_exhausted(self.ref.shop, self.now)
        if self.decision.fallback == "email":
            self.channel = "email"
            _, recipient_hash = recipient(self.profile, self.channel)
            self.deps.ledger.switch_channel(self.ref, channel=self.channel, recipient_hash=recipient_hash)
            return None
        self._give_back_cap()
        self.deps.ledger.release(self.ref)
        return deferred(
            eligibility.DEFER_LINE_QUOTA, "line", eligibility.first_of_next_month_jst(self.now), self.now
        )

    def _record(self, provider_id: str | None) -> Verdict:
        ref, channel, now = self.ref, self.channel, self.now
        cost = EMAIL_COST_USD if channel == "email" else None
        self.deps.ledger.mark_sent(ref, provider_message_id=provider_id, now=now, cost_usd=cost)
        last_message = {
            "message_key": ref.message_key,
            "sequence": ref.sequence,
            "step": ref.step,
            "channel": channel,
            "sent_at": clock.iso_z(now),
        }
        self.deps.store.record_send(
            self.profile, last_message=last_message, marketing=self.step.marketing, now=now
        )
        return Verdict("sent", None, channel)


__all__ = ["Deps", "StepOutcome", "StepResult", "run_step"]
