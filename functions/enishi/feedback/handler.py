"""Feedback λ: SES events from the default bus (rule ``source: aws.ses``) → message outcomes + suppression.

Thin: settings validated once, one call into ``logic.handle_ses_event``. A raised error makes Lambda's async
invoke retry the event (then its DLQ); the logic is safe to repeat.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from enishi import bootstrap
from enishi.feedback.logic import handle_ses_event
from enishi.feedback.store import DynamoMessageOutcomes
from enishi.publish import EventBridgePublisher
from enishi.shop_config import load_shop_config

logger = Logger()
metrics = Metrics()


class Settings(bootstrap.TableSettings, bootstrap.BusSettings, bootstrap.ShopConfigSettings):
    pass


@dataclass
class Deps:
    shop_id: str
    outcomes: DynamoMessageOutcomes
    publisher: EventBridgePublisher


@bootstrap.container
def deps() -> Deps:
    settings = bootstrap.settings(Settings)
    return Deps(
        shop_id=load_shop_config(settings.shop_config_dir).shop_id,
        outcomes=DynamoMessageOutcomes(boto3.client("dynamodb"), settings.table_name),
        publisher=EventBridgePublisher(boto3.client("events"), settings.event_bus_name),
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    d = deps()
    result = handle_ses_event(event, shop_id=d.shop_id, outcomes=d.outcomes, publisher=d.publisher)
    metrics.add_metric(
        name="SesEvent" + (result.event_type.replace(" ", "") or "Unknown"), unit=MetricUnit.Count, value=1
    )
    if result.suppression:
        metrics.add_metric(name="EmailSuppressed", unit=MetricUnit.Count, value=1)
    if result.mark == "missing":
        metrics.add_metric(name="SesEventWithoutRecord", unit=MetricUnit.Count, value=1)
    # ids and outcome only: never the address, subject or headers
    logger.info(
        "ses event",
        extra={
            "event_type": result.event_type,
            "action": result.action,
            "reason": result.reason,
            "mark": result.mark,
        },
    )
    return {
        "event_type": result.event_type,
        "action": result.action,
        "reason": result.reason,
        "mark": result.mark,
        "suppression": result.suppression,
    }
