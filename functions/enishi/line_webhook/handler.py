"""LineWebhook λ: ``POST /webhooks/line`` (HTTP API payload v2) → ``line.identity_changed`` events.

Thin: settings validated once; the channel secret read per request from Secrets Manager (cached 5 min); one call
into ``logic.handle_webhook``; domain errors mapped to status codes in ``ERRORS``. 401 leaves no trace but a metric.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import Field

from enishi import bootstrap, http_api, secrets
from enishi import constants as c
from enishi.line_webhook.logic import BadRequest, InvalidSignature, KeepFailed, handle_webhook
from enishi.line_webhook.store import DynamoLineStore
from enishi.publish import EventBridgePublisher, PublishFailed
from enishi.raw_payloads import S3RawStore
from enishi.shop_config import load_shop_config

logger = Logger()
metrics = Metrics()

ERRORS: dict[type[Exception], tuple[int, str]] = {
    InvalidSignature: (401, "LineWebhookUnauthorized"),
    BadRequest: (400, "LineWebhookBadRequest"),
    KeepFailed: (503, "LineWebhookKeepFailed"),
    PublishFailed: (503, "LineWebhookPublishFailed"),  # an AWS dependency failed: retry, like intake
}


class Settings(
    bootstrap.TableSettings,
    bootstrap.BusSettings,
    bootstrap.LineSecretSettings,
    bootstrap.ShopConfigSettings,
):
    raw_bucket_name: str | None = Field(None, alias=c.ENV_RAW_BUCKET_NAME)  # where malformed events are kept


@dataclass
class Deps:
    settings: Settings
    shop_id: str
    store: DynamoLineStore
    publisher: EventBridgePublisher
    raw_store: S3RawStore | None

    def channel_secret(self) -> str:
        return str(secrets.get_json_secret(self.settings.line_secret_arn).get("channel_secret") or "")


@bootstrap.container
def deps() -> Deps:
    settings = bootstrap.settings(Settings)
    return Deps(
        settings=settings,
        shop_id=load_shop_config(settings.shop_config_dir).shop_id,
        store=DynamoLineStore(boto3.client("dynamodb"), settings.table_name),
        publisher=EventBridgePublisher(boto3.client("events"), settings.event_bus_name),
        raw_store=S3RawStore(boto3.client("s3"), settings.raw_bucket_name)
        if settings.raw_bucket_name
        else None,
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    d = deps()
    try:
        headers = http_api.headers(event)
        result = handle_webhook(
            http_api.raw_body(event),
            headers.get("x-line-signature"),
            channel_secret=d.channel_secret(),
            shop_id=d.shop_id,
            store=d.store,
            publisher=d.publisher,
            raw_store=d.raw_store,
            headers=headers,
        )
    except tuple(ERRORS) as exc:
        status, metric = next(v for t, v in ERRORS.items() if isinstance(exc, t))
        metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
        if status >= 500:
            logger.exception("LINE webhook not processed")
        return http_api.json_response(status, {})
    for name, value in (
        ("LineIdentityPublished", len(result.published)),
        ("LineWebhookDuplicate", result.duplicates),
        ("LineLinkFailed", result.link_failed),
        ("LineLinkNonceUnknown", result.nonce_unknown),
        ("LineWebhookInvalidEvent", result.invalid),
    ):
        if value:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    metrics.add_metric(name="LineWebhookAccepted", unit=MetricUnit.Count, value=1)
    # LINE user ids are pseudonymous but still personal data: log counts only
    logger.info(
        "LINE webhook",
        extra={
            "published": len(result.published),
            "duplicates": result.duplicates,
            "ignored": result.ignored,
            "invalid": result.invalid,
            "raw_key": result.kept,
        },
    )
    return http_api.json_response(200, {})
