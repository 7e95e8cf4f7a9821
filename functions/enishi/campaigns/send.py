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
Pacing: each message takes at least ``seconds_per_message`` (the map's concurrency ÷ the SES send rate).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from enishi import clock, keys
from enishi.campaigns.recipients import Recipient
from enishi.sequences.domain.ledger import MessageRef
from enishi.sequences.domain.spec import ChannelPolicy, Step, StepPayload
from enishi.sequences.step.service import Deps as StepDeps
from enishi.sequences.step.service import run_step

REASON_HOLDOUT = "holdout"
REASON_CANCELLED = "cancelled"
RECORDED_DEFERRALS = frozenset({"frequency_cap", "line_quota"})  # a one-off send does not wait for these


class Batch(BaseModel):
    """The Distributed Map's ``BatchInput``: what every item of the run shares."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    shop: str
    campaign_id: str
    template: str
    channel: ChannelPolicy = ChannelPolicy.PREFER_LINE
    variant_templates: dict[str, str] = Field(default_factory=dict)
    started_at: str  # the run's start (iso Z): the trigger time of its messages
    seconds_per_message: float = Field(0.0, ge=0)

    def step(self, variant: str | None, holdout: bool = False) -> StepPayload:
        template = self.variant_templates.get(variant or "", self.template)
        step = Step(id=keys.CAMPAIGN_STEP_ID, template=template, channel=self.channel, marketing=True)
        # the campaign's control group was drawn when the recipient list was made (scope ``campaign:<id>``): the
        # step applies that one (after its checks) and must not draw a second from the shop's sequence default
        return StepPayload(
            sequence=keys.campaign_sequence(self.campaign_id),
            index=0,
            step=step,
            holdout_percent=0,
            holdout=holdout,
        )

    def ref(self, customer_id: str) -> MessageRef:
        return MessageRef(
            self.shop,
            customer_id,
            keys.campaign_message_key(self.shop, customer_id, self.campaign_id),
            keys.campaign_sequence(self.campaign_id),
            keys.CAMPAIGN_STEP_ID,
            self.campaign_id,
            True,
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
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = field(default=clock.now)


def send_batch(event: dict[str, Any], deps: Deps) -> dict[str, int]:
    """Counts by outcome (``sent``, ``skipped:<reason>``, ``deferred:<reason>``, ``holdout``, ``cancelled``)."""
    given = event["BatchInput"]
    batch = Batch.model_validate(given.get("batch", given))  # the machine nests it: {"batch": <Batch>}
    recipients = [Recipient.of(item) for item in event.get("Items") or ()]
    if deps.cancelled(batch.shop, batch.campaign_id):
        return {REASON_CANCELLED: len(recipients)}
    counts: Counter[str] = Counter()
    due = deps.monotonic()
    for r in recipients:
        outcome = _one(batch, r, deps)
        counts[outcome] += 1
        if outcome == "sent" and batch.seconds_per_message:
            due += batch.seconds_per_message
            wait = due - deps.monotonic()
            if wait > 0:
                deps.sleep(wait)
    return dict(counts)


def _one(batch: Batch, r: Recipient, deps: Deps) -> str:
    result = run_step(batch.payload(r), deps.step).result
    if result.action == "sent":
        return "sent"
    if result.action == "skipped" and result.reason == REASON_HOLDOUT:
        return REASON_HOLDOUT
    if result.action == "defer":
        if result.reason in RECORDED_DEFERRALS:
            deps.step.ledger.record_skip(batch.ref(r.customer_id), reason=str(result.reason), now=deps.now())
            return f"skipped:{result.reason}"
        return f"deferred:{result.reason}"
    return f"skipped:{result.reason}"
