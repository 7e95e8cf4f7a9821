"""Template context: names, money, JST dates, shipping answers, recommendations — pure functions."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from enishi import constants as c
from enishi.channels.context import Links, build_context, display_name, format_date_jst, format_money
from enishi.channels.recommend import recommend
from enishi.profiles.model import Profile
from enishi.shop_config import REPO_DIR, Coupon, Product, load_shop_config

NOW = datetime(2025, 5, 10, 3, tzinfo=UTC)


@pytest.fixture
def shop():
    return load_shop_config(str(REPO_DIR))


def profile(**kw) -> Profile:
    return Profile(**{"shop": "s", "customer_id": "1", "created_at": NOW, "updated_at": NOW, **kw})


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("1620", "JPY", "¥1,620"),
        (Decimal("1620.4"), "JPY", "¥1,620"),
        (Decimal("1620.5"), "jpy", "¥1,621"),
        (0, "JPY", "¥0"),
        ("12.5", "USD", "$12.50"),
        ("1234.5", "CHF", "1,234.50 CHF"),
        (None, "JPY", None),
        ("not money", "JPY", None),
    ],
)
def test_format_money(amount, currency, expected):
    assert format_money(amount, currency) == expected


def test_dates_are_shown_in_jst():
    # 2025-05-11T16:00Z is already Monday 12 May in Tokyo
    assert format_date_jst("2025-05-11T16:00:00Z") == "2025年5月12日（月）"
    assert format_date_jst(datetime(2025, 5, 11, 14, 59, tzinfo=UTC)) == "2025年5月11日（日）"
    assert format_date_jst(None) is None


@pytest.mark.parametrize(
    ("last", "first", "expected"),
    [
        ("山田", "太郎", "山田 太郎 様"),
        ("山田", None, "山田 様"),
        (None, "太郎", "太郎 様"),
        (None, None, "お客様"),
        (" ", "", "お客様"),
    ],
)
def test_display_name(last, first, expected):
    assert display_name(last, first) == expected


def test_name_falls_back_to_the_trigger_customer(shop):
    trigger = {"customer": {"customer_id": "1", "last_name": "佐藤", "first_name": "花子"}, "line_items": []}
    ctx = build_context(c.SEQUENCE_CART_RECOVERY, "reminder_1", profile(), trigger, shop, Links("https://u"))
    assert ctx["customer"]["display_name"] == "佐藤 花子 様"


def test_cart_context_and_shipping_answer(shop):
    trigger = {
        "line_items": [{"title": "八女茶 煎茶 100g", "quantity": 2, "price": "1620"}],
        "total": "3240",
        "recovery_url": "https://shop/recover",
    }
    ctx = build_context(c.SEQUENCE_CART_RECOVERY, "reminder_1", profile(), trigger, shop, Links("https://u"))
    assert ctx["cart"] == {
        "line_items": [
            {
                "title": "八女茶 煎茶 100g",
                "variant_title": None,
                "quantity": 2,
                "price": "¥1,620",
                "line_total": "¥3,240",
                "image_url": None,
                "url": None,
                "product_id": None,
            }
        ],
        "item_count": 2,
        "total": "¥3,240",
        "recovery_url": "https://shop/recover",
    }
    assert ctx["shipping"] == {
        "free_shipping_threshold": "¥5,000",
        "fee": "¥550",
        "ships_within_days": 2,
        "free_for_cart": False,
        "remaining_for_free": "¥1,760",
    }
    assert ctx["marketing"] is True and ctx["recommendations"] == []


def test_total_is_summed_when_the_trigger_has_none(shop):
    trigger = {"line_items": [{"title": "a", "quantity": 3, "price": "2000"}]}
    ctx = build_context(c.SEQUENCE_CART_RECOVERY, "reminder_2", profile(), trigger, shop, Links("https://u"))
    assert ctx["cart"]["total"] == "¥6,000"
    assert ctx["shipping"]["free_for_cart"] is True and ctx["shipping"]["remaining_for_free"] is None


def test_transactional_context_has_no_coupon_links_or_recommendations(shop):
    shop = shop.model_copy(
        update={"messaging": shop.messaging.model_copy(update={"coupon": Coupon(code="X", text="t")})}
    )
    trigger = {
        "order_id": "1",
        "tracking_company": "佐川急便",
        "tracking_numbers": ["1"],
        "tracking_urls": [],
        "line_items": [{"product_id": "8001", "title": "八女茶 煎茶 100g", "price": "1620"}],
    }
    ctx = build_context(c.SEQUENCE_SHIPPING, "shipped", profile(), trigger, shop, Links())
    assert ctx["marketing"] is False
    assert ctx["shop"]["coupon"] is None and ctx["recommendations"] == []
    assert ctx["links"] == {"unsubscribe_url": None, "preferences_url": None}
    assert ctx["shipment"]["carrier"] == "佐川急便" and ctx["shipment"]["tracking_url"] is None
    assert ctx["shipment"]["expected_delivery"] is None


def test_marketing_can_be_forced_explicitly(shop):
    ctx = build_context(
        c.SEQUENCE_WELCOME, "welcome", profile(), {}, shop, Links("https://u"), marketing=False
    )
    assert ctx["marketing"] is False


CATALOG = [
    Product(id="1", title="煎茶A", category="sencha"),
    Product(id="2", title="抹茶", category="matcha"),
    Product(id="3", title="煎茶B", category="sencha"),
    Product(id="4", title="急須", category="teaware"),
    Product(id="5", title="煎茶C", category="sencha"),
]


def test_recommend_same_category_first_then_popular_never_bought():
    assert [p.id for p in recommend(CATALOG, [{"product_id": "1"}], 3)] == ["3", "5", "2"]


def test_recommend_matches_by_title_when_ids_differ():
    assert [p.id for p in recommend(CATALOG, [{"product_id": "x", "title": "急須"}], 2)] == ["1", "2"]


def test_recommend_without_history_is_the_catalog_order():
    assert [p.id for p in recommend(CATALOG, [], 3)] == ["1", "2", "3"]


def test_recommend_is_deterministic_and_bounded():
    runs = {
        tuple(p.id for p in recommend(CATALOG, [{"product_id": "2"}, {"product_id": "4"}], 10))
        for _ in range(5)
    }
    assert runs == {("1", "3", "5")}
