"""ES256 client assertions (private_key_jwt, RFC 7523) as STORES' token endpoint requires them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from enishi.polling import client_assertion as ca
from enishi.polling.http import CartAuthFailed, OAuthSecret, client_authentication

KEY = ec.generate_private_key(ec.SECP256R1())
PEM = KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()
NOW = datetime(2026, 11, 29, 16, 0, tzinfo=UTC)
URL = "https://api.id.stores.jp/oauth2/token"


def test_assertion_has_the_fields_and_claims_stores_documents() -> None:
    form = ca.client_assertion("776b0ba3-c00f", URL, PEM, NOW, key_id="k1")
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    head, _, sig = form["client_assertion"].split(".")
    assert json.loads(ca.b64url_decode(head)) == {"alg": "ES256", "typ": "JWT", "kid": "k1"}
    assert len(ca.b64url_decode(sig)) == 64  # raw r || s, not DER
    claims = ca.verify(form["client_assertion"], KEY.public_key())
    assert claims["iss"] == claims["sub"] == "776b0ba3-c00f" and claims["aud"] == URL
    assert claims["iat"] == int(NOW.timestamp()) and 0 < claims["exp"] - claims["iat"] <= 300


def test_every_assertion_has_a_fresh_jti() -> None:
    jtis = {
        ca.verify(ca.client_assertion("c", URL, PEM, NOW)["client_assertion"], KEY.public_key())["jti"]
        for _ in range(20)
    }
    assert len(jtis) == 20


@settings(max_examples=50, deadline=None)
@given(
    client_id=st.text(min_size=1, max_size=40),
    aud=st.text(min_size=1, max_size=80),
    flip=st.integers(min_value=0, max_value=10_000),
)
def test_signature_verifies_and_any_changed_byte_does_not(client_id: str, aud: str, flip: int) -> None:
    token = ca.sign(ca.claims(client_id, aud, NOW), PEM)
    assert ca.verify(token, KEY.public_key())["iss"] == client_id
    head, body, sig = token.split(".")
    raw = bytearray(ca.b64url_decode(body))
    raw[flip % len(raw)] ^= 0x01
    with pytest.raises(ValueError):
        ca.verify(f"{head}.{ca.b64url(bytes(raw))}.{sig}", KEY.public_key())


def test_another_key_does_not_verify() -> None:
    token = ca.sign(ca.claims("c", URL, NOW), PEM)
    with pytest.raises(ValueError):
        ca.verify(token, ec.generate_private_key(ec.SECP256R1()).public_key())


def test_jwk_as_stores_hands_it_over_becomes_the_same_key() -> None:
    n = KEY.private_numbers()
    jwk = {
        "kty": "EC",
        "crv": "P-256",
        "kid": "k9",
        "d": ca.b64url(n.private_value.to_bytes(32, "big")),
        "x": ca.b64url(n.public_numbers.x.to_bytes(32, "big")),
        "y": ca.b64url(n.public_numbers.y.to_bytes(32, "big")),
    }
    pem, kid = ca.jwk_to_pem(jwk)
    assert kid == "k9"
    ca.verify(ca.sign(ca.claims("c", URL, NOW), pem), KEY.public_key())
    with pytest.raises(ValueError):
        ca.jwk_to_pem({**jwk, "d": None})


def test_client_authentication_sends_the_assertion_instead_of_the_secret() -> None:
    fields = client_authentication(OAuthSecret(client_id="c", private_key=PEM), URL, NOW)
    assert set(fields) == {"client_assertion_type", "client_assertion"}
    assert client_authentication(OAuthSecret(client_id="c", client_secret="s"), URL, NOW) == {
        "client_secret": "s"
    }


@pytest.mark.parametrize(
    "pem",
    [
        "not a key",
        KEY.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pw"),
        ).decode(),
    ],
)
def test_an_unusable_key_is_an_auth_failure_not_a_crash(pem: str) -> None:
    with pytest.raises(CartAuthFailed):
        client_authentication(OAuthSecret(client_id="c", private_key=pem), URL, NOW)


def test_a_key_on_another_curve_is_refused() -> None:
    other = (
        ec.generate_private_key(ec.SECP384R1())
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        .decode()
    )
    with pytest.raises(ValueError):
        ca.check_private_key(other)


def test_cryptography_is_not_imported_until_a_key_signs() -> None:
    """Cold start: the poller of any cart (STORES included) loads without cryptography; only a refresh with a
    private key imports it."""
    import subprocess
    import sys

    code = (
        "import sys, enishi.polling.http, enishi.polling.service, enishi.carts.stores_jp, enishi_local.connect\n"
        "assert 'cryptography' not in sys.modules, 'imported at load'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
