"""LineWebhook λ: ``POST /webhooks/line`` (HTTP API payload v2) → ``line.identity_changed`` events.

Thin: settings validated once; the channel secret read per request from Secrets Manager (cached 5 min); one call
into ``logic.handle_webhook``; domain errors mapped to status codes in ``ERRORS``. 401 leaves no trace but a metric.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field

from enishi import constants as c
from enishi import http_api, secrets
from enishi.line_webhook.logic import BadRequest, InvalidSignature, handle_webhook
from enishi.line_webhook.store import DynamoLineStore
from enishi.publish import EventBridgePublisher, PublishFailed
from enishi.shop_config import load_shop_config

logger = Logger()
metrics = Metrics()

ERRORS: dict[type[Exception], tuple[int, str]] = {
    InvalidSignature: (401, "LineWebhookUnauthorized"),
    BadRequest: (400, "LineWebhookBadRequest"),
    PublishFailed: (500, "LineWebhookPublishFailed"),
}


class Settings(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    table_name: str = Field(alias=c.ENV_TABLE_NAME)
    event_bus_name: str = Field(c.EVENT_BUS_NAME, alias=c.ENV_EVENT_BUS_NAME)
    line_secret_arn: str = Field(alias=c.ENV_LINE_SECRET_ARN)


@dataclass
class Deps:
    settings: Settings
    shop_id: str
    store: DynamoLineStore
    publisher: EventBridgePublisher

    def channel_secret(self) -> str:
        return str(secrets.get_json_secret(self.settings.line_secret_arn).get("channel_secret") or "")


_deps: Deps | None = None


def deps() -> Deps:
    global _deps
    if _deps is None:
        settings = Settings.model_validate(dict(os.environ))
        _deps = Deps(
            settings=settings,
            shop_id=load_shop_config().shop_id,
            store=DynamoLineStore(boto3.client("dynamodb"), settings.table_name),
            publisher=EventBridgePublisher(boto3.client("events"), settings.event_bus_name),
        )
    return _deps


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    d = deps()
    try:
        result = handle_webhook(
            http_api.raw_body(event), http_api.headers(event).get("x-line-signature"),
            channel_secret=d.channel_secret(), shop_id=d.shop_id, store=d.store, publisher=d.publisher,
        )
    except tuple(ERRORS) as exc:
        status, metric = next(v for t, v in ERRORS.items() if isinstance(exc, t))
        metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
        if status >= 500:
            logger.exception("LINE webhook not processed")
        return http_api.json_response(status, {})
    for name, value in (("LineIdentityPublished", len(result.published)), ("LineWebhookDuplicate", result.duplicates),
                        ("LineLinkFailed", result.link_failed), ("LineLinkNonceUnknown", result.nonce_unknown)):
        if value:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    metrics.add_metric(name="LineWebhookAccepted", unit=MetricUnit.Count, value=1)
    # LINE user ids are pseudonymous but still personal data: log counts only
    logger.info("LINE webhook", extra={"published": len(result.published), "duplicates": result.duplicates,
                                        "ignored": result.ignored})
    return http_api.json_response(200, {})
