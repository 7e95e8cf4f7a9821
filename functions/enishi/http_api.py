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
    """The request body as sent (signatures are computed over these bytes)."""
    body = event.get("body") or ""
    return base64.b64decode(body) if event.get("isBase64Encoded") else body.encode("utf-8")


def headers(event: Mapping[str, Any]) -> dict[str, str]:
    """Request headers with lower-case names (payload 2.0 already lower-cases them; a test event may not)."""
    return {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}


def json_response(status: int, body: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body, ensure_ascii=False),
    }
