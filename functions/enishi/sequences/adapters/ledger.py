"""The message records in DynamoDB (item ``keys.message_key``): the adapter of the protocol in ``domain/ledger.py``.

Takes a boto3 DynamoDB ``Table`` resource; tests give it moto's.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from enishi import clock, keys
from enishi.sequences.domain.ledger import (
    FIELD_REQUEST_KEY,
    STATUS_FAILED,
    STATUS_FAILED_RETRYABLE,
    STATUS_SENDING,
    STATUS_SENT,
    STATUS_SKIPPED,
    Claim,
    MessageRef,
)


def _iso(value: datetime) -> str:
    return clock.iso_z(value)


class Ledger:
    def __init__(self, table: Any) -> None:
        self._table = table

    def _key(self, ref: MessageRef) -> dict[str, str]:
        return keys.message_key(ref.shop, ref.customer_id, ref.message_key)

    def _record(self, ref: MessageRef) -> dict[str, Any]:
        """Key and identity of a new message record (what a claim and a skip both write)."""
        record: dict[str, Any] = {
            **self._key(ref),
            "shop": ref.shop,
            "customer_id": ref.customer_id,
            "message_key": ref.message_key,
            "sequence": ref.sequence,
            "step": ref.step,
            "trigger_id": ref.trigger_id,
            "marketing": ref.marketing,
        }
        if ref.variant is not None:
            record["variant"] = ref.variant
        return record

    def get(self, ref: MessageRef) -> dict[str, Any] | None:
        return self._table.get_item(Key=self._key(ref), ConsistentRead=True).get("Item")

    def claim(self, ref: MessageRef, *, channel: str, recipient_hash: str | None, now: datetime) -> Claim:
        item: dict[str, Any] = {
            **self._record(ref),
            "status": STATUS_SENDING,
            "channel": channel,
            "created_at": _iso(now),
        }
        if recipient_hash:
            item["recipient_hash"] = recipient_hash
        try:
            self._table.put_item(
                Item=item,
                ConditionExpression="attribute_not_exists(pk) OR #s = :retryable",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":retryable": STATUS_FAILED_RETRYABLE},
            )
            return Claim(won=True)
        except self._table.meta.client.exceptions.ConditionalCheckFailedException:
            return Claim(won=False, existing=self.get(ref))

    def switch_channel(self, ref: MessageRef, *, channel: str, recipient_hash: str | None) -> None:
        """A claimed record changes channel before anything was sent on it (LINE quota → email fallback)."""
        names = {"#s": "status", "#c": "channel"}
        values: dict[str, Any] = {":sending": STATUS_SENDING, ":c": channel}
        expr = "SET #c = :c"
        if recipient_hash:
            expr += ", recipient_hash = :r"
            values[":r"] = recipient_hash
        self._table.update_item(
            Key=self._key(ref),
            UpdateExpression=expr,
            ConditionExpression="#s = :sending",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def name_request(self, ref: MessageRef, *, retry_key: str) -> bool:
        """A ``sending`` record names the multicast request (its ``X-Line-Retry-Key``) it is about to go out in,
        before that request is made: a re-driven batch resends exactly that request (LINE answers 409 if it was
        accepted). False when the record is no longer ``sending`` (nothing to send)."""
        try:
            self._table.update_item(
                Key=self._key(ref),
                UpdateExpression="SET #k = :k",
                ConditionExpression="#s = :sending",
                ExpressionAttributeNames={"#s": "status", "#k": FIELD_REQUEST_KEY},
                ExpressionAttributeValues={":sending": STATUS_SENDING, ":k": retry_key},
            )
            return True
        except self._table.meta.client.exceptions.ConditionalCheckFailedException:
            return False

    def mark_sent(
        self,
        ref: MessageRef,
        *,
        provider_message_id: str | None,
        now: datetime,
        cost_usd: Decimal | None = None,
    ) -> None:
        values: dict[str, Any] = {":sent": STATUS_SENT, ":at": _iso(now)}
        expr = "SET #s = :sent, sent_at = :at"
        if provider_message_id:
            expr += ", provider_message_id = :pid"
            values[":pid"] = provider_message_id
        if cost_usd is not None:
            expr += ", cost_usd = :cost"
            values[":cost"] = cost_usd
        self._table.update_item(
            Key=self._key(ref),
            UpdateExpression=expr,
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=values,
        )

    def release(self, ref: MessageRef) -> None:
        """Nothing was sent: forget the claim so a retry can claim it again."""
        try:
            self._table.delete_item(
                Key=self._key(ref),
                ConditionExpression="#s = :sending",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":sending": STATUS_SENDING},
            )
        except self._table.meta.client.exceptions.ConditionalCheckFailedException:
            pass

    def mark_failed(self, ref: MessageRef, *, reason: str, now: datetime) -> None:
        """Certainly not sent and not worth retrying (rejected address, template error)."""
        self._table.update_item(
            Key=self._key(ref),
            UpdateExpression="SET #s = :failed, reason = :r, failed_at = :at",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":failed": STATUS_FAILED, ":r": reason, ":at": _iso(now)},
        )

    def record_skip(self, ref: MessageRef, *, reason: str, now: datetime, channel: str | None = None) -> bool:
        """A ``skipped`` record with its reason (and, held out, the channel it would have gone by), unless the
        message already has a record. True if written."""
        item: dict[str, Any] = {**self._record(ref), "status": STATUS_SKIPPED, "reason": reason}
        item["created_at"] = _iso(now)
        if channel:
            item["channel"] = channel
        try:
            self._table.put_item(
                Item=item,
                ConditionExpression="attribute_not_exists(pk)",
            )
            return True
        except self._table.meta.client.exceptions.ConditionalCheckFailedException:
            return False
