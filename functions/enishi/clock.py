"""The one clock every piece of enishi reads.

In Lambda it is the system clock (UTC). The local stack replaces the provider with a virtual clock that runs
``time_scale`` virtual seconds per real second, so a 90-day sequence runs in seconds; nothing else changes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

JST = timezone(timedelta(hours=9), "JST")

_provider: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731
_peer_provider: Callable[[], datetime] | None = None  # None: the same as ``now()``
_pause: Callable[[float], None] = time.sleep
_monotonic: Callable[[], float] = time.monotonic


def now() -> datetime:
    """Current time, timezone-aware UTC."""
    return _provider()


def peer_now() -> datetime:
    """The time a remote sender's own clock is compared with (a signature's replay window). In Lambda this is
    ``now()``. The local stack's virtual clock runs ahead of the real programs that post to it (``curl`` with
    ``date +%s``), so there it is the wall clock (``set_peer_provider``)."""
    return (_peer_provider or _provider)()


def set_provider(provider: Callable[[], datetime]) -> None:
    """Used by the local stack and tests only."""
    global _provider
    _provider = provider


def set_peer_provider(provider: Callable[[], datetime] | None) -> None:
    """Used by the local stack and tests only (None: ``peer_now()`` follows ``now()`` again)."""
    global _peer_provider
    _peer_provider = provider


def pause(seconds: float) -> None:
    """Wait ``seconds`` inside a handler (a cart client pacing its requests, a back-off). In Lambda ``time.sleep``;
    the local stack's virtual clock takes it as virtual time (``set_pause_provider``)."""
    _pause(seconds)


def monotonic() -> float:
    """Seconds on a clock that never goes back, to measure such a wait: ``time.monotonic`` in Lambda; locally it
    counts each ``pause`` in full, so code that paced itself sees the time it asked for."""
    return _monotonic()


def set_pause_provider(pause: Callable[[float], None], monotonic: Callable[[], float]) -> None:
    """Used by the local stack and tests only."""
    global _pause, _monotonic
    _pause, _monotonic = pause, monotonic


def reset() -> None:
    set_provider(lambda: datetime.now(UTC))
    set_peer_provider(None)
    set_pause_provider(time.sleep, time.monotonic)


def to_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime: enishi only handles timezone-aware times")
    return value.astimezone(UTC)


def iso_z(value: datetime) -> str:
    """RFC 3339 in UTC with a trailing Z and whole seconds: the only form a Step Functions Wait accepts."""
    return to_utc(value).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str) -> datetime:
    """Parse an ISO-8601 time with offset (``Z`` or ``+09:00``) into aware UTC."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return to_utc(parsed)
