"""The profile consumer's DynamoDB adapter: consistent reads, and a ``WritePlan``'s steps executed in order.

``DynamoProfileRepository`` implements ``service.ProfileRepository`` over a boto3 ``Table`` resource and an
``EventPublisher``. It decides nothing: each step carries its item, its condition and what a lost race means
(``plan.py``). A failed condition on a ``Put(on_conflict="retry")`` raises ``WriteConflict`` (the service re-reads
and re-plans the event); on a put-once or an ``Update`` it means the item is already there and the step is
skipped. Any other error propagates (the SQS message is retried).

The only module of the profile consumer that talks to boto3; it imports nothing above it (the service, planners).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from enishi.aws_errors import lost_condition
from enishi.profiles.layout import Item
from enishi.profiles.plan import Delete, Publish, Put, Remove, Step, Touched, Update, WriteConflict
from enishi.publish import EventPublisher


class DynamoProfileRepository:
    """``table`` is a boto3 DynamoDB ``Table`` resource (injected); ``publisher`` an ``EventPublisher``."""

    def __init__(self, table: Any, publisher: EventPublisher) -> None:
        self._table = table
        self._publisher = publisher

    # ------------------------------------------------------------ reads

    def get(self, key: Mapping[str, str]) -> Item | None:
        resp = self._table.get_item(Key=dict(key), ConsistentRead=True)
        item: Item | None = resp.get("Item")
        return item

    def query(self, pk: str, prefix: str = "", *, touched: Touched | None = None) -> list[Item]:
        """A partition's items (those whose sort key starts with ``prefix``), in sort key order, every page;
        with ``touched``, only the items it keeps, projected to its fields (a FilterExpression and a
        ProjectionExpression: the read is billed for the range, the transfer is not)."""
        from boto3.dynamodb.conditions import Key  # deferred: merges, redactions, new orders and audits only

        items: list[Item] = []
        condition = Key("pk").eq(pk) & Key("sk").begins_with(prefix) if prefix else Key("pk").eq(pk)
        kwargs: dict[str, Any] = {"KeyConditionExpression": condition, "ConsistentRead": True}
        if touched is not None:
            kwargs.update(_touched_filter(touched))
        while True:
            resp = self._table.query(**kwargs)
            items.extend(resp.get("Items", []))
            if not resp.get("LastEvaluatedKey"):
                return items
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    # ------------------------------------------------------------ writes

    def execute(self, steps: Sequence[Step]) -> list[Step]:
        """Carry out ``steps`` in order; the steps that took effect."""
        return [step for step in steps if _RUN[type(step)](self, step)]

    def _put(self, step: Put) -> bool:
        if step.read_first and self.get({"pk": step.item["pk"], "sk": step.item["sk"]}) is not None:
            return False
        try:
            self._table.put_item(Item=step.item, **step.condition)
        except Exception as exc:
            if not lost_condition(exc):
                raise
            if step.on_conflict == "retry":
                raise WriteConflict(step.item.get("sk", "")) from exc
            return False
        return True

    def _update(self, step: Update) -> bool:
        try:
            self._table.update_item(
                Key=step.key,
                UpdateExpression=step.expression,
                ConditionExpression=step.condition,
                ExpressionAttributeValues=dict(step.values),
            )
        except Exception as exc:
            if not lost_condition(exc):
                raise
            return False
        return True

    def _remove(self, step: Remove) -> bool:
        self._table.update_item(
            Key=step.key,
            UpdateExpression="REMOVE " + ", ".join(f"#a{n}" for n in range(len(step.names))),
            ExpressionAttributeNames={f"#a{n}": name for n, name in enumerate(step.names)},
        )
        return True

    def _delete(self, step: Delete) -> bool:
        self._table.delete_item(Key=step.key)
        return True

    def _publish(self, step: Publish) -> bool:
        self._publisher.publish(list(step.events))
        return True


def _touched_filter(touched: Touched) -> dict[str, Any]:
    """``Touched`` as Query arguments: ``#t0 >= :since OR #t1 >= :since …`` and the projection of its fields."""
    from boto3.dynamodb.conditions import Attr

    conditions = [Attr(name).gte(touched.since) for name in touched.times]
    expression = conditions[0]
    for cond in conditions[1:]:
        expression = expression | cond
    kwargs: dict[str, Any] = {"FilterExpression": expression}
    if touched.fields:
        fields = ("pk", "sk", *touched.fields)
        names = {f"#p{i}": name for i, name in enumerate(fields)}
        kwargs["ProjectionExpression"] = ", ".join(names)
        kwargs["ExpressionAttributeNames"] = names
    return kwargs


_RUN: dict[type, Callable[[DynamoProfileRepository, Any], bool]] = {
    Put: DynamoProfileRepository._put,
    Update: DynamoProfileRepository._update,
    Remove: DynamoProfileRepository._remove,
    Delete: DynamoProfileRepository._delete,
    Publish: DynamoProfileRepository._publish,
}
