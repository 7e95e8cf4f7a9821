"""Polled carts: per connected shop (stage config ``enishi:cartConnections``) a secret, a poller λ on a schedule,
and — for carts that push ids (EC-CUBE) — a webhook λ with its route and a fetch queue.

```
EventBridge rule rate(sweep_minutes) ─▶ CartPoller{Id} λ (reserved concurrency 1) ─▶ cart API ─▶ bus
POST /webhooks/{cart}/{id} ─▶ CartWebhook{Id} λ ─▶ fetch queue (SQS) ─▶ CartPoller{Id} λ
failures: fetch queue DLQ, the poller's async-invoke failures DLQ — both alarmed by Monitoring
```

Least privilege: each poller reads and writes only its own connection's secret (rotated refresh tokens are saved
back), reads/writes the table (cursor, claims), puts events on the bus, writes the raw bucket; each webhook λ reads
its secret, sends to its queue and writes the raw bucket. Reserved concurrency 1 per poller: one token refresh at a
time (EC-CUBE rotates refresh tokens) and one pace against the cart's rate limit.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import CfnOutput, Duration, RemovalPolicy
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_secretsmanager as sm
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from enishi import constants as c
from enishi.polling.contract import CartConnection
from infra.constructs.api import Api
from infra.constructs.function import FunctionFactory
from infra.constructs.queues import DLQ_RETENTION, ConsumerQueue
from infra.constructs.raw_payloads import RawPayloads
from infra.nag import acknowledge, acknowledge_table_access

POLLER_TIMEOUT = Duration.minutes(2)
WEBHOOK_TIMEOUT = Duration.seconds(5)  # EC-CUBE waits 5 s inside its customer's request
MAX_FETCH_RECEIVES = 10  # throttling by reserved concurrency 1 also counts as a receive


def pascal(connection_id: str) -> str:
    return "".join(part.capitalize() for part in connection_id.split("-"))


def webhook_path(connection: CartConnection) -> str:
    return c.PATH_CART_WEBHOOK.format(cart=connection.cart, connection=connection.id)


class CartPolling(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        connections: Sequence[CartConnection],
        functions: FunctionFactory,
        table: dynamodb.ITable,
        bus: events.IEventBus,
        raw: RawPayloads,
        api: Api,
        removal_policy: RemovalPolicy,
        served_shops: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, id)
        unserved = sorted({conn.shop_id for conn in connections} - set(served_shops))
        if (
            served_shops and unserved
        ):  # events for a shop the deployment does not serve would reach no profile
            raise ValueError(
                f"enishi:cartConnections name shops this deployment does not serve: {unserved}; use "
                f"shop.yaml's shop_id or additional_shop_ids ({list(served_shops)})"
            )
        self.secrets: dict[str, sm.Secret] = {}
        self.pollers: dict[str, lambda_.Function] = {}
        self.dlqs: dict[str, sqs.IQueue] = {}
        ids = [conn.id for conn in connections]
        if len(set(ids)) != len(ids):
            raise ValueError(f"enishi:cartConnections ids must be unique: {ids}")
        for connection in connections:
            self._connection(connection, functions, table, bus, raw, api, removal_policy)

    def _connection(
        self,
        connection: CartConnection,
        functions: FunctionFactory,
        table: dynamodb.ITable,
        bus: events.IEventBus,
        raw: RawPayloads,
        api: Api,
        removal_policy: RemovalPolicy,
    ) -> None:
        name = pascal(connection.id)
        scope = Construct(self, name)
        secret = sm.Secret(
            scope,
            "Secret",
            description=f"enishi: {connection.cart} connection {connection.id} (OAuth client and tokens, webhook "
            "secret): written by `enishi connect`",
            generate_secret_string=sm.SecretStringGenerator(
                secret_string_template="{}",
                generate_string_key="unset",
                password_length=32,
                exclude_punctuation=True,
            ),
            removal_policy=removal_policy,
        )
        acknowledge(
            secret,
            "AwsSolutions-SMG4",
            "Holds the cart's OAuth tokens: the poller refreshes the access token before it expires and saves "
            "rotated refresh tokens itself; the client credentials are issued by the shop's cart admin.",
        )
        environment = {
            c.ENV_CART_CONNECTION: connection.to_env(),
            c.ENV_CART_SECRET_ARN: secret.secret_arn,
            c.ENV_RAW_BUCKET_NAME: raw.bucket.bucket_name,
        }
        poller = functions.create(
            f"CartPoller{name}",
            scope=scope,
            handler="enishi.polling.handler.handler",
            description=f"Sweeps {connection.cart} ({connection.id}) for changes and fetches notified records",
            environment=environment,
            timeout=POLLER_TIMEOUT,
        )
        cfn: lambda_.CfnFunction = poller.node.default_child  # type: ignore[assignment]
        cfn.reserved_concurrent_executions = 1
        failures = sqs.Queue(
            scope,
            "SweepFailures",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DLQ_RETENTION,
        )
        acknowledge(
            failures,
            "AwsSolutions-SQS3",
            "It is itself the dead-letter destination of the poller's failed asynchronous invocations "
            "(Lambda on-failure destination), alarmed by Monitoring; nothing consumes it.",
        )
        poller.configure_async_invoke(retry_attempts=0, on_failure=destinations.SqsDestination(failures))
        rule = events.Rule(
            scope,
            "Schedule",
            schedule=events.Schedule.rate(Duration.minutes(connection.sweep_minutes)),
            description=f"enishi: sweep {connection.cart} {connection.id}",
        )
        rule.add_target(
            targets.LambdaFunction(
                poller, event=events.RuleTargetInput.from_object({"sweep": True}), retry_attempts=2
            )
        )
        secret.grant_read(poller)
        secret.grant_write(poller)  # refreshed / rotated tokens
        table.grant_read_write_data(poller)  # cursor, event claims
        acknowledge_table_access(poller.role, table, write=True)  # type: ignore[arg-type]
        bus.grant_put_events_to(poller)
        raw.grant_write(poller)
        self.secrets[connection.id] = secret
        CfnOutput(
            self,
            f"CartSecretArn{name}",
            value=secret.secret_arn,
            description=f"`enishi connect {connection.cart} --secret-arn` this ({connection.id})",
        )
        self.pollers[connection.id] = poller
        self.dlqs[f"CartSweep{name}"] = failures

        if connection.pushes:
            fetch = ConsumerQueue(
                scope, "Fetch", consumer_timeout=POLLER_TIMEOUT, max_receive_count=MAX_FETCH_RECEIVES
            )
            poller.add_event_source(
                sources.SqsEventSource(fetch.queue, batch_size=10, report_batch_item_failures=True)
            )
            webhook = functions.create(
                f"CartWebhook{name}",
                scope=scope,
                handler="enishi.polling.webhook.handler",
                description=f"Verifies {connection.cart} ({connection.id}) notifications and queues their fetch",
                environment={**environment, c.ENV_CART_FETCH_QUEUE_URL: fetch.queue.queue_url},
                timeout=WEBHOOK_TIMEOUT,
            )
            secret.grant_read(webhook)
            fetch.queue.grant_send_messages(webhook)
            raw.grant_write(webhook)
            api.add_route(
                f"CartWebhook{name}", webhook_path(connection), [apigw.HttpMethod.POST], webhook, "webhook"
            )
            self.dlqs[f"CartFetch{name}"] = fetch.dlq
