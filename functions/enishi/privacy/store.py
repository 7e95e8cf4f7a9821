"""The privacy adapter: find, export and erase everything the table and the raw-payload bucket hold on a customer.

Finding a customer's items: the profile (and merged guest profiles), the items under its partition (consent
ledger, message records) and the items naming it (orders, fulfillments, checkouts, lookups) through one paged
``Scan`` filtered on ``customer_id`` — a privacy request is rare (cost ∝ table size: one read unit per 4 KB
scanned, ~$0.13 per GB on demand), and no index is kept for it. Raw payloads: a listing of the bucket, each kept
document read and searched for the customer's email, phone, LINE id or id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from enishi import clock, keys
from enishi.privacy import logic
from enishi.profiles import apply as profile_logic
from enishi.profiles.layout import profile_from_item as _profile
from enishi.profiles.layout import profile_put
from enishi.profiles.serialize import iso


class CustomerNotFound(LookupError):
    pass


@dataclass
class Holdings:
    shop: str
    customer_id: str
    customer_ids: list[str]  # the customer and the guest profiles merged into it
    items: list[dict[str, Any]] = field(default_factory=list)
    raw_payloads: list[str] = field(default_factory=list)  # keys in the raw-payload bucket

    def sections(self) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for item in self.items:
            out.setdefault(logic.section_of(item), []).append(item)
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    return value


class PrivacyStore:
    """``table``: boto3 DynamoDB ``Table``; ``s3`` a boto3 S3 client; ``raw_bucket`` the raw-payload bucket."""

    def __init__(self, table: Any, s3: Any = None, raw_bucket: str | None = None) -> None:
        self._table = table
        self._s3 = s3
        self._bucket = raw_bucket

    # ------------------------------------------------------------ finding

    def resolve(
        self,
        shop: str,
        *,
        email: str | None = None,
        customer_id: str | None = None,
        line_user_id: str | None = None,
    ) -> str:
        if customer_id:
            return customer_id
        if email:
            item = self._get(keys.email_lookup_key(shop, keys.email_hash(email)))
            if item:
                return str(item["customer_id"])
            guest = keys.guest_customer_id(email)
            if self._get(keys.profile_key(shop, guest)):
                return guest
        if line_user_id:
            item = self._get(keys.line_lookup_key(shop, line_user_id))
            if item:
                return str(item["customer_id"])
        raise CustomerNotFound("no customer matches")

    def profile_exists(self, shop: str, customer_id: str) -> bool:
        return self._get(keys.profile_key(shop, customer_id)) is not None

    def holdings(self, shop: str, customer_id: str, *, with_raw: bool = True) -> Holdings:
        profile = self._get(keys.profile_key(shop, customer_id))
        if profile and profile.get("merged_into"):
            customer_id = str(profile["merged_into"])
            profile = self._get(keys.profile_key(shop, customer_id))
        ids = [customer_id, *(str(x) for x in (profile or {}).get("merged_from", []))]
        items = self._scan_for(shop, ids)
        profiles = [i for i in items if i.get("sk") == keys.PROFILE_SK]
        raw = self._raw_keys(logic.needles(profiles, ids)) if with_raw else []
        return Holdings(shop=shop, customer_id=customer_id, customer_ids=ids, items=items, raw_payloads=raw)

    def _scan_for(self, shop: str, customer_ids: list[str]) -> list[dict[str, Any]]:
        from boto3.dynamodb.conditions import Attr

        condition = None
        for cid in customer_ids:
            one = Attr("customer_id").eq(cid) | Attr("pk").eq(keys.customer_pk(shop, cid))
            condition = one if condition is None else condition | one
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"FilterExpression": condition, "ConsistentRead": True}
        while True:
            page = self._table.scan(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        prefix = f"SHOP#{shop}#"
        return sorted(
            (i for i in items if str(i.get("pk", "")).startswith(prefix)),
            key=lambda i: (str(i["pk"]), str(i["sk"])),
        )

    def _raw_keys(self, strings: set[str]) -> list[str]:
        if self._s3 is None or not self._bucket or not strings:
            return []
        found: list[str] = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket):
            for obj in page.get("Contents", []):
                body = self._s3.get_object(Bucket=self._bucket, Key=obj["Key"])["Body"].read()
                if logic.mentions(body, strings):
                    found.append(obj["Key"])
        return found

    # ------------------------------------------------------------ disclosure

    def export(self, holdings: Holdings, now: datetime | None = None) -> dict[str, Any]:
        """Everything held, as JSON-ready data (APPI 第33条: disclosure in electronic form)."""
        sections = {name: [_plain(i) for i in items] for name, items in holdings.sections().items()}
        raw: list[dict[str, Any]] = []
        for key in holdings.raw_payloads:
            body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
            try:
                raw.append({"key": key, "document": json.loads(body)})
            except ValueError:
                raw.append({"key": key, "document": body.decode("utf-8", "replace")})
        return {
            "shop": holdings.shop,
            "customer_id": holdings.customer_id,
            "customer_ids": holdings.customer_ids,
            "exported_at": iso(now or clock.now()),
            **sections,
            "raw_payloads": raw,
        }

    # ------------------------------------------------------------ erasure

    def erase(self, holdings: Holdings, at: datetime | None = None) -> dict[str, int]:
        """Erase every personal attribute: profiles redacted (consent becomes ``redacted``, counts stay), lookups
        deleted, personal attributes removed from all other items, kept raw payloads deleted. Idempotent."""
        at = at or clock.now()
        done = {"profiles": 0, "lookups": 0, "items": 0, "raw_payloads": 0}
        for item in holdings.items:
            kind = logic.kind_of(item)
            key = {"pk": item["pk"], "sk": item["sk"]}
            if kind == logic.KIND_PROFILE:
                if self._redact_profile(item, at):
                    done["profiles"] += 1
            elif kind == logic.KIND_LOOKUP:
                self._table.delete_item(Key=key)
                done["lookups"] += 1
            else:
                names = logic.personal_attributes(item)
                if names:
                    self._table.update_item(
                        Key=key,
                        UpdateExpression="REMOVE " + ", ".join(f"#a{n}" for n in range(len(names))),
                        ExpressionAttributeNames={f"#a{n}": name for n, name in enumerate(names)},
                    )
                    done["items"] += 1
        for raw_key in holdings.raw_payloads:
            self._s3.delete_object(Bucket=self._bucket, Key=raw_key)
            done["raw_payloads"] += 1
        return done

    def _redact_profile(self, raw: dict[str, Any], at: datetime) -> bool:
        old = _profile(raw)
        new = profile_logic.redact(old, at) if not old.redacted else old
        if old.redacted and not logic.personal_attributes(raw) and not raw.get("line"):
            return False
        item, condition = profile_put(new, old, raw, drop=logic.PERSONAL_ATTRIBUTES)
        self._table.put_item(Item=item, **condition)
        return True

    def _get(self, key: dict[str, str]) -> dict[str, Any] | None:
        return self._table.get_item(Key=key, ConsistentRead=True).get("Item")
