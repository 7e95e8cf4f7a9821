"""Intake: POST /webhooks/shopify and /webhooks/generic → verify, adapt, dedupe, publish (docs/internals.md)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from enishi import constants as c
from infra.constructs.function import FunctionFactory
from infra.constructs.raw_payloads import RawPayloads
from infra.constructs.secrets import Secrets
from infra.nag import acknowledge_table_access

# Shopify allows 5 s in total: if the function has not answered by then, the delivery failed anyway
TIMEOUT = Duration.seconds(5)


class Intake(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        functions: FunctionFactory,
        table: dynamodb.ITable,
        bus: events.IEventBus,
        secrets: Secrets,
        raw: RawPayloads,
    ) -> None:
        super().__init__(scope, id)
        self.function: lambda_.Function = functions.create(
            "Intake",
            scope=self,
            handler="enishi.intake.handler.handler",
            description="Verifies Shopify/generic webhooks, adapts them to canonical events, publishes them",
            environment={
                c.ENV_SHOPIFY_SECRET_ARN: secrets.shopify.secret_arn,
                c.ENV_GENERIC_SECRET_ARN: secrets.generic.secret_arn,
                c.ENV_RAW_BUCKET_NAME: raw.bucket.bucket_name,
                c.ENV_RAW_TTL_DAYS: str(raw.expiry_days),
            },
            timeout=TIMEOUT,
            memory_size=512,  # more memory = more CPU: a faster cold start inside Shopify's 5 s budget
        )
        table.grant_read_write_data(self.function)  # dedupe markers
        acknowledge_table_access(self.function.role, table, write=True)  # type: ignore[arg-type]
        bus.grant_put_events_to(self.function)
        secrets.shopify.grant_read(self.function)
        secrets.generic.grant_read(self.function)
        raw.grant_write(self.function)
