"""HTTP API (payload v2): the webhook endpoints and the unsubscribe page, access-logged and throttled."""

from __future__ import annotations

import json

from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.nag import acknowledge

# routeKey, not the path: /u/{token} paths carry unsubscribe tokens, which do not belong in logs
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTime",
    "sourceIp": "$context.identity.sourceIp",
    "routeKey": "$context.routeKey",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "latencyMs": "$context.responseLatency",
    "integrationLatencyMs": "$context.integrationLatency",
    "integrationError": "$context.integrationErrorMessage",
}

_NO_AUTHORIZER = {
    "webhook": "Callers are carts and LINE, which cannot use IAM/Cognito/JWT: every request is authenticated by "
    "its HMAC signature over the raw body inside the function (401 on a bad or missing signature).",
    "signed_link": "The shop's member page redirects logged-in customers here: the query carries an HMAC-SHA256 "
    "signature by the shop's backend with an expiry of at most 10 minutes, verified in the function (403 otherwise).",
    "signed_redirect": "Recipients click tracked links from their mailbox or LINE with no account: the signed "
    "/r/{token} is the credential (HMAC-SHA256 over the target, verified in the function; 404 otherwise).",
    "unsubscribe": "Recipients click it from their mailbox with no account: the signed /u/{token} is the "
    "credential (HMAC-SHA256, verified in the function), as RFC 8058 one-click unsubscribe requires.",
}


class Api(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        rate_limit: float,
        burst_limit: int,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id)
        self.api = apigw.HttpApi(
            self,
            "HttpApi",
            description="enishi webhooks (Shopify, generic, LINE) and unsubscribe links",
            create_default_stage=False,
        )
        self.access_logs = logs.LogGroup(
            self, "AccessLogs", retention=log_retention, removal_policy=removal_policy
        )
        self.stage = apigw.HttpStage(
            self,
            "DefaultStage",
            http_api=self.api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigw.ThrottleSettings(rate_limit=rate_limit, burst_limit=burst_limit),
        )
        cfn_stage: apigw.CfnStage = self.stage.node.default_child  # type: ignore[assignment]
        cfn_stage.access_log_settings = apigw.CfnStage.AccessLogSettingsProperty(
            destination_arn=self.access_logs.log_group_arn, format=json.dumps(ACCESS_LOG_FORMAT)
        )

    @property
    def url(self) -> str:
        """``https://{id}.execute-api.{region}.amazonaws.com/`` (ends with a slash)."""
        return self.stage.url

    def add_route(
        self, id: str, path: str, methods: list[apigw.HttpMethod], fn: lambda_.IFunction, kind: str
    ) -> None:
        """``kind`` ("webhook", "signed_link", "signed_redirect", "unsubscribe") says why the route has no API
        Gateway authorizer."""
        integration = integrations.HttpLambdaIntegration(f"{id}Integration", fn)
        for route in self.api.add_routes(path=path, methods=methods, integration=integration):
            acknowledge(route, "AwsSolutions-APIG4", _NO_AUTHORIZER[kind])
            acknowledge(route, "AwsSolutions-COG4", _NO_AUTHORIZER[kind])
