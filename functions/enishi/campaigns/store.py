"""A campaign's run record in the single table (``keys.campaign_run_key``): its execution, status, and the cancel
flag each send batch reads (a consistent read) before it sends anything."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from enishi import clock, keys

STATUS_RUNNING = "running"
STATUS_CANCELLED = "cancelled"


class CampaignRuns:
    def __init__(self, table: Any) -> None:
        self._table = table

    def started(self, shop: str, campaign_id: str, *, execution_arn: str, now: datetime) -> None:
        """A new run (also after a crash or a cancel: starting again is the operator's decision)."""
        self._table.put_item(
            Item={
                **keys.campaign_run_key(shop, campaign_id),
                "status": STATUS_RUNNING,
                "execution_arn": execution_arn,
                "started_at": clock.iso_z(now),
            }
        )

    def restore(self, shop: str, campaign_id: str, earlier: dict[str, Any] | None) -> None:
        """Put back the record a failed start replaced (None: there was none)."""
        if earlier is None:
            self._table.delete_item(Key=keys.campaign_run_key(shop, campaign_id))
        else:
            self._table.put_item(Item=earlier)

    def cancel(self, shop: str, campaign_id: str, *, now: datetime) -> dict[str, Any] | None:
        """Set the cancel flag; the run record before it (None: the campaign never ran)."""
        try:
            answer = self._table.update_item(
                Key=keys.campaign_run_key(shop, campaign_id),
                UpdateExpression="SET #s = :c, cancelled_at = :t",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":c": STATUS_CANCELLED, ":t": clock.iso_z(now)},
                ReturnValues="ALL_OLD",
            )
        except self._table.meta.client.exceptions.ConditionalCheckFailedException:
            return None
        return dict(answer.get("Attributes") or {})

    def get(self, shop: str, campaign_id: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key=keys.campaign_run_key(shop, campaign_id), ConsistentRead=True).get(
            "Item"
        )
        return None if item is None else dict(item)

    def cancelled(self, shop: str, campaign_id: str) -> bool:
        run = self.get(shop, campaign_id)
        return run is not None and run.get("status") == STATUS_CANCELLED
