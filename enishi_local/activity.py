"""A generation counter bumped whenever work enters the local stack somewhere (a handler starts, a message lands in
a queue, a rule target is submitted, an execution starts or wakes, a schedule fires).

``LocalStack.settle`` reads it before and after one pass over the busy checks: if nothing was busy *and* the
counter did not move, nothing was in flight at any moment of the pass — work that moved from a part not yet checked
to a part already checked would have bumped it. One cheap pass replaces "quiet three times in a row, 2 ms apart".
"""

from __future__ import annotations

import itertools

_numbers = itertools.count(1)
_generation = 0


def bump() -> None:
    """Work entered the stack. (Each store is a number never stored before, so a reader always sees a change.)"""
    global _generation
    _generation = next(_numbers)


def generation() -> int:
    return _generation
