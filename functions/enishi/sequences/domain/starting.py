"""Which executions to start or stop for one event (pure): ``plan`` looks the event's type up in ``PLANNERS``
(one small planner per event type); ``adapters/executions.py`` does what the plan says.

Execution names come from ``keys.execution_name`` (sequence, shop, customer, trigger): a redelivered event
starts the same name, which Step Functions treats as the same execution while it is open (same input) and
answers ``ExecutionAlreadyExists`` once it is closed (or when the input differs) — both mean "already started".

| event | does |
|---|---|
| order.recorded, order_count == 1 | start welcome (trigger = the customer: welcome is once per customer) |
| order.recorded / order.placed with a checkout token | stop that checkout's cart recovery |
| checkout.updated open, with an email | start cart recovery (trigger = checkout token) |
| checkout.updated completed / emptied | stop its cart recovery |
| fulfillment.updated with tracking | start shipping notice (trigger = fulfillment id) |
| … delivered | start the follow-up machine ``shipping_notice.followup``; stop the first once its notice is out |
| customer.upserted / consent.changed, subscribed, no order yet | start welcome, when ``welcome_on_signup`` |
| fulfillment.updated for an order not recorded yet | **park** it until ``order.recorded`` (see ``domain/parking.py``) |
| order.recorded | also resume the events parked for that order |

StopExecution is only a saving: every step re-checks its stop conditions right before it sends, so a stop that
races a send (or a purchase made with another checkout) never lets a reminder out after the purchase.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from enishi import clock, keys
from enishi import constants as c
from enishi import events as ev
from enishi.profiles.items import OrderItem
from enishi.profiles.model import Profile
from enishi.sequences.domain.spec import SequencesSpec, as_sent, at_hour, entry_machine_key, parse_delay

DELIVERED_SUFFIX = ":delivered"
NO_SHIPMENT_STATUSES = {"cancelled", "error", "failure"}


@dataclass(frozen=True)
class Park:
    """The event depends on an order not recorded yet: keep it until ``order.recorded`` for ``order_id``."""

    order_id: str
    waiting_for: str = c.ORDER_RECORDED


@dataclass(frozen=True)
class Start:
    sequence: str
    name: str
    input: dict[str, Any]


@dataclass(frozen=True)
class Stop:
    sequence: str
    name: str
    cause: str


@dataclass
class Plan:
    starts: list[Start] = field(default_factory=list)
    stops: list[Stop] = field(default_factory=list)
    park: Park | None = None  # nothing can be planned yet: wait for the missing event
    resume_order_id: str | None = None  # resume the events parked for this (now recorded) order


class Lookups(Protocol):
    def get_order(self, shop: str, order_id: str) -> OrderItem | None: ...

    def get_profile(self, shop: str, customer_id: str) -> Profile | None: ...

    def message_status(self, shop: str, customer_id: str, message_key: str) -> str | None: ...


def welcome_trigger_id(customer_id: str) -> str:
    return f"customer:{customer_id}"


def execution_input(
    *,
    shop: str,
    customer_id: str,
    sequence: str,
    trigger_id: str,
    trigger: dict[str, Any],
    started_at: datetime,
    trigger_at: datetime,
    wait_until: datetime,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "shop": shop,
        "customer_id": customer_id,
        "sequence": sequence,
        "trigger_id": trigger_id,
        "trigger": json.loads(json.dumps(trigger, default=str)),
        "started_at": clock.iso_z(started_at),
        "trigger_at": clock.iso_z(trigger_at),
        "wait_until": clock.iso_z(wait_until),
    }
    return data


def _first_due(
    spec: SequencesSpec, sequence: str, shop: str, customer_id: str, started_at: datetime, now: datetime
) -> datetime:
    """The first step's delay from the start — this customer's A/B variant's delay and send hour when it has one."""
    first, _ = as_sent(spec.sequences[sequence].steps[0], shop, customer_id, sequence)
    due = clock.to_utc(started_at) + first.delay_td
    if first.send_hour is not None:
        due = at_hour(due, first.send_hour)
    return max(due, clock.to_utc(now))


