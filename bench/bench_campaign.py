"""A campaign to 100k recipients: orchestration cost per message ÷ the SES price per email (goal ≤ 0.2×) and the
modelled time at a stated SES send rate (goal: within 5 % of recipients ÷ rate).

Measured (moto, in this process): the send batch's DynamoDB requests per recipient (by operation, through botocore's
event hooks on the real adapters) and its unpaced seconds per recipient, over ``--sample`` recipients of whom
``holdout_percent`` are held out. Modelled: the Campaign machine's transitions (its definition: 6 for the run, 1 per
child execution), the send λ's billed seconds (the paced duration: a worker sleeps to its share of the rate, and
that sleep is billed), at ``enishi.analytics.cost`` prices, for ``--recipients`` at ``--rate`` messages/second.

    python -m bench.bench_campaign [--recipients 100000] [--rate 14] [--sample 400]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

READS = {"GetItem", "Query"}
WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
NOON = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


class Channels:
    """Counts provider requests: one per push or email, one per multicast (and the recipients it names)."""

    def __init__(self) -> None:
        self.sent = 0
        self.requests: Counter[str] = Counter()
        self.multicast_recipients = 0

    def send(self, message: Any) -> str:
        self.sent += 1
        self.requests[message.channel] += 1
        return f"id-{self.sent}"

    def multicast(self, to: Any, messages: Any, retry_key: str, unit: str | None) -> str:
        self.requests["line_multicast"] += 1
        self.multicast_recipients += len(to)
        return f"req-{self.requests['line_multicast']}"


def measure(sample: int, holdout_percent: float = 10.0, line: str | None = None) -> dict[str, Any]:
    """DynamoDB requests and seconds per recipient of ``send_batch`` on moto (unpaced). ``line``: every recipient
    also follows the shop on LINE and the campaign prefers LINE, delivered by ``push`` or ``multicast``."""
    from moto import mock_aws

    from bench.fake_aws import use_fake_aws
    from enishi import clock, keys
    from enishi.campaigns.recipients import assign
    from enishi.campaigns.send import Batch, Deps, send_batch
    from enishi.campaigns.spec import Campaign
    from enishi.campaigns.store import CampaignRuns
    from enishi.events import Consent
    from enishi.profiles.model import LineIdentity, Profile
    from enishi.profiles.serialize import to_item
    from enishi.sequences.adapters.ledger import Ledger
    from enishi.sequences.adapters.messages import MessageComposer
    from enishi.sequences.adapters.store import SequenceStore
    from enishi.sequences.domain import eligibility
    from enishi.sequences.domain.quiet_hours import QuietWindow
    from enishi.sequences.domain.spec import ChannelPolicy
    from enishi.sequences.step.service import Deps as StepDeps
    from enishi.shop_config import REPO_DIR, QuietHours, load_shop_config
    from enishi_local.tables import create_single_table

    use_fake_aws()
    clock.set_provider(lambda: NOON)
    template = "campaign_winter_gift" if line else "winback_winback_1"
    campaign = Campaign(id="bench", name="b", template=template, holdout_percent=holdout_percent)
    with mock_aws():
        table = create_single_table("bench")
        people = []
        for i in range(sample):
            cid = f"c{i}"
            p = Profile(
                shop="s",
                customer_id=cid,
                created_at=NOON - timedelta(days=90),
                updated_at=NOON - timedelta(days=1),
                email=f"{cid}@example.jp",
                email_consent=Consent(
                    state="subscribed", source="shopify", collected_at=NOON - timedelta(days=90)
                ),
                line=LineIdentity(user_id=f"U{i:032x}", updated_at=NOON - timedelta(days=30))
                if line
                else None,
            )
            table.put_item(Item=to_item(p, keys.profile_key("s", cid)))
            people.append(assign(campaign, "s", cid, holdout_percent).to_json())
        store = SequenceStore(table)
        channels = Channels()
        step = StepDeps(
            store=store,
            ledger=Ledger(table),
            channels=channels,
            policy=eligibility.Policy(quiet=QuietWindow.from_config(QuietHours())),
            messages=MessageComposer(
                load_shop_config(str(REPO_DIR)),
                public_base_url="https://x.example",
                signing_keys=lambda: [b"k"],
                served=frozenset({"s"}),
                profiles=store,
            ),
        )
        calls: Counter[str] = Counter()
        table.meta.client.meta.events.register(
            "before-call.dynamodb", lambda model, **_: calls.update([model.name])
        )
        batch = Batch(
            shop="s",
            campaign_id="bench",
            template=campaign.template,
            started_at=clock.iso_z(NOON),
            channel=ChannelPolicy.PREFER_LINE,
            line_delivery=line or "push",  # type: ignore[arg-type]  # the two deliveries
        )
        deps = Deps(step=step, cancelled=CampaignRuns(table).cancelled, multicast=channels.multicast)
        started = time.perf_counter()
        counts = send_batch({"Items": people, "BatchInput": {"batch": batch.model_dump(mode="json")}}, deps)
        seconds = time.perf_counter() - started
    clock.reset()
    treated = counts.get("sent", 0)
    held = counts.get("holdout", 0)
    writes = sum(n for op, n in calls.items() if op in WRITES)
    reads = sum(n for op, n in calls.items() if op in READS)
    return {
        "sample": sample,
        "sent": treated,
        "holdout": held,
        "reads_per_treated": (reads - 1) / treated,  # one cancel-flag read per batch
        "writes_per_treated": (writes - held) / treated,  # a held-out recipient: one skip record
        "seconds_per_recipient_moto": seconds / sample,
        "calls": dict(calls),
        "provider_requests": dict(channels.requests),
        "provider_requests_per_1000_treated": round(1000 * sum(channels.requests.values()) / treated, 2),
    }


def model(
    recipients: int, rate: float, measured: dict[str, Any], holdout_percent: float = 10.0
) -> dict[str, Any]:
    from enishi.analytics import cost as prices
    from enishi.campaigns import cost
    from enishi.campaigns.pacing import pacing

    pace = pacing(rate)
    held = round(recipients * holdout_percent / 100)
    use = cost.usage(recipients, held, recipients - held, 0, pace)
    use = cost.Usage(
        **{
            **use.__dict__,
            "reads_per_recipient": measured["reads_per_treated"],
            "writes_per_recipient": measured["writes_per_treated"],
        }
    )
    money = cost.estimate(use)
    per_message = money.orchestration_usd / use.recipients
    modelled = pace.modelled_seconds(recipients)
    ideal = recipients / rate
    return {
        "recipients": recipients,
        "rate_per_second": rate,
        "max_concurrency": pace.max_concurrency,
        "batch_size": pace.batch_size,
        "batches": use.batches,
        "orchestration_usd": round(money.orchestration_usd, 4),
        "step_functions_usd": round(money.step_functions_usd, 4),
        "lambda_usd": round(money.lambda_usd, 4),
        "dynamodb_usd": round(money.dynamodb_usd, 4),
        "ses_usd": round(money.ses_usd, 4),
        "orchestration_per_message_over_ses": round(per_message / prices.PRICE_SES_EMAIL, 4),
        "modelled_seconds": round(modelled, 1),
        "rate_allows_seconds": round(ideal, 1),
        "time_over_rate": round(modelled / ideal, 4),
    }


LINE_PUSH_PER_SECOND = 2000.0  # LINE's rate limits per channel (REFERENCE §3)
LINE_MULTICAST_PER_SECOND = 200.0


def model_line(
    recipients: int, rate: float, measured: dict[str, Any], delivery: str, holdout_percent: float = 10.0
) -> dict[str, Any]:
    """A campaign whose every treated recipient is reached on LINE (``delivery``: push | multicast): LINE requests
    per 1,000 recipients, orchestration cost per message (÷ LINE's price per message on the Standard plan,
    ¥15,000 / 30,000, and ÷ SES's, to compare with the email figure), and the time — the campaign's modelled time beside
    what LINE's rate limit alone would allow."""
    from enishi.analytics import cost as prices
    from enishi.campaigns import cost
    from enishi.campaigns.pacing import SECONDS_PER_SEND, Pacing, pacing

    multicast = delivery == "multicast"
    pace = pacing(rate)
    held = round(recipients * holdout_percent / 100)
    treated = recipients - held
    use = cost.usage(recipients, held, 0, treated, pace, multicast=multicast)
    use = cost.Usage(
        **{
            **use.__dict__,
            "reads_per_recipient": measured["reads_per_treated"],
            # the measured writes already include the request-naming one in multicast mode
            "writes_per_recipient": measured["writes_per_treated"] - (1 if multicast else 0),
        }
    )
    money = cost.estimate(use, line_plan="standard")
    requests = cost.line_requests(treated, use.batches, multicast=multicast)
    # LINE messages do not wait for SES's rate: the batch's work is the bound (SECONDS_PER_SEND each, on the
    # map's concurrency sized for SES), beside LINE's own limit (2,000 pushes or 200 multicasts a second)
    unpaced = Pacing(pace.max_concurrency, pace.batch_size, 0.0)
    modelled = unpaced.modelled_seconds(recipients, SECONDS_PER_SEND)
    limit = requests / (LINE_MULTICAST_PER_SECOND if multicast else LINE_PUSH_PER_SECOND)
    per_message = money.orchestration_usd / treated
    return {
        "delivery": delivery,
        "recipients": recipients,
        "treated": treated,
        "ses_rate_per_second": rate,
        "max_concurrency": pace.max_concurrency,
        "batches": use.batches,
        "line_requests": requests,
        "line_requests_per_1000_treated": round(1000 * requests / treated, 2),
        "orchestration_usd": round(money.orchestration_usd, 4),
        "lambda_usd": round(money.lambda_usd, 4),
        "dynamodb_usd": round(money.dynamodb_usd, 4),
        "orchestration_per_message_usd": round(per_message, 8),
        "orchestration_per_message_over_ses": round(per_message / prices.PRICE_SES_EMAIL, 4),
        "orchestration_per_message_over_line": round(
            per_message / prices.line_per_message_usd("standard"), 4
        ),
        "modelled_seconds": round(modelled, 1),
        "line_rate_allows_seconds": round(limit, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.bench_campaign")
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument(
        "--rate", type=float, action="append", help="SES max send rate (repeatable; default 14)"
    )
    parser.add_argument("--sample", type=int, default=400)
    parser.add_argument("--no-line", action="store_true", help="only the email campaign")
    args = parser.parse_args(argv)
    measured = measure(args.sample)
    print("measured:", _rounded(measured))
    for rate in args.rate or [14.0]:
        print("modelled:", model(args.recipients, rate, measured))
    if args.no_line:
        return 0
    for delivery in ("push", "multicast"):
        on_line = measure(args.sample, line=delivery)
        print(f"measured LINE {delivery}:", _rounded(on_line))
        for rate in args.rate or [14.0]:
            print(f"modelled LINE {delivery}:", model_line(args.recipients, rate, on_line, delivery))
    return 0


def _rounded(measured: dict[str, Any]) -> dict[str, Any]:
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in measured.items() if k != "calls"}


if __name__ == "__main__":
    raise SystemExit(main())
