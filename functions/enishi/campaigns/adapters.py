"""S3 side of the campaigns: the latest analytics segment rows (``segments/<as_of>/customers.jsonl``, written by
the analytics job) and the recipient list (through ``enishi.analytics.adapters.Bucket``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from enishi.analytics.adapters import Bucket

SEGMENTS_PREFIX = "segments/"
SEGMENT_ROWS = "customers.jsonl"


def latest_segments_key(client: Any, bucket: str) -> str | None:
    """The newest run's rows: run folders are ``YYYY-MM-DDTHHMMSSZ``, so the greatest name is the newest."""
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=SEGMENTS_PREFIX, Delimiter="/"
    )
    runs = [p["Prefix"] for page in pages for p in page.get("CommonPrefixes", [])]
    return f"{max(runs)}{SEGMENT_ROWS}" if runs else None


def latest_segment_rows(client: Any, bucket: str) -> Iterator[dict[str, Any]]:
    key = latest_segments_key(client, bucket)
    if key is None:
        raise LookupError("no analytics segments yet: run the analytics job first (enishi analytics)")
    yield from Bucket(client, bucket).lines(key)
