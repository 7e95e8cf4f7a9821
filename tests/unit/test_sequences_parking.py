"""Events that wait for one not seen yet are parked and resumed, never lost (issue 9 defect 3)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from enishi import constants as c
from enishi import events as ev
from enishi.profiles.items import OrderItem
from enishi.sequences.domain import parking
from enishi.sequences.domain.spec import load_spec
from enishi.sequences.starter import service
from enishi.shop_config import REPO_DIR

SPEC = load_spec(REPO_DIR / "sequences.yaml")
T0 = datetime(2025, 5, 6, 3, 0, tzinfo=UTC)
SHOP = "s.myshopify.com"


class Store:
    """In-memory ParkStore; ``order_lands_on_read`` makes the order appear at the n-th order read (a race)."""

    def __init__(self, order_lands_on_read: int | None = None) -> None:
        self.orders: dict[str, OrderItem] = {}
        self.parks: dict[tuple[str, str], dict[str, Any]] = {}
        self.reads = 0
        self._lands_on = order_lands_on_read

    def record_order(self, order_id: str = "o1") -> None:
        self.orders[order_id] = OrderItem(
            shop=SHOP, order_id=order_id, customer_id="7001", placed_at=T0, updated_at=T0
        )

    def get_order(self, shop: str, order_id: str) -> OrderItem | None:
        self.reads += 1
        if self._lands_on is not None and self.reads >= self._lands_on:
            self.record_order(order_id)
        return self.orders.get(order_id)

    def get_profile(self, shop: str, customer_id: str) -> None:
        return None

    def message_status(self, shop: str, customer_id: str, message_key: str) -> None:
        return None

    def park(self, shop: str, order_id: str, event_id: str, body: str, now: datetime) -> None:
        self.parks[(order_id, event_id)] = {"body": body, "event_id": event_id}

    def parked_for_order(self, shop: str, order_id: str) -> list[dict[str, Any]]:
        return [v for (o, _), v in self.parks.items() if o == order_id]

    def unpark(self, shop: str, order_id: str, event_id: str) -> None:
        self.parks.pop((order_id, event_id), None)


class Executions:
    """Step Functions by name: a second start of the same name is not new."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def start(self, start: Any) -> bool:
        if start.name in self.names:
            return False
        self.names.append(start.name)
        return True

    def stop(self, stop: Any) -> bool:
        return False


def body(event: ev.EventBase) -> str:
    return json.dumps(
        {"detail-type": event.type, "source": "enishi.intake", "detail": ev.to_detail_dict(event)}
    )


def fulfillment(fid: str = "f1") -> ev.FulfillmentUpdated:
    return ev.FulfillmentUpdated(
        event_id=f"{fid}:create",
        shop=SHOP,
        source="shopify",
        occurred_at=T0,
        received_at=T0,
        fulfillment_id=fid,
        order_id="o1",
        status="success",
        tracking_numbers=("123",),
    )


def recorded() -> ev.OrderRecorded:
    return ev.OrderRecorded(
        event_id="enishi:order.recorded:o1",
        shop=SHOP,
        source="enishi",
        occurred_at=T0,
        received_at=T0,
        order_id="o1",
        customer_id="7001",
        order_count=1,
        placed_at=T0,
        total=Decimal(1),
    )


def deliver(event: ev.EventBase, store: Store, executions: Executions) -> service.Outcome:
    return service.handle(event, body(event), SPEC, store, executions, T0)


def shipping(executions: Executions) -> list[str]:
    return [n for n in executions.names if n.startswith(c.SEQUENCE_SHIPPING)]


def test_a_fulfillment_before_its_order_is_parked_then_started_when_the_order_is_recorded():
    store, executions = Store(), Executions()
    out = deliver(fulfillment(), store, executions)
    assert out.parked and out.started == [] and len(store.parks) == 1
    store.record_order()
    resumed = deliver(recorded(), store, executions)
    assert resumed.resumed == 1 and store.parks == {}
    assert len(shipping(executions)) == 1


def test_the_order_landing_between_the_first_read_and_the_park_is_seen_by_the_recheck():
    # the profile consumer recorded the order (and published order.recorded, which found no park) just after the
    # starter's first read: the re-check after parking must start the notice itself and leave no park behind
    store, executions = Store(order_lands_on_read=2), Executions()
    out = deliver(fulfillment(), store, executions)
    assert not out.parked and store.parks == {}
    assert len(shipping(executions)) == 1


def test_resume_does_not_need_the_order_item_to_be_readable_yet():
    store, executions = Store(), Executions()
    deliver(fulfillment(), store, executions)
    deliver(recorded(), store, executions)  # order.recorded carries the customer
    assert len(shipping(executions)) == 1 and store.parks == {}


def test_the_sqs_safety_net_backs_off_from_minutes_to_hours_and_lets_go_on_the_last_receive():
    delays = [parking.park_backoff(n) for n in range(1, 6)]
    assert delays[0] == 300 and delays[-1] == 21600 and delays == sorted(delays)
    assert all(d < 43200 for d in delays)  # SQS's 12 h ceiling per receive
    assert [parking.keep_in_queue(n, 5) for n in range(1, 6)] == [True, True, True, True, False]


@settings(deadline=None)  # examples: the loaded profile (HYPOTHESIS_PROFILE)
@given(
    st.lists(st.sampled_from(["f1", "f2", "f1-again", "order", "order-again"]), min_size=1, max_size=8),
    st.integers(min_value=1, max_value=6),
)
def test_any_interleaving_starts_one_notice_per_fulfillment_once_the_order_is_recorded(deliveries, race_read):
    """Whatever the order of deliveries, duplicates and the race of the order write with the park: once the order
    is recorded and order.recorded delivered, each fulfillment has exactly one shipping execution, none parked."""
    store, executions = Store(order_lands_on_read=race_read if "order" in deliveries else None), Executions()
    events = {
        "f1": fulfillment("f1"),
        "f1-again": fulfillment("f1"),
        "f2": fulfillment("f2"),
        "order": recorded(),
        "order-again": recorded(),
    }
    seen = {"f1": False, "f2": False}
    for name in deliveries:
        if name.startswith("order"):
            store.record_order()
        else:
            seen[name[:2]] = True
        deliver(events[name], store, executions)
    store.record_order()
    deliver(recorded(), store, executions)  # the order event eventually arrives (at least once)
    assert len(shipping(executions)) == sum(seen.values())
    assert store.parks == {}


def test_a_delivered_update_before_its_order_resumes_into_the_notice_and_the_delivery_follow_up():
    store, executions = Store(), Executions()
    delivered = fulfillment().model_copy(
        update={"event_id": "f1:delivered", "shipment_status": "delivered", "delivered_at": T0}
    )
    assert deliver(delivered, store, executions).parked
    assert deliver(recorded(), store, executions).resumed == 1
    assert len(shipping(executions)) == 2  # the notice's machine and the follow-up machine (one ledger key)
    # the in-transit update arriving last (the order item written by now) starts nothing new
    store.record_order()
    deliver(fulfillment(), store, executions)
    assert len(shipping(executions)) == 2 and store.parks == {}
