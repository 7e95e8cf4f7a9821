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
  restored, and the error propagates (503) so LINE can redeliver.
- Other event types (message, postback, join, …) are not enishi's business and are ignored.
- Each handled event is validated with ``LineEvent`` (pydantic): a malformed one (a string ``source``, a list
  ``userId``, a timestamp of 1e20 or Infinity, a 5,000-character ``webhookEventId`` …) is counted as ``invalid`` and
  the body is kept in the raw-payload bucket once (reason ``invalid_event``); the valid events of the same body are
  still processed and the answer is 200 (a redelivery would carry the same bad event). A body that is not JSON or is
  nested deeper than ``json_input.MAX_DEPTH`` is kept too and answered 400.
- The channel belongs to this deployment's shop (one LINE channel, one shop): every event is recorded for
  ``shop_id`` (``shop.yaml``), and LINE's ``destination`` (the bot's user id) is not a shop id to check against.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, StrictStr, StringConstraints, ValidationError, field_validator

from enishi import bounding, clock, json_input
from enishi.carts import validation_details
from enishi.events import CustomerRef, IdentityChange, LineIdentityChanged
from enishi.line_webhook.linking import NonceStore
from enishi.raw_payloads import RawKeeper
from enishi.signatures import verify_line

if TYPE_CHECKING:
    from enishi.publish import EventPublisher

SOURCE = "line"
DEDUPE_SOURCE = "line"
HANDLED_TYPES = ("follow", "unfollow", "accountLink")
REASON_INVALID_EVENT = "invalid_event"
MAX_TIMESTAMP_MS = 10**13  # year 2286: LINE sends milliseconds since the epoch
MAX_ID_CHARS = 100  # webhookEventId is a 26-character ULID, userId "U" + 32 hex


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class LineSource(_Lenient):
    type: StrictStr | None = None
    userId: Annotated[StrictStr, StringConstraints(min_length=1, max_length=MAX_ID_CHARS)]


class LineLink(_Lenient):
    result: Annotated[StrictStr, StringConstraints(max_length=20)]
    nonce: Annotated[StrictStr, StringConstraints(max_length=255)] | None = None


class LineEvent(_Lenient):
    """The fields enishi reads from a follow / unfollow / accountLink event; anything else is not looked at."""

    type: Literal["follow", "unfollow", "accountLink"]
    webhookEventId: Annotated[StrictStr, StringConstraints(min_length=1, max_length=MAX_ID_CHARS)]
    timestamp: int | float | None = None
    source: LineSource
    link: LineLink | None = None

    @field_validator("timestamp")
    @classmethod
    def _plausible(cls, value: int | float | None) -> int | float | None:
        if value is None:
            return None
        # order matters: a float's NaN/Infinity first, then a range check (an int of 400 digits cannot become a float)
        if (
            isinstance(value, bool)
            or (isinstance(value, float) and not math.isfinite(value))
            or not 0 < value < MAX_TIMESTAMP_MS
        ):
            raise ValueError("not a plausible epoch time in milliseconds")
        return value


class InvalidSignature(Exception):
    """Missing or wrong x-line-signature: 401, nothing stored."""


class BadRequest(Exception):
    """Authentic but not a LINE webhook body: 400."""


class KeepFailed(Exception):
    """The raw-payload bucket could not take an authentic body: 503, LINE may redeliver."""


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
    invalid: int = 0
    kept: str | None = None  # where the body was kept when an event was invalid


def _occurred_at(event: LineEvent, fallback: datetime) -> datetime:
    if event.timestamp is None:
        return fallback
    return datetime.fromtimestamp(event.timestamp / 1000, UTC)


def _customer(customer_id: str | None) -> CustomerRef | None:
    if not customer_id:
        return None
    return CustomerRef(customer_id=customer_id, guest=customer_id.startswith("guest-"))


def _events(
    raw: bytes, raw_store: RawKeeper | None, headers: Mapping[str, str] | None, now: datetime
) -> list[Any]:
    """The ``events`` list of an authentic body; a body that is not a LINE webhook is kept and refused (400)."""
    try:
        body = json_input.loads(raw)
    except json_input.BodyRejected as exc:
        _keep(raw_store, raw, headers, exc.reason, [{"loc": "", "msg": exc.message}], now)
        raise BadRequest(exc.message) from exc
    events: Any = body.get("events") if isinstance(body, dict) else None
    if not isinstance(body, dict) or not isinstance(events if events is not None else [], list):
        _keep(
            raw_store,
            raw,
            headers,
            json_input.REASON_NOT_JSON,
            [{"loc": "events", "msg": "not a LINE webhook"}],
            now,
        )
        raise BadRequest("body is not a LINE webhook")
    return events or []


