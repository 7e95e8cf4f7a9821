"""Which executions to start or stop for one event (pure), and the Step Functions adapter that does it.

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
| fulfillment.updated for an order not recorded yet | **park** it until ``order.recorded`` (see ``parking.py``) |
| order.recorded | also resume the events parked for that order |

StopExecution is only a saving: every step re-checks its stop conditions right before it sends, so a stop that
races a send (or a purchase made with another checkout) never lets a reminder out after the purchase.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from enishi import clock, keys
from enishi import constants as c
from enishi import events as ev
from enishi.profiles.items import OrderItem
from enishi.profiles.model import Profile
from enishi.sequences.spec import SequencesSpec, entry_machine_key, parse_delay

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


def _first_due(spec: SequencesSpec, sequence: str, started_at: datetime, now: datetime) -> datetime:
    first = spec.sequences[sequence].steps[0]
    return max(clock.to_utc(started_at) + first.delay_td, clock.to_utc(now))


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
            wait_until=_first_due(spec, sequence, started_at, now),
        ),
    )


def _order_lines(order: OrderItem | None) -> list[dict[str, Any]]:
    return [i.model_dump(mode="json") for i in order.items] if order else []


def plan(event: Any, spec: SequencesSpec, lookups: Lookups, now: datetime) -> Plan:
    out = Plan()
    shop = event.shop

    def add(start: Start | None) -> None:
        if start is not None:
            out.starts.append(start)

    def stop_cart(customer_id: str | None, token: str | None, cause: str) -> None:
        if customer_id and token:
            name = keys.execution_name(c.SEQUENCE_CART_RECOVERY, shop, customer_id, token)
            out.stops.append(Stop(c.SEQUENCE_CART_RECOVERY, name, cause))

    if isinstance(event, ev.OrderRecorded):
        out.resume_order_id = event.order_id
        stop_cart(event.customer_id, event.checkout_token, "order placed")
        if event.order_count == 1:
            order = lookups.get_order(shop, event.order_id)
            trigger = {
                "order_id": event.order_id,
                "order_name": order.order_name if order else None,
                "placed_at": clock.iso_z(event.placed_at),
                "total": str(event.total),
                "currency": event.currency,
                "checkout_token": event.checkout_token,
                "line_items": _order_lines(order),
            }
            add(
                start_for(
                    spec,
                    c.SEQUENCE_WELCOME,
                    shop,
                    event.customer_id,
                    welcome_trigger_id(event.customer_id),
                    trigger,
                    event.placed_at,
                    now,
                )
            )
    elif isinstance(event, ev.OrderPlaced):
        stop_cart(event.customer.customer_id, event.checkout_token, "order placed")
    elif isinstance(event, ev.CheckoutUpdated):
        customer = event.customer
        if customer is None:
            return out
        if event.status == "open":
            if customer.email:
                trigger = ev.to_detail_dict(event)
                trigger.pop("email_consent", None)
                add(
                    start_for(
                        spec,
                        c.SEQUENCE_CART_RECOVERY,
                        shop,
                        customer.customer_id,
                        event.checkout_token,
                        trigger,
                        event.occurred_at,
                        now,
                    )
                )
        else:
            stop_cart(customer.customer_id, event.checkout_token, f"checkout {event.status}")
    elif isinstance(event, ev.FulfillmentUpdated):
        if not event.has_tracking or event.status in NO_SHIPMENT_STATUSES:
            return out
        order = lookups.get_order(shop, event.order_id)
        customer_id = event.customer.customer_id if event.customer else (order.customer_id if order else None)
        if customer_id is None:
            if order is not None and order.status == "cancelled":
                return out  # cancelled before it was ever recorded: no notice for it (the step would stop it)
            out.park = Park(event.order_id)  # a fulfillment before its order: wait for order.recorded
            return out
        trigger = ev.to_detail_dict(event)
        trigger["order_name"] = order.order_name if order else None
        add(
            start_for(
                spec,
                c.SEQUENCE_SHIPPING,
                shop,
                customer_id,
                event.fulfillment_id,
                trigger,
                event.occurred_at,
                now,
            )
        )
        seq = spec.sequences.get(c.SEQUENCE_SHIPPING)
        entry = seq.entry_step("delivered") if seq else None
        if event.delivered and entry is not None and seq is not None and seq.enabled:
            delivered_at = event.delivered_at or event.occurred_at
            due = max(clock.to_utc(delivered_at) + parse_delay(entry.entry_delay), clock.to_utc(now))
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
            out.starts.append(Start(entry_machine_key(c.SEQUENCE_SHIPPING, entry.id), name, data))
            # the first execution is only waiting for its +3 d follow-up now: stop it (saves its last 3 transitions
            # and a λ call) — but only once its notice is certainly out, so the notice is never lost
            first = seq.steps[0]
            notice_key = keys.sequence_message_key(
                shop, customer_id, c.SEQUENCE_SHIPPING, first.id, event.fulfillment_id
            )
            if first.id != entry.id and lookups.message_status(shop, customer_id, notice_key) == "sent":
                original = keys.execution_name(c.SEQUENCE_SHIPPING, shop, customer_id, event.fulfillment_id)
                out.stops.append(
                    Stop(c.SEQUENCE_SHIPPING, original, "delivered: the follow-up runs from delivery")
                )
    elif isinstance(event, (ev.CustomerUpserted, ev.ConsentChanged)) and spec.welcome_on_signup:
        consent = event.email_consent if isinstance(event, ev.CustomerUpserted) else event.consent
        if consent is None or consent.channel != "email" or consent.state != "subscribed":
            return out
        profile = lookups.get_profile(shop, event.customer.customer_id)
        if profile is not None and profile.order_count > 0:
            return out  # a buyer: the first order started (or will start) welcome
        cid = event.customer.customer_id
        add(
            start_for(
                spec,
                c.SEQUENCE_WELCOME,
                shop,
                cid,
                welcome_trigger_id(cid),
                {"signup": True},
                event.occurred_at,
                now,
            )
        )
    return out


class Executions:
    """Starts and stops executions by deterministic name (boto3 ``stepfunctions`` client + machine ARNs)."""

    def __init__(self, client: Any, machine_arns: dict[str, str]) -> None:
        self._client = client
        self._arns = machine_arns

    def start(self, start: Start) -> bool:
        """True if this call started it; False if it already existed (open with the same input, or closed)."""
        arn = self._arns.get(start.sequence)
        if arn is None:
            return False
        try:
            self._client.start_execution(stateMachineArn=arn, name=start.name, input=json.dumps(start.input))
        except self._client.exceptions.ExecutionAlreadyExists:
            return False
        return True

    def stop(self, stop: Stop) -> bool:
        arn = self._arns.get(stop.sequence)
        if arn is None:
            return False
        execution_arn = arn.replace(":stateMachine:", ":execution:") + ":" + stop.name
        try:
            self._client.stop_execution(executionArn=execution_arn, cause=stop.cause)
            return True
        except self._client.exceptions.ExecutionDoesNotExist:
            return False
