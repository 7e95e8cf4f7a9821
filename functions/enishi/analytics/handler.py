"""The analytics λ: one action per state of the ``Analytics`` machine (``{"action": ..., ...}`` → its answer).

Thin: settings and clients built once (``bootstrap``), the steps in ``job.py``.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from enishi import bootstrap
from enishi import constants as c
from enishi.analytics import cost as cm
from enishi.analytics.adapters import Athena, Bucket, ProfileWriter
from enishi.analytics.job import Job, settings_from_config

SOURCE_ATHENA = "dynamodb-export+athena"


class Settings(bootstrap.TableSettings, bootstrap.ShopConfigSettings):
    bucket: str = Field(alias=c.ENV_ANALYTICS_BUCKET_NAME)
    workgroup: str = Field(alias=c.ENV_ANALYTICS_WORKGROUP)
    database: str = Field("enishi_analytics", alias=c.ENV_ANALYTICS_DATABASE)
    source: str = Field(SOURCE_ATHENA, alias=c.ENV_ANALYTICS_SOURCE)


def machine_shapes(directory: str | None) -> dict[str, cm.MachineShape]:
    """Each sequence's compiled machine shape, from the same ``sequences.yaml`` CDK compiles."""
    from enishi.sequences.domain.spec import load_shop_spec

    spec = load_shop_spec(directory)
    return {
        name: cm.machine_shape([s.delay_td.total_seconds() for s in sequence.steps])
        for name, sequence in spec.sequences.items()
    }


def offers(directory: str | None) -> dict[str, dict[str, int]]:
    """Each message's offer (coupon value, JPY) by sequence and step: a step's ``offer`` in ``sequences.yaml``, a
    campaign's in ``campaigns/<id>.yaml`` (its one step ``keys.CAMPAIGN_STEP_ID``). Only offers worth something."""
    from pathlib import Path

    from enishi import keys
    from enishi.campaigns.spec import load_campaigns
    from enishi.sequences.domain.spec import load_shop_spec
    from enishi.shop_config import config_dir

    spec = load_shop_spec(directory)
    out: dict[str, dict[str, int]] = {}
    for name, sequence in spec.sequences.items():
        values = {
            s.id: s.offer.coupon_value_jpy for s in sequence.steps if s.offer and s.offer.coupon_value_jpy
        }
        if values:
            out[name] = values
    shop_dir = Path(directory) if directory else config_dir()
    for campaign in load_campaigns(shop_dir).values():
        if campaign.offer.coupon_value_jpy:
            out[keys.campaign_sequence(campaign.id)] = {
                keys.CAMPAIGN_STEP_ID: campaign.offer.coupon_value_jpy
            }
    return out


@bootstrap.container
def deps() -> Job:
    import boto3

    from enishi import keys
    from enishi.shop_config import load_shop_config

    settings = bootstrap.settings(Settings)
    config = load_shop_config(settings.shop_config_dir)
    bucket = Bucket(boto3.client("s3"), settings.bucket)
    dynamodb = boto3.client("dynamodb")
    return Job(
        athena=Athena(
            boto3.client("athena"),
            workgroup=settings.workgroup,
            database=settings.database,
            output=bucket.url(keys.ANALYTICS_QUERIES_PREFIX),
        ),
        bucket=bucket,
        describe_export=lambda arn: dynamodb.describe_export(ExportArn=arn)["ExportDescription"],
        writer=ProfileWriter(boto3.resource("dynamodb").Table(settings.table_name), config.shop_id),
        settings_for=settings_from_config(
            config, machine_shapes(settings.shop_config_dir), offers(settings.shop_config_dir)
        ),
        source=settings.source,
    )


ACTIONS = {
    "start_queries": Job.start_queries,
    "poll_queries": Job.poll_queries,
    "write_result": Job.write_result,
    "write_back": Job.write_back,
}


def handler(event: dict[str, Any], _context: Any = None) -> dict[str, Any]:
    action = ACTIONS.get(str(event.get("action")))
    if action is None:
        raise ValueError("unknown analytics action")
    return action(deps(), event)
