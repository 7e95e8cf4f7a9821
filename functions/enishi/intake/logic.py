"""The intake flow, pure: every AWS call goes through a port passed in (see ``Ports``).

verify signature → parse JSON (bounded) → is the shop ours → adapt to canonical events → bound them → claim the
dedupe marker → (keep the full body when an event was cut) → publish.

| outcome                                   | answer                            | side effects                        |
|-------------------------------------------|-----------------------------------|-------------------------------------|
| signature missing / bad / stale           | 401 ``unauthorized``              | metric ``InvalidSignature`` only    |
| body not JSON, or nested > 64 deep        | 400 ``rejected``                  | raw kept, ``UnprocessablePayload``  |
| a shop this deployment does not serve     | 403 ``{"error": "unknown_shop"}`` | raw kept, ``UnknownShop``           |
| JSON that does not fit (Shopify)          | 200 ``kept`` (¹)                  | raw kept, ``UnprocessablePayload``  |
| JSON that does not fit (generic)          | 400 ``rejected`` + details        | raw kept, ``UnprocessablePayload``  |
| marker already there                      | 200 ``duplicate``                 | metric ``DuplicateDelivery``        |
| an event had to be cut to fit EventBridge | as below, with ``raw_ref``        | full body kept, ``OversizedEvent``  |
| keeping a body in S3 failed               | 503 ``retry``                     | marker released, ``RawStoreFailed`` |
| secrets / dedupe table unreachable        | 503 ``retry``                     | ``DependencyFailed``                |
| PutEvents failed                          | 503 ``retry`` (cart redelivers)   | marker released, ``PublishFailed``  |
| otherwise                                 | 200 ``accepted`` + event count    | marker, events on the bus           |

(¹) Shopify drops a subscription that keeps failing. The unknown shop's body is kept with the reason
``unknown_shop``, a cut event's full body with ``oversized``. The cart redelivers after a 503.

Nothing before the signature check can raise (``signatures`` parses headers strictly and boundedly), and nothing
after it answers 5xx except a failing AWS dependency, which the cart's retry fixes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from enishi import bounding, json_input, signatures
from enishi.carts import Unprocessable
from enishi.events import EventBase
from enishi.publish import EventPublisher, PublishFailed
from enishi.raw_payloads import RawKeeper as RawStore
from enishi.raw_payloads import raw_document, raw_key  # noqa: F401 - re-exported (kept-payload layout)

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
METRIC_UNKNOWN_SHOP = "UnknownShop"
METRIC_OVERSIZED = "OversizedEvent"
METRIC_RAW_STORE_FAILED = "RawStoreFailed"
METRIC_DEPENDENCY_FAILED = (
    "DependencyFailed"  # secrets or the dedupe table unreachable: 503, the sender retries
)

REASON_NOT_JSON = json_input.REASON_NOT_JSON
REASON_TOO_DEEP = json_input.REASON_TOO_DEEP
REASON_UNPROCESSABLE = "unprocessable"
REASON_UNKNOWN_SHOP = "unknown_shop"
REASON_OVERSIZED = "oversized"


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


class MetricSink(Protocol):
    def count(self, name: str, value: int = 1) -> None: ...


@dataclass
class Ports:
    secrets: SecretSource
    dedupe: DedupeStore
    raw: RawStore
    publisher: EventPublisher
    metrics: MetricSink
    shops: frozenset[str]  # the shops this deployment serves (``ShopConfig.served_shops``)
    log: Callable[[str, dict[str, Any]], None] = field(default=lambda message, extra: None)  # no PII in extra


class RawStoreFailed(Exception):
    """The raw-payload bucket could not take a body: answer 503 so the sender retries (nothing is lost)."""


def verify(request: WebhookRequest, secrets: Sequence[str], now: datetime) -> bool:
    if request.source == SHOPIFY:
        return signatures.verify_shopify(
            request.raw, request.header(signatures.SHOPIFY_SIGNATURE_HEADER), secrets
        )
    return signatures.verify_generic(
        request.raw, request.header(signatures.GENERIC_SIGNATURE_HEADER), secrets, now
    )


def adapt(request: WebhookRequest, body: Any, received_at: datetime) -> tuple[list[EventBase], str | None]:
    """Canonical events and the delivery id to dedupe on. Adapters are imported here, per source, so a cold start
    pays only for the one it uses."""
    if request.source == SHOPIFY:
        from enishi.carts import shopify

        topic = request.header(shopify.H_TOPIC) or ""
        return shopify.adapt(topic, request.headers, body, received_at), shopify.delivery_id(request.headers)
    from enishi.carts import generic

    return generic.adapt(body, received_at), generic.delivery_id(body)


def shop_of(request: WebhookRequest, body: Any) -> str | None:
    """The shop a delivery names, before adapting: Shopify's ``X-Shopify-Shop-Domain``, the generic body's ``shop``.
    None when it names none (the adapter then refuses it with a location)."""
    if request.source == SHOPIFY:
        from enishi.carts import shopify

        shop: Any = request.header(shopify.H_SHOP)
    else:
        shop = body.get("shop") if isinstance(body, dict) else None
    return shop if isinstance(shop, str) and shop else None


def handle(request: WebhookRequest, ports: Ports, now: datetime, peer_now: datetime | None = None) -> Answer:
    """``peer_now``: the time a sender's signed ``t`` is judged against (``clock.peer_now()``; default ``now``)."""
    try:
        secrets = ports.secrets(request.source)
    except Exception:  # noqa: BLE001 - Secrets Manager unreachable: not the sender's fault, ask for a retry
        ports.metrics.count(METRIC_DEPENDENCY_FAILED)
        return Answer(503, {"status": "retry"})
    if not verify(request, secrets, peer_now or now):
        ports.metrics.count(METRIC_INVALID_SIGNATURE)
        return Answer(401, {"status": "unauthorized"})
    try:
        return _handle_authentic(request, ports, now)
    except RawStoreFailed:
        ports.metrics.count(METRIC_RAW_STORE_FAILED)
        return Answer(503, {"status": "retry"})


