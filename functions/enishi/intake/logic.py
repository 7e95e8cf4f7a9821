"""The intake flow, pure: every AWS call goes through a port passed in (see ``Ports``).

verify signature → parse JSON → adapt to canonical events → claim the dedupe marker → publish.

| outcome                                   | answer                                 | side effects                       |
|-------------------------------------------|----------------------------------------|------------------------------------|
| signature missing / bad / stale           | 401 ``unauthorized``                   | metric ``InvalidSignature`` only   |
| body not JSON                             | 400 ``rejected``                       | raw kept, ``UnprocessablePayload`` |
| JSON that does not fit (Shopify)          | 200 ``kept`` (Shopify drops failing subscriptions) | raw kept, ``UnprocessablePayload`` |
| JSON that does not fit (generic)          | 400 ``rejected`` + details             | raw kept, ``UnprocessablePayload`` |
| marker already there                      | 200 ``duplicate``                      | metric ``DuplicateDelivery``       |
| PutEvents failed                          | 503 ``retry`` (the cart redelivers)    | marker released, ``PublishFailed`` |
| otherwise                                 | 200 ``accepted`` with the event count  | marker, events on the bus          |
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from enishi import signatures
from enishi.carts import Unprocessable
from enishi.events import EventBase
from enishi.publish import EventPublisher, PublishFailed

Source = Literal["shopify", "generic"]
SHOPIFY: Source = "shopify"
GENERIC: Source = "generic"
SOURCES: tuple[Source, ...] = (SHOPIFY, GENERIC)

DEDUPE_TTL = timedelta(days=7)  # Shopify retries for 4 h; generic senders are told 7 days

METRIC_INVALID_SIGNATURE = "InvalidSignature"
METRIC_UNPROCESSABLE = "UnprocessablePayload"  # alarmed on (infra/constructs/monitoring.py)
METRIC_DUPLICATE = "DuplicateDelivery"
METRIC_PUBLISH_FAILED = "PublishFailed"
METRIC_ACCEPTED = "WebhookAccepted"
METRIC_EVENTS_PUBLISHED = "EventsPublished"

REASON_NOT_JSON = "not_json"
REASON_UNPROCESSABLE = "unprocessable"


@dataclass(frozen=True)
class WebhookRequest:
    source: Source
    raw: bytes
    headers: Mapping[str, str]  # lower-case names

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


class SecretSource(Protocol):
    def __call__(self, source: Source) -> Sequence[str]:
        """Webhook secrets of a source, current first (rotation)."""
        ...


class DedupeStore(Protocol):
    def claim(self, shop: str, source: str, delivery_id: str, expires_at: datetime) -> bool:
        """Create the marker; False when it already exists (one conditional write)."""
        ...

    def release(self, shop: str, source: str, delivery_id: str) -> None: ...


class RawStore(Protocol):
    def keep(self, source: str, raw: bytes, headers: Mapping[str, str], reason: str, details: Any, received_at: datetime) -> str:
        """Store an authentic payload that could not be processed; returns where it went."""
        ...


class MetricSink(Protocol):
    def count(self, name: str, value: int = 1) -> None: ...


@dataclass
class Ports:
    secrets: SecretSource
    dedupe: DedupeStore
    raw: RawStore
    publisher: EventPublisher
    metrics: MetricSink
    log: Callable[[str, dict[str, Any]], None] = field(default=lambda message, extra: None)  # no PII in extra


def verify(request: WebhookRequest, secrets: Sequence[str], now: datetime) -> bool:
    if request.source == SHOPIFY:
        return signatures.verify_shopify(request.raw, request.header(signatures.SHOPIFY_SIGNATURE_HEADER), secrets)
    return signatures.verify_generic(request.raw, request.header(signatures.GENERIC_SIGNATURE_HEADER), secrets, now)


def adapt(request: WebhookRequest, body: Any, received_at: datetime) -> tuple[list[EventBase], str | None]:
    """Canonical events and the delivery id to dedupe on. Adapters are imported here, per source, so a cold start
    pays only for the one it uses."""
    if request.source == SHOPIFY:
        from enishi.carts import shopify

        topic = request.header(shopify.H_TOPIC) or ""
        return shopify.adapt(topic, request.headers, body, received_at), shopify.delivery_id(request.headers)
    from enishi.carts import generic

    return generic.adapt(body, received_at), generic.delivery_id(body)


def handle(request: WebhookRequest, ports: Ports, now: datetime, peer_now: datetime | None = None) -> Answer:
    """``peer_now``: the time a sender's signed ``t`` is judged against (``clock.peer_now()``; default ``now``)."""
    if not verify(request, ports.secrets(request.source), peer_now or now):
        ports.metrics.count(METRIC_INVALID_SIGNATURE)
        return Answer(401, {"status": "unauthorized"})

    try:
        body = json.loads(request.raw)
    except ValueError:  # includes UnicodeDecodeError
        _keep(request, ports, REASON_NOT_JSON, [{"loc": "", "msg": "body is not JSON"}], now)
        return Answer(400, {"status": "rejected", "error": "body is not JSON"})

    try:
        events, delivery_id = adapt(request, body, now)
    except Unprocessable as exc:
        _keep(request, ports, REASON_UNPROCESSABLE, exc.as_dict(), now)
        if request.source == SHOPIFY:
            return Answer(200, {"status": "kept"})
        return Answer(400, {"status": "rejected", **exc.as_dict()})

    if not events:
        return Answer(200, {"status": "accepted", "events": 0})
    shop = events[0].shop
    if delivery_id is None:  # adapters refuse bodies without one; belt and braces
        delivery_id = events[0].event_id

    if not ports.dedupe.claim(shop, request.source, delivery_id, now + DEDUPE_TTL):
        ports.metrics.count(METRIC_DUPLICATE)
        return Answer(200, {"status": "duplicate"})

    try:
        ports.publisher.publish(events)
    except PublishFailed as exc:
        ports.dedupe.release(shop, request.source, delivery_id)
        ports.metrics.count(METRIC_PUBLISH_FAILED)
        ports.log("publish failed; marker released", {"source": request.source, "error": str(exc)})
        return Answer(503, {"status": "retry"})

    ports.metrics.count(METRIC_ACCEPTED)
    ports.metrics.count(METRIC_EVENTS_PUBLISHED, len(events))
    return Answer(200, {"status": "accepted", "events": len(events)})


def _keep(request: WebhookRequest, ports: Ports, reason: str, details: Any, now: datetime) -> None:
    where = ports.raw.keep(request.source, request.raw, request.headers, reason, details, now)
    ports.metrics.count(METRIC_UNPROCESSABLE)
    ports.log("authentic payload kept for replay", {"source": request.source, "reason": reason, "raw_key": where})


def raw_key(source: str, received_at: datetime, unique: str) -> str:
    return f"raw/{source}/{received_at.strftime('%Y-%m-%d')}/{unique}.json"


def raw_document(source: str, raw: bytes, headers: Mapping[str, str], reason: str, details: Any, received_at: datetime) -> bytes:
    """What is kept: the exact bytes (base64, so the signature can be re-verified on replay), headers, reason."""
    import base64

    return json.dumps(
        {
            "source": source,
            "received_at": received_at.isoformat(),
            "reason": reason,
            "details": details,
            "headers": dict(headers),
            "body_base64": base64.b64encode(raw).decode("ascii"),
        },
        ensure_ascii=False,
    ).encode("utf-8")
