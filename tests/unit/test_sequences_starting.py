"""Which executions an event starts or stops (pure plan), with deterministic names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from enishi import constants as c
from enishi import keys
from enishi.events import (
    CheckoutUpdated,
    Consent,
    ConsentChanged,
    CustomerRef,
    FulfillmentUpdated,
    OrderPlaced,
    OrderRecorded,
)
from enishi.profiles.items import OrderItem
from enishi.sequences.domain.spec import load_spec
from enishi.sequences.domain.starting import Park, plan
from enishi.shop_config import REPO_DIR

SPEC = load_spec(REPO_DIR / "sequences.yaml")
T0 = datetime(2025, 5, 6, 3, 0, tzinfo=UTC)
SHOP = "s.myshopify.com"
CUSTOMER = CustomerRef(customer_id="7001", email="hanako@example.jp")


class Lookups:
    def __init__(
        self, order: OrderItem | None = None, notice_status: str | None = None, profile=None
    ) -> None:
        self.order, self.notice_status, self.profile = order, notice_status, profile

    def get_order(self, shop, order_id):
        return self.order

    def get_profile(self, shop, customer_id):
        return self.profile

    def message_status(self, shop, customer_id, message_key):
        return self.notice_status


def base(**kw):
    return {"event_id": "e1", "shop": SHOP, "source": "shopify", "occurred_at": T0, "received_at": T0, **kw}


def checkout(status: str = "open", customer=CUSTOMER) -> CheckoutUpdated:
    return CheckoutUpdated(
        **base(), checkout_token="ck1", status=status, customer=customer, total=Decimal(3240)
    )


def test_open_checkout_with_email_starts_cart_recovery_an_hour_later():
    [start] = plan(checkout(), SPEC, Lookups(), T0).starts
    assert start.sequence == c.SEQUENCE_CART_RECOVERY
    assert start.name == keys.execution_name(c.SEQUENCE_CART_RECOVERY, SHOP, "7001", "ck1")
    assert start.input["wait_until"] == "2025-05-06T04:00:00Z"
    assert start.input["trigger"]["checkout_token"] == "ck1" and "email_consent" not in start.input["trigger"]


def test_the_same_event_plans_the_same_name_and_input():
    a, b = plan(checkout(), SPEC, Lookups(), T0), plan(checkout(), SPEC, Lookups(), T0)
    assert a.starts == b.starts


def test_checkout_without_contact_details_starts_nothing():
    assert plan(checkout(customer=None), SPEC, Lookups(), T0).starts == []
    no_email = CustomerRef(customer_id="7001")
    assert plan(checkout(customer=no_email), SPEC, Lookups(), T0).starts == []


@pytest.mark.parametrize("status", ["completed", "emptied"])
def test_closed_checkout_stops_its_cart_recovery(status):
    result = plan(checkout(status), SPEC, Lookups(), T0)
    assert result.starts == []
    assert [s.name for s in result.stops] == [
        keys.execution_name(c.SEQUENCE_CART_RECOVERY, SHOP, "7001", "ck1")
    ]


def test_order_with_the_checkout_stops_cart_recovery():
    order = OrderPlaced(
        **base(), order_id="o1", customer=CUSTOMER, placed_at=T0, total=Decimal(1), checkout_token="ck1"
    )
    assert [s.sequence for s in plan(order, SPEC, Lookups(), T0).stops] == [c.SEQUENCE_CART_RECOVERY]


def test_first_order_starts_welcome_once_per_customer():
    first = OrderRecorded(
        **base(source="enishi"),
        order_id="o1",
        customer_id="7001",
        order_count=1,
        placed_at=T0,
        total=Decimal(1),
    )
    [start] = plan(first, SPEC, Lookups(), T0).starts
    assert start.sequence == c.SEQUENCE_WELCOME and start.input["trigger_id"] == "customer:7001"
    assert start.input["wait_until"] == "2025-05-06T03:00:00Z"
    second = first.model_copy(update={"order_id": "o2", "order_count": 2})
    assert plan(second, SPEC, Lookups(), T0).starts == []


def fulfillment(delivered: bool = False, tracking: bool = True, customer=None) -> FulfillmentUpdated:
    return FulfillmentUpdated(
        **base(),
        fulfillment_id="f1",
        order_id="o1",
        status="success",
        customer=customer,
        shipment_status="delivered" if delivered else "in_transit",
        delivered_at=T0 if delivered else None,
        tracking_numbers=("123",) if tracking else (),
    )


ORDER = OrderItem(
    shop=SHOP, order_id="o1", customer_id="7001", placed_at=T0, updated_at=T0, order_name="#1001"
)


def test_shipment_with_tracking_starts_the_notice_for_the_orders_customer():
    [start] = plan(fulfillment(), SPEC, Lookups(ORDER), T0).starts
    assert start.sequence == c.SEQUENCE_SHIPPING and start.input["customer_id"] == "7001"
    assert start.input["trigger"]["order_name"] == "#1001"


def test_shipment_without_tracking_starts_nothing():
    assert plan(fulfillment(tracking=False), SPEC, Lookups(ORDER), T0).starts == []


def test_shipment_for_an_unknown_order_is_parked_until_the_order_is_recorded():
    result = plan(fulfillment(), SPEC, Lookups(None), T0)
    assert result.park == Park("o1", c.ORDER_RECORDED) and result.starts == []


def test_shipment_for_an_order_cancelled_before_it_was_recorded_starts_nothing_and_waits_for_nothing():
    stub = OrderItem(shop=SHOP, order_id="o1", status="cancelled", updated_at=T0)
    result = plan(fulfillment(), SPEC, Lookups(stub), T0)
    assert result.park is None and result.starts == []


def test_delivered_starts_the_follow_up_machine_a_day_later_and_stops_the_first_once_its_notice_is_out():
    result = plan(
        fulfillment(delivered=True), SPEC, Lookups(ORDER, notice_status="sent"), T0 + timedelta(days=1)
    )
    follow = next(s for s in result.starts if s.sequence == "shipping_notice.follow_up")
    assert follow.input["trigger_id"] == "f1"  # the same message key as the first execution's follow-up
    assert follow.input["wait_until"] == "2025-05-07T03:00:00Z"
    assert [s.name for s in result.stops] == [keys.execution_name(c.SEQUENCE_SHIPPING, SHOP, "7001", "f1")]


def test_delivered_before_the_notice_went_out_stops_nothing():
    result = plan(fulfillment(delivered=True), SPEC, Lookups(ORDER, notice_status=None), T0)
    assert result.stops == [] and len(result.starts) == 2


def test_signup_with_consent_starts_welcome_only_when_enabled():
    event = ConsentChanged(
        **base(), customer=CUSTOMER, consent=Consent(state="subscribed", source="shopify", collected_at=T0)
    )
    assert plan(event, SPEC, Lookups(), T0).starts == []
    enabled = SPEC.model_copy(update={"welcome_on_signup": True})
    [start] = plan(event, enabled, Lookups(), T0).starts
    assert start.sequence == c.SEQUENCE_WELCOME and start.input["trigger_id"] == "customer:7001"
