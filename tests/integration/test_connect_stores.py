"""``enishi connect stores``: the client id, the private key STORES issued (JWK or PEM) and a code (or tokens) are
stored in the connection's secret; the stored secret then refreshes against the fake's assertion-checking endpoint."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from test_polling_fakes import Clock, Vault

from enishi.polling.http import TokenManager
from enishi_local.connect import ConnectError, build_secret, parser
from enishi_local.fake_carts import FakeStores


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def stores(clock: Clock):
    with FakeStores(now=clock) as fake:
        yield fake


def opts(*argv: str):
    return parser().parse_args(["stores", "--secret-arn", "arn:aws:secretsmanager:x", *argv])


@pytest.mark.parametrize("form", ["jwk", "jwks", "pem"])
def test_code_exchanged_with_an_assertion_and_the_secret_refreshes(
    stores: FakeStores, clock: Clock, tmp_path: Path, form: str
) -> None:
    key = tmp_path / "stores-key"
    key.write_text(
        {
            "jwk": json.dumps(stores.private_jwk()),
            "jwks": json.dumps({"keys": [stores.private_jwk()]}),
            "pem": stores.private_key_pem(),
        }[form]
    )
    secret = build_secret(
        opts(
            "--client-id",
            stores.client_id,
            "--private-key",
            str(key),
            "--redirect-uri",
            "https://example.jp/cb",
            f"--code={stores.issue_code()}",
            "--token-url",
            stores.token_url,
        ),
        now=clock,
    )
    assert secret.client_secret is None and secret.private_key and secret.refresh_token
    assert secret.key_id == (None if form == "pem" else stores.key_id)
    assert "PRIVATE KEY" in secret.private_key
    vault = Vault(secret)
    clock.advance(minutes=58)
    TokenManager(vault, now=clock).access_token()  # refreshed with an assertion, rotated token saved
    assert stores.refreshes == 1 and stores.refused == [] and vault.saves == 1


def test_stores_without_a_key_or_with_a_bad_one_is_refused(stores: FakeStores, tmp_path: Path) -> None:
    with pytest.raises(ConnectError, match="--private-key"):
        build_secret(opts("--client-id", "c", "--access-token", "a", "--refresh-token", "r"))
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ConnectError, match="not a usable"):
        build_secret(
            opts("--client-id", "c", "--private-key", str(bad), "--access-token", "a", "--refresh-token", "r")
        )
    good = tmp_path / "k.pem"
    good.write_text(stores.private_key_pem())
    with pytest.raises(ConnectError, match="--refresh-token"):
        build_secret(opts("--client-id", "c", "--private-key", str(good), "--access-token", "a"))


def test_tokens_obtained_elsewhere_are_stored_with_the_key(
    stores: FakeStores, clock: Clock, tmp_path: Path
) -> None:
    key = tmp_path / "k.pem"
    key.write_text(stores.private_key_pem())
    secret = build_secret(
        opts(
            "--client-id",
            "c",
            "--private-key",
            str(key),
            "--access-token",
            "a",
            "--refresh-token",
            "r",
            "--expires-in",
            "3600",
        ),
        now=clock,
    )
    assert secret.token_url == "https://api.id.stores.jp/oauth2/token"
    assert secret.expires_at == clock() + timedelta(hours=1) and secret.client_secret is None
