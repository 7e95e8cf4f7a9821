"""Signed redirect links: what a tracked link carries, how it is made, how ``/r/{token}`` resolves it.

A tracked link names one message (shop, customer, message key), which of its links (``link``: a short name such as
``cta`` or ``product-1``), the target URL and an expiry, all under the click label of ``enishi.signed_token``
(signed with the unsubscribe secret's keys: one secret to rotate, domain-separated so no token serves the other
purpose). The target is inside the signature, so the redirect needs no lookup and can never be pointed elsewhere:

- a genuine, unexpired token for a served shop → 302 to its target (http/https only, checked again here);
- a genuine but expired token → 302 to the shop's home page, no click recorded (the target was the shop's, but an
  old link must not become a permanent open door if a key ever leaks);
- anything else (forged, altered, truncated, another shop's) → 404, never a redirect.

UTM parameters are added when the link is made (``with_utm``), so the signed URL is the final one; a target that
already names a UTM parameter keeps its own. Pure: no AWS; the clock is an argument.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from enishi import signed_token
from enishi.constants import PATH_CLICK
from enishi.digits import ascii_int

LABEL = b"enishi/click\x00"
VERSION = "c1"
MAX_TOKEN_CHARS = 4096
MAX_TARGET_CHARS = 2000
DEFAULT_TTL = timedelta(days=400)  # a year of "open it later" plus margin; then the shop's home page
SCHEMES = ("https", "http")


@dataclass(frozen=True)
class ClickClaims:
    shop: str
    customer_id: str
    message_key: str
    link: str
    target: str
    expires_at: int  # Unix seconds


@dataclass(frozen=True)
class Resolution:
    kind: str  # "click" | "expired" | "invalid"
    claims: ClickClaims | None = None


def is_redirectable(url: str) -> bool:
    """An absolute http(s) URL with a host, no credentials and no control characters."""
    if not url or len(url) > MAX_TARGET_CHARS or any(ord(ch) < 0x20 or ch == "\x7f" for ch in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in SCHEMES and bool(parts.hostname) and "@" not in parts.netloc


def with_utm(url: str, params: Mapping[str, str]) -> str:
    """``url`` with the UTM parameters it does not already carry (order kept, values URL-encoded)."""
    if not params:
        return url
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    present = {k for k, _ in query}
    query += [(k, v) for k, v in params.items() if k not in present and v]
    return urlunsplit(parts._replace(query=urlencode(query)))


def make_token(secret: bytes, claims: ClickClaims) -> str:
    if not is_redirectable(claims.target):
        raise ValueError("a tracked link's target must be an absolute http(s) URL")
    fields = (
        claims.shop,
        claims.customer_id,
        claims.message_key,
        claims.link,
        claims.target,
        str(claims.expires_at),
    )
    if not all(fields[:5]):
        raise ValueError("tracked links name a shop, customer, message, link and target")
    return signed_token.seal(LABEL, VERSION, secret, fields)


def click_url(public_base_url: str, token: str) -> str:
    return public_base_url.rstrip("/") + PATH_CLICK.replace("{token}", token)


def expiry(now: datetime, ttl: timedelta = DEFAULT_TTL) -> int:
    return int((now + ttl).timestamp())


def _claims(fields: list[str]) -> ClickClaims | None:
    if len(fields) != 6:
        return None
    expires_at = ascii_int(fields[5])
    if expires_at is None or not all(fields[:5]) or not is_redirectable(fields[4]):
        return None
    shop, customer_id, message_key, link, target = fields[:5]
    return ClickClaims(shop, customer_id, message_key, link, target, expires_at)


def resolve(
    secrets: Iterable[bytes], token: str | None, served_shops: Collection[str], now: datetime
) -> Resolution:
    fields = signed_token.open_any(LABEL, VERSION, secrets, token or "", MAX_TOKEN_CHARS)
    claims = _claims(fields) if fields is not None else None
    if claims is None or claims.shop not in served_shops:
        return Resolution("invalid")
    if now.timestamp() >= claims.expires_at:
        return Resolution("expired", claims)
    return Resolution("click", claims)


# Link checkers fetch links before (or instead of) the customer. They are told apart where they say so: HEAD
# requests, the Fetch metadata / prefetch headers browsers and proxies send, and the user agents of the scanners
# that name themselves. They still get the redirect (a scanner that gets an error may flag the mail), but no click.
_SCANNER_AGENTS = (
    "bot",
    "crawler",
    "spider",
    "preview",
    "barracuda",
    "mimecast",
    "proofpoint",
    "safelinks",
    "symantec",
    "trendmicro",
    "fireeye",
    "linkcheck",
    "slackbot",
    "facebookexternalhit",
    "googleimageproxy",
)


def is_prefetch(method: str, headers: Mapping[str, str]) -> bool:
    lowered = {k.lower(): v for k, v in headers.items()}
    if method.upper() == "HEAD":
        return True
    purpose = (lowered.get("sec-purpose") or lowered.get("purpose") or lowered.get("x-moz") or "").lower()
    if "prefetch" in purpose or "preview" in purpose:
        return True
    agent = (lowered.get("user-agent") or "").lower()
    return not agent or any(name in agent for name in _SCANNER_AGENTS)
