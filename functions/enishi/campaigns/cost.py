"""What a campaign costs (``enishi campaign preview``, the bench): SES + LINE + AWS orchestration + the offer. Pure.

Prices are ``enishi.analytics.cost``'s (USD, Tokyo, on-demand). Orchestration counts come from the Campaign machine's
shape and the send λ's measured work per recipient (``bench/bench_campaign.py`` measures them on the local stack):

- Step Functions (Standard): ``RUN_TRANSITIONS`` for the parent (Plan, Choice, Wait, Map, Succeed + the map run)
  and ``TRANSITIONS_PER_BATCH`` per child execution (its one Task; start and end are not billed).
- Lambda: one plan invocation, one send invocation per batch; billed duration = the paced time of the batch
  (a worker sleeps to its share of the SES send rate after each email: that sleep is billed; a LINE message
  bills its work only) at the send λ's memory.
- DynamoDB on demand: reads and writes per recipient (profile read, cancel flag per batch, ledger claim and
  mark, cap claim, profile update), measured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from enishi.analytics import cost as prices
from enishi.campaigns.pacing import SECONDS_PER_SEND, Pacing
from enishi.channels.line import MAX_MULTICAST

RUN_TRANSITIONS = 6
TRANSITIONS_PER_BATCH = 1
SEND_LAMBDA_GB = 0.25
READS_PER_RECIPIENT = 2.0  # measured by bench_campaign: 1.1 (email), 2.2 (LINE); the preview rounds up
WRITES_PER_RECIPIENT = 4.0  # ledger claim, cap claim, ledger sent, profile last_message; measured


@dataclass(frozen=True)
class Usage:
    recipients: int  # treated (held-out recipients only get a skip record: one write)
    holdout: int
    emails: int
    lines: int
    batches: int
    send_seconds: float  # the send λ's billed seconds, all batches
    reads_per_recipient: float = READS_PER_RECIPIENT
    writes_per_recipient: float = WRITES_PER_RECIPIENT
    named_requests: int = (
        0  # LINE multicast: one more write per LINE recipient (its record names the request)
    )


@dataclass(frozen=True)
class Estimate:
    ses_usd: float
    line_usd: float
    step_functions_usd: float
    lambda_usd: float
    dynamodb_usd: float
    offer_jpy_per_redemption: int

    @property
    def orchestration_usd(self) -> float:
        return self.step_functions_usd + self.lambda_usd + self.dynamodb_usd

    @property
    def total_usd(self) -> float:
        return self.ses_usd + self.line_usd + self.orchestration_usd

    def as_dict(self) -> dict[str, float | int]:
        return {
            "ses_usd": round(self.ses_usd, 6),
            "line_usd": round(self.line_usd, 6),
            "orchestration_usd": round(self.orchestration_usd, 6),
            "step_functions_usd": round(self.step_functions_usd, 6),
            "lambda_usd": round(self.lambda_usd, 6),
            "dynamodb_usd": round(self.dynamodb_usd, 6),
            "total_usd": round(self.total_usd, 6),
            "offer_jpy_per_redemption": self.offer_jpy_per_redemption,
        }


def usage(
    recipients: int, holdout: int, emails: int, lines: int, pace: Pacing, *, multicast: bool = False
) -> Usage:
    """The send λ bills each email's share of the SES rate (it sleeps to it) and each LINE message's work
    (``pacing.SECONDS_PER_SEND``: LINE is not paced to SES's rate); ``multicast``: each LINE record also names
    its request (one more write)."""
    treated = recipients - holdout
    return Usage(
        recipients=treated,
        holdout=holdout,
        emails=emails,
        lines=lines,
        batches=pace.batches(recipients),
        send_seconds=(treated - lines) * pace.seconds_per_message + lines * SECONDS_PER_SEND,
        named_requests=lines if multicast else 0,
    )


def line_requests(lines: int, batches: int, *, multicast: bool, variants: int = 1) -> int:
    """LINE API requests: one push per message; multicast: per send batch, ≤ 500 identical messages each (a batch's
    LINE recipients spread evenly; one rendering per variant)."""
    if not multicast or not lines:
        return lines
    batches = max(1, batches)
    per_batch_variant = math.ceil(lines / batches / max(1, variants))
    return batches * max(1, variants) * math.ceil(per_batch_variant / MAX_MULTICAST)


def estimate(u: Usage, *, line_plan: str = "light", coupon_value_jpy: int = 0) -> Estimate:
    transitions = RUN_TRANSITIONS + TRANSITIONS_PER_BATCH * u.batches
    invocations = 1 + u.batches
    return Estimate(
        ses_usd=u.emails * prices.PRICE_SES_EMAIL,
        line_usd=u.lines * prices.line_per_message_usd(line_plan),
        step_functions_usd=transitions * prices.PRICE_SFN_TRANSITION,
        lambda_usd=invocations * prices.PRICE_LAMBDA_REQUEST
        + u.send_seconds * SEND_LAMBDA_GB * prices.PRICE_LAMBDA_GB_SECOND,
        dynamodb_usd=u.recipients
        * (u.reads_per_recipient * prices.PRICE_DDB_READ + u.writes_per_recipient * prices.PRICE_DDB_WRITE)
        + (u.holdout + u.named_requests) * prices.PRICE_DDB_WRITE,
        offer_jpy_per_redemption=coupon_value_jpy,
    )
