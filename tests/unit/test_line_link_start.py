"""LINE account-link start: only a request signed by the shop's backend, current, for a served shop, issues a nonce
and redirects — always to LINE's fixed dialog address."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enishi.line_link import logic

SECRET = "shop-backend-link-secret"
SHOP = "enishi-demo.myshopify.com"
USER = "U4af4980629a1b2c3d4e5f60718293a4b"
NOW = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)


class Store:
    def __init__(self) -> None:
        self.nonces: dict[str, str] = {}

    def put_nonce(self, shop, nonce, customer_id, created_at, expires_at) -> None:
        self.nonces[nonce] = customer_id

    def consume_nonce(self, shop, nonce, now):  # pragma: no cover - not used here
        return self.nonces.pop(nonce, None)

    def restore_nonce(self, shop, nonce, customer_id, now) -> None:  # pragma: no cover
        self.nonces[nonce] = customer_id


def params(
    customer: str = "318", exp: int | None = None, secret: str = SECRET, **over: str
) -> dict[str, str]:
    exp = exp if exp is not None else int((NOW + timedelta(minutes=5)).timestamp())
    p = {"shop": SHOP, "c": customer, "u": USER, "exp": str(exp)}
    p["sig"] = logic.sign(secret, p["shop"], p["c"], p["u"], exp)
    return {**p, **over}


def start(p: dict[str, str], store: Store | None = None) -> logic.Answer:
    return logic.start_link(
        p,
        secrets=[SECRET],
        served_shops=[SHOP],
        link_token=lambda user: "LINKTOKEN",
        store=store or Store(),
        now=lambda: NOW,
    )


def test_signed_current_request_redirects_to_line_with_a_fresh_nonce() -> None:
    store = Store()
    answer = start(params(), store)
    assert answer.status == 302 and answer.location
    url = urlsplit(answer.location)
    assert (url.scheme, url.netloc, url.path) == ("https", "access.line.me", "/dialog/bot/accountLink")
    q = parse_qs(url.query)
    assert q["linkToken"] == ["LINKTOKEN"]
    assert store.nonces == {q["nonce"][0]: "318"}
    assert len(q["nonce"][0]) >= 43


@pytest.mark.parametrize(
    ("p", "reason"),
    [
        (params(secret="forged-secret"), "signature"),
        (params(c="319"), "signature"),  # customer swapped after signing
        (params(exp=int((NOW - timedelta(seconds=1)).timestamp())), "expired"),
        (params(exp=int((NOW + timedelta(hours=1)).timestamp())), "expired"),  # too long-lived
        ({k: v for k, v in params().items() if k != "sig"}, "missing"),
        (params(exp=0, sig="x"), "signature"),
    ],
)
def test_refused_requests_store_nothing(p: dict[str, str], reason: str) -> None:
    store = Store()
    answer = start(p, store)
    assert (answer.status, answer.reason, answer.location) == (403, reason, None)
    assert store.nonces == {}


def test_unknown_shop_and_malformed_ids_are_refused() -> None:
    exp = int((NOW + timedelta(minutes=5)).timestamp())
    other = {"shop": "other.example", "c": "1", "u": USER, "exp": str(exp)}
    other["sig"] = logic.sign(SECRET, "other.example", "1", USER, exp)
    assert start(other).reason == "unknown_shop"
    bad_user = {"shop": SHOP, "c": "1", "u": "not-a-line-id", "exp": str(exp)}
    bad_user["sig"] = logic.sign(SECRET, SHOP, "1", "not-a-line-id", exp)
    assert start(bad_user).reason == "malformed"


def test_line_unavailable_is_503_and_stores_nothing() -> None:
    def down(user: str) -> str:
        raise logic.LinkTokenFailed("down")

    store = Store()
    answer = logic.start_link(
        params(), secrets=[SECRET], served_shops=[SHOP], link_token=down, store=store, now=lambda: NOW
    )
    assert answer.status == 503 and store.nonces == {}


@given(st.sampled_from(["shop", "c", "u", "exp", "sig"]), st.text(min_size=1, max_size=40))
@settings(max_examples=150, deadline=None)
def test_any_tampered_field_is_refused(field: str, value: str) -> None:
    p = params()
    if p[field] == value:
        return
    p[field] = value
    assert start(p).status == 403


@given(
    st.dictionaries(
        st.sampled_from(["shop", "c", "u", "exp", "sig", "next", "redirect"]), st.text(max_size=60)
    )
)
@settings(max_examples=150, deadline=None)
def test_never_raises_and_never_redirects_elsewhere(p: dict[str, str]) -> None:
    answer = start(p)
    assert answer.status in (302, 403)
    assert answer.location is None or answer.location.startswith(
        "https://access.line.me/dialog/bot/accountLink?"
    )
