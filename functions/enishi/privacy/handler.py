"""Privacy λ: the bus's privacy requests (and its own continuations) → SQS → one slice of work per message.

Thin: a record is either an EventBridge event (``customer.data_requested``, ``customer.redact_requested``,
``shop.redact_requested``: ``jobs.plan`` makes its jobs) or a continuation ``{"privacy_job": …}`` this function
sent itself. Each job's slice runs at once; a slice that did not finish sends the next one to the same queue. A
failing record is reported in ``batchItemFailures``: SQS retries it, then the DLQ (alarmed). Every slice is
idempotent (an export is rewritten under the same key; erasing and deleting again change nothing).
Logs carry ids and counts, never the customer's email, name or phone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from pydantic import Field

from enishi import bootstrap
from enishi import constants as c
from enishi import events as ev
from enishi.privacy import jobs
from enishi.privacy.service import PrivacyService
from enishi.privacy.shop_data import ShopEraser, ShopExecutions
from enishi.privacy.store import PrivacyStore

logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)

OWNED_SOURCES = frozenset({"line"})  # the deployment's LINE channel is its own shop's


class Settings(bootstrap.TableSettings, bootstrap.ShopConfigSettings):
    raw_bucket_name: str | None = Field(default=None, alias=c.ENV_RAW_BUCKET_NAME)
    privacy_bucket_name: str = Field(alias=c.ENV_PRIVACY_BUCKET_NAME)
    privacy_topic_arn: str = Field(alias=c.ENV_PRIVACY_TOPIC_ARN)
    privacy_queue_url: str = Field(alias=c.ENV_PRIVACY_QUEUE_URL)
    cart_connections: str = Field(default="{}", alias=c.ENV_PRIVACY_CART_CONNECTIONS)
    state_machine_arns: str = Field(default="{}", alias=c.ENV_STATE_MACHINE_ARNS)


class S3Exports:
    """The privacy bucket (its default encryption is the data key: no SSE arguments here)."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self.bucket = bucket

    def put(self, key: str, body: bytes) -> None:
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")


@dataclass
class Deps:
    service: PrivacyService
    sqs: Any
    queue_url: str


@bootstrap.container
def deps() -> Deps:
    from enishi.shop_config import load_shop_config

    settings = bootstrap.settings(Settings)
    table = boto3.resource("dynamodb").Table(settings.table_name)
    s3, sns = boto3.client("s3"), boto3.client("sns")
    shop = load_shop_config(settings.shop_config_dir).shop_id

    def notify(message: dict[str, Any]) -> None:
        sns.publish(
            TopicArn=settings.privacy_topic_arn,
            Subject="enishi: customer data request",
            Message=json.dumps(message, ensure_ascii=False),
        )

    service = PrivacyService(
        store=PrivacyStore(table, s3, settings.raw_bucket_name),
        eraser=ShopEraser(table, s3, settings.raw_bucket_name, settings.privacy_bucket_name),
        exports=S3Exports(s3, settings.privacy_bucket_name),
        notify=notify,
        cart_connections=json.loads(settings.cart_connections or "{}"),
        owned_sources={shop: OWNED_SOURCES},
        executions=ShopExecutions(
            boto3.client("stepfunctions"), json.loads(settings.state_machine_arns or "{}")
        ),
    )
    return Deps(service=service, sqs=boto3.client("sqs"), queue_url=settings.privacy_queue_url)


def jobs_of(body: str) -> list[jobs.Job]:
    """The jobs an SQS body carries: a continuation, or the plan of a privacy event."""
    data = json.loads(body)
    if isinstance(data, dict) and jobs.JOB_KEY in data:
        return [jobs.Job.model_validate(data[jobs.JOB_KEY])]
    return jobs.plan(ev.parse_event(data["detail"]))


def record_handler(record: Any) -> None:
    d = deps()
    for job in jobs_of(record.body):
        done = d.service.run(job)
        if done.next is not None:
            d.sqs.send_message(
                QueueUrl=d.queue_url,
                MessageBody=json.dumps({jobs.JOB_KEY: done.next.model_dump(mode="json")}),
            )
        for name, value in done.counts.items():
            if value:
                metrics.add_metric(name=f"Privacy_{job.kind}_{name}", unit=MetricUnit.Count, value=value)
        metrics.add_metric(name=f"PrivacySlice_{job.kind}", unit=MetricUnit.Count, value=1)
        # ids and counts only
        logger.info(
            "privacy slice",
            extra={**job.log_fields(), "counts": done.counts, "continues": done.next is not None},
        )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dict(
        process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    )
