"""BASE, STORES, makeshop: carts that list orders by order time (no update filter). Fixture rows follow the shapes
in JP_CARTS.md (Unix seconds for BASE, ``+09:00`` for STORES, ``YYYYMMDDHHMMSS`` for makeshop). A sweep over a
look-back window publishes each change once, never replays orders placed before the shop was connected, keys buyers
by normalised email, and builds the carrier link."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from enishi import keys
from enishi.carts import base_jp, makeshop, stores_jp
from enishi.polling import service
from enishi.polling.contract import CartConnection
from enishi.polling.planner import StreamCursor
from enishi.publish import InMemoryPublisher

SHOP = "enishi-chabo"
T0 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


class Cursors(dict):
    def load(self, cid: str, stream: str) -> StreamCursor:
        return self.get((cid, stream), StreamCursor())

    def save(self, cid: str, stream: str, cursor: StreamCursor) -> None:
        self[(cid, stream)] = cursor


class Claims(set):
    def claim(self, shop: str, source: str, event_id: str, expires_at: datetime) -> bool:
        if event_id in self:
            return False
        self.add(event_id)
        return True

    def seen(self, shop: str, source: str, event_id: str) -> bool:
        return event_id in self


class Raw(list):
    def keep(self, cart: str, record: Any, reason: str, details: Any, received_at: datetime) -> str:
        self.append(record)
        return "raw"


class BaseApi:
    """BASE's two endpoints over a dict of orders; honours start_ordered."""

    def __init__(self) -> None:
        self.orders: dict[str, dict[str, Any]] = {}
        self.detail_calls = 0

    def get(self, path: str, params: dict[str, Any]) -> Any:
        if path.startswith("/1/orders/detail/"):
            self.detail_calls += 1
            return {"order": self.orders[path.rsplit("/", 1)[1]]}
        start = datetime.strptime(params["start_ordered"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=base_jp.JST)
        rows = [
            {k: o[k] for k in ("unique_key", "ordered", "modified", "dispatch_status")}
            for o in self.orders.values()
            if o["ordered"] >= start.timestamp()
        ]
        return {"orders": rows[params["offset"] : params["offset"] + params["limit"]]}


def base_order(
    key: str, at: datetime, status: str = "ordered", tracking: str | None = None
) -> dict[str, Any]:
    return {
        "unique_key": key,
        "ordered": int(at.timestamp()),
        "modified": int(at.timestamp()),
        "cancelled": None,
        "dispatched": None,
        "dispatch_status": status,
        "total": 3850,
        "mail_address": "ＴＡＲＯ@Example.jp",
        "last_name": "鈴木",
        "first_name": "太郎",
        "order_items": [
            {
                "item_id": 9001,
                "variation_id": 11,
                "title": "抹茶 30g",
                "price": 1650,
                "amount": 2,
                "status": "ordered",
            }
        ],
        "delivery_company_id": 1,
        "tracking_number": tracking,
    }


def run(module: Any, api: Any, cursors: Cursors, claims: Claims, at: datetime) -> InMemoryPublisher:
    connection = CartConnection(
        id=f"{module.CART}-1",
        cart=module.CART,
        shop_id=SHOP,
        base_url="https://x.example",
        initial_lookback_hours=1,
        overlap_seconds=60,
        default_carrier="ヤマト運輸",
    )
    publisher = InMemoryPublisher()
    ports = service.Ports(api=api, cursors=cursors, claims=claims, publisher=publisher, raw=Raw())
    service.sweep(connection, module, ports, at)
    return publisher


def test_base_first_sweep_does_not_replay_old_orders_and_changes_publish_once() -> None:
    api, cursors, claims = BaseApi(), Cursors(), Claims()
    api.orders["OLD"] = base_order("OLD", T0 - timedelta(days=10))  # before the shop was connected
    api.orders["A1"] = base_order("A1", T0 - timedelta(minutes=20))
    first = run(base_jp, api, cursors, claims, T0)
    assert [(e.type, e.order_id) for e in first.published] == [("order.placed", "A1")]
    guest = first.published[0].customer
    assert guest.guest and guest.customer_id == keys.guest_customer_id("taro@example.jp")

    again = run(base_jp, api, cursors, claims, T0 + timedelta(minutes=15))
    assert (
        again.published == [] and api.detail_calls == 1
    )  # unchanged rows: no detail call, nothing published

    shipped_at = T0 + timedelta(days=2)
    api.orders["A1"].update(
        dispatch_status="dispatched",
        tracking_number="4012-3456-7890",
        dispatched=int(shipped_at.timestamp()),
        modified=int(shipped_at.timestamp()),
    )
    later = run(base_jp, api, cursors, claims, shipped_at + timedelta(minutes=5))
    assert [e.type for e in later.published] == ["fulfillment.updated"]
    assert "kuronekoyamato" in later.published[0].tracking_urls[0]


def test_base_cancelled() -> None:
    conn = CartConnection(id="b", cart="base", shop_id=SHOP, base_url="https://x.example")
    order = base_order("C1", T0, status="cancelled")
    order["cancelled"] = int(T0.timestamp())
    assert [e.type for e in base_jp.order_events(conn, order, T0)] == ["order.cancelled"]


class ListApi:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def get(self, path: str, params: dict[str, Any]) -> Any:
        return {"orders": self.rows[params["offset"] : params["offset"] + params["limit"]]}

    def graphql(self, query: str, variables: dict[str, Any]) -> Any:
        page, limit = variables["input"]["page"], variables["input"]["limit"]
        return {
            "searchOrder": {
                "searchedCount": len(self.rows),
                "orders": self.rows[(page - 1) * limit : page * limit],
            }
        }


def stores_order(shipped: bool = False) -> dict[str, Any]:
    delivery = {
        "id": "d1",
        "items": [{"item_id": "i1", "variation_id": "v1", "name": "煎茶 100g", "price": 1200, "quantity": 1}],
        "shipped_at": "2026-11-21T10:00:00+09:00" if shipped else None,
        "canceled_at": None,
        "tracking_number": "1234-5678-9012" if shipped else None,
        "delivery_method_name": "佐川急便 飛脚宅配便",
        "delivery_date": {"requested_date": "2026-11-23"},
    }
    return {
        "id": "o-77",
        "number": "S0000077",
        "email": "hanako@example.jp",
        "payment_amount": 1980,
        "ordered_at": "2026-11-20T11:50:00+09:00",
        "deliveries": [delivery],
    }


def test_stores_relisting_publishes_each_change_once_with_the_sagawa_link() -> None:
    cursors, claims = Cursors(), Claims()
    api = ListApi([stores_order()])
    first = run(stores_jp, api, cursors, claims, T0)
    assert [e.type for e in first.published] == ["order.placed"]
    assert run(stores_jp, api, cursors, claims, T0 + timedelta(minutes=10)).published == []
    api.rows = [stores_order(shipped=True)]
    shipped = run(stores_jp, api, cursors, claims, T0 + timedelta(days=1))
    assert [e.type for e in shipped.published] == ["fulfillment.updated"]
    assert "sagawa-exp" in shipped.published[0].tracking_urls[0]


def test_makeshop_search_order_sweep_and_unkeyable_buyer_kept() -> None:
    cursors, claims = Cursors(), Claims()
    rows = [
        {
            "displayOrderNumber": "M-1",
            "orderDate": "20261120120000",
            "memberId": "m42",
            "sumPrice": 5400,
            "deliveryStatus": "N",
            "deliveryInfos": [
                {
                    "basketInfos": [
                        {"productName": "ほうじ茶", "price": 5400, "amount": 1, "productCode": "HJ"}
                    ]
                }
            ],
        },
        {
            "displayOrderNumber": "M-2",
            "orderDate": "20261120121000",
            "memberId": None,
            "sumPrice": 100,
            "deliveryStatus": "N",
            "deliveryInfos": [],
        },
    ]
    connection = CartConnection(
        id="m", cart="makeshop", shop_id=SHOP, base_url="https://x.example", initial_lookback_hours=1
    )
    publisher, raw = InMemoryPublisher(), Raw()
    ports = service.Ports(api=ListApi(rows), cursors=cursors, claims=claims, publisher=publisher, raw=raw)
    report = service.sweep(connection, makeshop, ports, T0)
    assert [(e.type, e.order_id) for e in publisher.published] == [("order.placed", "M-1")]
    assert publisher.published[0].customer.customer_id == "member-m42"
    assert (
        report.kept == 1 and raw[0]["displayOrderNumber"] == "M-2"
    )  # no member id, no email: kept, not guessed


@pytest.mark.parametrize("module", [base_jp, stores_jp, makeshop])
def test_every_order_time_cart_declares_the_contract(module: Any) -> None:
    for name in (
        "CART",
        "STREAMS",
        "MIN_INTERVAL_SECONDS",
        "LOOKBACK",
        "RECORD_EVENTS",
        "fetch_page",
        "updated_at",
        "record_id",
        "api_base",
    ):
        assert hasattr(module, name), name
    assert module.__doc__ and "nverified" in module.__doc__
