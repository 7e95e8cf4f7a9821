"""The LINE quota check: a function, daily at 10:00 JST, reads LINE's monthly quota and consumption and publishes
``LineQuotaUsedPercent`` (the alarm at 80 % is in ``Monitoring.watch_line_quota``)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as sm
from constructs import Construct

from enishi import constants as c
from infra.constructs.function import FunctionFactory

# daily 10:00 JST, the win-back's time (written as its own rule): LINE counts per month, so a look a day warns days
# before the limit at a steady pace, and the local stack's virtual clock wakes at no new time (a new wake-up time,
# e.g. rate(6 hours), changes how the demo's driver steps). Made after the sequences (stack.py): locally the
# win-back's schedule fires first at that instant.
SCHEDULE = "cron(0 1 ? * * *)"


class LineQuotaCheck(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        functions: FunctionFactory,
        line_secret: sm.ISecret,
        line_api_base_url: str,
    ) -> None:
        super().__init__(scope, id)
        self.function: lambda_.Function = functions.create(
            "LineQuota",
            scope=self,
            handler="enishi.line_quota.handler.handler",
            description="daily 10:00 JST: LINE monthly quota and consumption → metrics (alarm at 80 %)",
            environment={
                c.ENV_LINE_SECRET_ARN: line_secret.secret_arn,
                c.ENV_LINE_API_BASE_URL: line_api_base_url,
            },
            timeout=Duration.seconds(30),
        )
        line_secret.grant_read(self.function)
        self.rule = events.Rule(
            self,
            "Schedule",
            schedule=events.Schedule.expression(SCHEDULE),
            targets=[targets.LambdaFunction(self.function, retry_attempts=2)],
            description="LINE quota check, daily at 10:00 JST",
        )
