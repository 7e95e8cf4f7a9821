"""The win-back job's DynamoDB side (adapters): the day's order ids from the ``orders_by_day`` GSI, batch reads of
orders and profiles, and the job's cursor item (``keys.winback_cursor_key``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import boto3

from enishi import clock, keys
from enishi import constants as c

BATCH_GET_MAX = 100


class WinbackReader:
    """Query the day's order keys on the GSI, then batch-get orders and profiles (adapter)."""

    def __init__(self, table: Any) -> None:
        self._table = table
        self._dynamodb = boto3.resource("dynamodb")

    def order_ids(self, shop: str, day: date) -> Iterator[str]:
        from boto3.dynamodb.conditions import Key

        kwargs: dict[str, Any] = {
            "IndexName": c.GSI_ORDERS_BY_DAY,
            "KeyConditionExpression": Key(c.ATTR_GSI1_PK).eq(keys.orders_by_day_pk(shop, day)),
        }
        while True:
            page = self._table.query(**kwargs)
            for item in page.get("Items", []):
                yield keys.order_id_from_orders_by_day_sk(str(item[c.ATTR_GSI1_SK]))
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def batch_get(self, key_list: list[dict[str, str]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        name = self._table.name
        for i in range(0, len(key_list), BATCH_GET_MAX):
            request: dict[str, Any] = {name: {"Keys": key_list[i : i + BATCH_GET_MAX]}}
            while request:
                resp = self._dynamodb.batch_get_item(RequestItems=request)
                out.extend(resp.get("Responses", {}).get(name, []))
                request = resp.get("UnprocessedKeys") or {}
        return out


class WinbackCursor:
    """The cursor item (adapter)."""

    def __init__(self, table: Any, shop: str) -> None:
        self._table, self._key = table, keys.winback_cursor_key(shop)

    def get(self) -> date | None:
        item = self._table.get_item(Key=self._key, ConsistentRead=True).get("Item")
        return date.fromisoformat(str(item["last_day"])) if item and item.get("last_day") else None

    def advance(self, day: date, now: datetime) -> None:
        try:
            self._table.put_item(
                Item={**self._key, "last_day": day.isoformat(), "updated_at": clock.iso_z(now)},
                ConditionExpression="attribute_not_exists(last_day) OR last_day < :d",
                ExpressionAttributeValues={":d": day.isoformat()},
            )
        except self._table.meta.client.exceptions.ConditionalCheckFailedException:
            pass  # a concurrent run got further: the cursor never moves back
