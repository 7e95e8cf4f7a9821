"""Step Functions task: one step of a sequence (``enishi.sequences.step.handler.handler``).

Thin: settings and adapters built once by the ``bootstrap.container``, then one call into ``service.run_step``;
the state machine continues with the returned state. Raises ``RetryableSendError`` (the state machine retries with
backoff) when nothing was sent and a retry may help.
"""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import Field

from enishi import bootstrap
from enishi import constants as c
from enishi.sequences.domain import eligibility, opt_out
from enishi.sequences.domain.step import StepResult
from enishi.sequences.step.service import Deps, run_step

logger = Logger()
metrics = Metrics()

# the λ has 30 s: LINE 3 tries × 5 s + backoff, or SES 3 tries × (3 s connect + 8 s read) stay inside it
LINE_TIMEOUT_SECONDS = 5.0
SES_CLIENT_CONFIG = {
    "connect_timeout": 3,
    "read_timeout": 8,
    "retries": {"mode": "standard", "max_attempts": 1},
}


class Settings(bootstrap.TableSettings, bootstrap.ShopConfigSettings):
    line_secret_arn: str | None = Field(default=None, alias=c.ENV_LINE_SECRET_ARN)
    unsubscribe_secret_arn: str | None = Field(default=None, alias=c.ENV_UNSUBSCRIBE_SECRET_ARN)
    ses_configuration_set: str | None = Field(default=None, alias=c.ENV_SES_CONFIGURATION_SET)
    ses_from_address: str | None = Field(default=None, alias=c.ENV_SES_FROM_ADDRESS)
    public_base_url: str | None = Field(default=None, alias=c.ENV_PUBLIC_BASE_URL)
    line_api_base_url: str = Field(default="https://api.line.me", alias=c.ENV_LINE_API_BASE_URL)


def on_result(sequence: str, result: StepResult) -> None:
    """Metrics and the log line of one step (no customer data: the message key stays out)."""
    metrics.add_metric(name=f"Step{result.action.capitalize()}", unit=MetricUnit.Count, value=1)
    if str(result.reason or "").startswith(opt_out.REASON_PREFIX):
        metrics.add_metric(name=opt_out.BROKEN_METRIC, unit=MetricUnit.Count, value=1)
    logger.info("step", extra={"sequence": sequence, **result.log_fields()})


@bootstrap.container
def deps() -> Deps:
    from datetime import timedelta

    from botocore.config import Config

    from enishi import secrets
    from enishi.sequences.adapters.delivery import Delivery
    from enishi.sequences.adapters.ledger import Ledger
    from enishi.sequences.adapters.messages import MessageComposer
    from enishi.sequences.adapters.store import SequenceStore
    from enishi.sequences.domain.quiet_hours import QuietWindow
    from enishi.sequences.domain.spec import load_shop_spec
    from enishi.shop_config import load_shop_config
    from enishi.unsubscribe import served_shop_ids

    settings = bootstrap.settings(Settings)
    shop = load_shop_config(settings.shop_config_dir)
    table = boto3.resource("dynamodb").Table(settings.table_name)
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

    store = SequenceStore(table)
    return Deps(
        store=store,
        ledger=Ledger(table),
        channels=Delivery(email_sender, line_client),
        policy=eligibility.Policy(
            quiet=QuietWindow.from_config(shop.messaging.quiet_hours),
            frequency_cap=timedelta(hours=shop.messaging.marketing_frequency_cap_hours),
            line_marketing_consent=load_shop_spec(settings.shop_config_dir).line_marketing_consent,
        ),
        messages=MessageComposer(
            shop,
            public_base_url=settings.public_base_url,
            signing_keys=signing_keys,
            served=served_shop_ids(shop),
            profiles=store,
        ),
        on_result=on_result,
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    logger.append_keys(execution=event.get("execution"))
    return run_step(event, deps()).state
