"""DynamoDB adapter for the LINE webhook: dedupe markers, the LINE → customer lookup, account-link nonces."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from enishi import clock, keys
from enishi import constants as c
from enishi.line_webhook.linking import NONCE_TTL, NonceExists

DEDUPE_TTL = timedelta(days=7)  # LINE redelivers for a limited time; a week is ample


def _key(item_key: dict[str, str]) -> dict[str, dict[str, str]]:
    return {k: {"S": v} for k, v in item_key.items()}


def _epoch(value: datetime) -> dict[str, str]:
    return {"N": str(int(value.timestamp()))}


class DynamoLineStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    # ---- dedupe markers
    def claim(self, shop: str, webhook_event_id: str, now: datetime) -> bool:
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    **_key(keys.dedupe_key(shop, "line", webhook_event_id)),
                    "received_at": {"S": clock.iso_z(now)},
                    c.ATTR_TTL: _epoch(now + DEDUPE_TTL),
                },
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": c.ATTR_PK},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def release(self, shop: str, webhook_event_id: str) -> None:
        self._client.delete_item(
            TableName=self._table, Key=_key(keys.dedupe_key(shop, "line", webhook_event_id))
        )

    # ---- lookup written by the profile consumer when a LINE user is linked
    def customer_for_line_user(self, shop: str, line_user_id: str) -> str | None:
        item = self._client.get_item(
            TableName=self._table,
            Key=_key(keys.line_lookup_key(shop, line_user_id)),
            ProjectionExpression="customer_id",
        ).get("Item")
        value = (item or {}).get("customer_id", {}).get("S")
        return value or None

    # ---- account-link nonces
    def put_nonce(
        self, shop: str, nonce: str, customer_id: str, created_at: datetime, expires_at: datetime
    ) -> None:
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    **_key(keys.line_link_nonce_key(shop, nonce)),
                    "customer_id": {"S": customer_id},
                    "created_at": {"S": clock.iso_z(created_at)},
                    c.ATTR_TTL: _epoch(expires_at),
                },
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": c.ATTR_PK},
            )
        except self._client.exceptions.ConditionalCheckFailedException as exc:
            raise NonceExists() from exc

    def consume_nonce(self, shop: str, nonce: str, now: datetime) -> str | None:
        """Atomic delete-and-return: of two deliveries racing on one nonce, one gets the customer id."""
        if not nonce or len(nonce) > 255:
            return None
        try:
            old = self._client.delete_item(
                TableName=self._table,
                Key=_key(keys.line_link_nonce_key(shop, nonce)),
                ConditionExpression="attribute_exists(#pk)",
                ExpressionAttributeNames={"#pk": c.ATTR_PK},
                ReturnValues="ALL_OLD",
            ).get("Attributes")
        except self._client.exceptions.ConditionalCheckFailedException:
            return None
        if not old:
            return None
        # DynamoDB TTL deletes lazily (up to days later): an expired nonce is refused here.
        if int(old.get(c.ATTR_TTL, {}).get("N", "0")) <= int(now.timestamp()):
            return None
        return old.get("customer_id", {}).get("S") or None

    def restore_nonce(self, shop: str, nonce: str, customer_id: str, now: datetime) -> None:
        try:
            self.put_nonce(shop, nonce, customer_id, now, now + NONCE_TTL)
        except NonceExists:
            pass
