"""STORES against its local fake: the token endpoint authenticates enishi only by a private_key_jwt (ES256)
assertion. A sweep whose access token expires mid-sweep refreshes with a valid assertion and goes on; a wrong key,
wrong aud, expired or replayed assertion is refused, and the sweep stops without losing its cursor."""

from __future__ import annotations

import urllib.parse
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from test_polling_fakes import SHOP, Claims, Clock, Cursors, Raw, Vault, placed

from enishi.carts import stores_jp
from enishi.polling import client_assertion as ca
from enishi.polling import service
from enishi.polling.contract import CartConnection
from enishi.polling.http import CartApi, CartAuthFailed, OAuthSecret, TokenManager, urllib_transport
from enishi.publish import InMemoryPublisher
from enishi_local.fake_carts import FakeStores


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def stores(clock: Clock):
    with FakeStores(now=clock) as fake:
        yield fake


def setup(fake: FakeStores, clock: Clock, **secret: object) -> tuple[CartConnection, service.Ports, Vault]:
    connection = CartConnection(
        id="stores-main",
        cart="stores",
        shop_id=SHOP,
        base_url=fake.url,
        initial_lookback_hours=24,
        overlap_seconds=60,
    )
    tokens = fake._issue()
    vault = Vault(
        OAuthSecret(
            **{
                "client_id": fake.client_id,
                "private_key": fake.private_key_pem(),
                "key_id": fake.key_id,
                "access_token": tokens["access_token"],
                "refresh_token": tokens["refresh_token"],
                "expires_at": clock() + timedelta(seconds=tokens["expires_in"]),
                "token_url": fake.token_url,
                **secret,
            }
        )
    )
    api = CartApi(stores_jp.api_base(connection), tokens=TokenManager(vault, now=clock), sleep=lambda s: None)
    return (
        connection,
        service.Ports(api=api, cursors=Cursors(), claims=Claims(), publisher=InMemoryPublisher(), raw=Raw()),
        vault,
    )


def test_token_expiring_mid_sweep_is_refreshed_with_a_valid_assertion(
    stores: FakeStores, clock: Clock
) -> None:
    for n in range(stores_jp.PAGE_SIZE * 2 + 1):
        stores.order(f"buyer{n}@example.jp")
    connection, ports, vault = setup(stores, clock)
    old_refresh = vault.secret.refresh_token
    stores.expire_tokens_after(1)  # dies after the first page
    report = service.sweep(connection, stores_jp, ports, clock() + timedelta(minutes=1))
    assert report.stopped is None
    assert len(placed(ports.publisher)) == stores_jp.PAGE_SIZE * 2 + 1
    assert stores.refreshes == 1 and stores.refused == [] and vault.saves == 1
    assert vault.secret.refresh_token != old_refresh  # rotated and saved


def test_refreshed_before_expiry_each_time_with_a_new_assertion(stores: FakeStores, clock: Clock) -> None:
    stores.order("a@example.jp")
    connection, ports, _vault = setup(stores, clock)
    for _ in range(3):  # three hours: three refreshes, three distinct jti, no replay refused
        clock.advance(minutes=56)
        service.sweep(connection, stores_jp, ports, clock())
    assert stores.refreshes == 3 and stores.refused == []


def other_key() -> str:
    return (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        .decode()
    )


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        ({"private_key": None}, "no client assertion"),  # a client secret instead: refused
        ({"private_key": "WRONG"}, "bad signature"),
        ({"client_id": "someone-else"}, "iss/sub"),
        ({"token_url": "AUD"}, "aud"),
    ],
)
def test_refused_assertion_stops_the_sweep_and_keeps_the_cursor(
    stores: FakeStores, clock: Clock, secret: dict[str, object], why: str
) -> None:
    for n in range(stores_jp.PAGE_SIZE + 1):
        stores.order(f"buyer{n}@example.jp")
    overrides = dict(secret)
    if overrides.get("private_key") == "WRONG":
        overrides["private_key"] = other_key()
    if overrides.get("token_url") == "AUD":  # posted to the fake, but signed for another audience
        overrides["token_url"] = stores.token_url
    connection, ports, vault = setup(
        stores,
        clock,
        **({"client_secret": "s"} if "private_key" in secret else {}),
        **{k: v for k, v in overrides.items() if k != "token_url"},
    )
    if "token_url" in secret:
        manager = ports.api._tokens
        real = manager._transport

        def transport(method, url, headers, body, timeout):  # the assertion names another audience
            form = dict(urllib.parse.parse_qsl(body.decode()))
            form["client_assertion"] = ca.sign(
                ca.claims(stores.client_id, "https://api.id.stores.jp/oauth2/token", clock()),
                stores.private_key_pem(),
            )
            return real(method, url, headers, urllib.parse.urlencode(form).encode(), timeout)

        manager._transport = transport
    stores.expire_tokens_after(1)
    with pytest.raises(CartAuthFailed):
        service.sweep(connection, stores_jp, ports, clock() + timedelta(minutes=1))
    assert stores.refused == [why]
    assert len(placed(ports.publisher)) == stores_jp.PAGE_SIZE  # the first page was published...
    cursor = ports.cursors.load("stores-main", "orders")
    assert cursor.in_progress and cursor.next_page == 2  # ...and the sweep resumes at page 2 once reconnected
    assert vault.saves == 0


def _post(fake: FakeStores, form: dict[str, str]) -> int:
    body = urllib.parse.urlencode(form).encode()
    return urllib_transport(
        "POST", fake.token_url, {"content-type": "application/x-www-form-urlencoded"}, body, 5.0
    ).status


def test_expired_and_replayed_assertions_are_refused(stores: FakeStores, clock: Clock) -> None:
    refresh = stores._issue()["refresh_token"]
    base = {"grant_type": "refresh_token", "client_id": stores.client_id}
    stale = ca.client_assertion(
        stores.client_id, stores.token_url, stores.private_key_pem(), clock() - timedelta(minutes=10)
    )
    assert _post(stores, {**base, "refresh_token": refresh, **stale}) == 401
    fresh = ca.client_assertion(stores.client_id, stores.token_url, stores.private_key_pem(), clock())
    assert _post(stores, {**base, "refresh_token": refresh, **fresh}) == 200
    refresh2 = stores._issue()["refresh_token"]
    assert _post(stores, {**base, "refresh_token": refresh2, **fresh}) == 401  # same jti again
    assert stores.refused == ["exp", "jti"]
    assert (
        _post(
            stores,
            {
                **base,
                "refresh_token": refresh,
                **ca.client_assertion(stores.client_id, stores.token_url, stores.private_key_pem(), clock()),
            },
        )
        == 400
    )  # rotated: spent
