"""Profiles: bus rule (source enishi.intake, enishi.messaging) → SQS (+ DLQ) → the profile consumer."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from constructs import Construct

from enishi import constants as c
from infra.constructs.function import FunctionFactory
from infra.constructs.queues import ConsumerQueue
from infra.nag import acknowledge_table_access

TIMEOUT = Duration.seconds(30)
BATCH_SIZE = 10


class Profiles(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        functions: FunctionFactory,
        table: dynamodb.ITable,
        bus: events.IEventBus,
    ) -> None:
        super().__init__(scope, id)
        self.queues = ConsumerQueue(self, "Queue", consumer_timeout=TIMEOUT)
        self.rule = events.Rule(
            self,
            "Rule",
            event_bus=bus,
            description="canonical events and message outcomes → the profile consumer",
            event_pattern=events.EventPattern(source=[c.EVENT_SOURCE_INTAKE, c.EVENT_SOURCE_MESSAGING]),
            # if EventBridge cannot deliver to the queue, the event goes to the DLQ (and the archive has it anyway)
            targets=[targets.SqsQueue(self.queues.queue, dead_letter_queue=self.queues.dlq)],
        )
        self.function: lambda_.Function = functions.create(
            "Profiles",
            scope=self,
            handler="enishi.profiles.handler.handler",
            description="Applies canonical events to customer profiles (idempotent, order-safe)",
            timeout=TIMEOUT,
        )
        self.function.add_event_source(
            sources.SqsEventSource(
                self.queues.queue,
                batch_size=BATCH_SIZE,
                max_batching_window=Duration.seconds(1),
                report_batch_item_failures=True,
            )
        )
        table.grant_read_write_data(self.function)
        acknowledge_table_access(self.function.role, table, write=True)  # type: ignore[arg-type]
        bus.grant_put_events_to(self.function)  # order.recorded
