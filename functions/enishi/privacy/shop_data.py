"""The shop-redaction adapter: delete one slice of a shop's data from the table and the buckets.

Each method does a bounded amount of work and returns a cursor (``None``: done), so the privacy job can chain
slices through its queue (``enishi.privacy.jobs``):

- ``table_slice``: one segment of a parallel ``Scan`` (keys only, filtered on the shop's partition-key prefixes:
  ``SHOP#{shop}#`` — profiles, lookups, orders, checkouts, messages, consent ledger, parked events, dedupe markers,
  the privacy requests, the win-back cursor — and ``CARTCONN#{connection}#`` for the shop's polled-cart cursors),
  at most ``pages`` pages, each item deleted by ``BatchWriteItem``. A Scan, not a Query: a redaction removes the
  whole shop once, and in a one-shop deployment that is the table. Cost: one read unit per 4 KB scanned (keys are
  projected, but a Scan is billed on the items read) + one write unit per item deleted.
- ``raw_slice``: one page of the raw-payload bucket listing; each kept document that belongs to the shop (names it
  in its headers or body, or comes from a source the shop owns, e.g. its LINE channel) is deleted.
- ``exports_slice``: one page of the shop's data-request exports in the privacy bucket, deleted.
- ``ShopExecutions.stop_slice``: one page of a sequence machine's running executions; those of the shop (the
  execution input names it) are stopped, so no waiting sequence wakes up and writes under the shop again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from enishi import keys
from enishi.privacy import logic

SCAN_PAGE_ITEMS = 1000  # items evaluated per Scan page (before the filter)
SCAN_PAGES_PER_SLICE = 5  # a slice: ≤ 5,000 items evaluated, seconds of work
S3_PAGE_KEYS = 500


class ShopEraser:
    """``table``: boto3 DynamoDB ``Table``; ``s3`` a boto3 S3 client; the two bucket names."""

    def __init__(
        self, table: Any, s3: Any = None, raw_bucket: str | None = None, privacy_bucket: str | None = None
    ) -> None:
        self._table = table
        self._s3 = s3
        self._raw = raw_bucket
        self._privacy = privacy_bucket

    # ------------------------------------------------------------ the table

    def table_slice(
        self,
        prefixes: Iterable[str],
        segment: int,
        total_segments: int,
        start_key: dict[str, Any] | None,
        *,
        pages: int | None = None,
        page_items: int | None = None,
    ) -> tuple[int, dict[str, Any] | None]:
        """Delete the items whose ``pk`` starts with one of ``prefixes`` in up to ``pages`` Scan pages of one
        segment: (items deleted, the key to continue from or None)."""
        from boto3.dynamodb.conditions import Attr

        condition = None
        for prefix in prefixes:
            one = Attr("pk").begins_with(prefix)
            condition = one if condition is None else condition | one
        kwargs: dict[str, Any] = {
            "FilterExpression": condition,
            "ProjectionExpression": "pk, sk",
            "Segment": segment,
            "TotalSegments": total_segments,
            "Limit": page_items or SCAN_PAGE_ITEMS,
        }
        if start_key:
            kwargs["ExclusiveStartKey"] = start_key
        deleted = 0
        for _ in range(pages or SCAN_PAGES_PER_SLICE):
            page = self._table.scan(**kwargs)
            deleted += self._delete(page.get("Items", []))
            last = page.get("LastEvaluatedKey")
            if not last:
                return deleted, None
            kwargs["ExclusiveStartKey"] = last
        return deleted, kwargs["ExclusiveStartKey"]

    def _delete(self, items: list[dict[str, Any]]) -> int:
        if not items:
            return 0
        with self._table.batch_writer() as batch:  # 25 a request, unprocessed items resent
            for item in items:
                batch.delete_item(Key={"pk": item["pk"], "sk": item["sk"]})
        return len(items)

    # ------------------------------------------------------------ the buckets

    def raw_slice(
        self, shop: str, owned_sources: frozenset[str], token: str | None
    ) -> tuple[int, str | None]:
        """Delete the kept payloads of ``shop`` on one listing page: (deleted, continuation token or None)."""
        if self._s3 is None or not self._raw:
            return 0, None
        page = self._list(self._raw, "", token)
        doomed = []
        for obj in page.get("Contents", []):
            body = self._s3.get_object(Bucket=self._raw, Key=obj["Key"])["Body"].read()
            if belongs_to_shop(body, shop, owned_sources):
                doomed.append(obj["Key"])
        return self._delete_objects(self._raw, doomed), page.get("NextContinuationToken")

    def exports_slice(self, prefix: str, token: str | None) -> tuple[int, str | None]:
        """Delete one listing page of exports under ``prefix``: (deleted, continuation token or None)."""
        if self._s3 is None or not self._privacy:
            return 0, None
        page = self._list(self._privacy, prefix, token)
        keys_ = [obj["Key"] for obj in page.get("Contents", [])]
        return self._delete_objects(self._privacy, keys_), page.get("NextContinuationToken")

    def _list(self, bucket: str, prefix: str, token: str | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"Bucket": bucket, "MaxKeys": S3_PAGE_KEYS}
        if prefix:
            kwargs["Prefix"] = prefix
        if token:
            kwargs["ContinuationToken"] = token
        return dict(self._s3.list_objects_v2(**kwargs))

    def _delete_objects(self, bucket: str, keys_: list[str]) -> int:
        if keys_:  # ≤ 1000 a request; a page holds ≤ S3_PAGE_KEYS
            self._s3.delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys_], "Quiet": True}
            )
        return len(keys_)


class ShopExecutions:
    """``sfn``: a boto3 Step Functions client; ``machines``: sequence name → state machine ARN."""

    def __init__(self, sfn: Any, machines: dict[str, str]) -> None:
        self._sfn = sfn
        self._arns = [machines[name] for name in sorted(machines)]

    def stop_slice(self, shop: str, cursor: dict[str, Any] | None) -> tuple[int, dict[str, Any] | None]:
        """Stop the shop's running executions on one listing page: (stopped, the cursor to continue or None)."""
        index = int((cursor or {}).get("machine", 0))
        if index >= len(self._arns):
            return 0, None
        kwargs: dict[str, Any] = {
            "stateMachineArn": self._arns[index],
            "statusFilter": "RUNNING",
            "maxResults": 100,
        }
        if (cursor or {}).get("token"):
            kwargs["nextToken"] = cursor["token"]  # type: ignore[index]
        page = self._sfn.list_executions(**kwargs)
        stopped = 0
        for execution in page.get("executions", []):
            arn = execution["executionArn"]
            if _input_shop(self._sfn.describe_execution(executionArn=arn).get("input")) == shop:
                self._sfn.stop_execution(executionArn=arn, error="enishi.ShopRedacted", cause="shop/redact")
                stopped += 1
        if page.get("nextToken"):
            return stopped, {"machine": index, "token": page["nextToken"]}
        return stopped, ({"machine": index + 1} if index + 1 < len(self._arns) else None)


def _input_shop(raw: str | None) -> str | None:
    try:
        data = json.loads(raw or "{}")
    except ValueError:
        return None
    return str(data.get("shop")) if isinstance(data, dict) and data.get("shop") else None


def shop_prefixes(shop: str, cart_connections: Iterable[str] = ()) -> list[str]:
    """Every partition-key prefix that holds the shop's items."""
    return [keys.shop_pk_prefix(shop), *(keys.poll_cursor_pk_prefix(x) for x in cart_connections)]


def belongs_to_shop(document: bytes, shop: str, owned_sources: frozenset[str]) -> bool:
    """A kept payload is the shop's: it came from a source the shop owns, or names the shop (headers or body)."""
    try:
        doc = json.loads(document)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and str(doc.get("source", "")) in owned_sources:
        return True
    return logic.mentions(document, [shop])
