"""Events that wait for one not seen yet: parked in DynamoDB, resumed when the missing event arrives.

Rule (issue 9 defect 3): anything the starter cannot plan because an event it depends on has not arrived yet is
never dropped and never dead-lettered for ordering. Today that is a ``fulfillment.updated`` whose order the profile
consumer has not recorded (Shopify may deliver ``fulfillments/create`` a second before ``orders/create``).

1. ``plan`` answers ``Plan.park`` → the event's SQS body is written under ``keys.parked_for_order_key`` (TTL
   ``PARK_TTL``), then the order is **read again** (consistent): if it landed between the first read and the park,
   the event is planned now and the park removed. Otherwise it stays parked.
2. ``order.recorded`` for that order → every event parked under it is planned again, with the customer taken from
   ``order.recorded`` (the profile consumer publishes it just *before* it writes the order item, so the item may not
   be readable yet), and unparked. Both the re-check and the resume may start the same execution: Step Functions
   execution names make the second start a no-op. The one interleaving neither sees — the park lands after
   ``order.recorded``'s query, and the re-check runs before the order item is written — is the safety net's job:
   the next SQS delivery (5 min later) finds the order.
3. Safety net: while parked, the starter keeps the SQS message and moves its next delivery out with
   ``ChangeMessageVisibility`` (``park_backoff``: 5 min → 30 min → 2 h → 6 h); on the queue's last receive
   (``maxReceiveCount``) it acknowledges instead (never the DLQ for ordering): the park alone remains, and the
   metric ``ParkedEventUnresolved`` (alarmed) says an event has waited ~9 h for its order.

Here: the rules (pure). The starter's service (``starter/service.py``) parks, re-checks and resumes through its
ports (``ParkStore``, ``adapters/executions.Executions``).
"""

from __future__ import annotations

from datetime import timedelta

PARK_TTL = timedelta(days=14)
PARK_BACKOFF_SECONDS = (300, 1800, 7200, 21600)  # 5 min, 30 min, 2 h, 6 h — the SQS safety net of a park
MAX_VISIBILITY_SECONDS = 43_000  # SQS allows at most 12 h (43,200 s) per receive


def park_backoff(receive_count: int) -> int:
    """Seconds until SQS delivers a parked event again, after its ``receive_count``-th receive (1-based)."""
    index = min(max(receive_count, 1) - 1, len(PARK_BACKOFF_SECONDS) - 1)
    return min(PARK_BACKOFF_SECONDS[index], MAX_VISIBILITY_SECONDS)


def keep_in_queue(receive_count: int, max_receive_count: int) -> bool:
    """Keep the SQS message as a safety net while another receive is allowed; on the last one, acknowledge
    (the park remains) so that waiting for an event never ends in the DLQ."""
    return max(receive_count, 1) < max_receive_count