def _validated(events: list[Any], result: WebhookResult) -> tuple[list[LineEvent], list[dict[str, str]]]:
    """The handled events that validate, and the details of those that do not (counted in ``result``)."""
    valid: list[LineEvent] = []
    invalid: list[dict[str, str]] = []
    for index, item in enumerate(events):
        if not isinstance(item, dict) or item.get("type") not in HANDLED_TYPES:
            result.ignored += 1
            continue
        try:
            valid.append(LineEvent.model_validate(item))
        except ValidationError as exc:
            invalid.extend({**d, "loc": f"events.{index}.{d['loc']}"} for d in validation_details(exc))
            result.invalid += 1
    return valid, invalid


@dataclass
class _Batch:
    """One body's work in progress: what was claimed and consumed is undone if publishing fails."""

    shop_id: str
    store: LineStore
    now: datetime
    result: WebhookResult
    claimed: list[str] = field(default_factory=list)
    consumed: list[tuple[str, str]] = field(default_factory=list)  # (nonce, customer_id)

    def undo(self) -> None:
        for webhook_event_id in self.claimed:
            self.store.release(self.shop_id, webhook_event_id)
        for nonce, customer_id in self.consumed:
            self.store.restore_nonce(self.shop_id, nonce, customer_id, self.now)


Change = tuple[IdentityChange, CustomerRef | None]


def _follow_change(event: LineEvent, batch: _Batch) -> Change | None:
    return "followed", _customer(batch.store.customer_for_line_user(batch.shop_id, event.source.userId))


def _unfollow_change(event: LineEvent, batch: _Batch) -> Change | None:
    return "unfollowed", _customer(batch.store.customer_for_line_user(batch.shop_id, event.source.userId))


def _link_change(event: LineEvent, batch: _Batch) -> Change | None:
    """The nonce is consumed whatever the result (a failed link burns it); only ``ok`` with a known nonce links."""
    link = event.link
    nonce = link.nonce if link else None
    customer_id = batch.store.consume_nonce(batch.shop_id, nonce, batch.now) if nonce else None
    if customer_id and nonce:
        batch.consumed.append((nonce, customer_id))
    if link is None or link.result != "ok":
        batch.result.link_failed += 1
        return None
    if not customer_id:
        batch.result.nonce_unknown += 1
        return None
    return "linked", _customer(customer_id)


# LINE event type → the identity change it makes (None: nothing to publish)
CHANGES: dict[str, Callable[[LineEvent, _Batch], Change | None]] = {
    "follow": _follow_change,
    "unfollow": _unfollow_change,
    "accountLink": _link_change,
}


def _identity(event: LineEvent, batch: _Batch) -> LineIdentityChanged | None:
    """The event claimed once and turned into its identity change; None for a redelivery or no change."""
    if not batch.store.claim(batch.shop_id, event.webhookEventId, batch.now):
        batch.result.duplicates += 1
        return None
    batch.claimed.append(event.webhookEventId)
    changed = CHANGES[event.type](event, batch)
    if changed is None:
        return None
    change, customer = changed
    identity = LineIdentityChanged(
        event_id=f"line:{event.webhookEventId}",
        shop=batch.shop_id,
        source=SOURCE,
        occurred_at=_occurred_at(event, batch.now),
        received_at=batch.now,
        line_user_id=event.source.userId,
        customer=customer,
        change=change,
    )
    return bounding.bound_event(identity).event  # a few hundred bytes: never cut


def handle_webhook(
    raw: bytes,
    signature: str | None,
    *,
    channel_secret: str,
    shop_id: str,
    store: LineStore,
    publisher: EventPublisher,
    raw_store: RawKeeper | None = None,
    headers: Mapping[str, str] | None = None,
) -> WebhookResult:
    if not verify_line(raw, signature, channel_secret):
        raise InvalidSignature()
    now = clock.now()
    events = _events(raw, raw_store, headers, now)
    result = WebhookResult()
    valid, invalid = _validated(events, result)
    if invalid:
        result.kept = _keep(raw_store, raw, headers, REASON_INVALID_EVENT, invalid, now)

    batch = _Batch(shop_id=shop_id, store=store, now=now, result=result)
    try:
        for event in valid:
            identity = _identity(event, batch)
            if identity is not None:
                result.published.append(identity)
        if result.published:
            publisher.publish(result.published)
    except Exception:
        batch.undo()
        raise
    return result


def _keep(
    raw_store: RawKeeper | None,
    raw: bytes,
    headers: Mapping[str, str] | None,
    reason: str,
    details: Any,
    now: datetime,
) -> str | None:
    if raw_store is None:
        return None
    try:
        return raw_store.keep(SOURCE, raw, headers or {}, reason, details, now)
    except Exception as exc:
        raise KeepFailed(type(exc).__name__) from exc
