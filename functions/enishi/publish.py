"""Publishing canonical events to EventBridge, behind a port so logic and tests never need boto3.

``EventPublisher`` is the port. ``EventBridgePublisher`` is the adapter (PutEvents, at most 10 entries per call);
``InMemoryPublisher`` is the fake for unit tests and can be told to fail.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from enishi import events as ev
from enishi.events import EventBase

PUT_EVENTS_MAX_ENTRIES = 10


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
        for start in range(0, len(events), PUT_EVENTS_MAX_ENTRIES):
            batch = events[start : start + PUT_EVENTS_MAX_ENTRIES]
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
                    for e, r in zip(batch, response.get("Entries", []))
                    if r.get("ErrorCode")
                ]
                raise PublishFailed(f"PutEvents rejected {response['FailedEntryCount']} of {len(entries)} entries", failed)


class InMemoryPublisher:
    """Fake publisher: records what was published; ``fail=True`` makes every publish raise ``PublishFailed``."""

    def __init__(self, *, fail: bool = False) -> None:
        self.published: list[EventBase] = []
        self.fail = fail

    def publish(self, events: Sequence[EventBase]) -> None:
        if self.fail:
            raise PublishFailed("in-memory publisher set to fail")
        self.published.extend(events)

    @property
    def types(self) -> list[str]:
        return [e.type for e in self.published]  # type: ignore[attr-defined]
