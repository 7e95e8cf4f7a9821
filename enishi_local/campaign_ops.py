"""``enishi campaign preview|start|cancel|status ID`` against a running ``enishi local`` or a deployed stack.

    enishi campaign preview ID (--stack NAME | --local URL)   recipients by channel and holdout, cost estimate
    enishi campaign start ID   (--stack NAME | --local URL)   start the Campaign machine (the run record first)
    enishi campaign cancel ID  (--stack NAME | --local URL)   the cancel flag (batches stop) + StopExecution
    enishi campaign status ID  (--stack NAME | --local URL)   the run, its execution and the batches' counts

``--stack``: the stack's CloudFormation outputs name the table, the analytics bucket and the Campaign machine.
``--local``: run inside the running ``enishi local`` (``POST /_local/operator``, like ``enishi import``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from enishi import clock
from enishi import constants as c
from enishi.analytics.cost import line_plan_for_quota
from enishi.campaigns import cost
from enishi.campaigns.pacing import pacing
from enishi.campaigns.spec import load_campaign
from enishi.campaigns.store import CampaignRuns
from enishi_local import operator

ROOT = Path(__file__).resolve().parents[1]
SHOP_DIR = ROOT / "shop"


@dataclass
class Target:
    """Where the commands run: the operator's target (table, S3, the local stack's clock) and the Campaign
    machine with its analytics bucket."""

    base: operator.Target
    sfn: Any
    bucket: str
    state_machine_arn: str
    shop_dir: Path = SHOP_DIR

    @property
    def table(self) -> Any:
        return self.base.table

    @property
    def s3(self) -> Any:
        return self.base.s3

    def now(self) -> datetime:
        return self.base.now() if self.base.now else clock.now()


CAMPAIGN_OUTPUTS = (c.OUTPUT_ANALYTICS_BUCKET_NAME, c.OUTPUT_CAMPAIGN_STATE_MACHINE_ARN)


def deployed(stack_name: str, session: Any = None) -> Target:
    """A deployed stack by its CloudFormation outputs (``operator.stack_outputs``: an enishi stack, or exit)."""
    import boto3

    session = session or boto3.session.Session()
    outputs = operator.stack_outputs(stack_name, session)
    missing = [name for name in CAMPAIGN_OUTPUTS if name not in outputs]
    if missing:
        raise SystemExit(f"stack {stack_name} has no {', '.join(missing)} output: deployed before campaigns?")
    return Target(
        base=operator.deployed(stack_name, session, outputs),
        sfn=session.client("stepfunctions"),
        bucket=outputs[c.OUTPUT_ANALYTICS_BUCKET_NAME],
        state_machine_arn=outputs[c.OUTPUT_CAMPAIGN_STATE_MACHINE_ARN],
    )


def local(stack: Any) -> Target:
    import boto3

    return Target(
        base=operator.local(stack),
        sfn=boto3.client("stepfunctions", region_name=stack.region),
        bucket=stack.analytics_bucket_name,
        state_machine_arn=str(stack.template.output(c.OUTPUT_CAMPAIGN_STATE_MACHINE_ARN)),
    )


def _plan_deps(t: Target) -> Any:
    """The plan λ's own wiring (``campaigns.handler.build_plan_deps``) on this target's S3 and shop files."""
    from enishi.campaigns.handler import build_plan_deps

    return build_plan_deps(str(t.shop_dir), t.s3, t.bucket)


def _shop(t: Target) -> Any:
    from enishi.shop_config import load_shop_config

    return load_shop_config(str(t.shop_dir))


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN Step Functions gives an execution ``name`` of a Standard machine (known before it starts)."""
    prefix, _, machine = state_machine_arn.rpartition(":stateMachine:")
    return f"{prefix}:execution:{machine}:{name}"


def _channel(store: Any, shop: Any, campaign: Any, customer_id: str, now: datetime) -> str:
    """The channel the send would choose now (``sequences.domain.eligibility.choose_channel``), or ``none``."""
    from enishi.sequences.domain import eligibility
    from enishi.sequences.domain.spec import Step

    profile = store.get_profile(shop.shop_id, customer_id)
    if profile is None:
        return "none"
    step = Step(id="send", template=campaign.template, channel=campaign.channel, marketing=True)
    decision = eligibility.choose_channel(eligibility.Facts(now=now, profile=profile, trigger_at=now), step)
    return decision.channel or "none"


