"""The enishi stack: composes the constructs (one per concern) and nothing else."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_logs as logs
from constructs import Construct

from enishi import constants as c
from enishi.shop_config import load_shop_config
from infra.config import StageConfig
from infra.constructs.analytics import Analytics
from infra.constructs.api import Api
from infra.constructs.bus import Bus
from infra.constructs.campaigns import Campaigns
from infra.constructs.channels import Channels
from infra.constructs.encryption import DataKey
from infra.constructs.function import FunctionFactory
from infra.constructs.intake import Intake
from infra.constructs.line_link import LineLinking
from infra.constructs.line_quota import LineQuotaCheck
from infra.constructs.monitoring import Monitoring
from infra.constructs.polling import CartPolling
from infra.constructs.privacy import PrivacyRequests
from infra.constructs.profiles import Profiles
from infra.constructs.raw_payloads import RawPayloads
from infra.constructs.secrets import Secrets
from infra.constructs.sequences import Sequences
from infra.constructs.table import Table
from infra.constructs.tracking import ClickTracking
from infra.paths import SHOP_DIR


class EnishiStack(Stack):
    def __init__(self, scope: Construct, id: str, *, config: StageConfig, **kwargs: Any) -> None:
        super().__init__(
            scope, id, description="enishi (縁): customer-lifecycle messaging for EC/D2C shops", **kwargs
        )
        removal = RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY
        config.check_sender(load_shop_config(str(SHOP_DIR)).from_address)  # fail the synth, not every send
        retention = _retention(config.log_retention_days)

        key = DataKey(self, "DataKey", removal_policy=removal).key
        table = Table(self, "Data", key=key, retain=config.retain_data).table
        bus = Bus(self, "Events", archive_retention=Duration.days(config.event_archive_days)).bus
        secrets = Secrets(self, "Secrets", removal_policy=removal)
        raw = RawPayloads(
            self, "RawPayloads", key=key, expiry_days=config.raw_payload_expiry_days, removal_policy=removal
        )
        monitoring = Monitoring(self, "Monitoring", key=key, alarm_email=config.alarm_email)
        functions = FunctionFactory(
            self, "Functions", table=table, bus=bus, log_retention=retention, removal_policy=removal
        )
        api = Api(
            self,
            "Api",
            rate_limit=config.api_rate_limit,
            burst_limit=config.api_burst_limit,
            log_retention=retention,
            removal_policy=removal,
        )

        intake = Intake(self, "Intake", functions=functions, table=table, bus=bus, secrets=secrets, raw=raw)
        profiles = Profiles(self, "Profiles", functions=functions, table=table, bus=bus)
        channels = Channels(
            self,
            "Channels",
            config=config,
            functions=functions,
            table=table,
            bus=bus,
            secrets=secrets,
            public_base_url=api.url,
        )
        # the LINE webhook keeps malformed events (authentic, signed) in the same raw-payload bucket as intake
        raw.grant_write(channels.line_webhook)
        channels.line_webhook.add_environment(c.ENV_RAW_BUCKET_NAME, raw.bucket.bucket_name)
        # alarms live in Monitoring (one place): the Sequences construct gets no alarm topic of its own
        sequences = Sequences(
            self,
            "Sequences",
            table=table,
            bus=bus,
            functions=functions,
            shop_dir=SHOP_DIR,
            removal_policy=removal,
            **channels.sender_settings(),
        )
        channels.acknowledge_sender(sequences.step_function)
        analytics = Analytics(
            self, "Analytics", table=table, key=key, functions=functions, removal_policy=removal
        )
        campaigns = Campaigns(
            self,
            "Campaigns",
            table=table,
            key=key,
            bucket=analytics.bucket,
            functions=functions,
            removal_policy=removal,
            **channels.sender_settings(),
        )
        channels.acknowledge_sender(campaigns.send_function)

        post, get = apigw.HttpMethod.POST, apigw.HttpMethod.GET
        api.add_route("Shopify", c.PATH_SHOPIFY_WEBHOOK, [post], intake.function, "webhook")
        api.add_route("Generic", c.PATH_GENERIC_WEBHOOK, [post], intake.function, "webhook")
        api.add_route("Line", c.PATH_LINE_WEBHOOK, [post], channels.line_webhook, "webhook")
        api.add_route("Unsubscribe", c.PATH_UNSUBSCRIBE, [get, post], channels.preferences, "unsubscribe")
        ClickTracking(
            self,
            "ClickTracking",
            functions=functions,
            table=table,
            unsubscribe_secret=secrets.unsubscribe,
            api=api,
        )
        LineLinking(
            self,
            "LineLinking",
            functions=functions,
            table=table,
            line_secret=secrets.line,
            api=api,
            line_api_base_url=config.line_api_base_url,
            removal_policy=removal,
        )
        shop = load_shop_config(str(SHOP_DIR))
        carts = CartPolling(
            self,
            "CartPolling",
            connections=config.cart_connections,
            functions=functions,
            table=table,
            bus=bus,
            raw=raw,
            api=api,
            removal_policy=removal,
            served_shops=(shop.shop_id, *(getattr(shop, "additional_shop_ids", None) or ())),
        )

        privacy = PrivacyRequests(
            self,
            "Privacy",
            functions=functions,
            table=table,
            bus=bus,
            key=key,
            raw=raw,
            removal_policy=removal,
            cart_connections=_connections_by_shop(config),
            operator_email=config.alarm_email,
            state_machines=dict(sequences.state_machines),
        )

        monitoring.watch_business(c.SEQUENCES)
        LineQuotaCheck(
            self,
            "LineQuota",
            functions=functions,
            line_secret=secrets.line,
            line_api_base_url=config.line_api_base_url,
        )
        monitoring.watch_line_quota()
        monitoring.watch(
            dlqs={
                "Profiles": profiles.queues.dlq,
                "Privacy": privacy.queues.dlq,
                "Feedback": channels.feedback_dlq,
                "SequenceStarter": sequences.starter_queues.dlq,
                "Winback": sequences.winback_dlq,
                **carts.dlqs,
            },
            functions=dict(functions.functions),
            state_machines={
                **sequences.state_machines,
                "Analytics": analytics.state_machine,
                "Campaign": campaigns.state_machine,
            },
        )
        for alarm in sequences.alarms:  # parked events unresolved, opt-out links broken, win-back not run
            alarm.add_alarm_action(cw_actions.SnsAction(monitoring.topic))

        CfnOutput(self, c.OUTPUT_API_URL, value=api.url, description="Base URL of the webhooks and /u/ links")
        CfnOutput(self, c.OUTPUT_TABLE_NAME, value=table.table_name)
        CfnOutput(self, c.OUTPUT_EVENT_BUS_NAME, value=bus.event_bus_name)
        # the operator pastes the cart's and LINE's secrets into these after deploy (docs/deploy.md)
        CfnOutput(self, c.OUTPUT_SHOPIFY_SECRET_ARN, value=secrets.shopify.secret_arn)
        CfnOutput(self, c.OUTPUT_GENERIC_SECRET_ARN, value=secrets.generic.secret_arn)
        CfnOutput(self, c.OUTPUT_LINE_SECRET_ARN, value=secrets.line.secret_arn)
        CfnOutput(self, c.OUTPUT_RAW_BUCKET_NAME, value=raw.bucket.bucket_name)
        CfnOutput(self, c.OUTPUT_PRIVACY_BUCKET_NAME, value=privacy.bucket.bucket_name)
        CfnOutput(self, c.OUTPUT_PRIVACY_TOPIC_ARN, value=privacy.topic.topic_arn)
        CfnOutput(self, c.OUTPUT_ANALYTICS_BUCKET_NAME, value=analytics.bucket.bucket_name)
        CfnOutput(self, c.OUTPUT_ANALYTICS_STATE_MACHINE_ARN, value=analytics.state_machine.state_machine_arn)
        CfnOutput(self, c.OUTPUT_CAMPAIGN_STATE_MACHINE_ARN, value=campaigns.state_machine.state_machine_arn)


def _connections_by_shop(config: StageConfig) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for connection in config.cart_connections:
        out.setdefault(connection.shop_id, []).append(connection.id)
    return out


_RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}


def _retention(days: int) -> logs.RetentionDays:
    if days not in _RETENTION:
        raise ValueError(f"enishi:logRetentionDays must be one of {sorted(_RETENTION)}, not {days}")
    return _RETENTION[days]
