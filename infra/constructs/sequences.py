"""The four lifecycle sequences: ``shop/sequences.yaml`` compiled into Standard state machines with CDK's L2 states,
the starter (bus rule → SQS → λ), the step task λ and the daily win-back job.

Per step the machine runs ``Wait (TimestampPath $.wait_until)`` → ``LambdaInvoke`` of the step λ → ``Choice`` on
``$.result.action``: sent/skipped → the next step's Wait, defer → this step's Wait, stop → Succeed. A first step due at
once has no Wait on the way in (one transition saved per execution); a step with ``entry_on`` (the shipping follow-up
on "delivered") also gets a small machine of its own, keyed ``<sequence>.<step>``, that starts at that step — cheaper
than an entry Choice, which every execution of the main machine would pay for. Stop conditions are checked inside
the step λ right before the send (it must re-check there anyway), not by extra DynamoDB states: those would add
2 transitions ($0.00005) to every step to save a λ call (~$0.000001) on the rare stopped one.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

from aws_cdk import CfnElement, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from enishi import constants as c
from enishi.sequences.domain.opt_out import BROKEN_METRIC as OPT_OUT_BROKEN_METRIC
from enishi.sequences.domain.spec import Sequence, SequencesSpec, StepPayload, entry_machine_key, load_spec
from infra.constructs.function import SERVICE_NAME, FunctionFactory
from infra.constructs.queues import MAX_RECEIVE_COUNT, ConsumerQueue
from infra.nag import acknowledge, acknowledge_table_access, arn_part, logical_id

# errors the step λ raises when a send certainly did not happen and may be retried (see sequences/errors.py)
RETRYABLE_SEND_ERRORS = ["RetryableSendError"]
LAMBDA_SERVICE_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.Unknown",
    "Sandbox.Timedout",  # the λ timed out: safe to retry, the ledger never sends an email twice
]
STARTER_DETAIL_TYPES = [
    c.ORDER_RECORDED,
    c.ORDER_PLACED,
    c.ORDER_CANCELLED,
    c.CHECKOUT_UPDATED,
    c.FULFILLMENT_UPDATED,
    c.CUSTOMER_UPSERTED,
    c.CONSENT_CHANGED,
]
WINBACK_SCHEDULE = "cron(0 1 * * ? *)"  # 01:00 UTC = 10:00 JST
STARTER_TIMEOUT = Duration.seconds(10)
STEP_TIMEOUT = Duration.seconds(30)  # LINE push timeout 10 s + SES + DynamoDB, with room


def machine_id(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def compile_definition(
    scope: Construct, name: str, sequence: Sequence, step_function: lambda_.IFunction, start_index: int = 0
) -> sfn.IChainable:
    """The sequence from step ``start_index`` on, as L2 states; returns the start state.

    ``start_index`` > 0 compiles an entry machine (a step with ``entry_on``): it starts at that step's Wait.
    """
    prefix = machine_id(name) + (
        "" if start_index == 0 else machine_id(sequence.steps[start_index].id) + "Entry"
    )
    done = sfn.Succeed(scope, f"{prefix}Done", comment="sequence over (all steps ran, or stopped)")
    steps = list(enumerate(sequence.steps))[start_index:]
    waits: dict[int, sfn.Wait] = {}
    sends: dict[int, tasks.LambdaInvoke] = {}
    routes: dict[int, sfn.Choice] = {}
    for index, step in steps:
        waits[index] = sfn.Wait(
            scope,
            f"Wait {step.id}",
            time=sfn.WaitTime.timestamp_path("$.wait_until"),
            comment=f"until {step.id} is due (UTC Z, moved by quiet hours / cap / quota)",
        )
        send = tasks.LambdaInvoke(
            scope,
            f"Send {step.id}",
            lambda_function=step_function,
            payload=sfn.TaskInput.from_object(
                {
                    "execution": sfn.JsonPath.string_at("$$.Execution.Name"),
                    "state": sfn.JsonPath.entire_payload,
                    "step": StepPayload.build(name, sequence, index).to_json(),
                }
            ),
            payload_response_only=True,
            retry_on_service_exceptions=False,
            comment=f"check eligibility, pick the channel, render {step.template}, send once",
        )
        send.add_retry(
            errors=LAMBDA_SERVICE_ERRORS, interval=Duration.seconds(2), max_attempts=6, backoff_rate=2
        )
        send.add_retry(
            errors=RETRYABLE_SEND_ERRORS,
            interval=Duration.seconds(30),
            max_attempts=6,
            backoff_rate=2,
            max_delay=Duration.minutes(10),
            jitter_strategy=sfn.JitterType.FULL,
        )
        sends[index] = send
        routes[index] = sfn.Choice(scope, f"After {step.id}")
    last = len(sequence.steps) - 1
    for index, _step in steps:
        waits[index].next(sends[index])
        sends[index].next(routes[index])
        following: sfn.IChainable = done if index == last else _entry(sequence, index + 1, waits, sends)
        routes[index].when(sfn.Condition.string_equals("$.result.action", "defer"), waits[index])
        routes[index].when(sfn.Condition.string_equals("$.result.action", "stop"), done)
        routes[index].otherwise(following)
    return _entry(sequence, start_index, waits, sends) if start_index == 0 else waits[start_index]


def _entry(
    sequence: Sequence, index: int, waits: dict[int, sfn.Wait], sends: dict[int, tasks.LambdaInvoke]
) -> sfn.IChainable:
    """Where control enters step ``index``: straight into the send when it is due at once after the trigger."""
    step = sequence.steps[index]
    # an A/B variant that moves the send time (or a fixed send hour) needs the Wait even for a first step due at once
    timed = step.timed_variants or step.send_hour is not None
    immediate = index == 0 and step.delay_td.total_seconds() == 0 and not timed
    return sends[index] if immediate else waits[index]


class Sequences(Construct):
    """State machines per sequence + the starter, step and win-back functions."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        table: dynamodb.ITable,
        bus: events.IEventBus,
        functions: FunctionFactory,
        shop_dir: Path,
        line_secret: secretsmanager.ISecret | None = None,
        unsubscribe_secret: secretsmanager.ISecret | None = None,
        public_base_url: str | None = None,
        ses_configuration_set: str | None = None,
        ses_from_address: str | None = None,
        ses_identity: str | None = None,
        line_api_base_url: str = c.LINE_API_BASE_URL,
        removal_policy=None,
    ) -> None:
        super().__init__(scope, id)
        self.spec: SequencesSpec = load_spec(Path(shop_dir) / "sequences.yaml")
        stack = Stack.of(self)

        # ---- the step task λ
        step_env = {c.ENV_LINE_API_BASE_URL: line_api_base_url}
        if line_secret is not None:
            step_env[c.ENV_LINE_SECRET_ARN] = line_secret.secret_arn
        if unsubscribe_secret is not None:
            step_env[c.ENV_UNSUBSCRIBE_SECRET_ARN] = unsubscribe_secret.secret_arn
        if public_base_url is not None:
            step_env[c.ENV_PUBLIC_BASE_URL] = public_base_url
        if ses_configuration_set is not None:
            step_env[c.ENV_SES_CONFIGURATION_SET] = ses_configuration_set
        if ses_from_address is not None:
            step_env[c.ENV_SES_FROM_ADDRESS] = ses_from_address
        self.step_function = functions.create(
            "SequenceStep",
            handler="enishi.sequences.step.handler.handler",
            description="sequence step: eligibility → channel → render → send once → ledger",
            environment=step_env,
            timeout=STEP_TIMEOUT,
            scope=self,
        )
        table.grant_read_write_data(self.step_function)
        acknowledge_table_access(self.step_function.role, table, write=True)  # type: ignore[arg-type]
        for secret in (line_secret, unsubscribe_secret):
            if secret is not None:
                secret.grant_read(self.step_function)
        ses_resources = []
        if ses_identity:
            ses_resources.append(
                stack.format_arn(service="ses", resource="identity", resource_name=ses_identity)
            )
        if ses_configuration_set:
            ses_resources.append(
                stack.format_arn(
                    service="ses", resource="configuration-set", resource_name=ses_configuration_set
                )
            )
        if ses_resources:
            self.step_function.add_to_role_policy(
                iam.PolicyStatement(actions=["ses:SendEmail"], resources=ses_resources)
            )

        # alarms on the sequences' own metrics (the stack attaches the monitoring topic: ``self.alarms``)
        self.alarms: list[cloudwatch.Alarm] = []
        self._metric_alarm(
            "OptOutLinkBroken",
            OPT_OUT_BROKEN_METRIC,
            "a marketing message was not sent because its opt-out link would not unsubscribe (a shop this deployment "
            "does not serve, a rotated-away secret, no profile): check shop.yaml and the unsubscribe secret",
        )

        # ---- the state machines
        self.state_machines: dict[str, sfn.StateMachine] = {}
        for name, sequence in self.spec.sequences.items():
            if not sequence.enabled:
                continue
            self._machine(name, name, sequence, 0, removal_policy, stack)
            # a step that an event can start directly (shipping follow-up on "delivered") gets a small machine of
            # its own that begins at that step: no entry Choice billed on every execution of the main machine
            for index, step in enumerate(sequence.steps):
                if index > 0 and step.entry_on:
                    self._machine(
                        entry_machine_key(name, step.id),
                        name,
                        sequence,
                        index,
                        removal_policy,
                        stack,
                    )
        arns_env = {
            c.ENV_STATE_MACHINE_ARNS: stack.to_json_string(
                {k: m.state_machine_arn for k, m in self.state_machines.items()}
            )
        }

        # ---- the starter: bus rule → SQS (+ DLQ) → λ
        self.starter_queues = ConsumerQueue(
            self, "Starter", consumer_timeout=STARTER_TIMEOUT, max_receive_count=MAX_RECEIVE_COUNT
        )
        self.starter_function = functions.create(
            "SequenceStarter",
            handler="enishi.sequences.starter.handler.handler",
            description="events → start / stop sequence executions (deterministic names); park what waits",
            environment={**arns_env, c.ENV_MAX_RECEIVE_COUNT: str(MAX_RECEIVE_COUNT)},
            timeout=STARTER_TIMEOUT,
            scope=self,
        )
        self.starter_function.add_event_source(
            sources.SqsEventSource(self.starter_queues.queue, batch_size=10, report_batch_item_failures=True)
        )
        self.starter_rule = events.Rule(
            self,
            "StarterRule",
            event_bus=bus,
            event_pattern=events.EventPattern(detail_type=STARTER_DETAIL_TYPES),
            targets=[targets.SqsQueue(self.starter_queues.queue)],
            description="sequence triggers and stops → SequenceStarter queue",
        )
        # read-write: it parks events that wait for one not seen yet (sequences/parking.py)
        table.grant_read_write_data(self.starter_function)
        acknowledge_table_access(self.starter_function.role, table, write=True)  # type: ignore[arg-type]
        self._metric_alarm(
            "ParkedEventUnresolved",
            "ParkedEventUnresolved",
            "an event parked for its order waited ~9 h (SQS safety net exhausted); it stays parked for 14 days: "
            "check the profile consumer's DLQ for the order",
            period=Duration.hours(1),
        )

        # ---- the daily win-back job
        self.winback_function = functions.create(
            "Winback",
            handler="enishi.sequences.winback.handler.handler",
            description=f"daily 10:00 JST: last order {self.spec.winback_threshold_days} days ago → win-back",
            environment=arns_env,
            timeout=Duration.minutes(5),
            scope=self,
        )
        # a daily run that still fails after EventBridge's retries is kept (and alarmed on), not dropped
        self.winback_dlq = sqs.Queue(
            self,
            "WinbackDlq",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        acknowledge(
            self.winback_dlq,
            "AwsSolutions-SQS3",
            "This queue is itself the dead-letter queue of the daily win-back schedule's Lambda target.",
        )
        self.winback_rule = events.Rule(
            self,
            "WinbackSchedule",
            schedule=events.Schedule.expression(WINBACK_SCHEDULE),
            targets=[
                targets.LambdaFunction(
                    self.winback_function, retry_attempts=2, dead_letter_queue=self.winback_dlq
                )
            ],
            description="win-back: daily at 10:00 JST",
        )
        # read-write: the job keeps its catch-up cursor (the last day it completed) in the table
        table.grant_read_write_data(self.winback_function)
        acknowledge_table_access(self.winback_function.role, table, write=True)  # type: ignore[arg-type]
        # errors are alarmed (function errors, the DLQ); a job that did not complete a run in a day is alarmed here
        self._metric_alarm(
            "WinbackNotRun",
            "WinbackRunCompleted",
            "the daily win-back job did not complete a run in the last day; the next run catches up every missed "
            "day from its cursor",
            period=Duration.days(1),
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            missing=cloudwatch.TreatMissingData.BREACHING,
        )

        region = arn_part(stack.region, "AWS::Region")  # how cdk-nag prints it: literal, or <AWS::Region>
        starter_role = self.starter_function.role
        assert starter_role is not None, "a function CDK builds has its role"
        for machine in self.state_machines.values():
            machine.grant_start_execution(self.starter_function)
            machine.grant_execution(self.starter_function, "states:StopExecution")
            machine_id = logical_id(machine)
            acknowledge(
                starter_role,
                f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:{region}:<AWS::AccountId>:execution:"
                f'{{"Fn::Select":[6,{{"Fn::Split":[":",{{"Ref":"{machine_id}"}}]}}]}}:*]',
                "StopExecution on executions of the sequence machines only: execution names are made at run time "
                "(arn:…:execution:<machine>:*), which is as narrow as Step Functions allows.",
            )
        if c.SEQUENCE_WINBACK in self.state_machines:
            self.state_machines[c.SEQUENCE_WINBACK].grant_start_execution(self.winback_function)

    def _metric_alarm(
        self,
        id: str,
        metric_name: str,
        description: str,
        *,
        period: Duration | None = None,  # 5 minutes
        comparison: cloudwatch.ComparisonOperator = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            f"{id}Alarm",
            metric=cloudwatch.Metric(
                namespace=c.METRICS_NAMESPACE,
                metric_name=metric_name,
                dimensions_map={"service": SERVICE_NAME},
                statistic="Sum",
                period=period or Duration.minutes(5),
            ),
            threshold=1,
            comparison_operator=comparison,
            evaluation_periods=1,
            treat_missing_data=missing,
            alarm_description=description,
        )
        self.alarms.append(alarm)
        return alarm

    def _machine(
        self,
        key: str,
        name: str,
        sequence: Sequence,
        start_index: int,
        removal_policy,
        stack: Stack,
    ) -> sfn.StateMachine:
        suffix = "" if start_index == 0 else machine_id(sequence.steps[start_index].id) + "Entry"
        group = Construct(self, f"{machine_id(name)}{suffix}Machine")
        log_group = logs.LogGroup(
            group,
            "Logs",
            retention=logs.RetentionDays.ONE_MONTH,
            **({"removal_policy": removal_policy} if removal_policy else {}),
        )
        machine = sfn.StateMachine(
            group,
            "StateMachine",
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(
                compile_definition(group, name, sequence, self.step_function, start_index)
            ),
            comment=f"enishi {key}: {sequence.description}",
            tracing_enabled=True,
            # ALL events, never the execution data: states carry customer ids and trigger details
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
            timeout=Duration.days(120),
        )
        self.state_machines[key] = machine
        acknowledge(
            machine.role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray tracing of the state machine: PutTraceSegments/GetSamplingRules take no resource.",
        )
        step_function_id = stack.get_logical_id(cast(CfnElement, self.step_function.node.default_child))
        acknowledge(
            machine.role,
            f"AwsSolutions-IAM5[Resource::<{step_function_id}.Arn>:*]",
            "lambda:InvokeFunction on the step function's versions/aliases (CDK's LambdaInvoke grant); one function.",
        )
        return machine


__all__ = ["STARTER_DETAIL_TYPES", "WINBACK_SCHEDULE", "Sequences", "compile_definition"]
