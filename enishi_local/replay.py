"""``enishi replay``: send kept (authentic but unprocessable) Shopify payloads back to the intake.

Intake keeps such a payload in the raw-payload bucket — the exact body bytes, the headers (signature included) and
the reason — and answers Shopify 200 so the subscription survives. Once the adapter is fixed and deployed, this
command POSTs each kept body with its original headers to the same endpoint: the HMAC still verifies (same bytes,
same secret) and the dedupe marker was never written for it, so it is processed like a first delivery.

Generic payloads are not replayed: their signature carries a timestamp that is only valid for 5 minutes, and their
senders were answered 400 (or 403 ``unknown_shop``) with the details, so they resend themselves. Bodies kept with
reason ``oversized`` were processed (their events carry ``raw_ref`` pointing at them) and are never replayed.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from enishi import constants as c

PATHS = {"shopify": c.PATH_SHOPIFY_WEBHOOK}
NOT_REPLAYED_REASONS = {"oversized"}  # processed; kept only as the full body behind an event's raw_ref
HOP_BY_HOP = {"host", "content-length", "connection", "transfer-encoding", "accept-encoding"}


@dataclass
class Replayed:
    key: str
    status: int | str
    answer: str


def kept_documents(s3: Any, bucket: str, prefix: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            yield obj["Key"], json.loads(body)


def replay_request(document: dict[str, Any], api_url: str) -> urllib.request.Request | None:
    path = PATHS.get(document.get("source", ""))
    if path is None or document.get("reason") in NOT_REPLAYED_REASONS:
        return None
    headers = {k: v for k, v in document["headers"].items() if k.lower() not in HOP_BY_HOP}
    raw = base64.b64decode(document["body_base64"])
    return urllib.request.Request(api_url.rstrip("/") + path, data=raw, method="POST", headers=headers)


def replay(
    s3: Any, bucket: str, prefix: str, api_url: str, *, delete: bool = False, timeout: float = 10
) -> list[Replayed]:
    results: list[Replayed] = []
    for key, document in kept_documents(s3, bucket, prefix):
        request = replay_request(document, api_url)
        if request is None:
            what = (
                document.get("reason")
                if document.get("reason") in NOT_REPLAYED_REASONS
                else document.get("source")
            )
            results.append(Replayed(key, "skipped", f"{what} payloads are not replayable"))
            continue
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                status, answer = resp.status, resp.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as err:
            status, answer = err.code, err.read().decode("utf-8", "replace")
        processed = status == 200 and json.loads(answer or "{}").get("status") in {"accepted", "duplicate"}
        if processed and delete:
            s3.delete_object(Bucket=bucket, Key=key)
        results.append(Replayed(key, status, answer))
    return results


def main(argv: list[str]) -> int:
    import argparse

    import boto3

    parser = argparse.ArgumentParser(prog="enishi replay", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bucket", required=True, help="the stack output RawPayloadBucketName")
    parser.add_argument(
        "--prefix", default="raw/shopify/", help="e.g. raw/shopify/2026-11-24/ (default: all)"
    )
    parser.add_argument("--url", required=True, help="the stack output ApiUrl")
    parser.add_argument("--delete", action="store_true", help="delete each object once intake accepted it")
    opts = parser.parse_args(argv)
    results = replay(boto3.client("s3"), opts.bucket, opts.prefix, opts.url, delete=opts.delete)
    for r in results:
        print(f"{r.status}\t{r.key}\t{r.answer[:120]}")
    still_kept = [r for r in results if r.status != 200 or '"kept"' in r.answer]
    print(f"{len(results)} payloads, {len(results) - len(still_kept)} processed, {len(still_kept)} not")
    return 1 if still_kept else 0
