"""Privacy requests act on their own: bus rule (the three privacy events) → SQS (+ DLQ) → the privacy function,
which answers each within Shopify's 30 days — ``customers/data_request``: the export, encrypted in a private
bucket whose objects expire, and the operator told on an SNS topic (the export's S3 key, never personal data);
``customers/redact``: the full erase; ``shop/redact``: every item and kept payload of the shop, in slices the
function chains through its own queue (``enishi.privacy.jobs``)."""

from __future__ import annotations

import json

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from enishi import constants as c
from infra.constructs.function import FunctionFactory
from infra.constructs.queues import ConsumerQueue
from infra.constructs.raw_payloads import RawPayloads
from infra.nag import acknowledge, acknowledge_table_access, arn_part, logical_id

# one slice: a data request's export or a customer's erase scans the table once (~1 GB/min); a shop redaction's
# slice is a few Scan pages. The Lambda maximum, so a large table's customer scan still fits.
TIMEOUT = Duration.minutes(15)
EXPORT_EXPIRY_DAYS = 30  # Shopify's deadline: the operator hands the export over within it
PRIVACY_EVENTS = [c.CUSTOMER_DATA_REQUESTED, c.CUSTOMER_REDACT_REQUESTED, c.SHOP_REDACT_REQUESTED]


class PrivacyRequests(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        functions: FunctionFactory,
        table: dynamodb.ITable,
        bus: events.IEventBus,
        key: kms.IKey,
        raw: RawPayloads,
        removal_policy: RemovalPolicy,
        cart_connections: dict[str, list[str]] | None = None,
        operator_email: str | None = None,
        state_machines: dict[str, sfn.IStateMachine] | None = None,
    ) -> None:
        super().__init__(scope, id)
        self.bucket = s3.Bucket(
            self,
            "Exports",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            versioned=False,  # an export is personal data: no old versions kept past its expiry
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-exports",
                    expiration=Duration.days(EXPORT_EXPIRY_DAYS),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            removal_policy=removal_policy,
        )
        acknowledge(
            self.bucket,
            "AwsSolutions-S1",
            "Holds only data-request exports, written by the privacy function and read by the operator; objects "
            f"expire in {EXPORT_EXPIRY_DAYS} days. Access logs would keep request metadata longer than the exports.",
        )
        self.topic = sns.Topic(
            self, "Topic", display_name="enishi privacy requests", master_key=key, enforce_ssl=True
        )
        if operator_email:
            self.topic.add_subscription(subs.EmailSubscription(operator_email))
        self.queues = ConsumerQueue(self, "Queue", consumer_timeout=TIMEOUT)
        self.rule = events.Rule(
            self,
            "Rule",
            event_bus=bus,
            description="privacy requests (Shopify's mandatory topics) → the privacy function",
            event_pattern=events.EventPattern(source=[c.EVENT_SOURCE_INTAKE], detail_type=PRIVACY_EVENTS),
            targets=[targets.SqsQueue(self.queues.queue, dead_letter_queue=self.queues.dlq)],
        )
        self.function: lambda_.Function = functions.create(
            "Privacy",
            scope=self,
            handler="enishi.privacy.handler.handler",
            description="Acts on privacy requests: data-request export, customer erase, shop redaction",
            timeout=TIMEOUT,
            memory_size=512,
            environment={
                c.ENV_RAW_BUCKET_NAME: raw.bucket.bucket_name,
                c.ENV_PRIVACY_BUCKET_NAME: self.bucket.bucket_name,
                c.ENV_PRIVACY_TOPIC_ARN: self.topic.topic_arn,
                c.ENV_PRIVACY_QUEUE_URL: self.queues.queue.queue_url,
                c.ENV_PRIVACY_CART_CONNECTIONS: json.dumps(cart_connections or {}, sort_keys=True),
                c.ENV_STATE_MACHINE_ARNS: Stack.of(self).to_json_string(
                    {k: m.state_machine_arn for k, m in (state_machines or {}).items()}
                ),
            },
        )
        self.function.add_event_source(
            sources.SqsEventSource(self.queues.queue, batch_size=1, report_batch_item_failures=True)
        )
        self.queues.queue.grant_send_messages(self.function)  # the next slice
        table.grant_read_write_data(self.function)
        acknowledge_table_access(self.function.role, table, write=True)  # type: ignore[arg-type]
        self._grant_exports(self.function, key)
        raw.grant_erase(self.function)
        self.topic.grant_publish(self.function)
        acknowledge(
            self.function.role,  # type: ignore[arg-type]
            f"AwsSolutions-IAM5[Resource::<{logical_id(self.bucket)}.Arn>/*]",
            "Exports are new objects named by request; a shop redaction deletes all of a shop's: this bucket only.",
        )
        self._grant_stop(state_machines or {})
        for action in ("kms:GenerateDataKey*", "kms:ReEncrypt*"):
            acknowledge(
                self.function.role,  # type: ignore[arg-type]
                f"AwsSolutions-IAM5[Action::{action}]",
                "CDK's grant for the KMS-encrypted bucket and topic; limited to the single data key resource.",
            )

    def _grant_exports(self, fn: lambda_.Function, key: kms.IKey) -> None:
        """Named actions only (no ``s3:*Object*`` wildcards): write, read back, list and delete exports."""
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
                resources=[self.bucket.arn_for_objects("*")],
            )
        )
        fn.add_to_role_policy(
            iam.PolicyStatement(actions=["s3:ListBucket"], resources=[self.bucket.bucket_arn])
        )
        key.grant(fn, "kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey")

    def _grant_stop(self, machines: dict[str, sfn.IStateMachine]) -> None:
        """A shop redaction stops the shop's waiting sequences: list a machine's executions, read one's input (its
        shop), stop it."""
        region = arn_part(Stack.of(self).region, "AWS::Region")
        for machine in machines.values():
            machine.grant(self.function, "states:ListExecutions")
            machine.grant_execution(self.function, "states:DescribeExecution", "states:StopExecution")
            acknowledge(
                self.function.role,  # type: ignore[arg-type]
                f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:{region}:<AWS::AccountId>:execution:"
                f'{{"Fn::Select":[6,{{"Fn::Split":[":",{{"Ref":"{logical_id(machine)}"}}]}}]}}:*]',
                "Describe/stop executions of the sequence machines only (a shop redaction stops the shop's): "
                "execution names are made at run time, arn:…:execution:<machine>:* is as narrow as it gets.",
            )
