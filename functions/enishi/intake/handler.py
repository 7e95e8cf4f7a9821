"""Intake Lambda (HTTP API, payload v2): POST /webhooks/shopify and /webhooks/generic.

Thin: parse the API Gateway event into a ``WebhookRequest``, call ``logic.handle`` once, return its answer. The
boto3-backed ports live here. Two routes do not need Powertools' ``APIGatewayHttpResolver`` (≈60 ms of imports
here, measured with ``python -X importtime``): a dict lookup on the route does the same job.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field

from enishi import clock, http_api, keys, secrets
from enishi import constants as c
from enishi.intake import logic
from enishi.publish import EventBridgePublisher
from enishi.raw_payloads import S3RawStore
from enishi.shop_config import load_shop_config

PATH_SHOPIFY = c.PATH_SHOPIFY_WEBHOOK
PATH_GENERIC = c.PATH_GENERIC_WEBHOOK
ROUTES: dict[str, logic.Source] = {PATH_SHOPIFY: logic.SHOPIFY, PATH_GENERIC: logic.GENERIC}

logger = Logger()
metrics = Metrics()


class Settings(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    table_name: str = Field(alias=c.ENV_TABLE_NAME, min_length=1)
    event_bus_name: str = Field(alias=c.ENV_EVENT_BUS_NAME, min_length=1)
    raw_bucket_name: str = Field(alias=c.ENV_RAW_BUCKET_NAME, min_length=1)
    shopify_secret_arn: str = Field(alias=c.ENV_SHOPIFY_SECRET_ARN, min_length=1)
    generic_secret_arn: str = Field(alias=c.ENV_GENERIC_SECRET_ARN, min_length=1)


# ---- adapters behind logic's ports


class DynamoDedupe:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def claim(self, shop: str, source: str, delivery_id: str, expires_at: datetime) -> bool:
        """One conditional put. The marker carries this attempt's token: when botocore retried a put whose first
        try did land (a timeout after the write), the condition fails on *our own* marker — recognised from the
        old item DynamoDB returns — and the delivery is not mistaken for a duplicate (it would be lost)."""
        key = keys.dedupe_key(shop, source, delivery_id)
        token = uuid.uuid4().hex
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    c.ATTR_PK: {"S": key["pk"]},
                    c.ATTR_SK: {"S": key["sk"]},
                    c.ATTR_TTL: {"N": str(int(expires_at.timestamp()))},
                    "claim": {"S": token},
                },
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": c.ATTR_PK},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self._client.exceptions.ConditionalCheckFailedException as exc:
            existing = exc.response.get("Item") or {}
            return existing.get("claim", {}).get("S") == token
        except Exception:
            # unknown outcome (timeouts): take back a marker that may have landed, then fail → the cart retries
            self._delete(key, token)
            raise
        return True

    def _delete(self, key: dict[str, str], token: str) -> None:
        try:
            self._client.delete_item(
                TableName=self._table,
                Key={k: {"S": v} for k, v in key.items()},
                ConditionExpression="#claim = :token",
                ExpressionAttributeNames={"#claim": "claim"},
                ExpressionAttributeValues={":token": {"S": token}},
            )
        except Exception:  # noqa: BLE001 - best effort; the original error is what the caller sees
            pass

    def release(self, shop: str, source: str, delivery_id: str) -> None:
        key = keys.dedupe_key(shop, source, delivery_id)
        self._client.delete_item(TableName=self._table, Key={k: {"S": v} for k, v in key.items()})


class PowertoolsMetrics:
    def count(self, name: str, value: int = 1) -> None:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def _log(message: str, extra: dict[str, Any]) -> None:
    logger.info(message, extra=extra)


# Shopify waits 5 s and the function's timeout is 5 s. botocore's defaults (60 s timeouts, retries) could let a
# slow PutEvents run into the Lambda timeout *after* the dedupe marker was written; the marker would then turn
# Shopify's retry into a "duplicate" and the event would be lost. Bounded calls fail inside the budget instead, so
# logic releases the marker and answers 503. Worst case: claim ≈ 2.4 s + publish ≈ 2.5 s ≈ the 5 s budget; a
# failed claim is an error before anything was published, so the retry is safe.
_FAST = {"connect_timeout": 0.5, "read_timeout": 0.7, "retries": {"total_max_attempts": 2}}
_PUBLISH = {"connect_timeout": 0.5, "read_timeout": 2.0, "retries": {"total_max_attempts": 1}}


def _client(service: str, **config: Any) -> Any:
    from botocore.config import Config  # botocore is already loaded by boto3

    return boto3.client(service, config=Config(**config))


@cache
def ports() -> logic.Ports:
    """Built once per container, on the first request (settings validated then; clients created inside moto in
    tests and the local stack). ``ports.cache_clear()`` rebuilds them."""
    settings = Settings.model_validate(dict(_environ()))
    arns = {logic.SHOPIFY: settings.shopify_secret_arn, logic.GENERIC: settings.generic_secret_arn}
    return logic.Ports(
        secrets=lambda source: secrets.rotation_secrets(arns[source]),
        dedupe=DynamoDedupe(_client("dynamodb", **_FAST), settings.table_name),
        raw=S3RawStore(boto3.client("s3"), settings.raw_bucket_name),
        publisher=EventBridgePublisher(_client("events", **_PUBLISH), settings.event_bus_name),
        metrics=PowertoolsMetrics(),
        shops=load_shop_config().served_shops,
        log=_log,
    )


def _environ() -> Mapping[str, str]:
    import os

    return os.environ


# ---- API Gateway (payload v2) ↔ logic


def route(event: Mapping[str, Any]) -> tuple[logic.Source | None, str]:
    """(source or None, method). Matches ``routeKey`` ("POST /webhooks/shopify") or the end of ``rawPath``
    (a named stage prefixes it: "/prod/webhooks/shopify")."""
    http = event.get("requestContext", {}).get("http", {})
    method = str(http.get("method") or "").upper()
    route_key = str(event.get("routeKey") or "")
    path = (
        route_key.partition(" ")[2]
        if " " in route_key
        else str(event.get("rawPath") or http.get("path") or "")
    )
    for suffix, source in ROUTES.items():
        if path == suffix or path.endswith(suffix):
            return source, method
    return None, method


def request_from(event: Mapping[str, Any], source: logic.Source) -> logic.WebhookRequest:
    return logic.WebhookRequest(source=source, raw=http_api.raw_body(event), headers=http_api.headers(event))


@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    source, method = route(event)
    if source is None or method != "POST":
        metrics.add_metric(name="UnroutedRequest", unit=MetricUnit.Count, value=1)
        if source is None:
            return http_api.json_response(404, {"status": "not_found"})
        return http_api.json_response(405, {"status": "method_not_allowed"})
    answer = logic.handle(request_from(event, source), ports(), clock.now(), clock.peer_now())
    return http_api.json_response(answer.status, answer.body)
