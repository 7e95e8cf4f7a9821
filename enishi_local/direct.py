"""The local stack's own bookkeeping reads and moves moto's state directly, without a boto3 round trip.

The handlers call AWS through boto3 exactly as deployed: that is what the local stack exists to exercise. What the
stack does *around* them — the SQS event-source poller (Lambda's own service in AWS), labelling the outbox, the demo's
weekly stage sample, the report's read of the finished table — proves nothing by being serialised to JSON, parsed by
botocore, dispatched by moto's HTTP layer and serialised back; measured, those round trips were a fifth of the demo.
Here they are plain calls on moto's backends, returning what boto3 would have returned (same fields, same order, the
same ``TypeDeserializer`` for DynamoDB items).

Call these only while the stack is settled (nothing in flight) or from the one thread that owns the resource (the
poller of its queue): moto's structures are not locked for concurrent writers.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from enishi_local import runtime

ACCOUNT_ID = runtime.ACCOUNT_ID
REGION = runtime.REGION

# the system attributes SQS returns for AttributeNames=["All"], in moto's order (moto/sqs/responses.py)
_SQS_SYSTEM_ATTRIBUTES = (
    "SenderId",
    "SentTimestamp",
    "ApproximateReceiveCount",
    "ApproximateFirstReceiveTimestamp",
    "MessageDeduplicationId",
    "MessageGroupId",
    "AWSTraceHeader",
    "SequenceNumber",
)


class DirectSqs:
    """The three SQS calls the event-source poller makes (``receive_message``, ``delete_message_batch``,
    ``change_message_visibility``) on moto's backend; any other call goes to ``client`` (a boto3 SQS client)."""

    def __init__(self, client: Any, account: str = ACCOUNT_ID, region: str = REGION) -> None:
        from moto.sqs.models import sqs_backends

        self._client = client
        self._backend = sqs_backends[account][region]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    @staticmethod
    def _queue_name(url: str) -> str:
        return url.rstrip("/").rsplit("/", 1)[-1]

    def receive_message(
        self,
        *,
        QueueUrl: str,
        MaxNumberOfMessages: int = 1,
        WaitTimeSeconds: int = 0,
        AttributeNames: Iterable[str] = (),
        MessageAttributeNames: Iterable[str] = (),
        VisibilityTimeout: int | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        name = self._queue_name(QueueUrl)
        queue: Any = self._backend.get_queue(
            name
        )  # moto sets a queue's attributes from its settings at run time
        visibility = queue.visibility_timeout if VisibilityTimeout is None else VisibilityTimeout
        messages = self._backend.receive_message(
            name, MaxNumberOfMessages, WaitTimeSeconds, visibility, list(MessageAttributeNames)
        )
        wanted = set(AttributeNames)
        include = [a for a in _SQS_SYSTEM_ATTRIBUTES if "All" in wanted or a in wanted]
        out = []
        for m in messages:
            msg: dict[str, Any] = {
                "MessageId": m.id,
                "ReceiptHandle": m.receipt_handle,
                "MD5OfBody": m.body_md5,
                "Body": m.body,
            }
            if len(m.message_attributes):
                msg["MessageAttributes"] = m.message_attributes
                msg["MD5OfMessageAttributes"] = m.attribute_md5
            attributes = _system_attributes(m, include)
            if attributes:
                msg["Attributes"] = attributes
            out.append(msg)
        return {"Messages": out} if out else {}

    def delete_message_batch(
        self,
        *,
        QueueUrl: str,
        Entries: list[dict[str, Any]],
        **_: Any,
    ) -> dict[str, Any]:
        success, failed = self._backend.delete_message_batch(self._queue_name(QueueUrl), Entries)
        return {"Successful": [{"Id": i} for i in success], "Failed": failed}

    def change_message_visibility(
        self,
        *,
        QueueUrl: str,
        ReceiptHandle: str,
        VisibilityTimeout: int,
        **_: Any,
    ) -> dict[str, Any]:
        self._backend.change_message_visibility(self._queue_name(QueueUrl), ReceiptHandle, VisibilityTimeout)
        return {}


def _system_attributes(m: Any, include: list[str]) -> dict[str, str]:
    attributes: dict[str, str] = {}
    for name in include:
        if name == "SenderId":
            attributes[name] = m.sender_id
        elif name == "SentTimestamp":
            attributes[name] = str(m.sent_timestamp)
        elif name == "ApproximateReceiveCount":
            attributes[name] = str(m.approximate_receive_count)
        elif name == "ApproximateFirstReceiveTimestamp":
            attributes[name] = str(m.approximate_first_receive_timestamp)
        elif name == "MessageDeduplicationId" and m.deduplication_id is not None:
            attributes[name] = m.deduplication_id
        elif name == "MessageGroupId" and m.group_id is not None:
            attributes[name] = m.group_id
        elif name == "AWSTraceHeader" and m.system_attributes and m.system_attributes.get("AWSTraceHeader"):
            attributes[name] = m.system_attributes["AWSTraceHeader"].get("StringValue")
        elif name == "SequenceNumber" and m.sequence_number is not None:
            attributes[name] = m.sequence_number
    return attributes


def put_events(
    entries: list[dict[str, Any]], account: str = ACCOUNT_ID, region: str = REGION
) -> list[dict[str, Any]]:
    """PutEvents on moto's EventBridge (what SES does when it publishes a sending event: AWS's own plumbing, not a
    handler's call). Returns the result entries, as the API does."""
    from moto.events.models import events_backends

    return events_backends[account][region].put_events(entries)


class DirectTable:
    """Reads of one moto DynamoDB table, items as the boto3 resource returns them (``TypeDeserializer``)."""

    def __init__(self, name: str, account: str = ACCOUNT_ID, region: str = REGION) -> None:
        from moto.dynamodb.models import dynamodb_backends

        self.name = name
        self._table = dynamodb_backends[account][region].get_table(name)

    def scan(self) -> Iterator[dict[str, Any]]:
        """Every item, in the order a paginated Scan returns them (moto: sorted by hash key, then range key)."""
        for item in self._table.all_items():
            yield item.to_regular_json()

    def get(self, key: dict[str, str], fields: Iterable[str] | None = None) -> dict[str, Any] | None:
        """GetItem by a ``{"pk": ..., "sk": ...}`` key of strings; ``fields`` is a top-level projection."""
        from moto.dynamodb.models.dynamo_type import DynamoType

        hash_name, range_name = self._table.hash_key_attr, self._table.range_key_attr
        partition = self._table.items.get(DynamoType({"S": key[hash_name]}))
        if partition is None:
            return None
        item = partition.get(DynamoType({"S": key[range_name]})) if range_name else partition
        if item is None:
            return None
        return _deserialize(item, fields)

    def partition(self, pk: str, sk_prefix: str = "") -> list[dict[str, Any]]:
        """A Query ``pk = :pk AND begins_with(sk, :prefix)``: the partition's items in sort-key order."""
        from moto.dynamodb.models.dynamo_type import DynamoType

        partition: Any = self._table.items.get(DynamoType({"S": pk}))  # an item, or items by range key
        if not partition:
            return []
        if not self._table.range_key_attr:
            return [partition.to_regular_json()]
        items = [i for i in partition.values() if str(i.range_key.value).startswith(sk_prefix)]
        return [i.to_regular_json() for i in sorted(items, key=lambda i: i.range_key)]


def _deserialize(item: Any, fields: Iterable[str] | None) -> dict[str, Any]:
    if fields is None:
        return item.to_regular_json()
    from moto.dynamodb.models.dynamo_type import deserializer

    return {
        name: deserializer.deserialize(item.attrs[name].to_regular_json())
        for name in fields
        if name in item.attrs
    }
