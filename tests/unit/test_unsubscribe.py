"""Unsubscribe tokens: round trip, tampering, wrong secret, malformed input."""

from __future__ import annotations

import pytest

from enishi.unsubscribe import TokenClaims, make_token, read_token, read_token_any

SECRET = b"s3cret-for-tests-0123456789abcdef"
SHOP = "enishi-demo.myshopify.com"


def test_round_trip_returns_the_claims():
    # Given a token for a customer
    token = make_token(SECRET, SHOP, "7001", "email")
    # When it is read back with the same secret
    claims = read_token(SECRET, token)
    # Then the claims are the ones signed
    assert claims == TokenClaims(shop=SHOP, customer_id="7001", channel="email")


def test_token_is_url_safe_and_compact():
    token = make_token(SECRET, SHOP, "guest-" + "a" * 32)
    assert len(token) < 160
    assert all(ch.isalnum() or ch in "-_." for ch in token)


def test_token_is_deterministic_and_carries_no_email():
    assert make_token(SECRET, SHOP, "7001") == make_token(SECRET, SHOP, "7001")
    assert "@" not in make_token(SECRET, SHOP, "guest-abc")


def test_line_channel_round_trips():
    claims = read_token(SECRET, make_token(SECRET, SHOP, "7001", "line"))
    assert claims is not None and claims.channel == "line"


def test_wrong_secret_is_rejected():
    token = make_token(SECRET, SHOP, "7001")
    assert read_token(b"another-secret", token) is None


@pytest.mark.parametrize("position", [2, 10, 25, -3, -1])
def test_any_flipped_character_is_rejected(position):
    token = make_token(SECRET, SHOP, "7001")
    chars = list(token)
    if chars[position] == ".":
        position += 1
    chars[position] = "A" if chars[position] != "A" else "B"
    assert read_token(SECRET, "".join(chars)) is None


def test_payload_swapped_from_another_token_is_rejected():
    # Given two genuine tokens
    a = make_token(SECRET, SHOP, "7001").split(".")
    b = make_token(SECRET, SHOP, "7002").split(".")
    # When customer 7002's payload is combined with 7001's signature
    forged = ".".join([a[0], b[1], a[2]])
    # Then it is refused
    assert read_token(SECRET, forged) is None


@pytest.mark.parametrize("bad", ["", "1", "1..", "2.AAAA.AAAA", "1.!!!.???", "x" * 600, "1.AAAA.AAAA.AAAA"])
def test_malformed_tokens_are_rejected(bad):
    assert read_token(SECRET, bad) is None


def test_make_token_refuses_bad_input():
    with pytest.raises(ValueError):
        make_token(SECRET, SHOP, "7001", "sms")
    with pytest.raises(ValueError):
        make_token(SECRET, SHOP, "")
    with pytest.raises(ValueError):
        make_token(b"", SHOP, "7001")


def test_rotation_accepts_the_previous_secret():
    token = make_token(b"old-secret", SHOP, "7001")
    assert read_token_any([SECRET, b"old-secret"], token) == TokenClaims(SHOP, "7001", "email")
    assert read_token_any([SECRET], token) is None


def test_unsubscribe_url_and_one_click_headers():
    from enishi.unsubscribe import one_click_headers, unsubscribe_url

    token = make_token(SECRET, SHOP, "7001")
    url = unsubscribe_url("https://abc.execute-api.ap-northeast-1.amazonaws.com/", token)
    assert url == f"https://abc.execute-api.ap-northeast-1.amazonaws.com/u/{token}"
    assert one_click_headers(url) == [
        {"Name": "List-Unsubscribe", "Value": f"<{url}>"},
        {"Name": "List-Unsubscribe-Post", "Value": "List-Unsubscribe=One-Click"},
    ]
