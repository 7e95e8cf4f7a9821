"""DynamoDB reads and the one profile write the sequences need (adapter; keys only via ``keys.py``): profiles,
checkouts, orders, parked events, message status, the LINE quota flag and the frequency cap."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from enishi import clock, keys
from enishi import constants as c
from enishi.profiles.items import CheckoutItem, OrderItem
from enishi.profiles.model import Profile
from enishi.sequences.domain.cap import CapClaim, cap_threshold, month_jst
from enishi.sequences.domain.parking import PARK_TTL

QUOTA_FLAG_TTL = timedelta(days=62)

# the frequency cap as DynamoDB evaluates it (``cap.cap_allows`` is the same rule in Python, for the tests)
CAP_CONDITION = (
    "attribute_exists(pk) AND (attribute_not_exists(last_marketing_sent_at) "
    "OR last_marketing_sent_at <= :lapsed OR marketing_cap_key = :k)"
)


class SequenceStore:
    def __init__(self, table: Any) -> None:
        self._table = table

    def _get(self, key: dict[str, str], consistent: bool = False) -> dict[str, Any] | None:
        return self._table.get_item(Key=key, ConsistentRead=consistent).get("Item")

    def get_profile(self, shop: str, customer_id: str) -> Profile | None:
        """The profile, following ``merged_into`` once (a guest merged into a customer)."""
        item = self._get(keys.profile_key(shop, customer_id), consistent=True)
        if item is None:
            return None
        profile = Profile.model_validate(item)
        if profile.merged_into:
            target = self._get(keys.profile_key(shop, profile.merged_into), consistent=True)
            if target is not None:
                return Profile.model_validate(target)
        return profile

    def get_checkout(self, shop: str, token: str) -> CheckoutItem | None:
        item = self._get(keys.checkout_key(shop, token), consistent=True)
        return CheckoutItem.model_validate(item) if item else None

    def get_order(self, shop: str, order_id: str) -> OrderItem | None:
        """Consistent: the starter re-reads the order right after parking an event that waits for it."""
        item = self._get(keys.order_key(shop, order_id), consistent=True)
        return OrderItem.model_validate(item) if item else None

    # ---- events parked until the event they depend on arrives (sequences/parking.py)
    def park(self, shop: str, order_id: str, event_id: str, body: str, now: datetime) -> None:
        """Idempotent: the same event parked twice is one item (its first ``parked_at`` is kept)."""
        self._table.update_item(
            Key=keys.parked_for_order_key(shop, order_id, event_id),
            UpdateExpression="SET body = :b, event_id = :e, parked_at = if_not_exists(parked_at, :t), #ttl = :x",
            ExpressionAttributeNames={"#ttl": c.ATTR_TTL},
            ExpressionAttributeValues={
                ":b": body,
                ":e": event_id,
                ":t": clock.iso_z(now),
                ":x": int((clock.to_utc(now) + PARK_TTL).timestamp()),
            },
        )

    def parked_for_order(self, shop: str, order_id: str) -> list[dict[str, Any]]:
        from boto3.dynamodb.conditions import Key

        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key(c.ATTR_PK).eq(keys.parked_for_order_pk(shop, order_id)),
            "ConsistentRead": True,
        }
        items: list[dict[str, Any]] = []
        while True:
            page = self._table.query(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def unpark(self, shop: str, order_id: str, event_id: str) -> None:
        self._table.delete_item(Key=keys.parked_for_order_key(shop, order_id, event_id))

    def message_status(self, shop: str, customer_id: str, message_key: str) -> str | None:
        item = self._get(keys.message_key(shop, customer_id, message_key), consistent=True)
        return None if item is None else item.get("status")

    def line_quota_exhausted(self, shop: str, now: datetime) -> bool:
        return self._get(keys.line_quota_key(shop, month_jst(now))) is not None

    def set_line_quota_exhausted(self, shop: str, now: datetime) -> None:
        """LINE said "monthly limit": every send this month goes by the fallback until the month turns."""
        self._table.put_item(
            Item={
                **keys.line_quota_key(shop, month_jst(now)),
                "set_at": clock.iso_z(now),
                "expires_at": int((clock.to_utc(now) + QUOTA_FLAG_TTL).timestamp()),
            }
        )

    # ---- the marketing frequency cap, shared by email and LINE: a conditional write, claimed before the send
    def claim_cap(self, profile: Profile, message_key: str, *, now: datetime, cap: timedelta) -> CapClaim:
        """Take the cap for ``message_key``: ``last_marketing_sent_at = now`` only if the cap has lapsed (or this
        message already holds it: a retried step). Lost → ``CapClaim(won=False, lapses_at)``: defer to then."""
        key = keys.profile_key(profile.shop, profile.customer_id)
        try:
            old = self._table.update_item(
                Key=key,
                UpdateExpression="SET last_marketing_sent_at = :now, marketing_cap_key = :k, "
                "version = if_not_exists(version, :zero) + :one",
                ConditionExpression=CAP_CONDITION,
                ExpressionAttributeValues={
                    ":now": clock.iso_z(now),
                    ":k": message_key,
                    ":lapsed": cap_threshold(now, cap),
                    ":zero": 0,
                    ":one": 1,
                },
                ReturnValues="UPDATED_OLD",
            )
        except self._table.meta.client.exceptions.ConditionalCheckFailedException:
            current = self._get(key, consistent=True) or {}
            last = current.get("last_marketing_sent_at")
            lapses = clock.to_utc(clock.parse_iso(str(last))) + cap if last else clock.to_utc(now)
            return CapClaim(won=False, lapses_at=max(lapses, clock.to_utc(now)))
        previous = (old.get("Attributes") or {}).get("last_marketing_sent_at")
        return CapClaim(won=True, previous=None if previous is None else str(previous))

    def release_cap(self, profile: Profile, message_key: str, claim: CapClaim) -> None:
        """The send certainly did not happen: give the cap back (restore the previous send time)."""
        key = keys.profile_key(profile.shop, profile.customer_id)
        values: dict[str, Any] = {":k": message_key, ":one": 1}
        if claim.previous is None:
            expr = "REMOVE last_marketing_sent_at, marketing_cap_key SET version = version + :one"
        else:
            expr = "SET last_marketing_sent_at = :prev, version = version + :one REMOVE marketing_cap_key"
            values[":prev"] = claim.previous
        try:
            self._table.update_item(
                Key=key,
                UpdateExpression=expr,
                ConditionExpression="marketing_cap_key = :k",
                ExpressionAttributeValues=values,
            )
        except self._table.meta.client.exceptions.ConditionalCheckFailedException:
            pass  # another message holds it now: nothing of ours to give back

    def record_send(
        self, profile: Profile, *, last_message: dict[str, Any], marketing: bool, now: datetime
    ) -> None:
        """``last_message`` (+ ``last_marketing_sent_at`` for marketing) with ``version = version + 1``."""
        expr = "SET last_message = :m, version = if_not_exists(version, :zero) + :one"
        values: dict[str, Any] = {":m": last_message, ":zero": 0, ":one": 1}
        if marketing:
            expr += ", last_marketing_sent_at = :t"
            values[":t"] = clock.iso_z(now)
        self._table.update_item(
            Key=keys.profile_key(profile.shop, profile.customer_id),
            UpdateExpression=expr,
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues=values,
        )
