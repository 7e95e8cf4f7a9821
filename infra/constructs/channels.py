"""Channels: SES v2 (configuration set → default bus → Feedback), the LINE webhook, the preferences page,
and what the send step needs to deliver (``sender_settings``)."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_ses as ses
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from enishi import constants as c
from infra.config import StageConfig
from infra.constructs.function import FunctionFactory
from infra.constructs.queues import DLQ_RETENTION
from infra.constructs.secrets import Secrets
from infra.nag import acknowledge, acknowledge_table_access, arn_part

SES_EVENTS = [
    ses.EmailSendingEvent.SEND,
    ses.EmailSendingEvent.DELIVERY,
    ses.EmailSendingEvent.BOUNCE,
    ses.EmailSendingEvent.COMPLAINT,
    ses.EmailSendingEvent.OPEN,
    ses.EmailSendingEvent.CLICK,
    ses.EmailSendingEvent.REJECT,
    ses.EmailSendingEvent.DELIVERY_DELAY,
]
SES_SOURCE = "aws.ses"
DEFAULT_BUS = "default"  # SES publishes only to the default bus (REFERENCE.md §4)


class Channels(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: StageConfig,
        functions: FunctionFactory,
        table: dynamodb.ITable,
        bus: events.IEventBus,
        secrets: Secrets,
        public_base_url: str,
    ) -> None:
        super().__init__(scope, id)
        self._config = config
        self._secrets = secrets
        self._public_base_url = public_base_url

        # ---- SES: configuration set, events to the default bus, optional identity
        self.configuration_set = ses.ConfigurationSet(
            self,
            "ConfigurationSet",
            reputation_metrics=True,
            sending_enabled=True,
            suppression_reasons=ses.SuppressionReasons.BOUNCES_AND_COMPLAINTS,
            tls_policy=ses.ConfigurationSetTlsPolicy.REQUIRE,
        )
        default_bus = events.EventBus.from_event_bus_name(self, "DefaultBus", DEFAULT_BUS)
        self.configuration_set.add_event_destination(
            "ToDefaultBus", destination=ses.EventDestination.event_bus(default_bus), events=SES_EVENTS
        )
        self.identity: ses.EmailIdentity | None = None
        if config.ses_identity and config.create_ses_identity:
            identity = (
                ses.Identity.email(config.ses_identity)
                if "@" in config.ses_identity
                else ses.Identity.domain(config.ses_identity)
            )
            self.identity = ses.EmailIdentity(
                self, "Identity", identity=identity, configuration_set=self.configuration_set
            )

        # ---- Feedback: SES events (default bus) → suppression events + message outcomes
        self.feedback_dlq = sqs.Queue(
            self, "FeedbackDlq", encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True,
            retention_period=DLQ_RETENTION,
        )  # fmt: skip
        acknowledge(
            self.feedback_dlq,
            "AwsSolutions-SQS3",
            "This queue IS a dead-letter queue: of the SES-events rule target and of the Feedback function's "
            "asynchronous invocations (cdk-nag only recognises DLQs named in another queue's redrive policy).",
        )
        self.feedback = functions.create(
            "Feedback",
            scope=self,
            handler="enishi.feedback.handler.handler",
            description="SES events → suppression (bounce, complaint) and message outcomes (delivered, opened, …)",
            timeout=Duration.seconds(30),
        )
        self.feedback.configure_async_invoke(
            retry_attempts=2, on_failure=destinations.SqsDestination(self.feedback_dlq)
        )
        self.feedback_rule = events.Rule(
            self,
            "SesEventsRule",
            event_bus=default_bus,
            description="SES sending events of enishi's configuration set → Feedback",
            # only enishi's mail: SES tags every event with its configuration set (other senders share the bus)
            event_pattern=events.EventPattern(
                source=[SES_SOURCE],
                detail={"mail": {"tags": {"ses:configuration-set": [self.configuration_set.configuration_set_name]}}},
            ),
            targets=[
                targets.LambdaFunction(
                    self.feedback, dead_letter_queue=self.feedback_dlq, retry_attempts=8,
                    max_event_age=Duration.hours(24),
                )
            ],
        )  # fmt: skip
        table.grant_read_write_data(self.feedback)
        acknowledge_table_access(self.feedback.role, table, write=True)  # type: ignore[arg-type]
        bus.grant_put_events_to(self.feedback)

        # ---- LINE webhook: follow / unfollow / account link → line.identity_changed
        self.line_webhook = functions.create(
            "LineWebhook",
            scope=self,
            handler="enishi.line_webhook.handler.handler",
            description="Verifies x-line-signature; follow, unfollow and account link → LINE identity events",
            environment={c.ENV_LINE_SECRET_ARN: secrets.line.secret_arn},
            timeout=Duration.seconds(10),
        )
        secrets.line.grant_read(self.line_webhook)
        table.grant_read_write_data(self.line_webhook)  # dedupe on webhookEventId
        acknowledge_table_access(self.line_webhook.role, table, write=True)  # type: ignore[arg-type]
        bus.grant_put_events_to(self.line_webhook)

        # ---- Preferences: one-click unsubscribe (RFC 8058) and the preference page
        self.preferences = functions.create(
            "Preferences",
            scope=self,
            handler="enishi.preferences.handler.handler",
            description="GET/POST /u/{token}: one-click unsubscribe and the preference page",
            environment={
                c.ENV_UNSUBSCRIBE_SECRET_ARN: secrets.unsubscribe.secret_arn,
                c.ENV_PUBLIC_BASE_URL: public_base_url,
            },
            timeout=Duration.seconds(10),
        )
        secrets.unsubscribe.grant_read(self.preferences)
        table.grant_read_data(self.preferences)
        acknowledge_table_access(self.preferences.role, table, write=False)  # type: ignore[arg-type]
        bus.grant_put_events_to(self.preferences)

    def sender_settings(self) -> dict[str, Any]:
        """What the send step needs to deliver, as the Sequences construct's keyword arguments: the LINE and
        unsubscribe secrets, the public URL for /u/ links, the SES configuration set, From address and identity."""
        return {
            "line_secret": self._secrets.line,
            "unsubscribe_secret": self._secrets.unsubscribe,
            "public_base_url": self._public_base_url,
            "ses_configuration_set": self.configuration_set.configuration_set_name,
            # None: the step reads from_address from the deployed shop.yaml (with its display name)
            "ses_from_address": self._config.from_address_override,
            # unconfigured: any identity of the account, still only through this configuration set
            "ses_identity": self._config.ses_identity or "*",
            "line_api_base_url": self._config.line_api_base_url,
        }

    def acknowledge_sender(self, fn: lambda_.Function) -> None:
        """The one finding ``sender_settings`` can cause: no identity configured → ``identity/*``."""
        if self._config.ses_identity:
            return
        stack = Stack.of(self)
        acknowledge(
            fn.role,  # type: ignore[arg-type]
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ses:{arn_part(stack.region, 'AWS::Region')}:"
            f"{arn_part(stack.account, 'AWS::AccountId')}:identity/*]",
            "No SES identity configured (context enishi:sesIdentity): any verified identity of this account, "
            "and only through enishi's configuration set. Set sesIdentity to narrow it to one identity.",
        )
