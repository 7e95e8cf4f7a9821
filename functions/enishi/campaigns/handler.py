"""The Campaign machine's two λ (thin; settings and adapters built once by ``bootstrap.container``):

- ``plan_handler``: select the recipients into S3, quiet-hours start, pacing (``plan.plan``).
- ``send_handler``: one Distributed Map item batch (``send.send_batch``), with the sequence step's own
  dependencies (``enishi.sequences.step.handler.deps``: the same store, ledger, channels, policy and composer,
  built from the same environment) and the run's cancel flag.
"""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import Field

from enishi import bootstrap, clock
from enishi import constants as c
from enishi.campaigns import plan as plan_service
from enishi.campaigns import send as send_service

logger = Logger()
metrics = Metrics()


class PlanSettings(bootstrap.ShopConfigSettings):
    bucket: str = Field(alias=c.ENV_ANALYTICS_BUCKET_NAME, min_length=1)


def build_plan_deps(shop_config_dir: str | None, s3: Any, bucket: str) -> plan_service.Deps:
    """The plan's dependencies from a shop directory, an S3 client and the analytics bucket: the λ's (below) and
    ``enishi campaign preview`` 's (enishi_local/campaign_ops.py) — one wiring."""
    from pathlib import Path

    from enishi.analytics.adapters import Bucket
    from enishi.campaigns.adapters import latest_segment_rows
    from enishi.campaigns.spec import load_campaign
    from enishi.shop_config import config_dir, load_shop_config

    shop = load_shop_config(shop_config_dir)
    base = Path(shop_config_dir) if shop_config_dir else config_dir()
    return plan_service.Deps(
        shop=shop,
        campaigns=lambda cid: load_campaign(base / "campaigns" / f"{cid}.yaml"),
        rows=lambda: latest_segment_rows(s3, bucket),
        put_lines=Bucket(s3, bucket).put_lines,
        bucket=bucket,
    )


@bootstrap.container
def plan_deps() -> plan_service.Deps:
    settings = bootstrap.settings(PlanSettings)
    return build_plan_deps(settings.shop_config_dir, boto3.client("s3"), settings.bucket)


@bootstrap.container
def send_deps() -> send_service.Deps:
    from enishi.campaigns.store import CampaignRuns
    from enishi.sequences.step.handler import deps as step_deps

    table = boto3.resource("dynamodb").Table(bootstrap.settings(bootstrap.TableSettings).table_name)
    step = step_deps()
    multicast = getattr(step.channels, "multicast", None)  # Delivery's (campaigns/multicast.py)
    return send_service.Deps(step=step, cancelled=CampaignRuns(table).cancelled, multicast=multicast)


@logger.inject_lambda_context(clear_state=True)
def plan_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = plan_service.plan(event, plan_deps(), clock.now())
    logger.info(
        "campaign planned", extra={k: result[k] for k in ("key", "recipients", "holdout", "wait_until")}
    )
    return result


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def send_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    counts = send_service.send_batch(event, send_deps())
    for outcome, n in counts.items():
        metrics.add_metric(name=f"Campaign_{outcome.split(':')[0]}", unit=MetricUnit.Count, value=n)
    logger.info("campaign batch", extra={"counts": counts})
    return counts


class TickSettings(bootstrap.ShopConfigSettings):
    state_machine_arn: str = Field(alias=c.ENV_CAMPAIGN_STATE_MACHINE_ARN, min_length=1)


def tick_handler(event: dict[str, Any], context: Any) -> dict[str, list[str]]:
    """EventBridge, every 15 minutes: start each campaign whose ``schedule.at`` came in the last hour, once."""
    import json
    from pathlib import Path

    from enishi.campaigns.spec import due, load_campaigns
    from enishi.shop_config import config_dir

    settings = bootstrap.settings(TickSettings)
    base = Path(settings.shop_config_dir) if settings.shop_config_dir else config_dir()
    sfn = boto3.client("stepfunctions")
    started: list[str] = []
    for campaign in due(load_campaigns(base).values(), clock.now()):
        assert campaign.schedule.at is not None  # due() keeps scheduled campaigns only
        try:
            sfn.start_execution(
                stateMachineArn=settings.state_machine_arn,
                name=plan_service.execution_name(campaign.id, campaign.schedule.at),
                input=json.dumps({"campaign_id": campaign.id}),
            )
            started.append(campaign.id)
        except sfn.exceptions.ExecutionAlreadyExists:
            continue  # an earlier tick started it
    return {"started": started}
