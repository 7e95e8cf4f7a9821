"""Carrier tracking links: built for Yamato, Sagawa and Japan Post; no link rather than a wrong one."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from enishi import carriers


@pytest.mark.parametrize(
    ("carrier", "number", "url"),
    [
        ("ヤマト運輸", "1234-5678-9012",
         "https://jizen.kuronekoyamato.co.jp/jizen/servlet/crjz.b.NQ0010?id=123456789012"),
        ("クロネコヤマト", "１２３４５６７８９０１２",
         "https://jizen.kuronekoyamato.co.jp/jizen/servlet/crjz.b.NQ0010?id=123456789012"),
        ("Yamato Transport", "123456789012",
         "https://jizen.kuronekoyamato.co.jp/jizen/servlet/crjz.b.NQ0010?id=123456789012"),
        ("佐川急便", "1234-5678-9012",
         "https://k2k.sagawa-exp.co.jp/p/web/okurijosearch.do?okurijoNo=123456789012"),
        ("Sagawa Express", "1234567890",
         "https://k2k.sagawa-exp.co.jp/p/web/okurijosearch.do?okurijoNo=1234567890"),
        ("日本郵便", "1234-5678-9012",
         "https://trackings.post.japanpost.jp/services/srv/search/direct?searchKind=S002&locale=ja&reqCodeNo1=123456789012"),
        ("ゆうパック", "1234 5678 9012",
         "https://trackings.post.japanpost.jp/services/srv/search/direct?searchKind=S002&locale=ja&reqCodeNo1=123456789012"),
    ],
)  # fmt: skip
def test_known_carriers_get_their_tracking_page_with_hyphens_stripped(carrier, number, url):
    assert carriers.tracking_url(carrier, number) == url


@pytest.mark.parametrize(
    ("carrier", "number"),
    [
        ("西濃運輸", "1234567890"),  # unknown carrier
        ("FedEx", "123456789012"),
        (None, "123456789012"),
        ("ヤマト運輸", "12345"),  # too short to be a Yamato number
        ("ヤマト運輸", "ABCD-5678-9012"),  # not digits
        ("佐川急便", ""),
        ("日本郵便", "EA123456789JP"),  # international (EMS) numbers use another search kind
        ("ヤマト運輸", "１２３４５６７８９０１٢"),  # a non-ASCII digit that isdigit() accepts
    ],
)
def test_unknown_carriers_and_impossible_numbers_get_no_link(carrier, number):
    assert carriers.tracking_url(carrier, number) is None


@given(st.text(max_size=40), st.text(max_size=40))
def test_any_input_gives_no_link_or_a_carrier_page_with_ascii_digits_only(carrier, number):
    url = carriers.tracking_url(carrier, number)
    if url is not None:
        assert url.startswith(tuple(c.url.split("{", 1)[0] for c in carriers.CARRIERS))
        tail = url.rsplit("=", 1)[1]
        assert tail.isascii() and tail.isdigit()


def test_several_numbers_keep_their_order_and_drop_the_impossible():
    urls = carriers.tracking_urls("ヤマト運輸", ["1111-2222-3333", "x", "444455556666"])
    assert [u.rsplit("=", 1)[1] for u in urls] == ["111122223333", "444455556666"]


def test_a_fulfillment_from_any_cart_gets_the_built_link_and_keeps_a_cart_given_one():
    from datetime import UTC, datetime

    from enishi import events as ev

    at = datetime(2026, 11, 1, tzinfo=UTC)
    base = {"event_id": "e", "shop": "s", "source": "generic", "occurred_at": at, "received_at": at}
    base |= {"fulfillment_id": "f", "order_id": "o", "status": "success"}
    built = ev.FulfillmentUpdated(**base, tracking_company="ヤマト運輸", tracking_numbers=("1234-5678-9012",))
    assert built.tracking_urls == (
        "https://jizen.kuronekoyamato.co.jp/jizen/servlet/crjz.b.NQ0010?id=123456789012",
    )
    given = ev.FulfillmentUpdated(
        **base,
        tracking_company="ヤマト運輸",
        tracking_numbers=("1",),
        tracking_urls=("https://cart.example/t/1",),
    )
    assert given.tracking_urls == ("https://cart.example/t/1",)
    unknown = ev.FulfillmentUpdated(**base, tracking_company="西濃運輸", tracking_numbers=("1234567890",))
    assert unknown.tracking_urls == ()
    # the detail round-trips unchanged (consumers parse it again)
    assert ev.parse_event(ev.to_detail(built)) == built
