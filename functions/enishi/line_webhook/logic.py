"""LINE webhook → ``line.identity_changed`` events. Pure: the store and the publisher are ports.

- The signature (``x-line-signature``: base64 HMAC-SHA256 of the raw body with the channel secret) is checked
  first; a bad one raises ``InvalidSignature`` (401) before anything is parsed or stored.
- A body with no events (LINE's "Verify" button) is fine.
- ``follow`` → ``followed``, ``unfollow`` (block) → ``unfollowed``; the customer is filled in from the LINE lookup
  item when the user was linked before, otherwise left empty (the profile consumer ignores, or resolves later).
- ``accountLink`` ``ok`` → the nonce is consumed and ``linked`` is published with its customer; ``failed`` burns the
  nonce and publishes nothing.
- Each acted-on event is claimed once by a conditional put on ``keys.dedupe_key(shop, "line", webhookEventId)``;
  a redelivery finds the marker and is skipped. If publishing fails, claims are released and consumed nonces
  restored, and the error propagates (500) so LINE can redeliver.
- Other event types (message, postback, join, …) are not enishi's business and are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from enishi import clock
from enishi.events import CustomerRef, LineIdentityChanged
from enishi.line_webhook.linking import NonceStore
from enishi.signatures import verify_line

if TYPE_CHECKING:
    from enishi.publish import EventPublisher

SOURCE = "line"
DEDUPE_SOURCE = "line"
HANDLED_TYPES = ("follow", "unfollow", "accountLink")


class InvalidSignature(Exception):
    """Missing or wrong x-line-signature: 401, nothing stored."""


class BadRequest(Exception):
    """Authentic but not a LINE webhook body: 400."""


class LineStore(NonceStore, Protocol):
    def claim(self, shop: str, webhook_event_id: str, now: datetime) -> bool:
        """Put the dedupe marker if absent; False when it was already there (a redelivery)."""
        ...

    def release(self, shop: str, webhook_event_id: str) -> None: ...

    def customer_for_line_user(self, shop: str, line_user_id: str) -> str | None: ...


@dataclass
class WebhookResult:
    published: list[LineIdentityChanged] = field(default_factory=list)
    duplicates: int = 0
    ignored: int = 0
    link_failed: int = 0
    nonce_unknown: int = 0


def _occurred_at(event: dict[str, Any], fallback: datetime) -> datetime:
    ms = event.get("timestamp")
    if isinstance(ms, int | float) and ms > 0:
        return datetime.fromtimestamp(ms / 1000, UTC)
    return fallback


def _customer(customer_id: str | None) -> CustomerRef | None:
    if not customer_id:
        return None
    return CustomerRef(customer_id=customer_id, guest=customer_id.startswith("guest-"))


def handle_webhook(
    raw: bytes,
    signature: str | None,
    *,
    channel_secret: str,
    shop_id: str,
    store: LineStore,
    publisher: EventPublisher,
) -> WebhookResult:
    if not verify_line(raw, signature, channel_secret):
        raise InvalidSignature()
    try:
        body = json.loads(raw)
        events: Sequence[dict[str, Any]] = body.get("events") or []
    except (ValueError, AttributeError) as exc:
        raise BadRequest("body is not a LINE webhook") from exc
    if not isinstance(events, list):
        raise BadRequest("events is not a list")

    now = clock.now()
    result = WebhookResult()
    claimed: list[str] = []
    consumed: list[tuple[str, str]] = []  # (nonce, customer_id)
    try:
        for event in events:
            if not isinstance(event, dict):
                result.ignored += 1
                continue
            kind = event.get("type")
            user_id = (event.get("source") or {}).get("userId")
            webhook_event_id = event.get("webhookEventId")
            if kind not in HANDLED_TYPES or not user_id or not webhook_event_id:
                result.ignored += 1
                continue
            if not store.claim(shop_id, webhook_event_id, now):
                result.duplicates += 1
                continue
            claimed.append(webhook_event_id)

            if kind == "accountLink":
                link = event.get("link") or {}
                nonce = link.get("nonce")
                customer_id = store.consume_nonce(shop_id, nonce, now) if nonce else None
                if customer_id and nonce:
                    consumed.append((nonce, customer_id))
                if link.get("result") != "ok":
                    result.link_failed += 1
                    continue
                if not customer_id:
                    result.nonce_unknown += 1
                    continue
                change, customer = "linked", _customer(customer_id)
            else:
                change = "followed" if kind == "follow" else "unfollowed"
                customer = _customer(store.customer_for_line_user(shop_id, user_id))

            result.published.append(
                LineIdentityChanged(
                    event_id=f"line:{webhook_event_id}",
                    shop=shop_id,
                    source=SOURCE,
                    occurred_at=_occurred_at(event, now),
                    received_at=now,
                    line_user_id=user_id,
                    customer=customer,
                    change=change,  # type: ignore[arg-type]
                )
            )
        if result.published:
            publisher.publish(result.published)
    except Exception:
        for webhook_event_id in claimed:
            store.release(shop_id, webhook_event_id)
        for nonce, customer_id in consumed:
            store.restore_nonce(shop_id, nonce, customer_id, now)
        raise
    return result
