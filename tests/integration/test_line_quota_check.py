"""The scheduled LINE quota check against the local stack's fake LINE (both quota endpoints): it reads the month's
limit and consumption with the channel token and publishes the share used — the 80 % alarm's metric."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from typing import Any

import boto3

from enishi import bootstrap
from enishi import constants as c
from enishi.channels.line import LineClient, retry_key
from enishi.line_quota import handler as quota_handler
from enishi_local.fake_line import FakeLine

TOKEN = "quota-test-token"


class Context:
    function_name = "LineQuota"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:ap-northeast-1:123456789012:function:LineQuota"
    aws_request_id = "r"


def _run(monkeypatch: Any, line: FakeLine) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    arn = boto3.client("secretsmanager").create_secret(
        Name=f"line-{line.url[-5:]}",
        SecretString=json.dumps({"channel_access_token": TOKEN, "channel_secret": "s"}),
    )["ARN"]
    monkeypatch.setenv(c.ENV_LINE_SECRET_ARN, arn)
    monkeypatch.setenv(c.ENV_LINE_API_BASE_URL, line.url)
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", c.METRICS_NAMESPACE)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "enishi")
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    bootstrap.reset_all()
    out = io.StringIO()
    with redirect_stdout(out):
        result = quota_handler.handler({"source": "aws.events"}, Context())
    emf = [json.loads(line_) for line_ in out.getvalue().splitlines() if line_.startswith("{")]
    return result, emf


def test_four_of_five_messages_used_is_80_percent(aws, monkeypatch):
    with FakeLine(access_token=TOKEN, monthly_quota=5) as line:
        client = LineClient(line.url, TOKEN)
        for n in range(4):
            client.push("U" + "0" * 32, [{"type": "text", "text": "x"}], retry_key(f"m{n}"))
        result, emf = _run(monkeypatch, line)
    assert result == {"used": 4, "limit": 5, "percent": 80.0}
    (doc,) = [d for d in emf if "LineQuotaUsedPercent" in d]
    assert [_value(doc[k]) for k in ("LineQuotaUsedPercent", "LineMessagesUsed", "LineQuotaLimit")] == [
        80,
        4,
        5,
    ]
    assert doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == c.METRICS_NAMESPACE


def test_a_plan_without_a_limit_publishes_no_percent(aws, monkeypatch):
    with FakeLine(access_token=TOKEN, monthly_quota=None) as line:
        result, emf = _run(monkeypatch, line)
    assert result == {"used": 0, "limit": None, "percent": None}
    assert not any("LineQuotaUsedPercent" in d for d in emf)


def _value(v: Any) -> float:
    """An EMF value: a number, or a list of one."""
    return float(v[0] if isinstance(v, list) else v)
