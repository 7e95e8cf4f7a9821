"""The raw-payload bucket: authentic bodies kept for a fix and a replay (unprocessable, for another shop, cut to fit
EventBridge). Layout ``raw/<source>/<yyyy-mm-dd>/<uuid>.json`` = ``{source, received_at, reason, details, headers
(signature included, so a replay can re-verify), body_base64}``. ``S3RawStore`` is the adapter behind the
``RawStore`` port of intake and the LINE webhook."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol


class RawKeeper(Protocol):
    """Where an authentic body enishi could not (wholly) use is kept for replay (``S3RawStore`` below)."""

    def keep(
        self,
        source: str,
        raw: bytes,
        headers: Mapping[str, str],
        reason: str,
        details: Any,
        received_at: datetime,
    ) -> str:
        """Store the body; returns where it went."""
        ...


def raw_key(source: str, received_at: datetime, unique: str) -> str:
    return f"raw/{source}/{received_at.strftime('%Y-%m-%d')}/{unique}.json"


def raw_document(
    source: str, raw: bytes, headers: Mapping[str, str], reason: str, details: Any, received_at: datetime
) -> bytes:
    """What is kept: the exact bytes (base64, so the signature can be re-verified on replay), headers, reason."""
    import base64

    document = {
        "source": source,
        "received_at": received_at.isoformat(),
        "reason": reason,
        "details": details,
        "headers": dict(headers),
        "body_base64": base64.b64encode(raw).decode("ascii"),
    }
    try:
        return json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # a header with a lone surrogate: escaped JSON is still the same document
        return json.dumps(document, ensure_ascii=True).encode("ascii")


class S3RawStore:
    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def keep(
        self,
        source: str,
        raw: bytes,
        headers: Mapping[str, str],
        reason: str,
        details: Any,
        received_at: datetime,
    ) -> str:
        key = raw_key(source, received_at, uuid.uuid4().hex)
        body = raw_document(source, raw, headers, reason, details, received_at)
        self._client.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType="application/json")
        return key
