"""CartPoller λ, one per connected shop (reserved concurrency 1: one token refresh at a time, one pace).

Two triggers, dispatched by shape:
- the connection's schedule (EventBridge rule, every ``sweep_minutes``) → ``service.sweep``;
- its fetch queue (SQS; id-only notifications put there by ``polling.webhook``) → ``service.fetch_notified``, with
  partial batch failures so one bad message does not hold back the others.
Settings are validated once per container; ``reset()`` drops the cached dependencies (tests, the local stack).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field

from enishi import clock
from enishi import constants as c
from enishi.polling import service
from enishi.polling.contract import CartConnection, PerConnection, cart_module
from enishi.polling.http import CartApi, CartAuthFailed, CartRequestFailed, TokenManager
from enishi.polling.store import DynamoCursorStore, DynamoEventClaims, S3RowKeeper, SecretsManagerVault
from enishi.publish import EventBridgePublisher

logger = Logger()
metrics = Metrics()


class Settings(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    table_name: str = Field(alias=c.ENV_TABLE_NAME, min_length=1)
    event_bus_name: str = Field(alias=c.ENV_EVENT_BUS_NAME, min_length=1)
    raw_bucket_name: str = Field(alias=c.ENV_RAW_BUCKET_NAME, min_length=1)
    connection: str = Field(alias=c.ENV_CART_CONNECTION, min_length=2)
    secret_arn: str = Field(alias=c.ENV_CART_SECRET_ARN, min_length=1)


@dataclass
class Deps:
    connection: CartConnection
    cart: Any
    tokens: TokenManager
    api: CartApi
    cursors: DynamoCursorStore
    claims: DynamoEventClaims
    publisher: EventBridgePublisher
    raw: S3RowKeeper


def _build() -> Deps:
    settings = Settings.model_validate(dict(os.environ))
    connection = CartConnection.from_env(settings.connection)
    cart = cart_module(connection.cart)
    tokens = TokenManager(SecretsManagerVault(boto3.client("secretsmanager"), settings.secret_arn))
    request_headers = getattr(cart, "request_headers", None)
    api = CartApi(
        cart.api_base(connection),
        tokens=tokens,
        min_interval=cart.MIN_INTERVAL_SECONDS,
        header_factory=(lambda: request_headers(tokens.secret)) if request_headers else None,
    )
    ddb = boto3.client("dynamodb")
    return Deps(
        connection,
        cart,
        tokens,
        api,
        DynamoCursorStore(ddb, settings.table_name),
        DynamoEventClaims(ddb, settings.table_name),
        EventBridgePublisher(boto3.client("events"), settings.event_bus_name),
        S3RowKeeper(boto3.client("s3"), settings.raw_bucket_name),
    )


_container: PerConnection[Deps] = PerConnection(_build)


def deps() -> Deps:
    return _container.get()


def reset() -> None:
    _container.reset()


def _ports(d: Deps, context: Any) -> service.Ports:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return service.Ports(
        api=d.api,
        cursors=d.cursors,
        claims=d.claims,
        publisher=d.publisher,
        raw=d.raw,
        time_left=(lambda: remaining() / 1000.0) if callable(remaining) else (lambda: float("inf")),
        log=lambda message, extra: logger.info(message, extra=extra),
    )


def _count(report: service.Report, mode: str) -> None:
    metrics.add_metric(name="CartEventsPublished", unit=MetricUnit.Count, value=report.published)
    if report.kept:
        metrics.add_metric(name="UnprocessablePayload", unit=MetricUnit.Count, value=report.kept)
    if report.stopped and report.stopped.startswith("cart_unavailable"):
        metrics.add_metric(name="CartUnavailable", unit=MetricUnit.Count, value=1)
    logger.info(f"cart {mode}", extra=dict(report.as_dict()))


@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    d = deps()
    ports = _ports(d, context)
    now = clock.now()
    try:
        if isinstance(event, dict) and isinstance(event.get("Records"), list):
            failures = []
            for record in event["Records"]:
                try:
                    notes = json.loads(record.get("body") or "{}").get("notifications") or []
                    _count(service.fetch_notified(d.connection, d.cart, notes, ports, now), "fetch")
                except Exception:
                    logger.exception("fetch failed", extra={"connection": d.connection.id})
                    failures.append({"itemIdentifier": record.get("messageId")})
            return {"batchItemFailures": failures}
        report = service.sweep(d.connection, d.cart, ports, now)
        _count(report, "sweep")
        return report.as_dict()
    except (CartAuthFailed, CartRequestFailed) as exc:
        metrics.add_metric(
            name="CartAuthFailed" if isinstance(exc, CartAuthFailed) else "CartRequestFailed",
            unit=MetricUnit.Count,
            value=1,
        )
        logger.error("cart refused", extra={"connection": d.connection.id, "error": str(exc)})
        raise
