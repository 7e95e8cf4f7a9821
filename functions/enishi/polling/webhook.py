"""CartWebhook λ: ``POST /webhooks/{cart}/{connection}`` for a polled cart that pushes ids (EC-CUBE).

Verify the signature over the raw body (before anything can raise), parse the id list, put it on the connection's
fetch queue, answer 200 at once: EC-CUBE waits for the answer inside its own customer's request (timeout 5 s) and
never retries. The poller fetches the full records from the queue. Nothing authentic is lost: a body that does not
parse is kept in the raw bucket (400); a queue failure answers 503, and the next sweep catches the change up anyway.

| outcome                       | answer            |
|-------------------------------|-------------------|
| signature missing / bad       | 401, metric only  |
| not EC-CUBE's id array        | 400, raw kept     |
| queue unavailable             | 503               |
| otherwise                     | 200 ``queued`` n  |
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import Field

from enishi import bootstrap, clock, http_api, json_input
from enishi import constants as c
from enishi.carts import Unprocessable
from enishi.polling.contract import CartConnection, cart_module
from enishi.polling.store import SecretsManagerVault
from enishi.raw_payloads import S3RawStore

logger = Logger()
metrics = Metrics()


class Settings(bootstrap.CartConnectionSettings, bootstrap.RawBucketSettings):
    queue_url: str = Field(alias=c.ENV_CART_FETCH_QUEUE_URL, min_length=1)


@dataclass
class Deps:
    connection: CartConnection
    cart: Any
    vault: SecretsManagerVault
    sqs: Any
    raw: S3RawStore
    settings: Settings


@bootstrap.container_per(c.ENV_CART_CONNECTION, c.ENV_CART_SECRET_ARN)
def deps() -> Deps:
    settings = bootstrap.settings(Settings)
    connection = CartConnection.from_env(settings.connection)
    return Deps(
        connection,
        cart_module(connection.cart),
        SecretsManagerVault(boto3.client("secretsmanager"), settings.secret_arn),
        boto3.client("sqs"),
        S3RawStore(boto3.client("s3"), settings.raw_bucket_name),
        settings,
    )


def _refuse(d: Deps, raw: bytes, headers: dict[str, str], reason: str, details: Any) -> dict[str, Any]:
    """An authentic body that is not an id list: 400, kept as intake keeps one (``raw_payloads``: bytes, headers
    with the signature, reason), or 503 when the bucket cannot take it — never a bare 500."""
    try:
        d.raw.keep(d.connection.cart, raw, headers, reason, details, clock.now())
    except Exception:
        logger.exception("cart webhook: could not keep an authentic body")
        return http_api.json_response(503, {"status": "retry"})
    metrics.add_metric(name="UnprocessablePayload", unit=MetricUnit.Count, value=1)
    return http_api.json_response(400, {"status": "rejected"})


@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        d = deps()
        raw = http_api.raw_body(event)
        headers = http_api.headers(event)
        signature = headers.get(d.cart.SIGNATURE_HEADER)
        secrets = d.vault.load().webhook_secrets() if signature else []
    except Exception:
        logger.exception("cart webhook: could not check the signature")
        metrics.add_metric(name="InvalidSignature", unit=MetricUnit.Count, value=1)
        return http_api.json_response(401, {"status": "unauthorized"})
    if not d.cart.verify_signature(raw, signature, secrets):
        metrics.add_metric(name="InvalidSignature", unit=MetricUnit.Count, value=1)
        return http_api.json_response(401, {"status": "unauthorized"})
    try:
        notes = d.cart.parse_notifications(json_input.loads(raw))
    except json_input.BodyRejected as exc:  # not JSON, or nested past what any parser should recurse through
        return _refuse(d, raw, headers, exc.reason, {"error": exc.message})
    except Unprocessable as exc:
        return _refuse(d, raw, headers, "unprocessable", exc.as_dict())
    if not notes:
        return http_api.json_response(200, {"status": "accepted", "queued": 0})
    try:
        d.sqs.send_message(QueueUrl=d.settings.queue_url, MessageBody=json.dumps({"notifications": notes}))
    except Exception:
        logger.exception("cart webhook: queue unavailable", extra={"connection": d.connection.id})
        metrics.add_metric(name="CartNotificationNotQueued", unit=MetricUnit.Count, value=1)
        return http_api.json_response(503, {"status": "retry"})
    metrics.add_metric(name="CartNotificationQueued", unit=MetricUnit.Count, value=len(notes))
    return http_api.json_response(200, {"status": "accepted", "queued": len(notes)})
