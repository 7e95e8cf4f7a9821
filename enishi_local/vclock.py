"""One virtual clock for the whole local stack.

``now()`` is a virtual start plus the real time elapsed since then times ``time_scale`` (virtual seconds per real
second). With ``time_scale`` None or 0 the clock is *manual*: it moves only when ``advance_to``/``advance`` is
called, which is what the demo and the tests use to step through days deterministically.

Everything that waits on time in the local stack (Step Functions ``Wait`` states and retry intervals, the daily
schedule) waits through ``sleep_until``, so advancing the clock wakes them at once, and the clock knows who is
asleep (``sleepers()``) — which is how ``LocalStack.settle`` tells "parked until later" from "still working".

*Ordered release* (``ordered=True``, manual clocks only; the local stack turns it on): advancing the clock wakes
nobody; the sleepers whose time has come are *held* until ``release_next()`` lets one go, the earliest due first
and, among those due at one moment, by their ``key`` (an execution's ARN, a schedule's rule) — ``LocalStack.settle``
releases the next one only when the stack is quiet again. Two executions due together then never race (for the
customer's shared frequency cap, say): which one runs first no longer depends on how the threads happen to run.
A sleeper whose time has already come when it lies down goes on at once, as before.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from enishi import clock as enishi_clock
from enishi_local import activity


class VirtualClock:
    def __init__(
        self, start: datetime | None = None, time_scale: float | None = None, *, ordered: bool = False
    ) -> None:
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
        self._keys: dict[int, str] = {}  # each sleeper's place among those due at one moment
        self._released: set[int] = set()  # ordered release: the sleepers let go and not yet gone
        self._ordered = ordered
        self._ids = itertools.count()
        self._paused = 0.0  # virtual seconds handlers paused beyond the real time it took (``pause``)
        self._pause_lock = threading.Lock()

    # ---- reading
    @property
    def time_scale(self) -> float:
        """Virtual seconds per real second; 0 means manual."""
        return self._scale

    @property
    def manual(self) -> bool:
        return self._scale == 0.0

    @property
    def ordered(self) -> bool:
        """Due sleepers wait for ``release_next()`` (ordered release, on a manual clock)."""
        return self._ordered and self._scale == 0.0

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

    def wake(self, key: str | None = None) -> None:
        """Wake the sleepers of ``key`` (every sleeper when None, or when none has that key) so they re-check their
        cancel condition — used when an execution is stopped early: waking every parked execution for each stop
        made hundreds of threads take the GIL and lie down again (5 % of the demo)."""
        with self._cond:
            mine = [self._events[s] for s, k in self._keys.items() if k == key] if key is not None else []
            for event in mine:
                event.set()
            if not mine:
                self._wake_all()

    def _wake_due(self, now: datetime) -> None:
        """Wake only the sleepers whose time has come (hundreds of parked executions sleep on one clock: waking
        them all at every step made each of them take the GIL and go back to sleep, thousands of times a run).
        Under ordered release nobody: ``release_next`` lets them go one at a time."""
        if self.ordered:
            return
        for sleeper, target in self._sleepers.items():
            if target <= now:
                self._events[sleeper].set()

    def _wake_all(self) -> None:
        for event in self._events.values():
            event.set()

    # ---- ordered release
    def release_next(self) -> bool:
        """Let the first held sleeper go: the earliest due, then the smallest key, then the first to lie down.
        False when nobody is held (or the clock is not ordered)."""
        with self._cond:
            if not self.ordered:
                return False
            now = self._now_locked()
            held = [
                (target, self._keys[sleeper], sleeper)
                for sleeper, target in self._sleepers.items()
                if target <= now and sleeper not in self._released
            ]
            if not held:
                return False
            _, _, sleeper = min(held)
            self._released.add(sleeper)
            self._events[sleeper].set()
            return True

    def releasing(self) -> bool:
        """A released sleeper has not left yet (it is waking up: busy, not asleep)."""
        with self._cond:
            return bool(self._released)

    def held(self) -> int:
        """Sleepers whose time has come, waiting for ``release_next`` (0 unless ordered)."""
        with self._cond:
            if not self.ordered:
                return 0
            now = self._now_locked()
            return sum(1 for s, t in self._sleepers.items() if t <= now and s not in self._released)

    # ---- waiting
    def sleep_until(
        self,
        target: datetime,
        cancelled: Callable[[], bool] | None = None,
        on_wake: Callable[[], None] | None = None,
        key: str = "",
        on_sleep: Callable[[], None] | None = None,
    ) -> bool:
        """Block until virtual time >= ``target``. Returns True when the time came, False when ``cancelled()``
        became true first (checked whenever the clock is advanced or ``wake()`` is called). ``on_wake`` runs under
        the clock's lock when the time came, before this sleeper leaves ``sleepers()``, so an observer never sees
        a moment where the sleeper is neither asleep nor marked busy. ``on_sleep`` runs under the lock right after
        the sleeper is registered — whoever marks itself idle there is never idle without being asleep. Under
        ordered release the time has come only once ``release_next`` chose this sleeper (``key`` orders those due
        at one moment)."""
        if target.tzinfo is None:
            raise ValueError("target must be timezone-aware")
        target = target.astimezone(UTC)
        event = threading.Event()
        with self._cond:
            sleeper = next(self._ids)
            self._sleepers[sleeper] = target
            self._events[sleeper] = event
            self._keys[sleeper] = key
            if target <= self._now_locked():  # its time has already come: it goes on, as it always did
                self._released.add(sleeper)
            if on_sleep is not None:
                on_sleep()
        try:
            while True:
                with self._cond:
                    event.clear()  # before the checks: a wake-up after them sets it again
                    if cancelled is not None and cancelled():
                        return False
                    current = self._now_locked()
                    if current >= target and (sleeper in self._released or not self.ordered):
                        if on_wake is not None:
                            on_wake()
                        return True
                    timeout = None if self._scale == 0.0 else (target - current).total_seconds() / self._scale
                event.wait(timeout)
        finally:
            with self._cond:
                del self._sleepers[sleeper]
                del self._events[sleeper]
                del self._keys[sleeper]
                if sleeper in self._released:
                    self._released.discard(sleeper)
                    activity.bump()  # no longer waking: whoever waits for the stack to be quiet looks again

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

    # ---- a handler's own waits (``enishi.clock.pause``: a cart client pacing its requests, a back-off)
    def pause(self, seconds: float) -> None:
        """A manual clock does not wait at all (nothing real is on the other side to wait for: the local carts do
        not rate-limit, and the virtual time a handler runs in is frozen anyway); a running one sleeps the scaled
        real time. Either way ``monotonic`` counts the whole pause, so the pacing code runs as in Lambda."""
        if seconds <= 0:
            return
        real = 0.0 if self._scale == 0.0 else seconds / self._scale
        if real:
            time.sleep(real)
        with self._pause_lock:
            self._paused += seconds - real

    def monotonic(self) -> float:
        with self._pause_lock:
            return time.monotonic() + self._paused

    # ---- enishi.clock
    def install(self) -> None:
        """Make ``enishi.clock.now()`` read this clock. ``enishi.clock.peer_now()`` — what a real sender's signed
        timestamp is judged against — stays the wall clock: the programs that post to the local stack are real."""
        enishi_clock.set_provider(self.now)
        enishi_clock.set_peer_provider(lambda: datetime.now(UTC))
        enishi_clock.set_pause_provider(self.pause, self.monotonic)

    def uninstall(self) -> None:
        enishi_clock.reset()