def _handle_authentic(request: WebhookRequest, ports: Ports, now: datetime) -> Answer:
    try:
        body = json_input.loads(request.raw)
    except json_input.BodyRejected as exc:
        _keep(request, ports, exc.reason, [{"loc": "", "msg": exc.message}], now)
        return Answer(400, {"status": "rejected", "error": exc.message})

    shop = shop_of(request, body)
    if shop is not None and shop not in ports.shops:
        _keep(
            request,
            ports,
            REASON_UNKNOWN_SHOP,
            [{"loc": "shop", "msg": "not served by this deployment"}],
            now,
            metric=METRIC_UNKNOWN_SHOP,
        )
        return Answer(403, {"status": "rejected", "error": REASON_UNKNOWN_SHOP})

    try:
        events, delivery_id = adapt(request, body, now)
        if any(
            e.shop not in ports.shops for e in events
        ):  # adapters take the shop checked above; belt and braces
            raise Unprocessable(
                "an event names a shop this deployment does not serve", [{"loc": "shop", "msg": "unknown"}]
            )
        bounded = [bounding.bound_event(e) for e in events]
    except (Unprocessable, bounding.EventTooLarge) as exc:
        unprocessable = (
            exc
            if isinstance(exc, Unprocessable)
            else Unprocessable(str(exc), [{"loc": "", "msg": "too large"}])
        )
        _keep(request, ports, REASON_UNPROCESSABLE, unprocessable.as_dict(), now)
        if request.source == SHOPIFY:
            return Answer(200, {"status": "kept"})
        return Answer(400, {"status": "rejected", **unprocessable.as_dict()})

    if not events:
        return Answer(200, {"status": "accepted", "events": 0})
    shop = events[0].shop
    if delivery_id is None:  # adapters refuse bodies without one; belt and braces
        delivery_id = events[0].event_id

    try:
        claimed = ports.dedupe.claim(shop, request.source, delivery_id, now + DEDUPE_TTL)
    except Exception:  # noqa: BLE001 - DynamoDB failed (the adapter took back a marker that may have landed)
        ports.metrics.count(METRIC_DEPENDENCY_FAILED)
        return Answer(503, {"status": "retry"})
    if not claimed:
        ports.metrics.count(METRIC_DUPLICATE)
        return Answer(200, {"status": "duplicate"})

    try:
        events = _with_raw_ref(request, ports, bounded, now)
        ports.publisher.publish(events)
    except RawStoreFailed:
        ports.dedupe.release(shop, request.source, delivery_id)
        raise
    except PublishFailed as exc:
        ports.dedupe.release(shop, request.source, delivery_id)
        ports.metrics.count(METRIC_PUBLISH_FAILED)
        ports.log("publish failed; marker released", {"source": request.source, "error": str(exc)})
        return Answer(503, {"status": "retry"})

    ports.metrics.count(METRIC_ACCEPTED)
    ports.metrics.count(METRIC_EVENTS_PUBLISHED, len(events))
    return Answer(200, {"status": "accepted", "events": len(events)})


def _with_raw_ref(
    request: WebhookRequest, ports: Ports, bounded: list[bounding.Bounded], now: datetime
) -> list[EventBase]:
    """The events to publish; when one was cut, the full body is kept first and every cut event points at it."""
    if not any(b.cut for b in bounded):
        return [b.event for b in bounded]
    where = _keep(
        request,
        ports,
        REASON_OVERSIZED,
        [{"loc": "", "msg": "cut to fit EventBridge"}],
        now,
        metric=METRIC_OVERSIZED,
    )
    return [b.event.model_copy(update={"raw_ref": where}) if b.cut else b.event for b in bounded]


def _keep(
    request: WebhookRequest,
    ports: Ports,
    reason: str,
    details: Any,
    now: datetime,
    *,
    metric: str = METRIC_UNPROCESSABLE,
) -> str:
    try:
        where = ports.raw.keep(request.source, request.raw, request.headers, reason, details, now)
    except Exception as exc:
        ports.log(
            "raw payload could not be kept",
            {"source": request.source, "reason": reason, "error": type(exc).__name__},
        )
        raise RawStoreFailed(reason) from exc
    ports.metrics.count(metric)
    ports.log(
        "authentic payload kept for replay", {"source": request.source, "reason": reason, "raw_key": where}
    )
    return where
