"""Lifecycle analytics in batch (docs/analytics.md): the ``Analytics`` state machine, daily and on demand.

``ExportTableToPointInTime`` (a FULL export from PITR, DynamoDB JSON, into the analytics bucket: it reads the
continuous backups, never the table's capacity) → ``Wait`` / ``DescribeExport`` until it completes → the job λ
starts the Athena queries (``functions/enishi/analytics/sql``) in a workgroup with a bytes-scanned limit → ``Wait`` /
poll → the job λ writes ``results/<as_of>/result.json`` (+ ``results/latest.json``) and ``segments/<as_of>/`` →
the job λ sets the changed ``rfm`` / ``segment`` on profiles in bounded chunks.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct, IConstruct

from enishi import constants as c
from enishi import keys
from infra.constructs.function import FunctionFactory
from infra.nag import acknowledge, arn_part, logical_id

ANALYTICS_SCHEDULE = "cron(0 18 * * ? *)"  # 18:00 UTC = 03:00 JST, a quiet hour for the shop
DATABASE = "enishi_analytics"
BYTES_SCANNED_CUTOFF = 20 * 1024**3  # per query: 20 GB (~$0.10); a 1M-customer export is ~1 GB compressed
EXPORT_POLL = Duration.minutes(1)
QUERY_POLL = Duration.seconds(10)
EXPIRY_DAYS = {  # bucket prefix → days kept
    keys.ANALYTICS_EXPORTS_PREFIX: 3,  # the export holds personal data: kept only for a re-run
    keys.ANALYTICS_QUERIES_PREFIX: 3,
    "segments/": 90,  # customer ids and scores
    "results/": 400,  # aggregates only
}


class Analytics(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        table: dynamodb.ITable,
        key: kms.IKey,
        functions: FunctionFactory,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id)
        stack = Stack.of(self)
        self.bucket = self._bucket(key, removal_policy)
        self.workgroup_name = f"{stack.stack_name}-analytics"
        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=self.workgroup_name,
            description="enishi analytics: queries over the daily table export",
            recursive_delete_option=True,
            state="ENABLED",
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                bytes_scanned_cutoff_per_query=BYTES_SCANNED_CUTOFF,
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version="Athena engine version 3"
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{self.bucket.bucket_name}/{keys.ANALYTICS_QUERIES_PREFIX}",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=key.key_arn
                    ),
                ),
            ),
        )
        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=stack.account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(name=DATABASE),
        )
        self.function = functions.create(
            "AnalyticsJob",
            handler="enishi.analytics.handler.handler",
            description="analytics: export → Athena queries → result.json, segments, profile rfm/segment",
            environment={
                c.ENV_ANALYTICS_BUCKET_NAME: self.bucket.bucket_name,
                c.ENV_ANALYTICS_WORKGROUP: self.workgroup_name,
                c.ENV_ANALYTICS_DATABASE: DATABASE,
            },
            timeout=Duration.minutes(15),
            memory_size=1769,  # one full vCPU: the customers CSV is parsed in the λ
            scope=self,
        )
        self._grant_job(table, key, stack)
        self.state_machine = self._machine(table, key, stack, removal_policy)
        self.schedule = events.Rule(
            self,
            "Daily",
            schedule=events.Schedule.expression(ANALYTICS_SCHEDULE),
            targets=[targets.SfnStateMachine(self.state_machine, retry_attempts=2)],
            description="analytics: daily at 03:00 JST (also startable on demand)",
        )

    def _bucket(self, key: kms.IKey, removal_policy: RemovalPolicy) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            versioned=False,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id=f"expire-{prefix.strip('/')}",
                    prefix=prefix,
                    expiration=Duration.days(days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
                for prefix, days in EXPIRY_DAYS.items()
            ],
            removal_policy=removal_policy,
            auto_delete_objects=False,
        )
        acknowledge(
            bucket,
            "AwsSolutions-S1",
            "Written by the table export and the analytics job only; every prefix expires (exports in 3 days). "
            "Enable CloudTrail S3 data events when an audit trail of reads is required.",
        )
        return bucket

    def _grant_job(self, table: dynamodb.ITable, key: kms.IKey, stack: Stack) -> None:
        fn = self.function
        # named actions only (no CDK grant_read_write: its s3:GetObject*/List*/DeleteObject* wildcards)
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:PutObject"], resources=[self.bucket.arn_for_objects("*")]
            )
        )
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket", "s3:GetBucketLocation"], resources=[self.bucket.bucket_arn]
            )
        )
        key.grant(fn, "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey")
        wg = stack.format_arn(service="athena", resource="workgroup", resource_name=self.workgroup_name)
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=[
                    "athena:StartQueryExecution",
                    "athena:GetQueryExecution",
                    "athena:BatchGetQueryExecution",
                    "athena:GetQueryResults",
                ],
                resources=[wg],
            )
        )
        glue_arns = [
            stack.format_arn(service="glue", resource="catalog"),
            stack.format_arn(service="glue", resource="database", resource_name=DATABASE),
            stack.format_arn(service="glue", resource="table", resource_name=f"{DATABASE}/*"),
        ]
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=[
                    "glue:GetDatabase",
                    "glue:GetTable",
                    "glue:CreateTable",
                    "glue:DeleteTable",
                    "glue:GetPartitions",
                    "glue:BatchGetPartition",
                ],
                resources=glue_arns,
            )
        )
        # the write-back: named attributes of existing profiles only (no reads, no puts, no deletes)
        fn.add_to_role_policy(
            iam.PolicyStatement(actions=["dynamodb:UpdateItem"], resources=[table.table_arn])
        )
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:DescribeExport"], resources=[f"{table.table_arn}/export/*"]
            )
        )
        _acknowledge_wildcards(
            fn.role,  # type: ignore[arg-type]
            [
                f"Resource::<{logical_id(self.bucket)}.Arn>/*",
                f"Resource::arn:<AWS::Partition>:glue:{arn_part(stack.region, 'AWS::Region')}:<AWS::AccountId>:"
                f"table/{DATABASE}/*",
                f"Resource::<{logical_id(table)}.Arn>/export/*",
            ],
            "The analytics bucket's objects (new keys per run and query), the Glue tables of the analytics "
            "database (one per export) and this table's exports (ids generated per export).",
        )

    def _invoke(
        self, name: str, action: str, payload: dict[str, object], result_path: str
    ) -> tasks.LambdaInvoke:
        task = tasks.LambdaInvoke(
            self,
            name,
            lambda_function=self.function,
            payload=sfn.TaskInput.from_object({"action": action, **payload}),
            payload_response_only=True,
            result_path=result_path,
            retry_on_service_exceptions=True,
        )
        return task

    def _machine(
        self, table: dynamodb.ITable, key: kms.IKey, stack: Stack, removal_policy: RemovalPolicy
    ) -> sfn.StateMachine:
        export_arns = [f"{table.table_arn}/export/*"]
        start_export = tasks.CallAwsService(
            self,
            "Export",
            service="dynamodb",
            action="exportTableToPointInTime",
            parameters={
                "TableArn": table.table_arn,
                "S3Bucket": self.bucket.bucket_name,
                "S3Prefix": keys.ANALYTICS_EXPORTS_PREFIX.rstrip("/"),
                "S3SseAlgorithm": "KMS",
                "S3SseKmsKeyId": key.key_arn,
                "ExportFormat": "DYNAMODB_JSON",
                "ExportType": "FULL_EXPORT",
            },
            iam_resources=[table.table_arn],
            iam_action="dynamodb:ExportTableToPointInTime",
            result_selector={"arn": sfn.JsonPath.string_at("$.ExportDescription.ExportArn")},
            result_path="$.export",
        )
        wait_export = sfn.Wait(self, "Wait for export", time=sfn.WaitTime.duration(EXPORT_POLL))
        describe = tasks.CallAwsService(
            self,
            "Describe export",
            service="dynamodb",
            action="describeExport",
            parameters={"ExportArn": sfn.JsonPath.string_at("$.export.arn")},
            iam_resources=export_arns,
            iam_action="dynamodb:DescribeExport",
            result_selector={
                "arn": sfn.JsonPath.string_at("$.ExportDescription.ExportArn"),
                "status": sfn.JsonPath.string_at("$.ExportDescription.ExportStatus"),
            },
            result_path="$.export",
        )
        start_queries = self._invoke(
            "Start queries", "start_queries", {"export_arn": sfn.JsonPath.string_at("$.export.arn")}, "$.run"
        )
        wait_queries = sfn.Wait(self, "Wait for queries", time=sfn.WaitTime.duration(QUERY_POLL))
        poll = self._invoke(
            "Poll queries", "poll_queries", {"queries": sfn.JsonPath.object_at("$.run.queries")}, "$.poll"
        )
        write_result = self._invoke(
            "Write result",
            "write_result",
            {
                "queries": sfn.JsonPath.object_at("$.run.queries"),
                "table": sfn.JsonPath.string_at("$.run.table"),
                "as_of": sfn.JsonPath.string_at("$.run.as_of"),
                "export": sfn.JsonPath.object_at("$.run.export"),
                "export_files_bytes": sfn.JsonPath.number_at("$.run.export_files_bytes"),
                "poll": sfn.JsonPath.object_at("$.poll"),
            },
            "$.result",
        )
        write_back = self._invoke(
            "Write back",
            "write_back",
            {
                "result_key": sfn.JsonPath.string_at("$.result.result_key"),
                "changed_key": sfn.JsonPath.string_at("$.result.changed_key"),
                "changed": sfn.JsonPath.number_at("$.result.changed"),
                "written": sfn.JsonPath.number_at("$.result.written"),
                "next_offset": sfn.JsonPath.number_at("$.result.next_offset"),
            },
            "$.result",
        )
        done = sfn.Succeed(self, "Done")
        failed = sfn.Fail(
            self, "Export failed", error="ExportFailed", cause="the table export did not complete"
        )
        more = sfn.Choice(self, "More to write back?")
        more.when(sfn.Condition.is_numeric("$.result.next_offset"), write_back).otherwise(done)
        write_back.next(more)
        queries_done = sfn.Choice(self, "Queries done?")
        queries_done.when(sfn.Condition.boolean_equals("$.poll.done", True), write_result).otherwise(
            wait_queries
        )
        write_result.next(more)
        export_done = sfn.Choice(self, "Export done?")
        export_done.when(sfn.Condition.string_equals("$.export.status", "COMPLETED"), start_queries)
        export_done.when(sfn.Condition.string_equals("$.export.status", "IN_PROGRESS"), wait_export)
        export_done.otherwise(failed)
        chain = start_export.next(wait_export)
        wait_export.next(describe)
        describe.next(export_done)
        start_queries.next(wait_queries)
        wait_queries.next(poll)
        poll.next(queries_done)
        log_group = logs.LogGroup(
            self, "Logs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=removal_policy
        )
        machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(chain),
            comment="enishi analytics: table export → Athena → result.json, segments, profile rfm/segment",
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
            timeout=Duration.hours(2),
        )
        # the export writes into the bucket with the caller's (the machine's) permissions, encrypted by the key
        machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject", "s3:PutObjectAcl", "s3:AbortMultipartUpload"],
                resources=[self.bucket.arn_for_objects(f"{keys.ANALYTICS_EXPORTS_PREFIX}*")],
            )
        )
        key.grant(machine, "kms:GenerateDataKey", "kms:Encrypt", "kms:Decrypt")
        _acknowledge_wildcards(
            machine.role,
            [
                "Resource::*",
                f"Resource::<{logical_id(self.function)}.Arn>:*",
                f"Resource::<{logical_id(self.bucket)}.Arn>/{keys.ANALYTICS_EXPORTS_PREFIX}*",
                f"Resource::<{logical_id(table)}.Arn>/export/*",
            ],
            "X-Ray (takes no resource), the job λ's versions (CDK's LambdaInvoke grant), the export's new objects in "
            "the analytics bucket's exports/ prefix, and DescribeExport on this table's exports (ids are generated "
            "per export).",
        )
        return machine


def _acknowledge_wildcards(construct: IConstruct, findings: list[str], reason: str) -> None:
    for finding in findings:
        acknowledge(construct, f"AwsSolutions-IAM5[{finding}]", reason)
