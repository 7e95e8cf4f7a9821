"""Preference page and one-click unsubscribe (RFC 8058). Pure: secrets, shop, profile reader and publisher are given.

- ``GET /u/{token}`` only *shows* the page: link scanners and mail previews fetch GETs, so a GET never unsubscribes.
- ``POST /u/{token}`` unsubscribes at once, with no confirmation: the mailbox provider's one-click POST
  (body ``List-Unsubscribe=One-Click``) and the page's own "配信停止" form both land here. Every POST publishes a
  ``ConsentChanged`` (state unsubscribed, with its evidence: request kind, method, user-agent class — never the IP);
  repeating it is harmless because the consumer keeps the latest state by ``collected_at``.
- ``POST`` with ``action=resubscribe`` (from the page only) publishes ``subscribed`` with the shop's consent wording
  as evidence: the person asked for it, on the page that shows the wording.
- A token that does not verify, or names another shop → ``TokenInvalid`` (the handler answers 404; nothing published).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import parse_qs

from enishi import clock
from enishi.events import Consent, ConsentChanged, CustomerRef
from enishi.unsubscribe import TokenClaims, resolve, served_shop_ids

if TYPE_CHECKING:
    from enishi.publish import EventPublisher
    from enishi.shop_config import ShopConfig

SOURCE_ONE_CLICK = "one_click"
SOURCE_LINK = "unsubscribe_link"
SOURCE_PAGE_RESUBSCRIBE = "preference_page"
EVENT_SOURCE = "enishi"

# An RFC 8058 body is 26 bytes and the page's form a few dozen: only the first 16 KB are read, and the pattern has
# no nested unbounded repetition (the old ``\s*\r?\n(?:[^\r\n]+\r?\n)*`` took quadratic time on a body repeating
# the part header: 500 KB of it ran for minutes, past the function's timeout — a 5xx from one valid token).
MAX_FORM_BYTES = 16 * 1024
_MULTIPART_ONE_CLICK = re.compile(
    rb'name="?List-Unsubscribe"?[^\r\n]*\r?\n(?:[^\r\n]+\r?\n){0,8}\r?\nOne-Click', re.I
)


class TokenInvalid(Exception):
    """The token is not ours (tampered, foreign, malformed): 404, nothing published."""


class ConsentReader(Protocol):
    def consent_state(self, shop: str, customer_id: str, channel: str) -> str | None:
        """The current consent state on the profile, or None when unknown."""
        ...


@dataclass(frozen=True)
class Page:
    template: str
    context: dict[str, Any] = field(default_factory=dict)
    status: int = 200


def user_agent_class(user_agent: str | None) -> str:
    """A coarse class of the requester, kept as evidence without identifying anyone."""
    if not user_agent:
        return "none"
    ua = user_agent.lower()
    if "mozilla" in ua:
        return "mobile_browser" if any(m in ua for m in ("mobile", "iphone", "android")) else "browser"
    return "other"


def is_one_click(body: bytes, content_type: str | None) -> bool:
    ctype = (content_type or "").lower()
    body = body[:MAX_FORM_BYTES]
    if ctype.startswith("multipart/form-data"):
        return bool(_MULTIPART_ONE_CLICK.search(body))
    form = parse_qs(body.decode("utf-8", "replace"))
    return form.get("List-Unsubscribe", [""])[0] == "One-Click"


def form_action(body: bytes, content_type: str | None) -> Literal["unsubscribe", "resubscribe"]:
    if (content_type or "").lower().startswith("application/x-www-form-urlencoded") or not content_type:
        form = parse_qs(body[:MAX_FORM_BYTES].decode("utf-8", "replace"))
        if form.get("action", [""])[0] == "resubscribe":
            return "resubscribe"
    return "unsubscribe"


class Preferences:
    def __init__(
        self,
        *,
        secrets: Sequence[bytes],
        shop: ShopConfig,
        publisher: EventPublisher,
        consents: ConsentReader | None = None,
    ) -> None:
        self._secrets = secrets
        self._shop = shop
        self._publisher = publisher
        self._consents = consents

    def claims(self, token: str | None) -> TokenClaims:
        claims = resolve(
            self._secrets, token, served_shop_ids(self._shop)
        )  # the send step checks links with it too
        if claims is None:
            raise TokenInvalid()
        return claims

    def _context(self, claims: TokenClaims, **extra: Any) -> dict[str, Any]:
        return {"shop": self._shop, "channel": claims.channel, **extra}

    def view(self, token: str | None) -> Page:
        claims = self.claims(token)
        state = (
            self._consents.consent_state(claims.shop, claims.customer_id, claims.channel)
            if self._consents
            else None
        )
        return Page("preferences.html", self._context(claims, state=state))

    def post(self, token: str | None, body: bytes, headers: Mapping[str, str]) -> Page:
        claims = self.claims(token)
        content_type = headers.get("content-type")
        ua_class = user_agent_class(headers.get("user-agent"))
        if form_action(body, content_type) == "resubscribe":
            self._publish(claims, "subscribed", SOURCE_PAGE_RESUBSCRIBE, {"request": "form"}, ua_class)
            return Page("resubscribed.html", self._context(claims))
        one_click = is_one_click(body, content_type)
        source = SOURCE_ONE_CLICK if one_click else SOURCE_LINK
        self._publish(
            claims, "unsubscribed", source, {"request": "one_click" if one_click else "form"}, ua_class
        )
        return Page("unsubscribed.html", self._context(claims, one_click=one_click))

    def _publish(
        self, claims: TokenClaims, state: str, source: str, evidence: dict[str, str], ua_class: str
    ) -> None:
        now = clock.now()
        subscribed = state == "subscribed"
        consent = (
            Consent(  # the customer's own act, timed by enishi's clock (enishi.consent: sender = receipt)
                channel=claims.channel,  # type: ignore[arg-type]
                state=state,  # type: ignore[arg-type]
                opt_in_level="single_opt_in" if subscribed else "unknown",
                source=source,
                collected_at=now,
                kind="act",
                sender_at=now,
                wording=self._shop.consent_wording if subscribed else None,
                evidence={
                    **evidence,
                    "method": "POST",
                    "user_agent_class": ua_class,
                    "endpoint": "/u/{token}",
                },
            )
        )
        subject = hashlib.sha256(f"{claims.shop}|{claims.customer_id}|{claims.channel}".encode()).hexdigest()[
            :24
        ]
        event = ConsentChanged(
            event_id=f"preferences:{subject}:{state}:{now.isoformat()}",
            shop=claims.shop,
            source=EVENT_SOURCE,
            occurred_at=now,
            received_at=now,
            customer=CustomerRef(
                customer_id=claims.customer_id, guest=claims.customer_id.startswith("guest-")
            ),
            consent=consent,
        )
        self._publisher.publish([event])
