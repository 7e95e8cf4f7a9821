"""DynamoDB adapter for message outcomes: first-time-only, conditional on the message record existing."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from enishi import clock, keys
from enishi.feedback.logic import MarkResult


def _key(shop: str, customer_id: str, message_key: str) -> dict[str, dict[str, str]]:
    return {name: {"S": value} for name, value in keys.message_key(shop, customer_id, message_key).items()}


class DynamoMessageOutcomes:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def mark(
        self,
        shop: str,
        customer_id: str,
        message_key: str,
        attribute: str,
        at: datetime,
        extra: Mapping[str, str],
    ) -> MarkResult:
        names = {"#a": attribute}
        values = {":t": {"S": clock.iso_z(at)}}
        sets = ["#a = :t"]
        for i, (name, value) in enumerate(sorted(extra.items())):
            names[f"#x{i}"] = name
            values[f":x{i}"] = {"S": value}
            sets.append(f"#x{i} = :x{i}")
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_key(shop, customer_id, message_key),
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(#a)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self._client.exceptions.ConditionalCheckFailedException as exc:
            return "already" if exc.response.get("Item") else "missing"
        return "marked"
