"""One virtual clock for the whole local stack.

``now()`` is a virtual start plus the real time elapsed since then times ``time_scale`` (virtual seconds per real
second). With ``time_scale`` None or 0 the clock is *manual*: it moves only when ``advance_to``/``advance`` is
called, which is what the demo and the tests use to step through days deterministically.

Everything that waits on time in the local stack (Step Functions ``Wait`` states and retry intervals, the daily
schedule) waits through ``sleep_until``, so advancing the clock wakes them at once, and the clock knows who is
asleep (``sleepers()``) — which is how ``LocalStack.settle`` tells "parked until later" from "still working".
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from enishi import clock as enishi_clock


class VirtualClock:
    def __init__(self, start: datetime | None = None, time_scale: float | None = None) -> None:
        if start is not None and start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if time_scale is not None and time_scale < 0:
            raise ValueError("time_scale must be >= 0")
        self._cond = threading.Condition()
        self._virtual_base = (start or datetime.now(UTC)).astimezone(UTC)
        self._real_base = time.monotonic()
        self._scale = float(time_scale or 0.0)
        self._sleepers: dict[int, datetime] = {}
        self._events: dict[int, threading.Event] = {}  # each sleeper's own wake-up: no thundering herd
        self._ids = itertools.count()

    # ---- reading
    @property
    def time_scale(self) -> float:
        """Virtual seconds per real second; 0 means manual."""
        return self._scale

    @property
    def manual(self) -> bool:
        return self._scale == 0.0

    def now(self) -> datetime:
        """Current virtual time, timezone-aware UTC."""
        with self._cond:
            return self._now_locked()

    def _now_locked(self) -> datetime:
        if self._scale == 0.0:
            return self._virtual_base
        elapsed = (time.monotonic() - self._real_base) * self._scale
        return self._virtual_base + timedelta(seconds=elapsed)

    # ---- moving
    def advance_to(self, target: datetime) -> datetime:
        """Move the clock forward to ``target`` (never backwards) and wake every sleeper whose time has come."""
        if target.tzinfo is None:
            raise ValueError("target must be timezone-aware")
        with self._cond:
            current = self._now_locked()
            if target.astimezone(UTC) > current:
                self._virtual_base = target.astimezone(UTC)
                self._real_base = time.monotonic()
            now = self._now_locked()
            self._wake_due(now)
            return now

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("the clock only moves forward")
        with self._cond:
            return self.advance_to(self._now_locked() + delta)

    def set_time_scale(self, time_scale: float | None) -> None:
        """Change the speed without a jump in virtual time."""
        with self._cond:
            self._virtual_base = self._now_locked()
            self._real_base = time.monotonic()
            self._scale = float(time_scale or 0.0)
            self._wake_all()

    def wake(self) -> None:
        """Wake every sleeper so it re-checks its cancel condition (used when an execution is stopped early)."""
        with self._cond:
            self._wake_all()

    def _wake_due(self, now: datetime) -> None:
        """Wake only the sleepers whose time has come (hundreds of parked executions sleep on one clock: waking
        them all at every step made each of them take the GIL and go back to sleep, thousands of times a run)."""
        for sleeper, target in self._sleepers.items():
            if target <= now:
                self._events[sleeper].set()

    def _wake_all(self) -> None:
        for event in self._events.values():
            event.set()

    # ---- waiting
    def sleep_until(
        self,
        target: datetime,
        cancelled: Callable[[], bool] | None = None,
        on_wake: Callable[[], None] | None = None,
    ) -> bool:
        """Block until virtual time >= ``target``. Returns True when the time came, False when ``cancelled()``
        became true first (checked whenever the clock is advanced or ``wake()`` is called). ``on_wake`` runs under
        the clock's lock when the time came, before this sleeper leaves ``sleepers()``, so an observer never sees
        a moment where the sleeper is neither asleep nor marked busy."""
        if target.tzinfo is None:
            raise ValueError("target must be timezone-aware")
        target = target.astimezone(UTC)
        event = threading.Event()
        with self._cond:
            sleeper = next(self._ids)
            self._sleepers[sleeper] = target
            self._events[sleeper] = event
        try:
            while True:
                with self._cond:
                    event.clear()  # before the checks: a wake-up after them sets it again
                    if cancelled is not None and cancelled():
                        return False
                    current = self._now_locked()
                    if current >= target:
                        if on_wake is not None:
                            on_wake()
                        return True
                    timeout = None if self._scale == 0.0 else (target - current).total_seconds() / self._scale
                event.wait(timeout)
        finally:
            with self._cond:
                del self._sleepers[sleeper]
                del self._events[sleeper]

    def sleep(self, seconds: float, cancelled: Callable[[], bool] | None = None) -> bool:
        return self.sleep_until(self.now() + timedelta(seconds=seconds), cancelled)

    def sleepers(self) -> list[datetime]:
        """The wake-up times of everyone asleep on this clock right now, earliest first."""
        with self._cond:
            return sorted(self._sleepers.values())

    def next_wakeup(self) -> datetime | None:
        """The earliest wake-up time of anyone asleep, or None."""
        with self._cond:
            return min(self._sleepers.values(), default=None)

    # ---- enishi.clock
    def install(self) -> None:
        """Make ``enishi.clock.now()`` read this clock. ``enishi.clock.peer_now()`` — what a real sender's signed
        timestamp is judged against — stays the wall clock: the programs that post to the local stack are real."""
        enishi_clock.set_provider(self.now)
        enishi_clock.set_peer_provider(lambda: datetime.now(UTC))

    def uninstall(self) -> None:
        enishi_clock.reset()
