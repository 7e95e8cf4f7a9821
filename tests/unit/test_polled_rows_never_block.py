"""A row a cart sends that does not fit must never stop a sweep (it would be re-read and fail on every run,
blocking its stream forever): every cart's mapping either yields events or hands the row to the keeper."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enishi.carts import base_jp, colorme, eccube, makeshop, stores_jp
from enishi.polling import planner
from enishi.polling.contract import CartConnection

NOW = datetime(2026, 11, 20, tzinfo=UTC)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**12), max_value=10**12)
    | st.text(max_size=12)
    | st.sampled_from(
        ["2026-11-20T05:12:09+00:00", "2026-11-20T05:12:09", "1763615529", "20261120120000", "3", "5"]
    )
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "Product",
                    "OrderStatus",
                    "Customer",
                    "price",
                    "quantity",
                    "tracking_number",
                    "shipping_date",
                    "customer",
                    "mail",
                    "email",
                    "items",
                    "shipped_at",
                    "canceled_at",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=10,
)
FIELDS = [
    "id",
    "order_no",
    "email",
    "name01",
    "payment_total",
    "order_date",
    "create_date",
    "update_date",
    "OrderStatus",
    "Customer",
    "OrderItems",
    "Shippings",
    "mailmaga_flg",
    "make_date",
    "paid",
    "canceled",
    "total_price",
    "details",
    "sale_deliveries",
    "unique_key",
    "ordered",
    "modified",
    "dispatch_status",
    "mail_address",
    "order_items",
    "tracking_number",
    "number",
    "payment_amount",
    "ordered_at",
    "deliveries",
    "displayOrderNumber",
    "orderDate",
    "memberId",
    "sumPrice",
    "deliveryStatus",
    "deliveryInfos",
]
rows = st.lists(st.one_of(values, st.dictionaries(st.sampled_from(FIELDS), values, max_size=12)), max_size=4)


@pytest.mark.parametrize("module", [eccube, colorme, base_jp, stores_jp, makeshop])
@given(batch=rows)
@settings(max_examples=120, deadline=None)
def test_any_rows_yield_events_or_are_kept(module: Any, batch: list[Any]) -> None:
    connection = CartConnection(
        id="c", cart=module.CART, shop_id="s", base_url="https://x.example", default_carrier="ヤマト運輸"
    )
    kept: list[Any] = []
    for stream in module.STREAMS:
        events = planner.events_of_page(
            batch,
            lambda row, stream=stream: module.RECORD_EVENTS[stream](connection, row, NOW),
            module.updated_at,
            lambda row, exc: kept.append(row),
        )
        assert len(kept) <= len(batch) * len(module.STREAMS)
        assert all(e.shop == "s" for e in events)
