"""Step Functions task: one step of a sequence (``enishi.sequences.step.handler``).

Thin: settings validated once at cold start, clients made once, then one call into ``runner.run_step``.
Raises ``RetryableSendError`` (the state machine retries with backoff) when nothing was sent and a retry may help.
"""

from __future__ import annotations

import functools
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field

from enishi import business_metrics
from enishi import constants as c
from enishi.sequences import eligibility
from enishi.sequences.delivery import Delivery
from enishi.sequences.ledger import Ledger
from enishi.sequences.quiet_hours import QuietWindow
from enishi.sequences.runner import Deps, run_step
from enishi.sequences.store import SequenceStore

logger = Logger()
metrics = Metrics()

# the λ has 30 s: LINE 3 tries × 5 s + backoff, or SES 3 tries × (3 s connect + 8 s read) stay inside it
LINE_TIMEOUT_SECONDS = 5.0
SES_CLIENT_CONFIG = {
    "connect_timeout": 3,
    "read_timeout": 8,
    "retries": {"mode": "standard", "max_attempts": 1},
}


class Settings(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    table_name: str = Field(alias=c.ENV_TABLE_NAME)
    shop_config_dir: str | None = Field(default=None, alias=c.ENV_SHOP_CONFIG_DIR)
    line_secret_arn: str | None = Field(default=None, alias=c.ENV_LINE_SECRET_ARN)
    unsubscribe_secret_arn: str | None = Field(default=None, alias=c.ENV_UNSUBSCRIBE_SECRET_ARN)
    ses_configuration_set: str | None = Field(default=None, alias=c.ENV_SES_CONFIGURATION_SET)
    ses_from_address: str | None = Field(default=None, alias=c.ENV_SES_FROM_ADDRESS)
    public_base_url: str | None = Field(default=None, alias=c.ENV_PUBLIC_BASE_URL)
    line_api_base_url: str = Field(default="https://api.line.me", alias=c.ENV_LINE_API_BASE_URL)


@functools.cache
def _deps() -> Deps:
    import os
    from datetime import timedelta

    from enishi import secrets
    from enishi.channels.context import Links, build_context
    from enishi.sequences import opt_out
    from enishi.sequences.spec import load_shop_spec
    from enishi.shop_config import load_shop_config
    from enishi.unsubscribe import make_token, served_shop_ids, unsubscribe_url

    settings = Settings.model_validate(dict(os.environ))
    shop = load_shop_config(settings.shop_config_dir)
    table = boto3.resource("dynamodb").Table(settings.table_name)
    from botocore.config import Config

    # botocore does not retry: EmailSender owns the throttling retries, the state machine everything after
    ses = boto3.client("sesv2", config=Config(**SES_CLIENT_CONFIG))

    def email_sender() -> Any:
        from enishi.channels.email import EmailSender

        return EmailSender(
            ses,
            settings.ses_configuration_set or "",
            settings.ses_from_address or shop.from_address,
            shop.reply_to,
        )

    def line_client() -> Any:
        from enishi.channels.line import LineClient

        if not settings.line_secret_arn:
            raise RuntimeError("LINE is not configured (no ENISHI_LINE_SECRET_ARN)")
        token = secrets.get_json_secret(settings.line_secret_arn)["channel_access_token"]
        return LineClient(settings.line_api_base_url, token, LINE_TIMEOUT_SECONDS)

    def signing_keys() -> list[bytes]:
        if not settings.unsubscribe_secret_arn:
            return []
        return [s.encode("utf-8") for s in secrets.rotation_secrets(settings.unsubscribe_secret_arn)]

    def link(shop_id: str, customer_id: str, channel: str) -> str | None:
        keys_ = signing_keys()
        if not (keys_ and settings.public_base_url):
            return None
        return unsubscribe_url(settings.public_base_url, make_token(keys_[0], shop_id, customer_id, channel))

    store = SequenceStore(table)

    def context(sequence, step, profile, trigger, unsubscribe, marketing):
        links = Links(unsubscribe_url=unsubscribe, preferences_url=unsubscribe)
        return build_context(sequence, step, profile, trigger, shop, links, marketing=marketing)

    def on_result(sequence: str, result: dict[str, Any]) -> None:
        metrics.add_metric(name=f"Step{result['action'].capitalize()}", unit=MetricUnit.Count, value=1)
        if result["action"] == "sent":
            business_metrics.message_sent(sequence, result.get("channel"))
        if str(result.get("reason") or "").startswith(opt_out.REASON_PREFIX):
            metrics.add_metric(name=opt_out.BROKEN_METRIC, unit=MetricUnit.Count, value=1)
        logger.info(
            "step", extra={"sequence": sequence, **{k: v for k, v in result.items() if k != "message_key"}}
        )

    return Deps(
        store=store,
        ledger=Ledger(table),
        channels=Delivery(email_sender, line_client),
        policy=eligibility.Policy(
            quiet=QuietWindow.from_config(shop.messaging.quiet_hours),
            frequency_cap=timedelta(hours=shop.messaging.marketing_frequency_cap_hours),
            line_marketing_consent=load_shop_spec(settings.shop_config_dir).line_marketing_consent,
        ),
        build_context=context,
        unsubscribe_url=link,
        check_opt_out=opt_out.checker(signing_keys, served_shop_ids(shop), store),
        on_result=on_result,
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    logger.append_keys(execution=event.get("execution"))
    return run_step(event, _deps())


def reset() -> None:
    """Forget the cold-start state (tests and the local stack switch environments)."""
    _deps.cache_clear()
