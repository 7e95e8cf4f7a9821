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

from enishi.digits import is_ascii_digits

GENERIC_SIGNATURE_HEADER = "x-enishi-signature"
SHOPIFY_SIGNATURE_HEADER = "x-shopify-hmac-sha256"
LINE_SIGNATURE_HEADER = "x-line-signature"
GENERIC_TOLERANCE_SECONDS = 300

# Bounds on what is parsed before a signature is checked: nothing there may raise or cost more than a few µs.
MAX_HEADER_CHARS = 1024  # a generic header with four rotated signatures is ~300 characters
MAX_T_DIGITS = 12  # unix seconds have 10 digits until the year 2286
MAX_SIGNATURES = 8
_HEX = frozenset("0123456789abcdef")
_HEX_SHA256_CHARS = 64


def _hmac_sha256(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()


def sign_shopify(raw: bytes, secret: str) -> str:
    return base64.b64encode(_hmac_sha256(secret, raw)).decode("ascii")


def _ascii_header(header: object) -> str | None:
    """A header value as a short, trimmed ASCII string, or None (absent, too long, not ASCII, not a str)."""
    if not isinstance(header, str) or not header or len(header) > MAX_HEADER_CHARS or not header.isascii():
        return None
    return header.strip() or None


def verify_shopify(raw: bytes, header_b64: str | None, secrets: Sequence[str]) -> bool:
    header = _ascii_header(header_b64)
    if header is None:
        return False
    try:
        given = base64.b64decode(header, validate=True)
    except ValueError:  # binascii.Error is a ValueError
        return False
    ok = False
    for secret in secrets:  # no early exit: same work whichever secret matches
        if secret and hmac.compare_digest(_hmac_sha256(secret, raw), given):
            ok = True
    return ok


def sign_generic(raw: bytes, secret: str, t: int) -> str:
    digest = hmac.new(secret.encode("utf-8"), str(t).encode("ascii") + b"." + raw, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def parse_generic_header(header: object) -> tuple[int, list[str]] | None:
    """``t=…,v1=…[,v1=…]`` → (t, [v1 hex, …]); None when malformed. Never raises, whatever the input: ``t`` is 1–12
    ASCII digits (``str.isdigit`` also accepts "²" and "٣", which ``int`` refuses or reads), each ``v1`` 64 hex digits,
    the header at most ``MAX_HEADER_CHARS`` ASCII characters, at most ``MAX_SIGNATURES`` signatures."""
    text = _ascii_header(header)
    if text is None:
        return None
    t: int | None = None
    sigs: list[str] = []
    for part in text.split(","):
        key, sep, value = part.strip().partition("=")
        value = value.strip()
        if not sep:
            return None
        if key == "t":
            if t is not None or not is_ascii_digits(value, MAX_T_DIGITS):
                return None
            t = int(value)
        elif key == "v1":
            sig = value.lower()
            if len(sig) != _HEX_SHA256_CHARS or not set(sig) <= _HEX or len(sigs) >= MAX_SIGNATURES:
                return None
            sigs.append(sig)
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
    parsed = parse_generic_header(header)
    if parsed is None:
        return False
    t, given = parsed
    if abs(now.timestamp() - t) > tolerance:  # t has at most 12 digits: the float conversion cannot overflow
        return False
    signed = str(t).encode("ascii") + b"." + raw
    ok = False
    for secret in secrets:
        if not secret:
            continue
        expected = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
        for sig in given:
            if hmac.compare_digest(expected.encode("ascii"), sig.encode("ascii")):
                ok = True
    return ok


def sign_line(raw: bytes, channel_secret: str) -> str:
    return base64.b64encode(_hmac_sha256(channel_secret, raw)).decode("ascii")


def verify_line(raw: bytes, header: str | None, channel_secret: str) -> bool:
    given = _ascii_header(header)
    if given is None or not channel_secret:
        return False
    # bytes, not str: compare_digest raises TypeError on non-ASCII str input
    return hmac.compare_digest(sign_line(raw, channel_secret).encode("ascii"), given.encode("ascii"))
