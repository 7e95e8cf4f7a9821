"""One batch of a campaign's recipients, each through the sequence step's own checks and exactly-once ledger.

The Distributed Map hands the send λ ``{"Items": [<recipient line>…], "BatchInput": <Batch>}``. Each recipient
becomes one step of a one-step "sequence" named ``campaign-<id>`` (``keys.campaign_sequence``) whose trigger id is
the campaign id, and runs through ``sequences.step.service.run_step``: consent, suppression, quiet hours, the
shared frequency cap, the LINE quota, the ledger's claim (message key = campaign + customer, so a retried run or a
re-driven batch never messages anyone twice), the composer (opt-out link) and the channels. Nothing is copied.

A held-out recipient (drawn when the list was made) goes through the same checks and gets a ``skipped`` record with
reason ``holdout`` and the channel it would have gone by only where a message would have been sent at that moment
(the report's control group: the same filters as the treated group, issue 12). A recipient
the cap defers is skipped with reason ``frequency_cap`` (a campaign is one-off: it does not queue a message for
later); one the quiet hours defer (the run reached 21:00) gets no record, so ``enishi campaign start`` the next
morning reaches exactly them. The batch reads the run's cancel flag first and sends nothing once it is set.
Pacing: each email takes at least ``seconds_per_message`` (the map's concurrency ÷ the SES send rate); a LINE
message does not wait for SES's rate (LINE allows 2,000 pushes a second).
``line_delivery: multicast``: the batch's LINE messages go out after the loop, ≤ 500 identical ones per request
(``campaigns/multicast.py``: the trade-off, and how a retried request or a re-driven batch stays exactly once).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from enishi import clock, keys
from enishi.campaigns.multicast import MAX_RECIPIENTS, Holding, Multicast, aggregation_unit
from enishi.campaigns.recipients import Recipient
from enishi.sequences.domain.ledger import MessageRef
from enishi.sequences.domain.spec import ChannelPolicy, Step, StepPayload
from enishi.sequences.domain.step import StepResult
from enishi.sequences.step.service import Deps as StepDeps
from enishi.sequences.step.service import run_step

REASON_HOLDOUT = "holdout"
REASON_CANCELLED = "cancelled"
HELD = "held"  # a LINE message held for the batch's multicast (counted by its outcome after the flush)
RECORDED_DEFERRALS = frozenset({"frequency_cap", "line_quota"})  # a one-off send does not wait for these


class Batch(BaseModel):
    """The Distributed Map's ``BatchInput``: what every item of the run shares."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    shop: str
    campaign_id: str
    template: str
    channel: ChannelPolicy = ChannelPolicy.PREFER_LINE
    variant_templates: dict[str, str] = Field(default_factory=dict)
    variant_subjects: dict[str, str] = Field(default_factory=dict)
    started_at: str  # the run's start (iso Z): the trigger time of its messages
    seconds_per_message: float = Field(0.0, ge=0)
    line_delivery: Literal["push", "multicast"] = "push"  # multicast: campaigns/multicast.py

    def step(self, variant: str | None, holdout: bool = False) -> StepPayload:
        template = self.variant_templates.get(variant or "", self.template)
        subject = self.variant_subjects.get(variant or "")
        step = Step(
            id=keys.CAMPAIGN_STEP_ID, template=template, channel=self.channel, marketing=True, subject=subject
        )
        # the campaign's control group was drawn when the recipient list was made (scope ``campaign:<id>``): the
        # step applies that one (after its checks) and must not draw a second from the shop's sequence default; the
        # variant too (the step records it on the message record, like a sequence step's)
        return StepPayload(
            sequence=keys.campaign_sequence(self.campaign_id),
            index=0,
            step=step,
            holdout_percent=0,
            variant=variant,
            holdout=holdout,
        )

    def ref(self, customer_id: str, variant: str | None = None) -> MessageRef:
        return MessageRef(
            self.shop,
            customer_id,
            keys.campaign_message_key(self.shop, customer_id, self.campaign_id),
            keys.campaign_sequence(self.campaign_id),
            keys.CAMPAIGN_STEP_ID,
            self.campaign_id,
            True,
            variant,
        )

    def payload(self, r: Recipient) -> dict[str, Any]:
        state = {
            "shop": self.shop,
            "customer_id": r.customer_id,
            "trigger_id": self.campaign_id,
            "started_at": self.started_at,
            "trigger": {"campaign": self.campaign_id, "variant": r.variant},
        }
        return {
            "execution": f"campaign:{self.campaign_id}",
            "state": state,
            "step": self.step(r.variant, r.holdout).to_json(),
        }


