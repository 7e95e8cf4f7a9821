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

Pure except through the ports given (``ParkStore``, ``Executions``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from enishi.events import event_from_sqs_body
from enishi.profiles.items import OrderItem
from enishi.profiles.model import Profile
from enishi.sequences.spec import SequencesSpec
from enishi.sequences.starting import Executions, Plan, Start, Stop, plan

PARK_TTL = timedelta(days=14)
PARK_BACKOFF_SECONDS = (300, 1800, 7200, 21600)  # 5 min, 30 min, 2 h, 6 h — the SQS safety net of a park
MAX_VISIBILITY_SECONDS = 43_000  # SQS allows at most 12 h (43,200 s) per receive


class ParkStore(Protocol):
    def get_order(self, shop: str, order_id: str) -> OrderItem | None: ...

    def get_profile(self, shop: str, customer_id: str) -> Profile | None: ...

    def message_status(self, shop: str, customer_id: str, message_key: str) -> str | None: ...

    def park(self, shop: str, order_id: str, event_id: str, body: str, now: datetime) -> None: ...

    def parked_for_order(self, shop: str, order_id: str) -> list[dict[str, Any]]: ...

    def unpark(self, shop: str, order_id: str, event_id: str) -> None: ...


def park_backoff(receive_count: int) -> int:
    """Seconds until SQS delivers a parked event again, after its ``receive_count``-th receive (1-based)."""
    index = min(max(receive_count, 1) - 1, len(PARK_BACKOFF_SECONDS) - 1)
    return min(PARK_BACKOFF_SECONDS[index], MAX_VISIBILITY_SECONDS)


def keep_in_queue(receive_count: int, max_receive_count: int) -> bool:
    """Keep the SQS message as a safety net while another receive is allowed; on the last one, acknowledge
    (the park remains) so that waiting for an event never ends in the DLQ."""
    return max(receive_count, 1) < max_receive_count


@dataclass
class Outcome:
    started: list[tuple[Start, bool]] = field(default_factory=list)
    stopped: list[tuple[Stop, bool]] = field(default_factory=list)
    parked: bool = False  # still waiting for the missing event
    resumed: int = 0  # parked events planned now that their order is recorded


class _KnownOrder:
    """Lookups where ``order.recorded`` told us the order's customer, even before the order item is readable."""

    def __init__(self, store: ParkStore, recorded: Any) -> None:
        self._store, self._recorded = store, recorded

    def get_order(self, shop: str, order_id: str) -> OrderItem | None:
        order = self._store.get_order(shop, order_id)
        r = self._recorded
        if order is None and (shop, order_id) == (r.shop, r.order_id):
            return OrderItem(
                shop=shop,
                order_id=order_id,
                customer_id=r.customer_id,
                placed_at=r.placed_at,
                updated_at=r.placed_at,
            )
        return order

    def get_profile(self, shop: str, customer_id: str) -> Profile | None:
        return self._store.get_profile(shop, customer_id)

    def message_status(self, shop: str, customer_id: str, message_key: str) -> str | None:
        return self._store.message_status(shop, customer_id, message_key)


def _execute(todo: Plan, executions: Executions, out: Outcome) -> None:
    for stop in todo.stops:
        out.stopped.append((stop, executions.stop(stop)))
    for start in todo.starts:
        out.started.append((start, executions.start(start)))


def handle(
    event: Any, body: str, spec: SequencesSpec, store: ParkStore, executions: Executions, now: datetime
) -> Outcome:
    """Plan one event and act on it: start/stop executions, park it, or resume what waited for it."""
    out = Outcome()
    todo = plan(event, spec, store, now)
    if todo.park is not None:
        store.park(event.shop, todo.park.order_id, event.event_id, body, now)
        todo = plan(event, spec, store, now)  # re-check after parking: the order may have landed meanwhile
        if todo.park is not None:
            out.parked = True
            return out
        store.unpark(event.shop, event.order_id, event.event_id)
    _execute(todo, executions, out)
    if todo.resume_order_id is not None:
        known = _KnownOrder(store, event)
        for item in store.parked_for_order(event.shop, todo.resume_order_id):
            parked = event_from_sqs_body(str(item["body"]))
            again = plan(parked, spec, known, now)
            if again.park is not None:  # cannot happen with the customer known; keep it rather than lose it
                continue
            _execute(again, executions, out)
            store.unpark(event.shop, todo.resume_order_id, parked.event_id)
            out.resumed += 1
    return out
