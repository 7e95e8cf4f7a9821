"""How fast a campaign sends: the Distributed Map's concurrency and batch size from the SES send rate. Pure.

The send rate ``R`` (messages per second, the SES account's maximum send rate) bounds the campaign, not the λ:
``max_concurrency`` workers each send one message every ``max_concurrency ÷ R`` seconds (the send batch sleeps to
its due time), so together they send at ``R``. Enough workers that an unpaced λ (``seconds_per_send`` each) could
go faster than its share; a batch lasts about ``batch_seconds`` (well inside the λ's timeout) and is at most
``MAX_BATCH`` recipients (the map's item batch stays far below its 256 KiB input).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_BATCH = 1000
MAX_CONCURRENCY = 1000  # Distributed Map's child executions at once (10,000 is the service's limit)
SECONDS_PER_SEND = 0.08  # the send λ per recipient, unpaced: reads, ledger writes and one SES call (measured)
BATCH_SECONDS = 300.0  # one batch's planned duration (the send λ's timeout is 900 s)
MAP_START_SECONDS = 2.0  # ItemReader + the first child executions starting (the fixed part of the time)


@dataclass(frozen=True)
class Pacing:
    max_concurrency: int
    batch_size: int
    seconds_per_message: float  # each worker's interval between two sends

    def batches(self, recipients: int) -> int:
        return math.ceil(recipients / self.batch_size) if recipients else 0

    def modelled_seconds(self, recipients: int, seconds_per_send: float = 0.0) -> float:
        """The run's duration: rounds of ``max_concurrency`` batches, each ``batch_size`` sends, one per interval
        (or per ``seconds_per_send``, a measured unpaced send, when a worker cannot keep its interval)."""
        interval = max(self.seconds_per_message, seconds_per_send)
        if not recipients:
            return 0.0
        full, rest = divmod(recipients, self.batch_size)
        rounds_full, spare = divmod(full, self.max_concurrency)
        # the last round's batches run side by side: the longest of them is a full batch, or the remainder
        last = (self.batch_size if spare else rest) if (spare or rest) else 0
        return MAP_START_SECONDS + (rounds_full * self.batch_size + last) * interval


def pacing(
    send_rate: float,
    *,
    seconds_per_send: float = SECONDS_PER_SEND,
    batch_seconds: float = BATCH_SECONDS,
) -> Pacing:
    if send_rate <= 0:
        raise ValueError("the send rate is positive")
    concurrency = min(MAX_CONCURRENCY, max(1, math.ceil(send_rate * seconds_per_send * 1.25)))
    interval = concurrency / send_rate
    batch = max(1, min(MAX_BATCH, math.floor(batch_seconds / interval)))
    return Pacing(concurrency, batch, interval)
