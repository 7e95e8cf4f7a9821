"""SequenceStarter: SQS batch (EventBridge rule → queue) → start / stop sequence executions.

Thin: settings and adapters built once by the ``bootstrap.container``, then per record ``service.handle`` (plan +
``adapters/executions.Executions``) and the metrics. An event that waits
for one not seen yet (a fulfillment before its order) is parked in DynamoDB and resumed by ``order.recorded``; its
SQS message is kept as a safety net with a growing visibility timeout (``parking.park_backoff``) and acknowledged on
the queue's last receive, so waiting never ends in the DLQ. Starting is idempotent by execution name, so a retried
batch, a duplicate EventBridge delivery or a park resumed twice never starts twice.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

from enishi import bootstrap, clock
from enishi.events import event_from_sqs_body
from enishi.sequences.adapters.executions import Executions
from enishi.sequences.adapters.store import SequenceStore
from enishi.sequences.domain import parking
from enishi.sequences.domain.spec import SequencesSpec, load_shop_spec
from enishi.sequences.settings import StarterSettings
from enishi.sequences.starter import service

logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)


class EventParked(Exception):
    """The event waits (parked) for one not seen yet: SQS delivers it again after the backoff."""


@dataclass(frozen=True)
class Deps:
    spec: SequencesSpec
    store: SequenceStore
    executions: Executions
    max_receive_count: int


@bootstrap.container
def deps() -> Deps:
    settings = bootstrap.settings(StarterSettings)
    table = boto3.resource("dynamodb").Table(settings.table_name)
    return Deps(
        spec=load_shop_spec(settings.shop_config_dir),
        store=SequenceStore(table),
        executions=Executions(boto3.client("stepfunctions"), settings.state_machine_arns),
        max_receive_count=settings.max_receive_count,
    )


@functools.cache
def _sqs() -> Any:
    """Made on the first parked event only (most cold starts never park)."""
    return boto3.client("sqs")


@functools.cache
def _queue_url(queue_arn: str) -> str:
    _, _, _, _, account, name = queue_arn.split(":", 5)
    return str(_sqs().get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"])


bootstrap.on_reset(_sqs.cache_clear)
bootstrap.on_reset(_queue_url.cache_clear)


def handle_event(event: Any, body: str) -> service.Outcome:
    """One canonical event (the ``detail`` of what the rule delivered to SQS)."""
    d = deps()
    outcome = service.handle(event, body, d.spec, d.store, d.executions, clock.now())
    for _stop, stopped in outcome.stopped:
        if stopped:
            metrics.add_metric(name="SequenceStopped", unit=MetricUnit.Count, value=1)
    for start, started in outcome.started:
        metrics.add_metric(
            name="SequenceStarted" if started else "SequenceAlreadyStarted", unit=MetricUnit.Count, value=1
        )
        logger.info("start", extra={"sequence": start.sequence, "execution": start.name, "new": started})
    if outcome.resumed:
        metrics.add_metric(name="ParkedEventResumed", unit=MetricUnit.Count, value=outcome.resumed)
    if outcome.parked:
        metrics.add_metric(name="EventParked", unit=MetricUnit.Count, value=1)
    return outcome


def _record(record: Any) -> None:
    outcome = handle_event(event_from_sqs_body(record.body), record.body)
    if not outcome.parked:
        return
    receives = int(record.attributes.get("ApproximateReceiveCount") or 1)
    if not parking.keep_in_queue(receives, deps().max_receive_count):
        # the last receive: acknowledge (the park stays until its event comes, or its TTL) — never the DLQ
        metrics.add_metric(name="ParkedEventUnresolved", unit=MetricUnit.Count, value=1)
        logger.warning("parked event still unresolved after the last receive", extra={"receives": receives})
        return
    delay = parking.park_backoff(receives)
    try:
        _sqs().change_message_visibility(
            QueueUrl=_queue_url(record.event_source_arn),
            ReceiptHandle=record.receipt_handle,
            VisibilityTimeout=delay,
        )
    except Exception:
        logger.exception("could not delay a parked event")
    raise EventParked(f"parked; next delivery in {delay} s")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=_record, processor=processor, context=context)
