"""LINE account linking: ``GET /line/link`` (signed by the shop's backend) → LineLink λ → 302 to LINE's dialog.

The link-signing secret is generated here; the operator copies it into the shop's backend (docs/deploy.md). The
function may read that secret and the LINE channel secret (for the access token), write nonces to the table.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, RemovalPolicy
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as sm
from constructs import Construct

from enishi import constants as c
from infra.constructs.api import Api
from infra.constructs.function import FunctionFactory
from infra.nag import acknowledge, acknowledge_table_access

OUTPUT_LINE_LINK_SECRET_ARN = "LineLinkSecretArn"


class LineLinking(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        functions: FunctionFactory,
        table: dynamodb.ITable,
        line_secret: sm.ISecret,
        api: Api,
        line_api_base_url: str,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id)
        self.secret = sm.Secret(
            self,
            "SigningSecret",
            description="enishi: HMAC key the shop's backend signs /line/link redirects with (copy it to the shop)",
            generate_secret_string=sm.SecretStringGenerator(password_length=64, exclude_punctuation=True),
            removal_policy=removal_policy,
        )
        acknowledge(
            self.secret,
            "AwsSolutions-SMG4",
            "Shared with the shop's backend by the operator; rotate by writing {current, previous} (both are "
            "accepted) and updating the shop, which Secrets Manager cannot do for it.",
        )
        self.function: lambda_.Function = functions.create(
            "LineLink",
            scope=self,
            handler="enishi.line_link.handler.handler",
            description="Starts LINE account linking: verifies the shop's signature, issues link token and nonce",
            environment={
                c.ENV_LINE_LINK_SECRET_ARN: self.secret.secret_arn,
                c.ENV_LINE_SECRET_ARN: line_secret.secret_arn,
                c.ENV_LINE_API_BASE_URL: line_api_base_url,
            },
            timeout=Duration.seconds(10),
        )
        self.secret.grant_read(self.function)
        line_secret.grant_read(self.function)
        table.grant_read_write_data(self.function)  # nonces
        acknowledge_table_access(self.function.role, table, write=True)  # type: ignore[arg-type]
        api.add_route("LineLink", c.PATH_LINE_LINK, [apigw.HttpMethod.GET], self.function, "signed_link")
        CfnOutput(
            self,
            OUTPUT_LINE_LINK_SECRET_ARN,
            value=self.secret.secret_arn,
            description="the key the shop's backend signs /line/link with (docs/deploy.md)",
        )
