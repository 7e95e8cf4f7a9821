"""Profiles λ: EventBridge → SQS → this batch handler → ``ProfileService.handle`` per canonical event.

Thin: settings validated once at cold start (``enishi.bootstrap``); each SQS record body is an EventBridge event
whose ``detail`` is a canonical event. The service reads, plans (pure) and has the DynamoDB adapter execute the
plan (``docs/internals.md``, "Profiles"). A record that fails (bad detail, DynamoDB error, too many write
conflicts, PutEvents failure) is reported in ``batchItemFailures`` (ReportBatchItemFailures): SQS retries it and,
past maxReceiveCount, moves it to the DLQ (configured by infra) — errors are never swallowed. The logic is
idempotent, so retries are safe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

from enishi import bootstrap, business_metrics
from enishi import events as ev
from enishi.profiles.dynamo import DynamoProfileRepository
from enishi.profiles.service import ProfileService
from enishi.publish import EventBridgePublisher
from enishi.shop_config import load_shop_config

logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)


class Settings(bootstrap.TableSettings, bootstrap.BusSettings):
    pass


@dataclass(frozen=True)
class Deps:
    service: ProfileService


@bootstrap.container
def deps() -> Deps:
    settings = bootstrap.settings(Settings)
    shop = load_shop_config()
    repository = DynamoProfileRepository(
        boto3.resource("dynamodb").Table(settings.table_name),
        EventBridgePublisher(boto3.client("events"), settings.event_bus_name),
    )
    return Deps(
        service=ProfileService(
            repository,
            stages=shop.stages,
            attribution=shop.messaging.attribution,
        )
    )


def record_handler(record: Any) -> None:
    event = ev.event_from_sqs_body(record.body)
    outcome = deps().service.handle(event)
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
def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