def preview(t: Target, campaign_id: str) -> dict[str, Any]:
    from enishi.campaigns.plan import recipients
    from enishi.sequences.adapters.store import SequenceStore

    deps, now = _plan_deps(t), t.now()
    campaign = deps.campaigns(campaign_id)
    store = SequenceStore(t.table)
    held, channels = 0, Counter[str]()
    total = 0
    for r in recipients(campaign, deps, now):
        total += 1
        if r.holdout:
            held += 1
        else:
            channels[_channel(store, deps.shop, campaign, r.customer_id, now)] += 1
    pace = pacing(deps.shop.campaigns.ses_max_send_rate)
    multicast = campaign.line_delivery == "multicast"
    use = cost.usage(total, held, channels["email"], channels["line"], pace, multicast=multicast)
    plan_name = line_plan_for_quota(deps.shop.messaging.line_monthly_quota)
    money = cost.estimate(use, line_plan=plan_name, coupon_value_jpy=campaign.offer.coupon_value_jpy)
    return {
        "campaign": campaign_id,
        "recipients": total,
        "holdout": held,
        "by_channel": dict(sorted(channels.items())),
        "line_delivery": campaign.line_delivery,
        "line_requests": cost.line_requests(
            channels["line"], use.batches, multicast=multicast, variants=len(campaign.variants) or 1
        ),
        "modelled_seconds": round(pace.modelled_seconds(total), 1),
        "cost": money.as_dict(),
    }


def start(t: Target, campaign_id: str, name: str | None = None) -> dict[str, Any]:
    """The run record first (``running``: it also clears an earlier run's cancel flag, which the new run's first
    batches read), then the execution; if the execution cannot start, the earlier record is put back."""
    load_campaign(t.shop_dir / "campaigns" / f"{campaign_id}.yaml")  # refuse an unknown or broken file here
    now, shop, runs = t.now(), _shop(t).shop_id, CampaignRuns(t.table)
    name = name or f"{campaign_id}-{now.strftime('%Y%m%dT%H%M%S')}"
    arn = execution_arn(t.state_machine_arn, name)
    earlier = runs.get(shop, campaign_id)
    runs.started(shop, campaign_id, execution_arn=arn, now=now)
    try:
        started = t.sfn.start_execution(
            stateMachineArn=t.state_machine_arn, name=name, input=json.dumps({"campaign_id": campaign_id})
        )["executionArn"]
    except Exception:
        runs.restore(shop, campaign_id, earlier)
        raise
    if started != arn:  # not expected: keep the record true to what Step Functions answered
        runs.started(shop, campaign_id, execution_arn=started, now=now)
    return {"campaign": campaign_id, "execution_arn": started}


def cancel(t: Target, campaign_id: str) -> dict[str, Any]:
    run = CampaignRuns(t.table).cancel(_shop(t).shop_id, campaign_id, now=t.now())
    if run is None:
        return {"campaign": campaign_id, "cancelled": False, "reason": "never started"}
    try:
        t.sfn.stop_execution(executionArn=run["execution_arn"], cause="enishi campaign cancel")
    except t.sfn.exceptions.ExecutionDoesNotExist:
        pass
    return {"campaign": campaign_id, "cancelled": True, "execution_arn": run["execution_arn"]}


def status(t: Target, campaign_id: str) -> dict[str, Any]:
    run = CampaignRuns(t.table).get(_shop(t).shop_id, campaign_id)
    if run is None:
        return {"campaign": campaign_id, "status": "never started"}
    described = t.sfn.describe_execution(executionArn=run["execution_arn"])
    output = json.loads(described.get("output") or "{}")
    counts: Counter[str] = Counter()
    for batch in output.get("batches") or []:
        counts.update(batch)
    return {
        "campaign": campaign_id,
        "run": run.get("status"),
        "execution": described["status"],
        "recipients": (output.get("plan") or {}).get("recipients"),
        "counts": dict(sorted(counts.items())),
    }


COMMANDS: dict[str, Callable[[Target, str], dict[str, Any]]] = {
    "preview": preview,
    "start": start,
    "cancel": cancel,
    "status": status,
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="enishi campaign")
    parser.add_argument("action", choices=sorted(COMMANDS))
    parser.add_argument("campaign_id")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--stack", help="a deployed enishi stack (CloudFormation stack name)")
    where.add_argument("--local", metavar="URL", help="a running `enishi local` (e.g. http://127.0.0.1:8787)")
    return parser


def run(t: Target, argv: list[str]) -> tuple[int, str]:
    opts, _ = _parser().parse_known_args([*argv, "--stack", "-"])
    result = COMMANDS[opts.action](t, opts.campaign_id)
    return 0, json.dumps(result, ensure_ascii=False, indent=2, default=str)


def main(argv: list[str]) -> int:
    opts = _parser().parse_args(argv)
    if opts.local:
        return operator._remote(opts.local, "campaign", [opts.action, opts.campaign_id], opts)
    rc, out = run(deployed(opts.stack), [opts.action, opts.campaign_id])
    print(out, file=sys.stdout)
    return rc
