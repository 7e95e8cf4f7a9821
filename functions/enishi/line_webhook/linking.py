"""LINE account linking (Messaging API "Linking user accounts"), the shop side.

1. The shop's site gets a link token for the LINE user (``POST /v2/bot/user/{userId}/linkToken``) and sends the
   user to its login page with it.
2. Once the customer has logged in, the login page calls ``issue_nonce(store, shop, customer_id)``: a random,
   single-use nonce (256 bits, URL-safe) mapped to the customer id, valid for 10 minutes.
3. The login page redirects to ``account_link_url(link_token, nonce)``.
4. LINE sends an ``accountLink`` webhook event with ``link.result`` and ``link.nonce``; the webhook consumes the nonce
   (atomically: a nonce links once) and publishes ``line.identity_changed`` ``linked`` with the customer.

The nonce is the only thing that ties a LINE user to a customer; it carries no customer data itself.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Protocol
from urllib.parse import urlencode

from enishi import clock

NONCE_TTL = timedelta(minutes=10)
NONCE_BYTES = 32  # 256 bits → 43 URL-safe characters (LINE accepts 10–255, asks for ≥ 128 bits)
ACCOUNT_LINK_URL = "https://access.line.me/dialog/bot/accountLink"


class NonceExists(Exception):
    """A nonce collided with a live one (never expected with 256 random bits)."""


class NonceStore(Protocol):
    def put_nonce(
        self, shop: str, nonce: str, customer_id: str, created_at: datetime, expires_at: datetime
    ) -> None:
        """Store the nonce if it does not exist yet; raise ``NonceExists`` otherwise."""
        ...

    def consume_nonce(self, shop: str, nonce: str, now: datetime) -> str | None:
        """Delete the nonce and return its customer id; None if unknown, already used, or expired."""
        ...

    def restore_nonce(self, shop: str, nonce: str, customer_id: str, now: datetime) -> None:
        """Undo a consume whose effect could not be published (so LINE's redelivery can still link)."""
        ...


def issue_nonce(store: NonceStore, shop: str, customer_id: str) -> str:
    if not customer_id:
        raise ValueError("customer id required")
    now = clock.now()
    nonce = secrets.token_urlsafe(NONCE_BYTES)
    store.put_nonce(shop, nonce, customer_id, now, now + NONCE_TTL)
    return nonce


def account_link_url(link_token: str, nonce: str) -> str:
    return f"{ACCOUNT_LINK_URL}?{urlencode({'linkToken': link_token, 'nonce': nonce})}"
