"""Alarms to one SNS topic (KMS-encrypted, TLS only): DLQ depth, unprocessable payloads, function errors,
state machine failures; and a small dashboard."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from enishi import constants as c
from infra.constructs.function import SERVICE_NAME

METRIC_UNPROCESSABLE = (
    "UnprocessablePayload"  # emitted by Intake (Powertools Metrics, dimension service=enishi)
)
PERIOD = Duration.minutes(5)


class Monitoring(Construct):
    def __init__(self, scope: Construct, id: str, *, key: kms.IKey, alarm_email: str | None = None) -> None:
        super().__init__(scope, id)
        self.topic = sns.Topic(
            self, "AlarmTopic", display_name="enishi alarms", master_key=key, enforce_ssl=True
        )
        # CloudWatch publishes to an encrypted topic only if it may use the key
        key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" means this key
            )
        )
        if alarm_email:
            self.topic.add_subscription(subs.EmailSubscription(alarm_email))
        self._action = cw_actions.SnsAction(self.topic)
        self.alarms: dict[str, cw.Alarm] = {}
        self.dashboard = cw.Dashboard(self, "Dashboard")
        self.unprocessable = cw.Metric(
            namespace=c.METRICS_NAMESPACE,
            metric_name=METRIC_UNPROCESSABLE,
            dimensions_map={"service": SERVICE_NAME},
            statistic="Sum",
            period=PERIOD,
        )
        self._alarm(
            "UnprocessablePayload",
            self.unprocessable,
            "An authentic webhook could not be processed; its body is in the raw-payloads bucket for a replay.",
        )
        self.dashboard.add_widgets(cw.GraphWidget(title="Unprocessable payloads", left=[self.unprocessable]))

    def _alarm(self, id: str, metric: cw.IMetric, description: str, threshold: float = 0) -> cw.Alarm:
        alarm = cw.Alarm(
            self,
            f"{id}Alarm",
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(self._action)
        self.alarms[id] = alarm
        return alarm

    def watch_dlqs(self, dlqs: dict[str, sqs.IQueue]) -> None:
        for name, dlq in dlqs.items():
            metric = dlq.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum")
            self._alarm(
                f"{name}Dlq", metric, f"Messages in the {name} dead-letter queue: inspect, fix, redrive."
            )
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Dead-letter queues",
                left=[
                    dlq.metric_approximate_number_of_messages_visible(period=PERIOD, label=name)
                    for name, dlq in dlqs.items()
                ],
            )
        )

    def watch_functions(self, functions: dict[str, lambda_.IFunction]) -> None:
        for name, fn in functions.items():
            self._alarm(
                f"{name}Errors", fn.metric_errors(period=PERIOD), f"The {name} function raised errors."
            )
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Function errors",
                left=[fn.metric_errors(period=PERIOD, label=n) for n, fn in functions.items()],
            ),
            cw.GraphWidget(
                title="Function duration p99",
                left=[
                    fn.metric_duration(period=PERIOD, statistic="p99", label=n) for n, fn in functions.items()
                ],
            ),
        )

    def watch_state_machines(self, machines: dict[str, sfn.IStateMachine]) -> None:
        for name, machine in machines.items():
            metric = cw.MathExpression(
                # not "aborted": StopExecution is how a completed checkout ends cart recovery
                expression="failed + timedout",
                using_metrics={
                    "failed": machine.metric_failed(period=PERIOD),
                    "timedout": machine.metric_timed_out(period=PERIOD),
                },
                period=PERIOD,
                label=f"{name} failed",
            )
            self._alarm(
                f"{_pascal(name)}Failures", metric, f"Executions of the {name} sequence failed or timed out."
            )

    def watch(
        self,
        *,
        dlqs: dict[str, sqs.IQueue],
        functions: dict[str, lambda_.IFunction],
        state_machines: dict[str, sfn.IStateMachine],
    ) -> None:
        self.watch_dlqs(dlqs)
        self.watch_functions(functions)
        self.watch_state_machines(state_machines)


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("-", "_").split("_"))
