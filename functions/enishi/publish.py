"""Publishing canonical events to EventBridge, behind a port so logic and tests never need boto3.

``EventPublisher`` is the port. ``EventBridgePublisher`` is the adapter (PutEvents, at most 10 entries and
256 KB per call); ``InMemoryPublisher`` is the fake for unit tests and can be told to fail.

Every publisher passes each event through ``bounding.bound_event`` first, so no caller can put an entry on the bus
that EventBridge would refuse (intake and the LINE webhook bound theirs earlier, to keep the full body when they
cut; for an event already bounded this is a no-op).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from enishi import bounding
from enishi import events as ev
from enishi.events import EventBase

PUT_EVENTS_MAX_ENTRIES = 10
PUT_EVENTS_MAX_BYTES = bounding.PUT_EVENTS_MAX_BYTES


class PublishFailed(Exception):
    """Some or all events did not reach the bus. The caller must not acknowledge the delivery."""

    def __init__(self, message: str, failed: Sequence[dict[str, Any]] = ()) -> None:
        super().__init__(message)
        self.failed = list(failed)


class EventPublisher(Protocol):
    def publish(self, events: Sequence[EventBase]) -> None:
        """Put every event on the bus or raise ``PublishFailed``."""
        ...


class EventBridgePublisher:
    """PutEvents adapter. ``client`` is a boto3 ``events`` client."""

    def __init__(self, client: Any, bus_name: str) -> None:
        self._client = client
        self._bus = bus_name

    def publish(self, events: Sequence[EventBase]) -> None:
        for batch in batches([bounded(e) for e in events], self._bus):
            entries = [ev.put_events_entry(e, self._bus) for e in batch]
            for entry in entries:  # boto3 rejects Time=None
                if entry.get("Time") is None:
                    entry.pop("Time", None)
            try:
                response = self._client.put_events(Entries=entries)
            except Exception as exc:  # botocore ClientError / EndpointConnectionError / ...
                raise PublishFailed(f"PutEvents call failed: {type(exc).__name__}") from exc
            if response.get("FailedEntryCount", 0):
                failed = [
                    {"event_id": e.event_id, "code": r.get("ErrorCode"), "message": r.get("ErrorMessage")}
                    for e, r in zip(batch, response.get("Entries", []), strict=False)
                    if r.get("ErrorCode")
                ]
                raise PublishFailed(
                    f"PutEvents rejected {response['FailedEntryCount']} of {len(entries)} entries", failed
                )


def bounded(event: EventBase) -> EventBase:
    """The event cut to fit one entry (``bounding``); one that cannot fit is a publish failure, not a crash."""
    try:
        return bounding.bound_event(event, max_bytes=bounding.MAX_ENTRY_BYTES).event
    except bounding.EventTooLarge as exc:
        raise PublishFailed(str(exc)) from None


def batches(events: Sequence[EventBase], bus_name: str) -> list[list[EventBase]]:
    """Consecutive groups of at most 10 entries and 256 KB (EventBridge's two PutEvents limits), in order."""
    out: list[list[EventBase]] = []
    size = 0
    for event in events:
        entry = bounding.entry_size(ev.put_events_entry(event, bus_name))
        if not out or len(out[-1]) >= PUT_EVENTS_MAX_ENTRIES or size + entry > PUT_EVENTS_MAX_BYTES:
            out.append([])
            size = 0
        out[-1].append(event)
        size += entry
    return out


class InMemoryPublisher:
    """Fake publisher: records what was published; ``fail=True`` makes every publish raise ``PublishFailed``."""

    def __init__(self, *, fail: bool = False) -> None:
        self.published: list[EventBase] = []
        self.fail = fail

    def publish(self, events: Sequence[EventBase]) -> None:
        if self.fail:
            raise PublishFailed("in-memory publisher set to fail")
        self.published.extend(bounded(e) for e in events)

    @property
    def types(self) -> list[str]:
        return [e.type for e in self.published]  # type: ignore[attr-defined]
