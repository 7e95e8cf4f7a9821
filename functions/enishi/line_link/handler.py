"""LineLink λ: ``GET /line/link`` → 302 to LINE's account-link dialog (``logic.start_link``). Thin: settings once,
secrets from Secrets Manager (cached 5 min), the link token from the Messaging API, the nonce in DynamoDB."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import Field

from enishi import bootstrap, clock, secrets
from enishi import constants as c
from enishi.line_link import logic
from enishi.line_webhook.store import DynamoLineStore
from enishi.shop_config import load_shop_config

logger = Logger()
metrics = Metrics()
LINE_TIMEOUT = 3.0


class Settings(
    bootstrap.TableSettings,
    bootstrap.LineSecretSettings,
    bootstrap.LineApiSettings,
    bootstrap.ShopConfigSettings,
):
    link_secret_arn: str = Field(alias=c.ENV_LINE_LINK_SECRET_ARN, min_length=1)


@dataclass
class Deps:
    settings: Settings
    store: DynamoLineStore
    served_shops: tuple[str, ...]


@bootstrap.container
def deps() -> Deps:
    settings = bootstrap.settings(Settings)
    served = tuple(sorted(load_shop_config(settings.shop_config_dir).served_shops))
    return Deps(settings, DynamoLineStore(boto3.client("dynamodb"), settings.table_name), served)


def link_token_source(base_url: str, access_token: str) -> logic.LinkTokenSource:
    def issue(line_user_id: str) -> str:
        url = f"{base_url.rstrip('/')}/v2/bot/user/{urllib.parse.quote(line_user_id, safe='')}/linkToken"
        request = urllib.request.Request(
            url, data=b"", method="POST", headers={"Authorization": f"Bearer {access_token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=LINE_TIMEOUT) as response:
                token = json.loads(response.read() or b"{}").get("linkToken")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise logic.LinkTokenFailed(type(exc).__name__) from exc
        if not token:
            raise logic.LinkTokenFailed("no linkToken")
        return str(token)

    return issue


def _page(status: int, text: str, location: str | None = None) -> dict[str, Any]:
    headers = {
        "content-type": "text/plain; charset=utf-8",
        "cache-control": "no-store",
        "referrer-policy": "no-referrer",
    }
    if location:
        headers["location"] = location
    return {"statusCode": status, "headers": headers, "body": text}


MESSAGES = {
    403: "このリンクは無効か期限切れです。ショップのマイページからもう一度お試しください。",
    503: "LINEに接続できませんでした。しばらくしてからもう一度お試しください。",
}


@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    params = {str(k): str(v) for k, v in (event.get("queryStringParameters") or {}).items()}
    try:
        d = deps()
        link_secrets = secrets.rotation_secrets(d.settings.link_secret_arn)
        access_token = str(
            secrets.get_json_secret(d.settings.line_secret_arn).get("channel_access_token") or ""
        )
    except Exception:
        logger.exception("LINE link: settings or secrets unavailable")
        metrics.add_metric(name="LineLinkRefused", unit=MetricUnit.Count, value=1)
        return _page(403, MESSAGES[403])
    answer = logic.start_link(
        params,
        secrets=link_secrets,
        served_shops=d.served_shops,
        link_token=link_token_source(d.settings.line_api_base_url, access_token),
        store=d.store,
        now=clock.now,
    )
    if answer.status == 302:
        metrics.add_metric(name="LineLinkStarted", unit=MetricUnit.Count, value=1)
        return _page(302, "", answer.location)
    metrics.add_metric(name="LineLinkRefused", unit=MetricUnit.Count, value=1)
    logger.info("LINE link refused", extra={"reason": answer.reason})  # no ids: they are personal data
    return _page(answer.status, MESSAGES.get(answer.status, MESSAGES[403]))
