"""LINE quota λ (scheduled): read this month's quota and consumption from LINE, publish them as metrics.

The alarm on ``LineQuotaUsedPercent`` (≥ 80 %, ``infra/constructs/monitoring.py``) warns before LINE answers 429
"monthly limit" and the sends fall back to email. Two GETs with the channel access token; no customer data.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from enishi import bootstrap, business_metrics, secrets
from enishi.line_quota import logic

logger = Logger()
metrics = Metrics()

TIMEOUT_SECONDS = 5.0


class Settings(bootstrap.LineSecretSettings, bootstrap.LineApiSettings):
    """The LINE channel's secret and where the Messaging API is (the shared pieces the step function uses too)."""


@dataclass
class Deps:
    base_url: str
    token: str


@bootstrap.container
def deps() -> Deps:
    settings = bootstrap.settings(Settings)
    token = secrets.get_json_secret(settings.line_secret_arn)["channel_access_token"]
    return Deps(base_url=settings.line_api_base_url.rstrip("/"), token=str(token))


def _get(d: Deps, path: str) -> dict[str, Any]:
    request = urllib.request.Request(d.base_url + path, headers={"Authorization": f"Bearer {d.token}"})
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
        data = json.loads(response.read() or b"{}")
    return data if isinstance(data, dict) else {}


def read_usage(d: Deps) -> logic.QuotaUsage:
    return logic.usage(_get(d, logic.QUOTA_PATH), _get(d, logic.CONSUMPTION_PATH))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    found = read_usage(deps())
    metrics.add_metric(name=business_metrics.LINE_MESSAGES_USED, unit=MetricUnit.Count, value=found.used)
    if found.limit is not None:
        metrics.add_metric(name=business_metrics.LINE_QUOTA_LIMIT, unit=MetricUnit.Count, value=found.limit)
    if found.percent is not None:
        metrics.add_metric(
            name=business_metrics.LINE_QUOTA_USED_PERCENT, unit=MetricUnit.Percent, value=found.percent
        )
    result = {"used": found.used, "limit": found.limit, "percent": found.percent}
    logger.info("line quota", extra=result)
    return result
