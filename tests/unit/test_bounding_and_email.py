"""Bounded canonical events (defect 4) and deliverable e-mail addresses (defect 6), stated for all inputs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from enishi import bounding, email_address, keys
from enishi import events as ev
from enishi.carts import generic, shopify

ROOT = Path(__file__).resolve().parents[2]
T = datetime(2025, 1, 20, 13, 31, tzinfo=UTC)

texts = st.one_of(st.text(max_size=30), st.integers(0, 30_000).map(lambda n: "茶" * n))
items = st.builds(
    ev.LineItem,
    title=texts.filter(bool),
    sku=st.none() | texts,
    variant_title=st.none() | texts,
    price=st.decimals(min_value=0, max_value=10**6, places=0),
    quantity=st.integers(1, 10),
    url=st.none() | texts,
    product_id=st.none() | st.text(max_size=20),
)


@given(
    line_items=st.lists(items, max_size=400),
    name=texts,
    tags=st.lists(texts, max_size=80),
    extra=st.integers(0, 5000),
)
def test_every_bounded_event_fits_and_keeps_what_identifies_it(line_items, name, tags, extra):
    customer = ev.CustomerRef(customer_id="7001", email="hanako@example.jp", first_name=name)
    order = ev.OrderPlaced(
        event_id="shopify:e1:order.placed",
        shop="s.myshopify.com",
        source="shopify",
        occurred_at=T,
        received_at=T,
        order_id="1001",
        customer=customer,
        placed_at=T,
        total=Decimal(4870),
        line_items=tuple(line_items) + tuple(line_items[:1]) * extra,
        order_name=name,
    )
    upsert = ev.CustomerUpserted(
        event_id="e2",
        shop="s",
        source="shopify",
        occurred_at=T,
        received_at=T,
        customer=customer,
        tags=tuple(tags),
    )
    for event in (order, upsert):
        result = bounding.bound_event(event)
        assert bounding.event_size(result.event) <= bounding.MAX_ENTRY_BYTES - bounding.RAW_REF_RESERVE
        assert result.event.event_id == event.event_id and result.event.shop == event.shop
        assert (
            result.event.customer.customer_id == "7001" and result.event.customer.email == "hanako@example.jp"
        )
        if not result.cut:
            assert result.event == event
        else:
            assert bounding.bound_event(result.event).cut is False  # idempotent
    if len(order.line_items) > bounding.MAX_LINE_ITEMS:
        bounded = bounding.bound_event(order).event
        assert bounded.item_count == len(order.line_items) and bounded.total == order.total
        assert bounded.line_items[0].price == order.line_items[0].price


def test_entry_size_counts_like_eventbridge():
    entry = {"Source": "enishi.intake", "DetailType": "order.placed", "Detail": '{"a":"茶"}', "Time": T}
    assert bounding.entry_size(entry) == 14 + 13 + 12 + len('{"a":"茶"}'.encode())


# ---- e-mail addresses


def test_full_width_address_is_stored_deliverable_with_the_original_as_evidence():
    raw = "ｈａｎａｋｏ＠ｅｘａｍｐｌｅ．ｊｐ"
    assert email_address.deliverable(raw) == "hanako@example.jp"
    order = json.loads((ROOT / "tests/events/shopify/orders__create--guest.json").read_text())
    order["email"] = raw
    headers = {"x-shopify-shop-domain": "s", "x-shopify-event-id": "e"}
    [placed] = shopify.adapt("orders/create", headers, order, T)
    assert placed.customer.email == "hanako@example.jp" and placed.customer.email_original == raw
    assert placed.customer.customer_id == keys.guest_customer_id(raw)  # the lookup identity is unchanged
    body = json.loads((ROOT / "docs/examples/generic/order.placed.guest.json").read_text())
    body["data"]["customer"]["email"] = raw
    [g] = generic.adapt(body, T)
    assert g.customer.email == "hanako@example.jp" and g.customer.email_original == raw


def test_schema_accepts_the_full_width_address_the_docs_say_it_folds():
    import jsonschema

    schema = json.loads((ROOT / "docs/schema/generic-v1.schema.json").read_text())
    body = json.loads((ROOT / "docs/examples/generic/order.placed.guest.json").read_text())
    body["data"]["customer"]["email"] = " ｈａｎａｋｏ＠ｅｘａｍｐｌｅ．ｊｐ "
    jsonschema.Draft202012Validator(schema).validate(body)
    generic.adapt(body, T)


def test_an_address_that_stays_undeliverable_is_refused_by_generic_and_dropped_by_shopify():
    body = json.loads((ROOT / "docs/examples/generic/order.placed.guest.json").read_text())
    body["data"]["customer"]["email"] = "花子@example"
    try:
        generic.adapt(body, T)
        raise AssertionError("accepted")
    except Exception as exc:  # carts.Unprocessable
        assert "data.customer.email" in json.dumps(exc.as_dict())  # type: ignore[attr-defined]
    order = json.loads((ROOT / "tests/events/shopify/orders__create.json").read_text())
    order["customer"]["email"] = "花子@example"
    [placed] = shopify.adapt(
        "orders/create", {"x-shopify-shop-domain": "s", "x-shopify-event-id": "e"}, order, T
    )
    assert placed.customer.email is None and placed.customer.email_original == "花子@example"


ascii_local = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-", min_size=1, max_size=30
)
labels = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=15)


@given(
    raw=st.one_of(
        st.text(max_size=80), st.builds(lambda local, a, b: f"{local}@{a}.{b}", ascii_local, labels, labels)
    ),
    wide=st.booleans(),
    pad=st.sampled_from(["", " ", "\u3000", "\t"]),
)
def test_deliverable_is_ascii_idempotent_and_keeps_the_lookup_identity(raw, wide, pad):
    if wide:  # the same address typed on a Japanese IME
        raw = "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in raw)
    address = email_address.deliverable(pad + raw + pad)
    if address is None:
        return
    assert address.isascii() and address.count("@") >= 1 and len(address) <= 254
    assert email_address.deliverable(address) == address
    _local, _, domain = address.rpartition("@")
    assert domain == domain.lower() and "." in domain
    if raw.isascii() or wide:
        assert keys.email_hash(address) == keys.email_hash(raw)