def start_for(
    spec: SequencesSpec,
    sequence: str,
    shop: str,
    customer_id: str,
    trigger_id: str,
    trigger: dict[str, Any],
    started_at: datetime,
    now: datetime,
    *,
    trigger_at: datetime | None = None,
    name_suffix: str = "",
) -> Start | None:
    seq = spec.sequences.get(sequence)
    if seq is None or not seq.enabled:
        return None
    return Start(
        sequence,
        keys.execution_name(sequence, shop, customer_id, trigger_id + name_suffix),
        execution_input(
            shop=shop,
            customer_id=customer_id,
            sequence=sequence,
            trigger_id=trigger_id,
            trigger=trigger,
            started_at=started_at,
            trigger_at=trigger_at or started_at,
            wait_until=_first_due(spec, sequence, shop, customer_id, started_at, now),
        ),
    )


def _order_lines(order: OrderItem | None) -> list[dict[str, Any]]:
    return [i.model_dump(mode="json") for i in order.items] if order else []


@dataclass(frozen=True)
class _Ctx:
    """What every planner gets: the spec, the lookups, the time, and the plan it adds to."""

    spec: SequencesSpec
    lookups: Lookups
    now: datetime
    out: Plan

    def add(self, start: Start | None) -> None:
        if start is not None:
            self.out.starts.append(start)

    def stop_cart(self, shop: str, customer_id: str | None, token: str | None, cause: str) -> None:
        if customer_id and token:
            name = keys.execution_name(c.SEQUENCE_CART_RECOVERY, shop, customer_id, token)
            self.out.stops.append(Stop(c.SEQUENCE_CART_RECOVERY, name, cause))


def _order_recorded(event: ev.OrderRecorded, x: _Ctx) -> None:
    x.out.resume_order_id = event.order_id
    x.stop_cart(event.shop, event.customer_id, event.checkout_token, "order placed")
    if event.order_count != 1:
        return
    order = x.lookups.get_order(event.shop, event.order_id)
    trigger = {
        "order_id": event.order_id,
        "order_name": order.order_name if order else None,
        "placed_at": clock.iso_z(event.placed_at),
        "total": str(event.total),
        "currency": event.currency,
        "checkout_token": event.checkout_token,
        "line_items": _order_lines(order),
    }
    cid = event.customer_id
    x.add(
        start_for(
            x.spec,
            c.SEQUENCE_WELCOME,
            event.shop,
            cid,
            welcome_trigger_id(cid),
            trigger,
            event.placed_at,
            x.now,
        )
    )


def _order_placed(event: ev.OrderPlaced, x: _Ctx) -> None:
    x.stop_cart(event.shop, event.customer.customer_id, event.checkout_token, "order placed")


def _checkout_updated(event: ev.CheckoutUpdated, x: _Ctx) -> None:
    customer = event.customer
    if customer is None:
        return
    if event.status != "open":
        x.stop_cart(event.shop, customer.customer_id, event.checkout_token, f"checkout {event.status}")
        return
    if not customer.email:
        return
    trigger = ev.to_detail_dict(event)
    trigger.pop("email_consent", None)
    x.add(
        start_for(
            x.spec,
            c.SEQUENCE_CART_RECOVERY,
            event.shop,
            customer.customer_id,
            event.checkout_token,
            trigger,
            event.occurred_at,
            x.now,
        )
    )


def _fulfillment_updated(event: ev.FulfillmentUpdated, x: _Ctx) -> None:
    if not event.has_tracking or event.status in NO_SHIPMENT_STATUSES:
        return
    order = x.lookups.get_order(event.shop, event.order_id)
    customer_id = event.customer.customer_id if event.customer else (order.customer_id if order else None)
    if customer_id is None:
        if order is None or order.status != "cancelled":
            x.out.park = Park(event.order_id)  # a fulfillment before its order: wait for order.recorded
        # else cancelled before it was ever recorded: no notice for it (the step would stop it)
        return
    trigger = ev.to_detail_dict(event)
    trigger["order_name"] = order.order_name if order else None
    x.add(
        start_for(
            x.spec,
            c.SEQUENCE_SHIPPING,
            event.shop,
            customer_id,
            event.fulfillment_id,
            trigger,
            event.occurred_at,
            x.now,
        )
    )
    if event.delivered:
        _plan_follow_up(event, customer_id, trigger, x)


