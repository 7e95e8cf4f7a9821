"""Full-jitter exponential backoff between a channel's own tries (SES throttling, LINE 5xx/timeouts).

``sleep`` and ``rng`` are injectable so tests neither wait nor depend on chance.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from enishi import clock


class Backoff:
    def __init__(
        self,
        max_attempts: int,
        base: float,
        cap: float,
        sleep: Callable[[float], None] = clock.pause,  # time.sleep in Lambda; virtual time locally
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.max_attempts = max(1, max_attempts)
        self.base = base
        self.cap = cap
        self._sleep = sleep
        self._rng = rng

    def delay(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base · 2^(attempt-1))]."""
        return self._rng() * min(self.cap, self.base * 2 ** (attempt - 1))

    def wait(self, attempt: int) -> None:
        """Sleep before try ``attempt + 1``."""
        self._sleep(self.delay(attempt))
