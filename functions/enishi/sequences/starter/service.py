"""The starter's service: plan one event and act on it — start/stop executions, park it, or resume what waited
for it (the parking rules and their story: ``domain/parking.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from enishi.events import event_from_sqs_body
from enishi.profiles.items import OrderItem
from enishi.profiles.model import Profile
from enishi.sequences.domain.spec import SequencesSpec
from enishi.sequences.domain.starting import Plan, Start, Stop, plan


class ParkStore(Protocol):
    def get_order(self, shop: str, order_id: str) -> OrderItem | None: ...

    def get_profile(self, shop: str, customer_id: str) -> Profile | None: ...

    def message_status(self, shop: str, customer_id: str, message_key: str) -> str | None: ...

    def park(self, shop: str, order_id: str, event_id: str, body: str, now: datetime) -> None: ...

    def parked_for_order(self, shop: str, order_id: str) -> list[dict[str, Any]]: ...

    def unpark(self, shop: str, order_id: str, event_id: str) -> None: ...


class ExecutionsPort(Protocol):
    def start(self, start: Start) -> bool: ...

    def stop(self, stop: Stop) -> bool: ...


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


def _execute(todo: Plan, executions: ExecutionsPort, out: Outcome) -> None:
    for stop in todo.stops:
        out.stopped.append((stop, executions.stop(stop)))
    for start in todo.starts:
        out.started.append((start, executions.start(start)))


def handle(
    event: Any, body: str, spec: SequencesSpec, store: ParkStore, executions: ExecutionsPort, now: datetime
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
