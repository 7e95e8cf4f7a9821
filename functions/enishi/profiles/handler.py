"""Profiles λ: EventBridge → SQS → this batch handler → ``ProfileStore.handle`` per canonical event.

Thin: settings validated once at cold start; each SQS record body is an EventBridge event whose ``detail`` is a
canonical event. A record that fails (bad detail, DynamoDB error, too many write conflicts, PutEvents failure) is
reported in ``batchItemFailures`` (ReportBatchItemFailures): SQS retries it and, past maxReceiveCount, moves it to
the DLQ (configured by infra) — errors are never swallowed. The logic is idempotent, so retries are safe.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from pydantic import BaseModel, ConfigDict, Field

from enishi import business_metrics
from enishi import constants as c
from enishi import events as ev
from enishi.profiles.store import ProfileStore
from enishi.publish import EventBridgePublisher
from enishi.shop_config import load_shop_config

logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)


class Settings(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    table_name: str = Field(alias=c.ENV_TABLE_NAME)
    event_bus_name: str = Field(c.EVENT_BUS_NAME, alias=c.ENV_EVENT_BUS_NAME)


@dataclass
class Deps:
    store: ProfileStore


_deps: Deps | None = None


def deps() -> Deps:
    global _deps
    if _deps is None:
        settings = Settings.model_validate(dict(os.environ))
        shop = load_shop_config()
        _deps = Deps(
            store=ProfileStore(
                boto3.resource("dynamodb").Table(settings.table_name),
                EventBridgePublisher(boto3.client("events"), settings.event_bus_name),
                stages=shop.stages,
                attribution_window_days=shop.messaging.attribution_window_days,
            )
        )
    return _deps


def reset() -> None:
    """Forget the cold-start state (tests and the local stack, after changing the environment)."""
    global _deps
    _deps = None


def record_handler(record: Any) -> None:
    event = ev.event_from_sqs_body(record.body)
    outcome = deps().store.handle(event)
    metrics.add_metric(name="ProfileEventApplied", unit=MetricUnit.Count, value=1)
    if outcome.profile_written:
        metrics.add_metric(name="ProfileWritten", unit=MetricUnit.Count, value=1)
    if outcome.attempts > 1:
        metrics.add_metric(name="ProfileWriteConflicts", unit=MetricUnit.Count, value=outcome.attempts - 1)
    if outcome.merged_guest:
        metrics.add_metric(name="GuestMerged", unit=MetricUnit.Count, value=1)
    if outcome.conversion:
        business_metrics.conversion(*outcome.conversion)
    # ids only: never email, names or phone
    logger.info(
        "applied",
        extra={
            "event_type": outcome.event_type,
            "event_id": event.event_id,
            "customer_id": outcome.customer_id,
            "profile_written": outcome.profile_written,
            "written": outcome.written,
            "published": outcome.published,
            "attempts": outcome.attempts,
        },
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
