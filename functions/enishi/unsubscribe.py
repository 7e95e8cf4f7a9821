"""Stateless unsubscribe tokens for ``/u/{token}`` links and the ``List-Unsubscribe`` header (RFC 8058).

A token names one (shop, customer, channel) and is signed with HMAC-SHA256 under the unsubscribe secret, so the
preferences endpoint needs no lookup table and a link keeps working for as long as the secret does (the law wants
the opt-out to work for every message ever sent). Layout, all base64url without padding::

    "1" . b64(payload) . b64(mac[:16])        payload = channel NUL shop NUL customer_id (UTF-8)

Only the opaque customer id and the shop id are in the clear — never an email address. The MAC covers a
domain-separation label plus the version and payload; it is truncated to 128 bits (ample against forgery,
keeps links ~100 characters) and compared in constant time. A token has exactly one spelling: base64 that decodes
to the same bytes with other padding bits or stray characters is refused. Tokens do not expire (the opt-out of every
message must keep working while the shop sends); a token lives as long as its secret is configured (current,
previous or retired: ``secrets.rotation_secrets(..., retired=True)``). Pure: no AWS, no clock.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from enishi import signed_token

VERSION = "1"
MAC_BYTES = signed_token.MAC_BYTES
_LABEL = b"enishi/unsubscribe\x00"
CHANNELS = ("email", "line")
MAX_TOKEN_CHARS = 512  # refuse absurd inputs before decoding


@dataclass(frozen=True)
class TokenClaims:
    shop: str
    customer_id: str
    channel: str = "email"


def make_token(secret: bytes, shop: str, customer_id: str, channel: str = "email") -> str:
    """The token of ``/u/{token}`` (``signed_token.seal`` refuses an empty secret and NUL in a field)."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    if not shop or not customer_id:
        raise ValueError("shop and customer id must be non-empty")
    return signed_token.seal(_LABEL, VERSION, secret, (channel, shop, customer_id))


def _claims(fields: list[str] | None) -> TokenClaims | None:
    if fields is None or len(fields) != 3:
        return None
    channel, shop, customer_id = fields
    if channel not in CHANNELS or not shop or not customer_id:
        return None
    return TokenClaims(shop=shop, customer_id=customer_id, channel=channel)


def read_token(secret: bytes, token: str) -> TokenClaims | None:
    """The claims of a genuine token, or None for anything tampered, truncated, foreign or malformed."""
    return _claims(signed_token.open_with(_LABEL, VERSION, secret, token, MAX_TOKEN_CHARS))


def read_token_any(secrets: Iterable[bytes], token: str) -> TokenClaims | None:
    """Try each secret (current first, then the previous one during a rotation)."""
    return _claims(signed_token.open_any(_LABEL, VERSION, secrets, token, MAX_TOKEN_CHARS))


def served_shop_ids(shop_config: Any) -> frozenset[str]:
    """The shops this deployment serves (``ShopConfig.served_shops``: shop_id + additional_shop_ids)."""
    return frozenset(shop_config.served_shops)


def resolve(secrets: Iterable[bytes], token: str | None, served_shops: Collection[str]) -> TokenClaims | None:
    """What ``/u/{token}`` acts on — the one resolution shared by the preferences function (which answers 404 on
    None) and the send step (which refuses to send a marketing message whose link would not resolve): a genuine
    token, under the current or previous secret, naming a shop this deployment serves."""
    claims = read_token_any(secrets, token or "")
    if claims is None or claims.shop not in served_shops:
        return None
    return claims


def token_from_url(url: str) -> str | None:
    """The token of a ``unsubscribe_url`` link (None when the URL is not one)."""
    from enishi.constants import PATH_UNSUBSCRIBE

    prefix = PATH_UNSUBSCRIBE.split("{token}")[0]
    _head, sep, token = url.rpartition(prefix)
    return token if sep and token and "/" not in token else None


def unsubscribe_url(public_base_url: str, token: str) -> str:
    """``<ApiUrl>/u/{token}``: the visible link and the ``List-Unsubscribe`` target. Sign new tokens with the
    *current* key (``secrets.rotation_secrets(arn)[0]``); the preferences function accepts current and previous."""
    from enishi.constants import PATH_UNSUBSCRIBE

    return public_base_url.rstrip("/") + PATH_UNSUBSCRIBE.replace("{token}", token)


def one_click_headers(url: str) -> list[dict[str, str]]:
    """The RFC 8058 headers for SES v2 ``Content.Simple.Headers`` of a marketing email."""
    return [
        {"Name": "List-Unsubscribe", "Value": f"<{url}>"},
        {"Name": "List-Unsubscribe-Post", "Value": "List-Unsubscribe=One-Click"},
    ]
