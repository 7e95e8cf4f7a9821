"""API Gateway HTTP API (payload format 2.0) by hand: the raw body, the headers, a JSON answer.

Shared by the intake, LINE webhook and preferences handlers; each has too few routes to justify Powertools'
``APIGatewayHttpResolver`` import (see intake/handler.py).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any


def raw_body(event: Mapping[str, Any]) -> bytes:
    """The request body as sent (signatures are computed over these bytes). Never raises: a body API Gateway could
    not have produced (bad base64, lone surrogates) comes out as bytes that will simply fail the signature check."""
    body = event.get("body") or ""
    if not isinstance(body, str):
        return b""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body)
        except ValueError:  # binascii.Error
            return b""
    try:
        return body.encode(
            "utf-8", "surrogateescape"
        )  # a test's surrogateescape-decoded bytes come back as sent
    except UnicodeEncodeError:
        return body.encode("utf-8", "surrogatepass")


def headers(event: Mapping[str, Any]) -> dict[str, str]:
    """Request headers with lower-case names (payload 2.0 already lower-cases them; a test event may not)."""
    return {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}


def json_response(status: int, body: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body, ensure_ascii=False),
    }
