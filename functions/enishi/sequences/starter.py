"""SequenceStarter: SQS batch (EventBridge rule → queue) → start / stop sequence executions.

Thin: settings once at cold start, then per record ``starting.plan`` + ``Executions``. A record that fails
(e.g. a fulfillment whose order is not recorded yet) is reported in ``batchItemFailures`` and retried by SQS,
then lands in the DLQ. Starting is idempotent by execution name, so a retried batch never starts twice.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from enishi import clock
from enishi.events import event_from_sqs_body
from enishi.sequences.settings import StarterSettings
from enishi.sequences.spec import load_shop_spec
from enishi.sequences.starting import Executions, plan
from enishi.sequences.store import SequenceStore

logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)


@functools.cache
def _deps() -> tuple[Any, SequenceStore, Executions]:
    settings = StarterSettings.model_validate(dict(os.environ))
    spec = load_shop_spec(settings.shop_config_dir)
    table = boto3.resource("dynamodb").Table(settings.table_name)
    return spec, SequenceStore(table), Executions(boto3.client("stepfunctions"), settings.state_machine_arns)


def reset() -> None:
    """Forget the cold-start state (tests and the local stack switch environments)."""
    _deps.cache_clear()


def handle_event(event: Any) -> None:
    """One canonical event (the ``detail`` of what the rule delivered to SQS)."""
    spec, store, executions = _deps()
    todo = plan(event, spec, store, clock.now())
    for stop in todo.stops:
        if executions.stop(stop):
            metrics.add_metric(name="SequenceStopped", unit=MetricUnit.Count, value=1)
    for start in todo.starts:
        started = executions.start(start)
        metrics.add_metric(
            name="SequenceStarted" if started else "SequenceAlreadyStarted", unit=MetricUnit.Count, value=1
        )
        logger.info("start", extra={"sequence": start.sequence, "execution": start.name, "new": started})


def _record(record: Any) -> None:
    handle_event(event_from_sqs_body(record.body))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=_record, processor=processor, context=context)
