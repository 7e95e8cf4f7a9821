"""A generation counter bumped whenever work enters the local stack somewhere (a handler starts, a message lands in
a queue, a rule target is submitted, an execution starts or wakes, a schedule fires) **and whenever a part becomes
idle** (a handler returns, a batch or a rule target is done, an execution parks in a Wait or ends).

``LocalStack.settle`` reads it before and after one pass over the busy checks: if nothing was busy *and* the
counter did not move, nothing was in flight at any moment of the pass — work that moved from a part not yet checked
to a part already checked would have bumped it. When something was busy, ``settle`` sleeps in ``wait_for_change``
until the next bump: waiting costs nothing (no polling), and it wakes the moment a part reports a change.

``enter()`` moves the generation without waking a waiting settle (work arriving never makes the stack quiet).
``bump()`` and ``enter()`` take only this module's own lock and never call out while holding it, so they are safe to
call while holding any other lock (the virtual clock's, a handler's).
"""

from __future__ import annotations

import itertools
import threading

_numbers = itertools.count(1)
_generation = 0
_changed = threading.Condition(threading.Lock())
waits = 0  # how many times a settle slept waiting for a change (for profiles and tests)


def bump() -> None:
    """Work entered or left the stack. (Each store is a number never stored before, so a reader always sees a
    change.)"""
    global _generation
    with _changed:
        _generation = next(_numbers)
        _changed.notify_all()


def enter() -> None:
    """Work entered: the generation moves, but a waiting ``settle`` is not woken — the stack cannot have become
    quiet, and every part that takes work on reports with ``bump()`` when it is idle again. (Waking the waiter for
    each handler start, message and execution start made it run a pass and lie down again: thread hand-offs.)"""
    global _generation
    with _changed:
        _generation = next(_numbers)


def generation() -> int:
    return _generation


def wait_for_change(seen: int, timeout: float) -> bool:
    """Sleep until the generation is no longer ``seen`` (True) or ``timeout`` seconds passed (False)."""
    global waits
    with _changed:
        if _generation != seen:
            return True
        waits += 1
        return _changed.wait_for(lambda: _generation != seen, timeout)
