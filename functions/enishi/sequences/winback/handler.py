"""Winback: the daily job (EventBridge schedule ``cron(0 1 * * ? *)``, 10:00 JST) that starts win-back sequences.

Thin: settings and adapters built once by the ``bootstrap.container``, then one call into ``service.catch_up``
(or ``service.plan_winbacks`` for a manual backfill) and the metrics. The job's story: ``winback/service.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from enishi import bootstrap, clock
from enishi.sequences.adapters.executions import Executions
from enishi.sequences.adapters.winback import WinbackCursor, WinbackReader
from enishi.sequences.domain.spec import SequencesSpec, load_shop_spec
from enishi.sequences.settings import StarterSettings
from enishi.sequences.winback import service

logger = Logger()
metrics = Metrics()


@dataclass(frozen=True)
class Deps:
    shop: str
    spec: SequencesSpec
    reader: WinbackReader
    executions: Executions
    cursor: WinbackCursor


@bootstrap.container
def deps() -> Deps:
    from enishi.shop_config import load_shop_config

    settings = bootstrap.settings(StarterSettings)
    shop = load_shop_config(settings.shop_config_dir).shop_id
    table = boto3.resource("dynamodb").Table(settings.table_name)
    return Deps(
        shop=shop,
        spec=load_shop_spec(settings.shop_config_dir),
        reader=WinbackReader(table),
        executions=Executions(boto3.client("stepfunctions"), settings.state_machine_arns),
        cursor=WinbackCursor(table, shop),
    )


def _backfill(d: Deps, day: str) -> dict[str, Any]:
    starts = service.plan_winbacks(d.shop, d.spec, d.reader, clock.now(), date.fromisoformat(day))
    return {"due": len(starts), "started": sum(1 for s in starts if d.executions.start(s))}


def _scheduled(d: Deps) -> dict[str, Any]:
    result = service.catch_up(d.shop, d.spec, d.reader, d.cursor, d.executions.start, clock.now())
    metrics.add_metric(name="WinbackDaysProcessed", unit=MetricUnit.Count, value=len(result["days"]))
    metrics.add_metric(name="WinbackRunCompleted", unit=MetricUnit.Count, value=1)
    if result["truncated"]:
        metrics.add_metric(name="WinbackCatchUpTruncated", unit=MetricUnit.Count, value=1)
    return result


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Scheduled event: catch up every day since the last completed run. ``{"day": "YYYY-MM-DD"}`` re-runs the
    orders of that day (a manual backfill; the cursor does not move)."""
    result = _backfill(deps(), event["day"]) if event.get("day") else _scheduled(deps())
    metrics.add_metric(name="WinbackDue", unit=MetricUnit.Count, value=result["due"])
    metrics.add_metric(name="WinbackStarted", unit=MetricUnit.Count, value=result["started"])
    logger.info("winback", extra=result)
    return result