@dataclass
class Deps:
    step: StepDeps  # the sequence step's own store, ledger, channels, policy and composer
    cancelled: Callable[[str, str], bool]  # (shop, campaign id) → the run's cancel flag is set
    sleep: Callable[[float], None] = (
        clock.pause
    )  # time.sleep / time.monotonic in Lambda; virtual time locally
    monotonic: Callable[[], float] = clock.monotonic
    now: Callable[[], datetime] = field(default=clock.now)
    multicast: Multicast | None = None  # Delivery.multicast (line_delivery: multicast)
    multicast_size: int = MAX_RECIPIENTS  # user ids per request (LINE's 500; smaller in tests)


def send_batch(event: dict[str, Any], deps: Deps) -> dict[str, int]:
    """Counts by outcome (``sent``, ``skipped:<reason>``, ``deferred:<reason>``, ``holdout``, ``cancelled``)."""
    given = event["BatchInput"]
    batch = Batch.model_validate(given.get("batch", given))  # the machine nests it: {"batch": <Batch>}
    recipients = [Recipient.of(item) for item in event.get("Items") or ()]
    if deps.cancelled(batch.shop, batch.campaign_id):
        return {REASON_CANCELLED: len(recipients)}
    multicast = batch.line_delivery == "multicast"
    holding = Holding(deps.step.channels, deps.step.ledger, deps.multicast_size) if multicast else None
    step = deps.step if holding is None else holding.step_deps(deps.step)
    counts: Counter[str] = Counter()
    pace = _Pace(batch.seconds_per_message, deps)
    for r in recipients:
        counts[pace.after(*_run(batch, r, deps, step))] += 1
    if holding is not None:
        counts.update(_flush(batch, {r.customer_id: r for r in recipients}, holding, deps, pace))
        del counts[HELD]
    return dict(counts)


class _Pace:
    """Each email waits for its due time (one every ``seconds_per_message``: the worker's share of SES's rate);
    a LINE message does not (LINE is not SES)."""

    def __init__(self, seconds_per_message: float, deps: Deps) -> None:
        self._every, self._deps = seconds_per_message, deps
        self._due = deps.monotonic()

    def after(self, outcome: str, channel: str | None) -> str:
        if outcome == "sent" and channel == "email" and self._every:
            self._due += self._every
            wait = self._due - self._deps.monotonic()
            if wait > 0:
                self._deps.sleep(wait)
        return outcome


def _flush(
    batch: Batch, by_customer: dict[str, Recipient], holding: Holding, deps: Deps, pace: _Pace
) -> Counter[str]:
    """The held LINE messages as multicasts; after LINE's monthly limit, those recipients run again through the
    plain step (the month's flag set: email fallback — paced like the batch's other emails — or a ``line_quota``
    skip)."""
    if deps.multicast is None:
        raise RuntimeError("line_delivery: multicast needs Deps.multicast (Delivery.multicast)")

    def on_quota(refs: list[MessageRef]) -> Counter[str]:
        deps.step.store.set_line_quota_exhausted(batch.shop, deps.now())
        return Counter(
            pace.after(*_run(batch, by_customer[ref.customer_id], deps, deps.step)) for ref in refs
        )

    return holding.flush(deps.multicast, aggregation_unit(batch.campaign_id), on_quota)


def _run(batch: Batch, r: Recipient, deps: Deps, step: StepDeps) -> tuple[str, str | None]:
    """One recipient: its outcome and the channel of its message (None: none was sent). A held-out recipient goes
    through the step's checks too and is held out only where it would have been sent (``StepPayload.holdout``)."""
    result = run_step(batch.payload(r), step).result
    return _outcome(batch, r, deps, result), result.channel if result.action == "sent" else None


def _outcome(batch: Batch, r: Recipient, deps: Deps, result: StepResult) -> str:
    if result.action in ("sent", HELD):
        return result.action
    if result.action == "skipped" and result.reason == REASON_HOLDOUT:
        return REASON_HOLDOUT
    if result.action == "defer":
        if result.reason in RECORDED_DEFERRALS:
            ref = batch.ref(r.customer_id, r.variant)
            deps.step.ledger.record_skip(ref, reason=str(result.reason), now=deps.now())
            return f"skipped:{result.reason}"
        return f"deferred:{result.reason}"
    return f"skipped:{result.reason}"
