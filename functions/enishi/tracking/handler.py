"""Click λ: ``GET /r/{token}`` → ``redirect.follow`` → 302. Thin: settings and clients once (``bootstrap``), the
link keys read per request (cached 5 min by Powertools) so a rotated secret is picked up without a cold start."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from enishi import bootstrap, clock, http_api, secrets
from enishi.feedback.store import DynamoMessageOutcomes
from enishi.shop_config import load_shop_config
from enishi.tracking import redirect

logger = Logger()
metrics = Metrics()


class Settings(bootstrap.TableSettings, bootstrap.ShopConfigSettings, bootstrap.UnsubscribeSecretSettings):
    pass


@dataclass(frozen=True)
class Deps:
    settings: Settings
    served_shops: tuple[str, ...]
    site_url: str
    outcomes: DynamoMessageOutcomes


@bootstrap.container
def deps() -> Deps:
    settings = bootstrap.settings(Settings)
    shop = load_shop_config(settings.shop_config_dir)
    return Deps(
        settings,
        tuple(shop.served_shops),
        shop.site_url,
        DynamoMessageOutcomes(boto3.client("dynamodb"), settings.table_name),
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    d = deps()
    keys_ = [
        s.encode("utf-8") for s in secrets.rotation_secrets(d.settings.unsubscribe_secret_arn, retired=True)
    ]
    method = ((event.get("requestContext") or {}).get("http") or {}).get("method", "GET")
    answer = redirect.follow(
        secrets=keys_,
        served_shops=d.served_shops,
        token=(event.get("pathParameters") or {}).get("token"),
        method=str(method),
        headers=http_api.headers(event),
        now=clock.now(),
        site_url=d.site_url,
        recorder=d.outcomes,
    )
    metrics.add_metric(name=f"Redirect_{answer.outcome}", unit=MetricUnit.Count, value=1)
    logger.info("redirect", extra={"outcome": answer.outcome, "status": answer.status})  # no token, no target
    headers = dict(redirect.HEADERS)
    if answer.location:
        headers["Location"] = answer.location
    body = "" if answer.location else "Not Found"
    return {"statusCode": answer.status, "headers": headers, "body": body}
