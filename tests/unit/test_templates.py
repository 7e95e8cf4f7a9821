"""Every bundled template renders for both channels with realistic contexts, keeps the law's and the shop's rules,
and produces Flex JSON that LINE's own SDK models accept. HTML emails are screenshotted in headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest

from enishi import constants as c
from enishi.channels import render
from enishi.channels.context import Links, build_context
from enishi.channels.render import TEMPLATE_NAMES, LineLimitError, RenderError, render_email, render_line
from enishi.profiles.model import Profile
from enishi.shop_config import REPO_DIR, Coupon, load_shop_config

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2025, 5, 10, 3, 0, tzinfo=UTC)
UNSUBSCRIBE = "https://abc123.execute-api.ap-northeast-1.amazonaws.com/u/1.ZW1haWwAZW5pc2hp.bWFj"
PREFERENCES = UNSUBSCRIBE + "?view=preferences"
SEQUENCES = (c.SEQUENCE_SHIPPING, c.SEQUENCE_CART_RECOVERY, c.SEQUENCE_WELCOME, c.SEQUENCE_WINBACK)
TRANSACTIONAL = (c.SEQUENCE_SHIPPING,)
COUPON = Coupon(code="WELCOME10", text="次回のお買い物で使える10%オフクーポン")
DISCOUNT_WORDS = ("割引", "%オフ", "％オフ", "OFF", "クーポン", COUPON.code)


def split(name: str) -> tuple[str, str]:
    for seq in SEQUENCES:
        if name.startswith(seq + "_"):
            return seq, name[len(seq) + 1 :]
    raise AssertionError(name)


def svg(label: str, color: str) -> str:
    body = (
        "<svg xmlns='http://www.w3.org/2000/svg' width='300' height='300'>"
        f"<rect width='300' height='300' fill='{color}'/>"
        f"<text x='150' y='170' font-size='64' text-anchor='middle' fill='white'>{label}</text></svg>"
    )
    return "data:image/svg+xml;charset=utf-8," + quote(body)


ITEMS = [
    {
        "product_id": "8001",
        "title": "八女茶 煎茶 100g",
        "quantity": 2,
        "price": "1620",
        "image_url": "https://enishi-sabo.example/img/yame-sencha.jpg",
        "url": "https://enishi-sabo.example/products/yame-sencha",
    },
    {
        "product_id": "8005",
        "title": "有田焼 急須",
        "variant_title": "藍",
        "quantity": 1,
        "price": "6600",
        "image_url": "https://enishi-sabo.example/img/arita-kyusu.jpg",
        "url": "https://enishi-sabo.example/products/arita-kyusu",
    },
]

TRIGGERS = {
    c.SEQUENCE_WELCOME: {
        "order_id": "450789469",
        "order_name": "#1001",
        "line_items": ITEMS,
        "total": "9840",
        "currency": "JPY",
    },
    c.SEQUENCE_SHIPPING: {
        "fulfillment_id": "255858046",
        "order_id": "450789469",
        "order_name": "#1001",
        "status": "success",
        "tracking_company": "ヤマト運輸",
        "tracking_numbers": ["4321-9876-5012"],
        "tracking_urls": ["https://jizen.kuronekoyamato.co.jp/jizen/servlet/crjz.b.NQ0010?id=432198765012"],
        "estimated_delivery_at": "2025-05-12T01:00:00Z",
        "line_items": ITEMS,
    },
    c.SEQUENCE_CART_RECOVERY: {
        "checkout_token": "ch-1",
        "status": "open",
        "line_items": ITEMS[:1],
        "total": "3240",
        "currency": "JPY",
        "recovery_url": "https://enishi-sabo.example/checkouts/ch-1/recover?key=abc",
    },
    c.SEQUENCE_WINBACK: {"line_items": ITEMS[:1], "last_order_at": "2025-02-01T05:00:00Z"},
}


@pytest.fixture(autouse=True)
def bundled_templates_only(monkeypatch, tmp_path):
    """No shop overrides unless a test adds them: point the shop config dir at an empty folder."""
    monkeypatch.setenv(c.ENV_SHOP_CONFIG_DIR, str(tmp_path / "shop"))


@pytest.fixture
def shop():
    return load_shop_config(str(REPO_DIR))


def profile(**kw) -> Profile:
    base = {
        "shop": "enishi-demo.myshopify.com",
        "customer_id": "7001",
        "created_at": NOW,
        "updated_at": NOW,
        "last_name": "山田",
        "first_name": "太郎",
        "email": "taro@example.jp",
    }
    return Profile(**{**base, **kw})


def context(
    name: str,
    shop,
    *,
    marketing: bool | None = None,
    trigger: dict | None = None,
    prof: Profile | None = None,
):
    sequence, step = split(name)
    marketing = sequence not in TRANSACTIONAL if marketing is None else marketing
    links = Links(UNSUBSCRIBE, PREFERENCES) if marketing else Links()
    return build_context(sequence, step, prof or profile(), trigger or TRIGGERS[sequence], shop, links)


def texts_of(obj) -> list[str]:
    """Every string value in a LINE message (text, altText, labels, URLs)."""
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in texts_of(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in texts_of(v)]
    return [obj] if isinstance(obj, str) else []


def missing_keys(ours, theirs, path="$") -> list[str]:
    """Keys we sent that the SDK model dropped (an unknown or misspelt property) or values it changed."""
    if isinstance(ours, dict):
        if not isinstance(theirs, dict):
            return [path]
        return [
            p
            for k, v in ours.items()
            for p in ([f"{path}.{k}"] if k not in theirs else missing_keys(v, theirs[k], f"{path}.{k}"))
        ]
    if isinstance(ours, list):
        if not isinstance(theirs, list) or len(ours) != len(theirs):
            return [path]
        return [
            p
            for i, (a, b) in enumerate(zip(ours, theirs, strict=True))
            for p in missing_keys(a, b, f"{path}[{i}]")
        ]
    return [] if ours == theirs else [f"{path}: {ours!r} → {theirs!r}"]


# ---------------------------------------------------------------- every template, both channels


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_email_renders_completely(name, shop):
    ctx = context(name, shop)
    email = render_email(name, ctx)
    assert email.subject and "\n" not in email.subject
    for part in (email.subject, email.html, email.text):
        assert "{{" not in part and "{%" not in part
    assert "山田 太郎 様" in email.text and "山田 太郎 様" in email.html
    assert email.html.lstrip().lower().startswith("<!doctype html>")
    assert 'width="600"' in email.html
    for sns in shop.sns.values():  # the footer links the shop's SNS accounts
        assert sns in email.html and sns in email.text


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_line_renders_and_validates_against_the_line_sdk(name, shop):
    from linebot.v3.messaging import FlexMessage, Message, TextMessage

    messages = render_line(name, context(name, shop))
    assert 1 <= len(messages) <= 5
    for message in messages:
        model = Message.from_dict(message)  # raises on a wrong type, enum or shape
        assert isinstance(model, FlexMessage | TextMessage)
        assert missing_keys(message, model.to_dict()) == []  # nothing silently dropped as unknown
        if message["type"] == "flex":
            assert FlexMessage.from_dict(message).alt_text == message["altText"]
    joined = "".join(texts_of(messages))
    assert "{{" not in joined and "{%" not in joined
    assert "山田 太郎 様" in joined


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_customer_without_a_name_is_addressed_as_okyakusama(name, shop):
    ctx = context(name, shop, prof=profile(last_name=None, first_name=None))
    assert "お客様" in render_email(name, ctx).text
    assert any("お客様" in s for s in texts_of(render_line(name, ctx)))


# ---------------------------------------------------------------- the law: marketing email notices


@pytest.mark.parametrize("name", [n for n in TEMPLATE_NAMES if split(n)[0] not in TRANSACTIONAL])
def test_marketing_email_shows_opt_out_before_the_body_and_the_legal_footer(name, shop):
    email = render_email(name, context(name, shop))
    # the opt-out link and the statement that one can opt out come before the body (特定電子メール法 §4)
    assert email.html.index(UNSUBSCRIBE) < email.html.index('id="enishi-body"')
    assert email.text.index(UNSUBSCRIBE) < email.text.index("山田 太郎 様")
    assert "配信を停止" in email.html[: email.html.index('id="enishi-body"')]
    # sender (legal name), postal address and contact, in both parts
    for required in (shop.legal_name, shop.postal_address, shop.contact_email):
        assert required in email.html and required in email.text


def test_marketing_email_without_an_unsubscribe_link_is_refused(shop):
    ctx = context("welcome_welcome", shop)
    ctx["links"] = {"unsubscribe_url": None, "preferences_url": None}
    with pytest.raises(RenderError, match="unsubscribe"):
        render_email("welcome_welcome", ctx)


# ---------------------------------------------------------------- content rules


@pytest.mark.parametrize("name", ["shipping_notice_shipped", "shipping_notice_followup"])
def test_shipping_notice_carries_no_advertising_even_with_a_coupon(name, shop):
    shop = shop.model_copy(update={"messaging": shop.messaging.model_copy(update={"coupon": COUPON})})
    ctx = context(name, shop)
    email, line = render_email(name, ctx), render_line(name, ctx)
    bought = {i["title"] for i in ITEMS}
    others = [p.title for p in shop.catalog if p.title not in bought]
    everything = email.html + email.text + "".join(texts_of(line))
    assert ctx["recommendations"] == [] and ctx["shop"]["coupon"] is None
    assert not [t for t in others if t in everything]  # no recommended products
    assert COUPON.code not in everything and "おすすめ" not in everything
    assert UNSUBSCRIBE not in everything


def test_shipping_notice_shows_carrier_tracking_and_expected_delivery(shop):
    ctx = context("shipping_notice_shipped", shop)
    email, line = render_email("shipping_notice_shipped", ctx), render_line("shipping_notice_shipped", ctx)
    flat = "".join(texts_of(line))
    for expected in ("ヤマト運輸", "4321-9876-5012", "2025年5月12日（月）", "#1001"):
        assert expected in email.text and expected in email.html and expected in flat
    tracking = TRIGGERS[c.SEQUENCE_SHIPPING]["tracking_urls"][0]
    assert tracking in email.text and tracking.replace("&", "&amp;") in email.html and tracking in flat


def test_shipping_notice_without_tracking_says_it_will_follow(shop):
    trigger = {
        **TRIGGERS[c.SEQUENCE_SHIPPING],
        "tracking_numbers": [],
        "tracking_urls": [],
        "estimated_delivery_at": None,
    }
    ctx = context("shipping_notice_shipped", shop, trigger=trigger)
    assert "確定しだい" in render_email("shipping_notice_shipped", ctx).text
    assert "お届け予定" not in render_email("shipping_notice_shipped", ctx).text
    render_line("shipping_notice_shipped", ctx)  # still valid JSON within limits


@pytest.mark.parametrize("name", ["cart_recovery_reminder_1", "cart_recovery_reminder_2"])
def test_cart_recovery_offers_no_discount_even_when_the_shop_has_a_coupon(name, shop):
    shop = shop.model_copy(update={"messaging": shop.messaging.model_copy(update={"coupon": COUPON})})
    ctx = context(name, shop)
    email, line = render_email(name, ctx), render_line(name, ctx)
    everything = email.subject + email.html + email.text + "".join(texts_of(line))
    assert not [w for w in DISCOUNT_WORDS if w in everything]
    recovery = TRIGGERS[c.SEQUENCE_CART_RECOVERY]["recovery_url"]
    assert recovery in email.text and "八女茶 煎茶 100g" in email.text and "¥3,240" in email.text
    assert recovery in "".join(texts_of(line))


def test_cart_recovery_second_reminder_answers_shipping_and_stock(shop):
    ctx = context("cart_recovery_reminder_2", shop)
    text = render_email("cart_recovery_reminder_2", ctx).text
    assert "¥5,000（税込）以上のご注文で送料無料" in text
    assert "あと¥1,760のお買い物で送料無料" in text  # 5,000 − 3,240
    assert "全国一律¥550" in text and "在庫" in text and "2営業日以内" in text
    line_text = render_line("cart_recovery_reminder_2", ctx)[0]["text"]
    assert "送料" in line_text and "在庫" in line_text


@pytest.mark.parametrize("name", ["welcome_welcome", "welcome_f2_nudge", "winback_winback_2"])
def test_coupon_appears_only_when_configured(name, shop):
    assert "クーポン" not in render_email(name, context(name, shop)).text
    with_coupon = shop.model_copy(update={"messaging": shop.messaging.model_copy(update={"coupon": COUPON})})
    ctx = context(name, with_coupon)
    assert COUPON.code in render_email(name, ctx).text
    assert COUPON.code in "".join(texts_of(render_line(name, ctx)))


def test_winback_recommends_from_history_and_shows_what_they_bought(shop):
    ctx = context("winback_winback_2", shop)
    # bought sencha → the other sencha first, never the one they bought
    assert next(r["title"] for r in ctx["recommendations"]) == "知覧 かぶせ茶 100g"
    assert "八女茶 煎茶 100g" not in [r["title"] for r in ctx["recommendations"]]
    email = render_email("winback_winback_2", ctx)
    assert "知覧 かぶせ茶 100g" in email.html and "¥1,780" in email.text
    first = render_email("winback_winback_1", context("winback_winback_1", shop))
    assert "八女茶 煎茶 100g" in first.text and "2025年2月1日（土）" in first.text


# ---------------------------------------------------------------- overrides and limits


def test_shop_template_overrides_the_bundled_one(monkeypatch, tmp_path, shop):
    shop_dir = tmp_path / "myshop"
    (shop_dir / "templates" / "email").mkdir(parents=True)
    (shop_dir / "templates" / "email" / "welcome_welcome.txt").write_text(
        '{% extends "email/_layout.txt" %}{% block subject %}ようこそ{{ shop.name }}へ{% endblock %}'
        "{% block content %}独自の本文です。{% endblock %}",
        encoding="utf-8",
    )
    monkeypatch.setenv(c.ENV_SHOP_CONFIG_DIR, str(shop_dir))
    email = render_email("welcome_welcome", context("welcome_welcome", shop))
    assert email.subject == f"ようこそ{shop.name}へ"
    assert "独自の本文です。" in email.text
    assert UNSUBSCRIBE in email.text  # the bundled layout (and its legal notices) still applies
    assert "ご注文ありがとうございます" in email.html  # the HTML part was not overridden


def test_unknown_or_unsafe_template_names_are_errors(shop):
    ctx = context("welcome_welcome", shop)
    with pytest.raises(RenderError, match="not found"):
        render_email("welcome_nope", ctx)
    with pytest.raises(RenderError, match="invalid template name"):
        render_line("../../etc/passwd", ctx)


def test_line_limits_are_enforced_with_clear_errors():
    text = {"type": "text", "text": "こんにちは"}
    bubble = {
        "type": "bubble",
        "body": {"type": "box", "layout": "vertical", "contents": [{"type": "text", "text": "x"}]},
    }
    render.validate_line_messages([text] * 5)
    with pytest.raises(LineLimitError, match="at most 5"):
        render.validate_line_messages([text] * 6)
    with pytest.raises(LineLimitError, match="5000"):
        render.validate_line_messages([{"type": "text", "text": "あ" * 5001}])
    with pytest.raises(LineLimitError, match="altText"):
        render.validate_line_messages([{"type": "flex", "altText": "あ" * 1501, "contents": bubble}])
    with pytest.raises(LineLimitError, match="13 bubbles"):
        render.validate_line_messages(
            [{"type": "flex", "altText": "a", "contents": {"type": "carousel", "contents": [bubble] * 13}}]
        )
    big = json.loads(json.dumps(bubble))
    big["body"]["contents"][0]["text"] = "あ" * 11_000  # 33 KB in UTF-8
    with pytest.raises(LineLimitError, match="bubble is"):
        render.validate_line_messages([{"type": "flex", "altText": "a", "contents": big}])
    medium = json.loads(json.dumps(bubble))
    medium["body"]["contents"][0]["text"] = "あ" * 6_000  # 18 KB each, 54 KB together
    with pytest.raises(LineLimitError, match="carousel is"):
        render.validate_line_messages(
            [{"type": "flex", "altText": "a", "contents": {"type": "carousel", "contents": [medium] * 3}}]
        )


def test_a_huge_cart_still_fits_line_limits(shop):
    many = [{**ITEMS[0], "product_id": str(i), "title": f"商品{i}"} for i in range(40)]
    ctx = context(
        "cart_recovery_reminder_1", shop, trigger={**TRIGGERS[c.SEQUENCE_CART_RECOVERY], "line_items": many}
    )
    messages = render_line("cart_recovery_reminder_1", ctx)
    assert "ほか30点" in json.dumps(messages, ensure_ascii=False)


# ---------------------------------------------------------------- screenshots (headless Chromium)


def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser", "chromium-headless-shell", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.mark.slow
@pytest.mark.skipif(chromium_binary() is None, reason="no chromium binary (Debian: apt-get install chromium)")
def test_html_emails_render_in_headless_chromium(shop):
    """Screenshots go to out/screenshots/ (test artifacts); with ENISHI_UPDATE_SCREENSHOTS=1, or when missing,
    they are also copied to docs/screenshots/ for the README."""
    out = ROOT / "out" / "screenshots"
    docs = ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    update_docs = os.environ.get("ENISHI_UPDATE_SCREENSHOTS") == "1"
    # offline pictures: data: URIs stand in for the shop's product images and logo
    shop = shop.model_copy(
        update={
            "logo_url": None,
            "catalog": [
                p.model_copy(update={"image_url": svg(p.title[:2], "#7a9a6a")}) for p in shop.catalog
            ],
        }
    )
    offline_items = [{**i, "image_url": svg(i["title"][:2], "#a58a5a")} for i in ITEMS]
    with tempfile.TemporaryDirectory() as profile_dir:
        for name in TEMPLATE_NAMES:
            sequence, _ = split(name)
            trigger = {**TRIGGERS[sequence]}
            trigger["line_items"] = offline_items[: len(trigger["line_items"])]
            email = render_email(name, context(name, shop, trigger=trigger))
            html_path, png_path = out / f"{name}.html", out / f"{name}.png"
            html_path.write_text(email.html, encoding="utf-8")
            png_path.unlink(missing_ok=True)
            subprocess.run(
                [
                    chromium_binary(),
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--hide-scrollbars",
                    "--no-first-run",
                    "--disable-background-networking",
                    f"--user-data-dir={profile_dir}",
                    f"--screenshot={png_path}",
                    "--window-size=640,1400",
                    html_path.as_uri(),
                ],
                check=True,
                capture_output=True,
                timeout=120,
            )
            assert png_path.stat().st_size > 20_000, f"{name}: screenshot looks empty"
            target = docs / png_path.name
            if update_docs or not target.exists():
                docs.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(png_path, target)


def test_every_template_named_in_sequences_yaml_is_bundled():
    """The sequences reference templates by name (shop/sequences.yaml): each must exist for both channels."""
    import re

    path = REPO_DIR / "sequences.yaml"
    if not path.exists():
        pytest.skip("shop/sequences.yaml not written yet")
    named = set(re.findall(r"template:\s*([a-z0-9_]+)", path.read_text(encoding="utf-8")))
    assert named, "no template names found in sequences.yaml"
    assert named <= set(TEMPLATE_NAMES)
    bundled = Path(render.BUNDLED_DIR)
    for name in TEMPLATE_NAMES:
        for rel in (f"email/{name}.txt", f"email/{name}.html", f"line/{name}.json"):
            assert (bundled / rel).is_file(), rel


def test_data_is_escaped_for_html_and_for_json(shop):
    # Given a product title with markup and quotes (carts pass titles through as typed)
    nasty = '限定 "抹茶" <script>alert(1)</script> & 急須\\'
    trigger = {**TRIGGERS[c.SEQUENCE_CART_RECOVERY], "line_items": [{**ITEMS[0], "title": nasty}]}
    ctx = context("cart_recovery_reminder_1", shop, trigger=trigger)
    # Then the HTML shows it as text, the text part verbatim, and the LINE JSON still parses with it intact
    email = render_email("cart_recovery_reminder_1", ctx)
    assert "<script>" not in email.html and "&lt;script&gt;" in email.html
    assert nasty in email.text
    assert any(nasty in s for s in texts_of(render_line("cart_recovery_reminder_1", ctx)))
