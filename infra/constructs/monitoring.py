"""Alarms to one SNS topic (KMS-encrypted, TLS only): DLQ depth, unprocessable payloads, function errors,
state machine failures, SES reputation (bounce rate > 2 %, complaint rate > 0.1 %), LINE's monthly quota (≥ 80 %);
an operations dashboard and a business one (messages by sequence and channel, delivery/bounce/complaint rates,
conversions, attributed revenue: ``enishi.business_metrics``)."""

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

from enishi import business_metrics as bm
from enishi import constants as c
from infra.constructs.function import SERVICE_NAME

METRIC_UNPROCESSABLE = (
    "UnprocessablePayload"  # emitted by Intake (Powertools Metrics, dimension service=enishi)
)
PERIOD = Duration.minutes(5)
BUSINESS_PERIOD = Duration.hours(1)
# SES account reputation (AWS/SES, no dimensions; a rate between 0 and 1). AWS reviews an account at 5 % bounces
# and 0.1 % complaints; the bounce alarm rings well before (2 %), the complaint one at the review line.
SES_BOUNCE_RATE_MAX = 0.02
SES_COMPLAINT_RATE_MAX = 0.001
LINE_QUOTA_ALARM_PERCENT = 80
SES_RATES = (("delivery", "Delivery"), ("bounce", "Bounce"), ("complaint", "Complaint"))


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

    def _alarm(
        self,
        id: str,
        metric: cw.IMetric,
        description: str,
        threshold: float = 0,
        comparison: cw.ComparisonOperator = cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
    ) -> cw.Alarm:
        alarm = cw.Alarm(
            self,
            f"{id}Alarm",
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=comparison,
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

    # ---------------------------------------------------------------- business figures

    def watch_business(self, sequences: tuple[str, ...] | list[str]) -> cw.Dashboard:
        """The business dashboard: what the sequences sent, how email fared, what it brought in."""
        board = cw.Dashboard(self, "BusinessDashboard")
        sent = [
            _business(bm.MESSAGE_SENT, f"{seq} / {ch}", {"sequence": seq, "channel": ch})
            for seq in sequences
            for ch in bm.CHANNELS
        ]
        ses = {
            key: _business(bm.SES_EVENT_PREFIX + name, name) for key, name in (("send", "Send"), *SES_RATES)
        }
        rates = [
            cw.MathExpression(
                expression=f"IF(send > 0, 100 * {key} / send, 0)",
                using_metrics={"send": ses["send"], key: ses[key]},
                period=BUSINESS_PERIOD,
                label=f"{key} rate %",
            )
            for key, _ in SES_RATES
        ]
        board.add_widgets(
            cw.GraphWidget(title="Messages sent by sequence and channel", left=sent, stacked=True, width=24),
            cw.GraphWidget(title="Email delivery / bounce / complaint rate (%)", left=rates, width=12),
            cw.GraphWidget(
                title="SES reputation (account)",
                left=[ses_reputation("Reputation.BounceRate"), ses_reputation("Reputation.ComplaintRate")],
                width=12,
            ),
            cw.GraphWidget(
                title="Conversions by sequence",
                left=[_business(bm.CONVERSIONS, seq, {"sequence": seq}) for seq in sequences],
                width=12,
            ),
            cw.GraphWidget(
                title="Attributed revenue by sequence (JPY)",
                left=[_business(bm.ATTRIBUTED_REVENUE, seq, {"sequence": seq}) for seq in sequences],
                width=12,
            ),
        )
        self._alarm(
            "SesBounceRate",
            ses_reputation("Reputation.BounceRate"),
            "SES bounce rate above 2 %: clean the list (suppressions work?) before AWS reviews the account at 5 %.",
            threshold=SES_BOUNCE_RATE_MAX,
        )
        self._alarm(
            "SesComplaintRate",
            ses_reputation("Reputation.ComplaintRate"),
            "SES complaint rate above 0.1 %: AWS reviews the account; check consent and frequency of marketing.",
            threshold=SES_COMPLAINT_RATE_MAX,
        )
        self.business_dashboard = board
        return board

    def watch_line_quota(self) -> cw.Alarm:
        """The alarm at 80 % of the month's LINE messages (``LineQuotaUsedPercent``, published daily by the
        ``LineQuotaCheck`` function) and its graph."""
        used = cw.Metric(
            namespace=c.METRICS_NAMESPACE,
            metric_name=bm.LINE_QUOTA_USED_PERCENT,
            dimensions_map={"service": SERVICE_NAME},
            statistic="Maximum",
            period=Duration.days(1),
        )
        self.dashboard.add_widgets(cw.GraphWidget(title="LINE monthly quota used (%)", left=[used]))
        return self._alarm(
            "LineQuota",
            used,
            "LINE: 80 % of this month's message quota used; at 100 % LINE refuses pushes (sends fall back to "
            "email). Raise the plan or slow the LINE sequences.",
            threshold=LINE_QUOTA_ALARM_PERCENT,
            comparison=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
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


def _business(name: str, label: str, dimensions: dict[str, str] | None = None) -> cw.Metric:
    return cw.Metric(
        namespace=c.METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": SERVICE_NAME, **(dimensions or {})},
        statistic="Sum",
        period=BUSINESS_PERIOD,
        label=label,
    )


def ses_reputation(name: str) -> cw.Metric:
    """An SES account reputation metric (``Reputation.BounceRate`` / ``Reputation.ComplaintRate``)."""
    return cw.Metric(namespace="AWS/SES", metric_name=name, statistic="Maximum", period=Duration.hours(1))


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("-", "_").split("_"))
