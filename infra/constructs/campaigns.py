"""Campaigns to segments (docs/campaigns.md): the ``Campaign`` state machine, its plan and send λ, the tick.

``Plan`` (select the audience over the latest analytics rows → ``campaigns/<id>/<run>/recipients.jsonl`` in the
analytics bucket, holdout and variant decided; the quiet-hours start; pacing from the SES send rate) → nobody?
done → ``Wait`` until ``$.plan.wait_until`` (a campaign started at 20:50 JST waits for 09:00) → a **Distributed
Map** over the recipient list (ItemReader S3 JSONL, ItemBatcher ``$.plan.batch_size`` items per child,
MaxConcurrency ``$.plan.max_concurrency``) whose child sends one batch with the send λ, which runs every
recipient through the sequence step's own checks and exactly-once ledger.

Least privilege: the plan λ reads ``segments/*`` and writes ``campaigns/*`` of the analytics bucket; the send λ
gets named DynamoDB item actions on the table (no Scan, no Query, no batch), ``ses:SendEmail`` through the
configuration set, the LINE and unsubscribe secrets; the machine reads the bucket's objects (CDK's ItemReader
grant) and starts its own child executions.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from enishi import constants as c
from infra.constructs.function import FunctionFactory
from infra.nag import acknowledge, arn_part, logical_id

SEND_TIMEOUT = Duration.minutes(15)  # a batch is planned to last ~5 minutes (enishi.campaigns.pacing)
SEND_ITEM_ACTIONS = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
TICK_SCHEDULE = "rate(15 minutes)"  # scheduled campaigns (schedule.at) start from this tick
RUN_TIMEOUT = Duration.days(2)  # the quiet-hours wait (≤ 12 h) and a paced send of millions


def sender_environment(
    *,
    line_secret: secretsmanager.ISecret | None,
    unsubscribe_secret: secretsmanager.ISecret | None,
    public_base_url: str | None,
    ses_configuration_set: str | None,
    ses_from_address: str | None,
    line_api_base_url: str,
) -> dict[str, str]:
    """The send λ's environment: what the sequence step's settings read (``sequences/step/handler.Settings``)."""
    optional = {
        c.ENV_LINE_SECRET_ARN: line_secret.secret_arn if line_secret else None,
        c.ENV_UNSUBSCRIBE_SECRET_ARN: unsubscribe_secret.secret_arn if unsubscribe_secret else None,
        c.ENV_PUBLIC_BASE_URL: public_base_url,
        c.ENV_SES_CONFIGURATION_SET: ses_configuration_set,
        c.ENV_SES_FROM_ADDRESS: ses_from_address,
    }
    return {
        c.ENV_LINE_API_BASE_URL: line_api_base_url,
        **{k: v for k, v in optional.items() if v is not None},
    }


class Campaigns(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        table: dynamodb.ITable,
        key: kms.IKey,
        bucket: s3.IBucket,
        functions: FunctionFactory,
        removal_policy: RemovalPolicy,
        line_secret: secretsmanager.ISecret | None = None,
        unsubscribe_secret: secretsmanager.ISecret | None = None,
        public_base_url: str | None = None,
        ses_configuration_set: str | None = None,
        ses_from_address: str | None = None,
        ses_identity: str | None = None,
        line_api_base_url: str = c.LINE_API_BASE_URL,
    ) -> None:
        super().__init__(scope, id)
        stack = Stack.of(self)
        self.bucket = bucket
        bucket_env = {c.ENV_ANALYTICS_BUCKET_NAME: bucket.bucket_name}
        self.plan_function = functions.create(
            "CampaignPlan",
            handler="enishi.campaigns.handler.plan_handler",
            description="campaign: audience over the analytics rows → recipient list in S3, start time, pacing",
            environment=bucket_env,
            timeout=Duration.minutes(15),
            memory_size=1769,
            scope=self,
        )
        self.send_function = functions.create(
            "CampaignSend",
            handler="enishi.campaigns.handler.send_handler",
            description="campaign: one batch of recipients through the sequence step's checks and ledger",
            environment=sender_environment(
                line_secret=line_secret,
                unsubscribe_secret=unsubscribe_secret,
                public_base_url=public_base_url,
                ses_configuration_set=ses_configuration_set,
                ses_from_address=ses_from_address,
                line_api_base_url=line_api_base_url,
            ),
            timeout=SEND_TIMEOUT,
            scope=self,
        )
        self._grant_plan(key)
        self._grant_send(
            table, key, stack, (line_secret, unsubscribe_secret), ses_identity, ses_configuration_set
        )
        self.state_machine = self._machine(key, removal_policy)
        self.tick_function = functions.create(
            "CampaignTick",
            handler="enishi.campaigns.handler.tick_handler",
            description="campaign: start the scheduled campaigns whose time came",
            environment={c.ENV_CAMPAIGN_STATE_MACHINE_ARN: self.state_machine.state_machine_arn},
            scope=self,
        )
        self.state_machine.grant_start_execution(self.tick_function)
        self.schedule = events.Rule(
            self,
            "Tick",
            schedule=events.Schedule.expression(TICK_SCHEDULE),
            targets=[targets.LambdaFunction(self.tick_function, retry_attempts=2)],
            description="campaigns: start the campaigns whose schedule.at came (every 15 minutes)",
        )

    def _grant_plan(self, key: kms.IKey) -> None:
        fn = self.plan_function
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"], resources=[self.bucket.arn_for_objects("segments/*")]
            )
        )
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"], resources=[self.bucket.arn_for_objects("campaigns/*")]
            )
        )
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[self.bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": ["segments/*"]}},
            )
        )
        key.grant(fn, "kms:Decrypt", "kms:GenerateDataKey")
        acknowledge(
            fn.role,  # type: ignore[arg-type]
            f"AwsSolutions-IAM5[Resource::<{logical_id(self.bucket)}.Arn>/segments/*]",
            "The analytics job's segment rows (one folder per run); read only.",
        )
        acknowledge(
            fn.role,  # type: ignore[arg-type]
            f"AwsSolutions-IAM5[Resource::<{logical_id(self.bucket)}.Arn>/campaigns/*]",
            "The campaigns' recipient lists (one key per run); written only.",
        )

    def _grant_send(
        self,
        table: dynamodb.ITable,
        key: kms.IKey,
        stack: Stack,
        secrets: tuple[secretsmanager.ISecret | None, ...],
        ses_identity: str | None,
        ses_configuration_set: str | None,
    ) -> None:
        fn = self.send_function
        fn.add_to_role_policy(iam.PolicyStatement(actions=SEND_ITEM_ACTIONS, resources=[table.table_arn]))
        key.grant(fn, "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey")
        for secret in secrets:
            if secret is not None:
                secret.grant_read(fn)
        ses = [
            stack.format_arn(service="ses", resource="identity", resource_name=ses_identity)
            if ses_identity
            else None,
            stack.format_arn(service="ses", resource="configuration-set", resource_name=ses_configuration_set)
            if ses_configuration_set
            else None,
        ]
        resources = [r for r in ses if r is not None]
        if resources:
            fn.add_to_role_policy(iam.PolicyStatement(actions=["ses:SendEmail"], resources=resources))

    def _machine(self, key: kms.IKey, removal_policy: RemovalPolicy) -> sfn.StateMachine:
        plan = tasks.LambdaInvoke(
            self,
            "Plan",
            lambda_function=self.plan_function,
            payload=sfn.TaskInput.from_object(
                {
                    "campaign_id": sfn.JsonPath.string_at("$.campaign_id"),
                    "run_tag": sfn.JsonPath.string_at("$$.Execution.Name"),
                }
            ),
            payload_response_only=True,
            result_path="$.plan",
            retry_on_service_exceptions=True,
        )
        wait = sfn.Wait(
            self, "Wait for the quiet hours to end", time=sfn.WaitTime.timestamp_path("$.plan.wait_until")
        )
        send = tasks.LambdaInvoke(
            self,
            "Send batch",
            lambda_function=self.send_function,
            payload_response_only=True,  # the batch as it is: {"Items": [...], "BatchInput": {"batch": ...}}
            retry_on_service_exceptions=True,
        )
        send.add_retry(
            errors=["RetryableSendError"],
            interval=Duration.seconds(30),
            max_attempts=5,
            backoff_rate=2,
        )
        fan_out = sfn.DistributedMap(
            self,
            "Send to every recipient",
            item_reader=sfn.S3JsonLItemReader(bucket=self.bucket, key=sfn.JsonPath.string_at("$.plan.key")),
            item_batcher=sfn.ItemBatcher(
                max_items_per_batch_path="$.plan.batch_size",
                batch_input={"batch.$": "$.plan.batch"},
            ),
            max_concurrency_path="$.plan.max_concurrency",
            map_execution_type=sfn.StateMachineType.STANDARD,
            result_path="$.batches",
        )
        fan_out.item_processor(send)
        anyone = sfn.Choice(self, "Anyone to send to?")
        done = sfn.Succeed(self, "Done")
        anyone.when(sfn.Condition.number_greater_than("$.plan.recipients", 0), wait).otherwise(done)
        wait.next(fan_out)
        log_group = logs.LogGroup(
            self, "Logs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=removal_policy
        )
        machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(plan.next(anyone)),
            comment="enishi campaign: plan → wait for the quiet hours to end → Distributed Map of send batches",
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
            timeout=RUN_TIMEOUT,
        )
        key.grant(machine, "kms:Decrypt")
        self._acknowledge_machine(machine)
        return machine

    def _acknowledge_machine(self, machine: sfn.StateMachine) -> None:
        """The machine's wildcards, all from CDK's own grants for the states it uses."""
        stack = Stack.of(self)
        executions = (
            f"arn:<AWS::Partition>:states:{arn_part(stack.region, 'AWS::Region')}:<AWS::AccountId>:execution:"
            f'{{"Fn::Select":[6,{{"Fn::Split":[":",{{"Ref":"{logical_id(machine)}"}}]}}]}}'
        )
        findings = {
            "Resource::*": "X-Ray tracing (PutTraceSegments and PutTelemetryRecords accept no resource).",
            f"Resource::<{logical_id(self.plan_function)}.Arn>:*": "The plan function's versions (LambdaInvoke).",
            f"Resource::<{logical_id(self.send_function)}.Arn>:*": "The send function's versions (LambdaInvoke).",
            f"Resource::arn:<AWS::Partition>:s3:::<{logical_id(self.bucket)}>/*": (
                "The ItemReader reads the run's recipient list (a new key per run) from the analytics bucket."
            ),
            f"Resource::{executions}:*": "The Distributed Map's own child executions (CDK's grant).",
            f"Resource::{executions}/*:*": "The Distributed Map's own map runs (CDK's grant).",
        }
        for finding, reason in findings.items():
            acknowledge(machine, f"AwsSolutions-IAM5[{finding}]", reason)
