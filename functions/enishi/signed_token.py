"""Stateless signed tokens for links: ``version . b64(fields joined by NUL) . b64(mac[:16])``, base64url unpadded.

One spelling per token (base64 that decodes to the same bytes with other padding bits or stray characters is
refused), HMAC-SHA256 over a domain-separation label + version + payload, truncated to 128 bits and compared in
constant time. Each kind of link has its own label, so an unsubscribe token can never be replayed as a click token
or the other way round. Pure: no AWS, no clock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Sequence

MAC_BYTES = 16
SEP = "\x00"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mac(label: bytes, secret: bytes, version: str, payload: bytes) -> bytes:
    digest = hmac.new(secret, label + version.encode("ascii") + b"." + payload, hashlib.sha256).digest()
    return digest[:MAC_BYTES]


def seal(label: bytes, version: str, secret: bytes, fields: Sequence[str]) -> str:
    """The token for ``fields`` (none may contain NUL) under ``secret``."""
    if not secret:
        raise ValueError("empty signing secret")
    if any(SEP in f for f in fields):
        raise ValueError("token fields contain no NUL")
    payload = SEP.join(fields).encode("utf-8")
    return f"{version}.{b64(payload)}.{b64(mac(label, secret, version, payload))}"


def open_with(label: bytes, version: str, secret: bytes, token: str, max_chars: int) -> list[str] | None:
    """The fields of a genuine token, or None for anything tampered, truncated, foreign or malformed."""
    if not secret or not token or len(token) > max_chars:
        return None
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != version:
        return None
    try:
        payload, tag = unb64(parts[1]), unb64(parts[2])
    except (binascii.Error, ValueError):
        return None
    if b64(payload) != parts[1] or b64(tag) != parts[2]:  # one spelling per token
        return None
    if not hmac.compare_digest(tag, mac(label, secret, version, payload)):
        return None
    try:
        return payload.decode("utf-8").split(SEP)
    except ValueError:  # UnicodeDecodeError is a ValueError too
        return None


def open_any(
    label: bytes, version: str, secrets: Iterable[bytes], token: str, max_chars: int
) -> list[str] | None:
    """Try each secret (current first, then previous/retired)."""
    for secret in secrets:
        fields = open_with(label, version, secret, token, max_chars)
        if fields is not None:
            return fields
    return None
