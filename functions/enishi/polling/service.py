"""The polled side of a cart, as application services over ports (no boto3 here).

``sweep``: for each stream of the cart, resume or begin a sweep (``planner``), fetch page after page, turn rows
into events, publish each event at most once (``publish_once``), save the cursor after every page. It stops — with
the cursor saved — when the run's page budget or time is used up, or when the cart stays unavailable (429/5xx):
the next scheduled run resumes there.

``fetch_notified``: id-only notifications (EC-CUBE) → the full records → the same events, published at most once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from enishi.events import EventBase
from enishi.polling import planner
from enishi.polling.contract import CartConnection
from enishi.polling.http import CartUnavailable
from enishi.polling.planner import StreamCursor
from enishi.publish import EventPublisher

CLAIM_TTL = timedelta(days=400)  # an order.placed is claimed for longer than any order stays "updatable"
TIME_MARGIN_SECONDS = 20.0  # stop this long before the function's timeout


class CursorStore(Protocol):
    def load(self, connection_id: str, stream: str) -> StreamCursor: ...

    def save(self, connection_id: str, stream: str, cursor: StreamCursor) -> None: ...


class EventClaims(Protocol):
    def seen(self, shop: str, source: str, event_id: str) -> bool:
        """Whether the event was published before (its marker exists)."""
        ...

    def claim(self, shop: str, source: str, event_id: str, expires_at: datetime) -> bool:
        """Record the marker once published; False when it was already there."""
        ...


class RawKeeper(Protocol):
    def keep(
        self, cart: str, record: Mapping[str, Any], reason: str, details: Any, received_at: datetime
    ) -> str: ...


@dataclass
class Ports:
    api: Any  # enishi.polling.http.CartApi (or a fake)
    cursors: CursorStore
    claims: EventClaims
    publisher: EventPublisher
    raw: RawKeeper
    time_left: Callable[[], float] = field(
        default=lambda: float("inf")
    )  # seconds until the function's timeout
    log: Callable[[str, dict[str, Any]], None] = field(default=lambda message, extra: None)  # no PII in extra


@dataclass
class Report:
    pages: int = 0
    rows: int = 0
    published: int = 0
    duplicates: int = 0
    kept: int = 0
    finished: list[str] = field(default_factory=list)  # streams whose sweep completed in this run
    stopped: str | None = None  # why the run stopped early

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def publish_once(events: Sequence[EventBase], cart: str, ports: Ports, now: datetime, report: Report) -> None:
    """Publish the events not published before, then record their markers.

    Marker *after* publishing: a run that dies between the two re-publishes the same event ids next time (the
    consumers dedupe on ``event_id``), where a marker written first would have made the event look published and
    lost it for good. The poller runs alone per connection (reserved concurrency 1), so no second run races this
    check."""
    fresh = [e for e in events if not ports.claims.seen(e.shop, cart, e.event_id)]
    report.duplicates += len(events) - len(fresh)
    if not fresh:
        return
    ports.publisher.publish(fresh)  # PublishFailed propagates: nothing recorded, the next run retries
    for event in fresh:
        ports.claims.claim(event.shop, cart, event.event_id, now + CLAIM_TTL)
    report.published += len(fresh)


def _keeper(
    cart_module: Any, ports: Ports, now: datetime, report: Report
) -> Callable[[Mapping[str, Any], Exception], None]:
    from enishi.carts import Unprocessable, validation_details

    def keep(row: Mapping[str, Any], exc: Exception) -> None:
        details = (
            exc.as_dict()
            if isinstance(exc, Unprocessable)
            else {"error": type(exc).__name__, "details": validation_details(exc)}
        )
        where = ports.raw.keep(cart_module.CART, row, "unprocessable", details, now)
        report.kept += 1
        ports.log("cart row kept for replay", {"cart": cart_module.CART, "raw_key": where})

    return keep


RecordEvents = Callable[[CartConnection, Mapping[str, Any], datetime], list[EventBase]]


def _row_events(
    to_events: RecordEvents, connection: CartConnection, now: datetime
) -> Callable[[Mapping[str, Any]], list[EventBase]]:
    """One row → its events, for ``planner.events_of_page`` (bound here, not in a loop's closure)."""

    def row_events(row: Mapping[str, Any]) -> list[EventBase]:
        return to_events(connection, row, now)

    return row_events


def sweep(connection: CartConnection, cart_module: Any, ports: Ports, now: datetime) -> Report:
    report = Report()
    for stream in cart_module.STREAMS:
        cursor = planner.begin(ports.cursors.load(connection.id, stream), now, connection)
        ports.cursors.save(connection.id, stream, cursor)  # a crash from here on resumes this sweep
        to_events = cart_module.RECORD_EVENTS[stream]
        while True:
            if report.pages >= connection.max_pages_per_run:
                report.stopped = "page_budget"
                return report
            if ports.time_left() < TIME_MARGIN_SECONDS:
                report.stopped = "time_budget"
                return report
            assert cursor.since is not None
            try:
                extra = {}
                if hasattr(cart_module, "LOOKBACK"):  # lists by order time: the window it must cover
                    extra["ordered_from"] = planner.order_window_start(cursor, cart_module.LOOKBACK)
                rows, more = cart_module.fetch_page(
                    ports.api, stream, cursor.since, cursor.next_page, **extra
                )
            except CartUnavailable as exc:
                report.stopped = f"cart_unavailable: {exc}"
                return report
            events = planner.events_of_page(
                rows,
                _row_events(to_events, connection, now),
                cart_module.updated_at,
                _keeper(cart_module, ports, now, report),
            )
            publish_once(events, cart_module.CART, ports, now, report)
            report.pages += 1
            report.rows += len(rows)
            cursor = planner.after_page(cursor, more)
            ports.cursors.save(connection.id, stream, cursor)
            if not cursor.in_progress:
                report.finished.append(stream)
                break
    return report


def fetch_notified(
    connection: CartConnection,
    cart_module: Any,
    notifications: Sequence[Mapping[str, str]],
    ports: Ports,
    now: datetime,
) -> Report:
    """Each notified id → its full record → events. ``deleted`` and vanished rows yield nothing (a deleted order
    row is not a cancellation; the sweep never sees it either)."""
    report = Report()
    rows_by_stream: dict[str, list[Mapping[str, Any]]] = {}
    for note in notifications:
        if note.get("action") == "deleted":
            continue
        stream = cart_module.STREAM_OF_ENTITY.get(note.get("entity"))
        if stream is None:
            continue
        row = cart_module.fetch_one(ports.api, note["entity"], note["id"])
        if row is not None:
            rows_by_stream.setdefault(stream, []).append(row)
            report.rows += 1
    for stream in cart_module.STREAMS:  # customers before orders, as in a sweep
        rows = rows_by_stream.get(stream)
        if rows:
            to_events = cart_module.RECORD_EVENTS[stream]
            events = planner.events_of_page(
                rows,
                _row_events(to_events, connection, now),
                cart_module.updated_at,
                _keeper(cart_module, ports, now, report),
            )
            publish_once(events, cart_module.CART, ports, now, report)
    return report
