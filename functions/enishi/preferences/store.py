"""Reads the current consent state from the profile item (display only: the POST never depends on it)."""

from __future__ import annotations

import json
from typing import Any

from enishi import keys


def _plain(value: Any) -> Any:
    from boto3.dynamodb.types import TypeDeserializer  # deferred: only when a profile is read

    return TypeDeserializer().deserialize(value)


class DynamoConsentReader:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def _profile(self, shop: str, customer_id: str) -> dict[str, Any] | None:
        key = {k: {"S": v} for k, v in keys.profile_key(shop, customer_id).items()}
        item = self._client.get_item(TableName=self._table, Key=key).get("Item")
        return {k: _plain(v) for k, v in item.items()} if item else None

    def consent_state(self, shop: str, customer_id: str, channel: str) -> str | None:
        try:
            profile = self._profile(shop, customer_id)
            if profile and profile.get("merged_into"):
                profile = self._profile(shop, str(profile["merged_into"]))
            if not profile:
                return None
            consent = profile.get(f"{channel}_consent")
            if isinstance(consent, str):
                consent = json.loads(consent)
            state = consent.get("state") if isinstance(consent, dict) else None
            return str(state) if state else None
        except Exception:  # noqa: BLE001 — the page must render even if the profile shape is unexpected
            return None
