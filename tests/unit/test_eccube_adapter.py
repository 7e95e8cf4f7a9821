"""EC-CUBE 4 adapter: webhook signature vectors, notifications, order statuses, shipping, mail-magazine consent."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enishi import keys
from enishi.carts import Unprocessable, eccube
from tests.conftest import EVENTS_DIR

NOW = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
SHOP = "enishi-chabo"

# computed with `printf '%s' BODY | openssl dgst -sha256 -hmac SECRET` (independent of the code under test)
VECTORS = [
    (
        b'[{"entity":"order","id":12,"action":"updated"}]',
        "eccube-webhook-secret-0123456789",
        "1ab2d7373f16f8a7a8d550b9f4d5ccb344a78dc17b108ef0043309be827d7370",
    ),
    (
        b'[{"entity":"customer","id":7,"action":"created"},{"entity":"order","id":12,"action":"created"}]',
        "もう一つの秘密鍵-abcdefgh",
        "6b1714e6be28b00c7ea421526a0bb6c8121d8d0557de4855b275cd8677aa2f62",
    ),
]


def load(name: str) -> dict:
    return json.loads((EVENTS_DIR / "eccube" / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize(("raw", "secret", "expected"), VECTORS)
def test_signature_vectors(raw: bytes, secret: str, expected: str) -> None:
    assert eccube.sign(raw, secret) == expected
    assert eccube.verify_signature(raw, expected, [secret])
    assert eccube.verify_signature(raw, expected, ["old-secret-0000000000", secret])  # rotation


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "1AB2D7373F16F8A7A8D550B9F4D5CCB344A78DC17B108EF0043309BE827D7370",
        "sha256=1ab2d7373f16f8a7a8d550b9f4d5ccb344a78dc17b108ef0043309be827d7370",
        "ｆｏｏ",
        "0" * 64,
    ],
)
def test_signature_refused(header: str | None) -> None:
    raw, secret, _ = VECTORS[0]
    assert not eccube.verify_signature(raw, header, [secret])


def test_signature_tampered_body_refused() -> None:
    raw, secret, expected = VECTORS[0]
    assert not eccube.verify_signature(raw.replace(b"12", b"13"), expected, [secret])
    assert not eccube.verify_signature(raw, expected, [])


@given(st.binary(max_size=300), st.text(min_size=16, max_size=40), st.text(max_size=80))
@settings(max_examples=100, deadline=None)
def test_signature_only_the_right_hex_verifies(raw: bytes, secret: str, header: str) -> None:
    assert eccube.verify_signature(raw, eccube.sign(raw, secret), [secret])
    assert eccube.verify_signature(raw, header, [secret]) == (header.strip() == eccube.sign(raw, secret))


def test_notifications_keep_orders_and_customers_once() -> None:
    notes = eccube.parse_notifications(json.loads((EVENTS_DIR / "eccube" / "webhook_body.json").read_text()))
    assert notes == [
        {"entity": "customer", "id": "318", "action": "updated"},
        {"entity": "order", "id": "1042", "action": "created"},
    ]


@pytest.mark.parametrize(
    "body",
    [
        {},
        "x",
        [1],
        [{"entity": "order"}],
        [{"entity": "order", "id": "1 OR 1", "action": "created"}],
        [{"entity": "order", "id": 1, "action": "exploded"}],
        [{"entity": "order", "id": True, "action": "created"}],
    ],
)
def test_notifications_refuse_other_shapes(body: object) -> None:
    with pytest.raises(Unprocessable):
        eccube.parse_notifications(body)


def _order(status: int) -> dict:
    order = load("order_shipped.json")
    order["OrderStatus"] = {"id": str(status)}
    return order


@pytest.mark.parametrize("status", [7, 8])
def test_checkout_in_progress_is_not_a_purchase(status: int) -> None:
    assert eccube.order_events(SHOP, _order(status), NOW) == []


@pytest.mark.parametrize("status", [1, 4, 6])
def test_purchase_statuses_place_the_order_with_one_stable_id(status: int) -> None:
    events = eccube.order_events(SHOP, _order(status), NOW)
    placed = [e for e in events if e.type == "order.placed"]
    assert len(placed) == 1
    assert placed[0].event_id == f"eccube:{SHOP}:order:1042:placed"  # the same for every later update
    assert placed[0].total == 4010
    assert [i.title for i in placed[0].line_items] == ["玉露 八女 100g"]  # 送料 row is not an item
    assert placed[0].customer.customer_id == "318"
    assert placed[0].placed_at == datetime(2026, 11, 20, 5, 12, 9, tzinfo=UTC)


def test_shipped_order_gives_a_fulfillment_with_a_yamato_link() -> None:
    events = eccube.order_events(SHOP, _order(5), NOW)
    assert [e.type for e in events] == ["order.placed", "fulfillment.updated"]
    shipped = events[1]
    assert shipped.tracking_company == "ヤマト運輸"
    assert shipped.tracking_numbers == ("4012-3456-7890",)
    assert shipped.tracking_urls and "kuronekoyamato" in shipped.tracking_urls[0]
    assert "401234567890" in shipped.tracking_urls[0]


def test_cancelled_order() -> None:
    events = eccube.order_events(SHOP, _order(3), NOW)
    assert [e.type for e in events] == ["order.cancelled"]
    assert events[0].order_id == "1042"


def test_guest_order_is_keyed_by_normalised_email() -> None:
    order = _order(1)
    order["Customer"] = None
    placed = eccube.order_events(SHOP, order, NOW)[0]
    assert placed.customer.guest
    assert placed.customer.customer_id == keys.guest_customer_id("hanako.yamada@example.jp")


@given(st.integers(min_value=-5, max_value=20))
@settings(max_examples=60, deadline=None)
def test_only_purchase_statuses_place_an_order(status: int) -> None:
    types = [e.type for e in eccube.order_events(SHOP, _order(status), NOW)]
    assert ("order.placed" in types) == (status in eccube.PURCHASE_STATUSES)
    if status in eccube.NOT_A_PURCHASE:
        assert types == []


def test_mailmaga_flag_is_consent_evidence_dated_by_the_cart() -> None:
    event = eccube.customer_events(SHOP, load("customer.json"), NOW)[0]
    consent = event.email_consent
    assert consent is not None and consent.state == "subscribed" and consent.source == "eccube"
    # a snapshot of the row: a "yes" is dated at the earliest trusted moment (create_date), the row's
    # update_date is kept as the sender's time (it moves for any change of the row)
    assert consent.kind == "snapshot"
    assert consent.collected_at == datetime(2026, 10, 1, 3, 0, tzinfo=UTC)
    assert consent.sender_at == datetime(2026, 11, 20, 5, 0, tzinfo=UTC)
    assert consent.evidence["kind"] == "eccube_mailmaga_flg"


def test_a_cart_row_saying_yes_never_undoes_an_unsubscribe_by_link() -> None:
    from enishi import events as ev
    from enishi.profiles import apply as logic

    # Given a customer who unsubscribed by one click on 2026-11-10
    row = load("customer.json")
    at = datetime(2026, 11, 10, tzinfo=UTC)
    unsubscribe = ev.ConsentChanged(
        event_id="preferences:1",
        shop=SHOP,
        source="enishi",
        occurred_at=at,
        received_at=at,
        customer=ev.CustomerRef(customer_id=str(row["id"])),
        consent=ev.Consent(state="unsubscribed", source="one_click", collected_at=at, sender_at=at),
    )
    # When the cart's row changes later (a new address) and still says mailmaga_flg = 1
    upserted = eccube.customer_events(SHOP, row, NOW)[0]
    profile = None
    for event in (unsubscribe, upserted):
        profile = logic.apply(profile, event, event.received_at)
    # Then the customer stays unsubscribed
    assert profile is not None and profile.email_consent.state == "unsubscribed"


@pytest.mark.parametrize(
    ("flag", "state"), [(0, "not_subscribed"), (2, "not_subscribed"), (None, None), ("x", None), (True, None)]
)
def test_mailmaga_other_values(flag: object, state: str | None) -> None:
    row = load("customer.json")
    row["mailmaga_flg"] = flag
    consent = eccube.customer_events(SHOP, row, NOW)[0].email_consent
    assert (consent.state if consent else None) == state


def test_time_without_offset_is_unprocessable() -> None:
    order = _order(1)
    order["update_date"] = "2026-11-21T01:30:00"
    with pytest.raises(Unprocessable):
        eccube.updated_at(order)