def _plan_follow_up(event: ev.FulfillmentUpdated, customer_id: str, trigger: dict[str, Any], x: _Ctx) -> None:
    """Delivered: start the machine that runs the shipping sequence from its ``delivered`` entry step."""
    seq = x.spec.sequences.get(c.SEQUENCE_SHIPPING)
    entry = seq.entry_step("delivered") if seq else None
    if entry is None or seq is None or not seq.enabled:
        return
    shop = event.shop
    delivered_at = event.delivered_at or event.occurred_at
    due = max(clock.to_utc(delivered_at) + parse_delay(entry.entry_delay), clock.to_utc(x.now))
    data = execution_input(
        shop=shop,
        customer_id=customer_id,
        sequence=c.SEQUENCE_SHIPPING,
        trigger_id=event.fulfillment_id,
        trigger=trigger,
        started_at=delivered_at,
        trigger_at=event.occurred_at,
        wait_until=due,
    )
    name = keys.execution_name(
        c.SEQUENCE_SHIPPING, shop, customer_id, event.fulfillment_id + DELIVERED_SUFFIX
    )
    x.out.starts.append(Start(entry_machine_key(c.SEQUENCE_SHIPPING, entry.id), name, data))
    # the first execution is only waiting for its +3 d follow-up now: stop it (saves its last 3 transitions
    # and a λ call) — but only once its notice is certainly out, so the notice is never lost
    first = seq.steps[0]
    notice_key = keys.sequence_message_key(
        shop, customer_id, c.SEQUENCE_SHIPPING, first.id, event.fulfillment_id
    )
    if first.id != entry.id and x.lookups.message_status(shop, customer_id, notice_key) == "sent":
        original = keys.execution_name(c.SEQUENCE_SHIPPING, shop, customer_id, event.fulfillment_id)
        x.out.stops.append(Stop(c.SEQUENCE_SHIPPING, original, "delivered: the follow-up runs from delivery"))


def _signed_up(event: ev.CustomerUpserted | ev.ConsentChanged, x: _Ctx) -> None:
    """An email subscription without an order starts welcome, when ``welcome_on_signup``."""
    if not x.spec.welcome_on_signup:
        return
    consent = event.email_consent if isinstance(event, ev.CustomerUpserted) else event.consent
    if consent is None or consent.channel != "email" or consent.state != "subscribed":
        return
    cid = event.customer.customer_id
    profile = x.lookups.get_profile(event.shop, cid)
    if profile is not None and profile.order_count > 0:
        return  # a buyer: the first order started (or will start) welcome
    x.add(
        start_for(
            x.spec,
            c.SEQUENCE_WELCOME,
            event.shop,
            cid,
            welcome_trigger_id(cid),
            {"signup": True},
            event.occurred_at,
            x.now,
        )
    )


# event type → its planner (an event type not listed starts and stops nothing)
PLANNERS: dict[type[ev.EventBase], Callable[[Any, _Ctx], None]] = {
    ev.OrderRecorded: _order_recorded,
    ev.OrderPlaced: _order_placed,
    ev.CheckoutUpdated: _checkout_updated,
    ev.FulfillmentUpdated: _fulfillment_updated,
    ev.CustomerUpserted: _signed_up,
    ev.ConsentChanged: _signed_up,
}


def plan(event: Any, spec: SequencesSpec, lookups: Lookups, now: datetime) -> Plan:
    """The executions to start and stop for one canonical event (pure but for ``lookups``)."""
    out = Plan()
    planner = PLANNERS.get(type(event))
    if planner is not None:
        planner(event, _Ctx(spec, lookups, now, out))
    return out
