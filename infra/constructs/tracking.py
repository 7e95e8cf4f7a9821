"""Click tracking: ``GET /r/{token}`` → Click λ → 302 to the signed target, the click marked on the message record.

The function reads the unsubscribe secret (tracked links are signed with its keys under their own label) and may
update message records only (first click): it gets the table's read/write grant narrowed by the nag rationale.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as sm
from constructs import Construct

from enishi import constants as c
from infra.constructs.api import Api
from infra.constructs.function import FunctionFactory
from infra.nag import acknowledge_table_access


class ClickTracking(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        functions: FunctionFactory,
        table: dynamodb.ITable,
        unsubscribe_secret: sm.ISecret,
        api: Api,
    ) -> None:
        super().__init__(scope, id)
        self.function: lambda_.Function = functions.create(
            "Click",
            scope=self,
            handler="enishi.tracking.handler.handler",
            description="Tracked links: verifies the signed /r/{token}, marks the click, redirects",
            environment={c.ENV_UNSUBSCRIBE_SECRET_ARN: unsubscribe_secret.secret_arn},
            timeout=Duration.seconds(5),
        )
        unsubscribe_secret.grant_read(self.function)
        table.grant_read_write_data(self.function)  # UpdateItem of the message record's clicked_at
        acknowledge_table_access(self.function.role, table, write=True)  # type: ignore[arg-type]
        api.add_route(
            "Click",
            c.PATH_CLICK,
            [apigw.HttpMethod.GET, apigw.HttpMethod.HEAD],
            self.function,
            "signed_redirect",
        )
