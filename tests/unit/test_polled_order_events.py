"""What one polled order row becomes (``stores_jp.order_events``, ``colorme.sale_events``): the branches the sweep
tests do not reach — a cancelled order, deliveries skipped or shipped without a number, the error reported first."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from enishi import events as ev
from enishi.carts import Unprocessable, colorme, stores_jp

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
CONNECTION = SimpleNamespace(shop_id="enishi-chabo", default_carrier="sagawa")


def stores_delivery(
    did: Any, *, shipped: str | None = None, canceled: str | None = None, **extra: Any
) -> dict:
    return {"id": did, "items": [], "shipped_at": shipped, "canceled_at": canceled, **extra}


def stores_order(*deliveries: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "id": "o-1",
        "number": "S1",
        "email": "hanako@example.jp",
        "payment_amount": 1980,
        "ordered_at": "2026-11-20T11:50:00+09:00",
        "deliveries": list(deliveries),
        **extra,
    }


def test_stores_order_with_every_delivery_cancelled_is_one_cancellation_at_the_last_cancel():
    order = stores_order(
        stores_delivery("d1", canceled="2026-11-21T09:00:00+09:00"),
        stores_delivery("d2", canceled="2026-11-21T10:00:00+09:00", shipped="2026-11-21T08:00:00+09:00"),
    )
    [event] = stores_jp.order_events(CONNECTION, order, NOW)
    assert isinstance(event, ev.OrderCancelled)
    assert event.event_id == "stores:enishi-chabo:order:o-1:cancelled"
    assert event.cancelled_at == datetime(2026, 11, 21, 1, 0, tzinfo=UTC)
    assert event.reason == "stores_canceled"
    assert event.customer.guest and event.customer.email == "hanako@example.jp"


def test_stores_order_ships_only_its_deliveries_that_are_shipped_and_not_cancelled():
    item = {"item_id": "i1", "name": "煎茶", "price": 1200, "quantity": 0}
    order = stores_order(
        stores_delivery("d1", shipped="2026-11-21T09:00:00+09:00", tracking_number=" 1234 ", items=[item]),
        stores_delivery(None, shipped="2026-11-21T09:30:00+09:00", delivery_method_name="ヤマト運輸"),
        stores_delivery("d3", shipped="2026-11-21T09:00:00+09:00", canceled="2026-11-21T10:00:00+09:00"),
        stores_delivery("d4"),
        "not a delivery",
    )
    placed, *shipped = stores_jp.order_events(CONNECTION, order, NOW)
    assert isinstance(placed, ev.OrderPlaced) and placed.order_name == "S1"
    assert [(i.product_id, i.variant_id, i.title, i.quantity) for i in placed.line_items] == [
        ("i1", None, "煎茶", 1)
    ]
    assert [(f.fulfillment_id, f.tracking_numbers, f.tracking_company) for f in shipped] == [
        ("d1", ("1234",), "sagawa"),
        ("1", (), "ヤマト運輸"),  # no id: its position; no number: none
    ]
    assert shipped[0].event_id == "stores:enishi-chabo:order:o-1:delivery:d1:1234"


def test_stores_bad_order_time_refuses_even_a_cancelled_order_and_a_bad_price_is_reported_before_the_total():
    cancelled = stores_order(
        stores_delivery("d1", canceled="2026-11-21T09:00:00+09:00"), ordered_at="yesterday"
    )
    with pytest.raises(Unprocessable) as refused:
        stores_jp.order_events(CONNECTION, cancelled, NOW)
    assert refused.value.details == [{"loc": "ordered_at", "msg": "bad time"}]
    bad = stores_order(
        stores_delivery("d1", items=[{"item_id": "i1", "price": "free"}]), payment_amount="n/a"
    )
    with pytest.raises(Unprocessable) as refused:
        stores_jp.order_events(CONNECTION, bad, NOW)
    assert refused.value.details == [{"loc": "price", "msg": "bad amount"}]


def colorme_sale(**extra: Any) -> dict[str, Any]:
    return {
        "id": 9,
        "make_date": 1_763_600_000,
        "update_date": 1_763_700_000,
        "total_price": 3240,
        "paid": True,
        "customer": {"id": 5, "mail": "taro@example.jp", "name": "山田", "receive_mail_magazine": True},
        "details": [{"product_id": 0, "product_name": "玉露", "price": 1620, "product_num": 2}, "x"],
        **extra,
    }


def test_colorme_cancelled_sale_is_one_cancellation_at_its_update_time():
    [event] = colorme.sale_events(CONNECTION, colorme_sale(canceled=True), NOW)
    assert isinstance(event, ev.OrderCancelled)
    assert event.event_id == "colorme:enishi-chabo:sale:9:cancelled"
    assert event.cancelled_at == datetime.fromtimestamp(1_763_700_000, UTC)
    assert event.reason == "colorme_canceled" and event.customer.customer_id == "5"


def test_colorme_sale_ships_deliveries_with_a_slip_number_or_marked_delivered():
    deliveries = [
        {"id": 1, "slip_number": " 4012-0000-1111 ", "tracking_url": "https://track.example/1"},
        {"slip_number": "", "delivered": True},
        {"id": 3, "slip_number": "  "},
        "not a delivery",
    ]
    placed, *shipped = colorme.sale_events(CONNECTION, colorme_sale(sale_deliveries=deliveries), NOW)
    assert isinstance(placed, ev.OrderPlaced)
    assert placed.financial_status == "paid" and placed.total == Decimal(3240)
    assert [(i.product_id, i.title, i.quantity) for i in placed.line_items] == [("0", "玉露", 2)]
    assert placed.email_consent is not None and placed.email_consent.state == "subscribed"
    assert [(f.fulfillment_id, f.tracking_numbers, f.tracking_urls) for f in shipped] == [
        ("1", ("4012-0000-1111",), ("https://track.example/1",)),
        ("1", (), ()),  # no id: its position (1); delivered without a number
    ]
    assert shipped[1].event_id == "colorme:enishi-chabo:sale:9:delivery:1:"


def test_colorme_bad_make_date_refuses_even_a_cancelled_sale_and_a_bad_price_is_reported_before_the_total():
    with pytest.raises(Unprocessable) as refused:
        colorme.sale_events(CONNECTION, colorme_sale(canceled=True, make_date="soon"), NOW)
    assert refused.value.details == [{"loc": "make_date", "msg": "bad time"}]
    bad = colorme_sale(details=[{"price": "free"}], total_price="n/a", paid=False)
    with pytest.raises(Unprocessable) as refused:
        colorme.sale_events(CONNECTION, bad, NOW)
    assert refused.value.details == [{"loc": "details.0.price", "msg": "bad amount"}]
