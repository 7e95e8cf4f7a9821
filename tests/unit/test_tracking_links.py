"""Tracked links never become an open redirect; they expire to the shop's home; scanners are told apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enishi.tracking import links

KEY, OLD = b"k" * 32, b"o" * 32
NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
SERVED = {"shop-a"}


def claims(**kw: object) -> links.ClickClaims:
    base: dict[str, object] = {
        "shop": "shop-a",
        "customer_id": "c1",
        "message_key": "welcome.f2_nudge.abc",
        "link": "cta",
        "target": "https://shop.example.jp/products/tea?ref=mail",
        "expires_at": links.expiry(NOW),
    }
    base.update(kw)
    return links.ClickClaims(**base)  # type: ignore[arg-type]


def test_a_genuine_token_resolves_to_its_target_under_current_or_previous_key() -> None:
    token = links.make_token(OLD, claims())
    r = links.resolve([KEY, OLD], token, SERVED, NOW)
    assert r.kind == "click" and r.claims == claims()
    assert links.click_url("https://api.example/", token) == f"https://api.example/r/{token}"


def test_an_expired_token_is_not_a_click() -> None:
    token = links.make_token(KEY, claims(expires_at=int((NOW - timedelta(seconds=1)).timestamp())))
    assert links.resolve([KEY], token, SERVED, NOW).kind == "expired"


def test_another_shops_token_or_an_unsubscribe_token_is_invalid() -> None:
    from enishi import unsubscribe

    assert links.resolve([KEY], links.make_token(KEY, claims(shop="shop-b")), SERVED, NOW).kind == "invalid"
    assert links.resolve([KEY], unsubscribe.make_token(KEY, "shop-a", "c1"), SERVED, NOW).kind == "invalid"


@settings(max_examples=300, deadline=None)
@given(position=st.integers(0, 10_000), char=st.characters(codec="ascii"))
def test_no_altered_token_redirects(position: int, char: str) -> None:
    token = links.make_token(KEY, claims())
    i = position % len(token)
    altered = token[:i] + char + token[i + 1 :]
    r = links.resolve([KEY], altered, SERVED, NOW)
    assert altered == token or r.kind == "invalid"


@settings(max_examples=200, deadline=None)
@given(token=st.text(max_size=300))
def test_no_forged_token_redirects(token: str) -> None:
    assert links.resolve([KEY], token, SERVED, NOW).kind == "invalid"


@pytest.mark.parametrize(
    "target",
    [
        "javascript:alert(1)",
        "//evil.example/",
        "/relative/path",
        "https://user:pw@evil.example/",
        "https://shop.example.jp/\r\nLocation: https://evil.example/",
        "data:text/html,hi",
        "ftp://shop.example.jp/",
        "",
    ],
)
def test_only_absolute_http_targets_can_be_signed(target: str) -> None:
    with pytest.raises(ValueError):
        links.make_token(KEY, claims(target=target))


def test_utm_parameters_are_added_without_overriding_the_targets_own() -> None:
    url = links.with_utm(
        "https://shop.example.jp/p?utm_source=insta&x=1",
        {"utm_source": "enishi", "utm_medium": "email", "utm_campaign": "welcome"},
    )
    assert url == "https://shop.example.jp/p?utm_source=insta&x=1&utm_medium=email&utm_campaign=welcome"
    assert (
        links.with_utm("https://s.jp/商品", {"utm_content": "f2 nudge"})
        == "https://s.jp/商品?utm_content=f2+nudge"
    )


@pytest.mark.parametrize(
    ("method", "headers", "prefetch"),
    [
        ("GET", {"User-Agent": "Mozilla/5.0 (iPhone) Line/14.0.0"}, False),
        ("GET", {"user-agent": "Mozilla/5.0 (Windows NT 10.0) Chrome/130"}, False),
        ("HEAD", {"User-Agent": "Mozilla/5.0 (Windows NT 10.0) Chrome/130"}, True),
        ("GET", {"User-Agent": "Mozilla/5.0", "Sec-Purpose": "prefetch;prerender"}, True),
        ("GET", {"User-Agent": "Mozilla/5.0 (compatible; Barracuda Sentinel)"}, True),
        ("GET", {}, True),
    ],
)
def test_link_scanners_are_told_apart(method: str, headers: dict[str, str], prefetch: bool) -> None:
    assert links.is_prefetch(method, headers) is prefetch
