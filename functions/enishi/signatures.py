"""Webhook signature checks: Shopify, the generic format, LINE. Always over the raw body bytes, in constant time.

- Shopify: ``X-Shopify-Hmac-Sha256`` = base64(HMAC-SHA256(raw body, app secret)); during a secret rotation the old
  secret is still used for up to an hour, so every secret in ``secrets`` is tried.
- Generic: ``X-Enishi-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``; a timestamp more than
  ``tolerance`` seconds away from now is rejected (replay window). Several ``v1=`` values may be sent (rotation).
- LINE: ``x-line-signature`` = base64(HMAC-SHA256(raw body, channel secret)).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from datetime import datetime

GENERIC_SIGNATURE_HEADER = "x-enishi-signature"
SHOPIFY_SIGNATURE_HEADER = "x-shopify-hmac-sha256"
LINE_SIGNATURE_HEADER = "x-line-signature"
GENERIC_TOLERANCE_SECONDS = 300


def _hmac_sha256(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()


def sign_shopify(raw: bytes, secret: str) -> str:
    return base64.b64encode(_hmac_sha256(secret, raw)).decode("ascii")


def verify_shopify(raw: bytes, header_b64: str | None, secrets: Sequence[str]) -> bool:
    if not header_b64:
        return False
    try:
        given = base64.b64decode(header_b64.strip(), validate=True)
    except ValueError:
        return False
    ok = False
    for secret in secrets:  # no early exit: same work whichever secret matches
        if secret and hmac.compare_digest(_hmac_sha256(secret, raw), given):
            ok = True
    return ok


def sign_generic(raw: bytes, secret: str, t: int) -> str:
    digest = hmac.new(secret.encode("utf-8"), str(t).encode("ascii") + b"." + raw, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def parse_generic_header(header: str) -> tuple[int, list[str]] | None:
    """``t=…,v1=…[,v1=…]`` → (t, [v1 hex, …]); None when malformed."""
    t: int | None = None
    sigs: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            return None
        if key == "t":
            if not value.isdigit():
                return None
            t = int(value)
        elif key == "v1":
            sigs.append(value.strip().lower())
    if t is None or not sigs:
        return None
    return t, sigs


def verify_generic(
    raw: bytes,
    header: str | None,
    secrets: Sequence[str],
    now: datetime,
    tolerance: int = GENERIC_TOLERANCE_SECONDS,
) -> bool:
    if not header:
        return False
    parsed = parse_generic_header(header)
    if parsed is None:
        return False
    t, given = parsed
    if abs(now.timestamp() - t) > tolerance:
        return False
    signed = str(t).encode("ascii") + b"." + raw
    ok = False
    for secret in secrets:
        if not secret:
            continue
        expected = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
        for sig in given:
            if hmac.compare_digest(expected.encode("ascii"), sig.encode("utf-8")):
                ok = True
    return ok


def sign_line(raw: bytes, channel_secret: str) -> str:
    return base64.b64encode(_hmac_sha256(channel_secret, raw)).decode("ascii")


def verify_line(raw: bytes, header: str | None, channel_secret: str) -> bool:
    if not header or not channel_secret:
        return False
    # bytes, not str: compare_digest raises TypeError on non-ASCII str input
    return hmac.compare_digest(sign_line(raw, channel_secret).encode("ascii"), header.strip().encode("utf-8"))
