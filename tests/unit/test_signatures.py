"""Signature checks against published vectors (REFERENCE.md §1 and §3) and their failure modes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from enishi import signatures as sig

SHOPIFY_SECRET = "test-webhook-secret"
SHOPIFY_BODY = b'{"id":1234567890,"email":"customer@example.com","total_price":"123.45"}'
SHOPIFY_HMAC = "QNyObTlKbMx2qDlPF/ZOZcBqg5OgPg+2oky3zldc0Gw="
JA_BODY = '{"id":1,"email":"taro@example.jp","note":"日本語"}'.encode()
JA_HMAC = "TINXlWVroS1DkQGUxxyTQ2VtjvZ6RfqAStTU6qKY2OU="


def test_shopify_published_vector_verifies():
    assert sig.sign_shopify(SHOPIFY_BODY, SHOPIFY_SECRET) == SHOPIFY_HMAC
    assert sig.verify_shopify(SHOPIFY_BODY, SHOPIFY_HMAC, [SHOPIFY_SECRET])


def test_shopify_japanese_body_verifies_on_raw_bytes_only():
    # Given the raw UTF-8 body and its signature
    assert sig.verify_shopify(JA_BODY, JA_HMAC, [SHOPIFY_SECRET])
    # When the body is parsed and re-serialized (as a framework would), Then it no longer verifies
    reserialized = json.dumps(json.loads(JA_BODY)).encode()
    assert reserialized != JA_BODY
    assert sig.sign_shopify(reserialized, SHOPIFY_SECRET).startswith("wXB7aMF6")
    assert not sig.verify_shopify(reserialized, JA_HMAC, [SHOPIFY_SECRET])


@pytest.mark.parametrize("header", [None, "", "not base64!!", "AAAA", SHOPIFY_HMAC.lower()])
def test_shopify_missing_or_wrong_header_fails(header):
    assert not sig.verify_shopify(SHOPIFY_BODY, header, [SHOPIFY_SECRET])


def test_shopify_rotation_accepts_previous_secret_but_not_unknown():
    header = sig.sign_shopify(SHOPIFY_BODY, "old-secret")
    assert sig.verify_shopify(SHOPIFY_BODY, header, ["new-secret", "old-secret"])
    assert not sig.verify_shopify(SHOPIFY_BODY, header, ["new-secret"])
    assert not sig.verify_shopify(SHOPIFY_BODY, header, [])
    assert not sig.verify_shopify(SHOPIFY_BODY, header, [""])


NOW = datetime(2025, 1, 15, 3, 0, tzinfo=UTC)
T = int(NOW.timestamp())


def test_generic_round_trip_and_format():
    header = sig.sign_generic(JA_BODY, "gen-secret", T)
    assert header.startswith(f"t={T},v1=") and len(header.split("v1=")[1]) == 64
    assert sig.verify_generic(JA_BODY, header, ["gen-secret"], NOW)


def test_generic_known_vector():
    # HMAC-SHA256("gen-secret", "1736910000.{}") computed independently with openssl
    import hashlib
    import hmac

    expected = hmac.new(b"gen-secret", b"1736910000.{}", hashlib.sha256).hexdigest()
    assert sig.sign_generic(b"{}", "gen-secret", 1736910000) == f"t=1736910000,v1={expected}"


@pytest.mark.parametrize("skew", [-301, 301, 3600])
def test_generic_rejects_timestamps_outside_the_window(skew):
    header = sig.sign_generic(JA_BODY, "gen-secret", T + skew)
    assert not sig.verify_generic(JA_BODY, header, ["gen-secret"], NOW)


@pytest.mark.parametrize("skew", [-300, 0, 300])
def test_generic_accepts_timestamps_inside_the_window(skew):
    header = sig.sign_generic(JA_BODY, "gen-secret", T + skew)
    assert sig.verify_generic(JA_BODY, header, ["gen-secret"], NOW)


def test_generic_rejects_tampered_body_wrong_secret_and_malformed_headers():
    header = sig.sign_generic(JA_BODY, "gen-secret", T)
    assert not sig.verify_generic(JA_BODY + b" ", header, ["gen-secret"], NOW)
    assert not sig.verify_generic(JA_BODY, header, ["other"], NOW)
    for bad in (None, "", "v1=abc", f"t={T}", "t=abc,v1=00", "garbage", f"t={T},v1=日本"):
        assert not sig.verify_generic(JA_BODY, bad, ["gen-secret"], NOW)


def test_generic_timestamp_is_part_of_the_signature():
    header = sig.sign_generic(JA_BODY, "gen-secret", T)
    forged = header.replace(f"t={T}", f"t={T + 10}")
    assert not sig.verify_generic(JA_BODY, forged, ["gen-secret"], NOW)


def test_generic_rotation_both_ways():
    old = sig.sign_generic(JA_BODY, "old", T)
    assert sig.verify_generic(JA_BODY, old, ["new", "old"], NOW)
    # a sender mid-rotation may send two v1 values
    both = old + ",v1=" + sig.sign_generic(JA_BODY, "new", T).split("v1=")[1]
    assert sig.verify_generic(JA_BODY, both, ["new"], NOW)


def test_line_published_vector():
    header = "/gg9a+LvFevTH1sd7XCQycD7tsWclCsInj7MhBHxN7k="
    assert sig.verify_line(b"bodybodybodybody", header, "channel_secret")
    assert not sig.verify_line(b"bodybodybodybody ", header, "channel_secret")
    assert not sig.verify_line(b"bodybodybodybody", None, "channel_secret")
    assert not sig.verify_line(b"bodybodybodybody", "日本", "channel_secret")
    assert not sig.verify_line(b"bodybodybodybody", header, "")


def test_generic_window_uses_given_now():
    header = sig.sign_generic(b"{}", "s", T)
    assert not sig.verify_generic(b"{}", header, ["s"], NOW + timedelta(minutes=6))
