"""An SQS queue in front of a consumer function, with its dead-letter queue. Both encrypted, TLS only."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_sqs as sqs
from constructs import Construct

MAX_RECEIVE_COUNT = 5
VISIBILITY_FACTOR = 6  # AWS guidance for Lambda event sources: visibility ≥ 6 × the function timeout
DLQ_RETENTION = Duration.days(14)  # the SQS maximum: two weeks to notice the alarm, fix and redrive


class ConsumerQueue(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        consumer_timeout: Duration,
        max_receive_count: int = MAX_RECEIVE_COUNT,
    ) -> None:
        super().__init__(scope, id)
        # SSE-SQS, not the data key: EventBridge delivers to it without a key policy, and messages live minutes
        self.dlq = sqs.Queue(
            self,
            "Dlq",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DLQ_RETENTION,
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(consumer_timeout.to_seconds() * VISIBILITY_FACTOR),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dlq, max_receive_count=max_receive_count),
        )
