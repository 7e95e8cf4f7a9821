"""The account-link start, pure (ports for the nonce store and the link-token call).

The shop's logged-in member page sends the customer to

    GET {enishi}/line/link?shop=<shop id>&c=<customer id>&u=<LINE user id>&exp=<unix seconds>&sig=<hex>

where ``sig`` = lowercase hex HMAC-SHA256, keyed by the link-signing secret shared with the shop's backend, of
``"v1|{shop}|{c}|{u}|{exp}"`` (``sign``). The backend signs only for the customer who is logged in; ``exp`` is at
most ``MAX_VALIDITY`` ahead. enishi then:

1. verifies the signature and the expiry (before anything else; 403 otherwise, nothing stored);
2. issues a link token for that LINE user (``POST /v2/bot/user/{u}/linkToken``, valid 10 minutes, single use);
3. stores a random single-use nonce (256 bits) bound to the customer id, valid 10 minutes (``linking.issue_nonce``);
4. answers 302 to ``https://access.line.me/dialog/bot/accountLink?linkToken=…&nonce=…`` — always that fixed
   address (no redirect target is ever taken from the request: no open redirect).

Why this is safe: the customer id comes only from the shop's signature; the LINE user id needs no trust — LINE
binds the link token to the user it was issued for, so another LINE user cannot complete the dialog, and the
``accountLink`` webhook links the user LINE reports (``source.userId``) to the nonce's customer, once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from enishi.digits import ascii_int
from enishi.line_webhook.linking import NonceStore, account_link_url, issue_nonce

MAX_VALIDITY = timedelta(minutes=10)
LINE_USER_ID = re.compile(r"^U[0-9a-f]{32}$")
CUSTOMER_ID = re.compile(r"^[\w\-.:@]{1,128}$")


class LinkTokenFailed(Exception):
    """LINE did not issue a link token (outage, unknown user): 503, try again."""


class LinkTokenSource(Protocol):
    def __call__(self, line_user_id: str) -> str: ...


@dataclass(frozen=True)
class Answer:
    status: int
    location: str | None = None
    reason: str = ""


def sign(secret: str, shop: str, customer_id: str, line_user_id: str, exp: int) -> str:
    message = f"v1|{shop}|{customer_id}|{line_user_id}|{exp}".encode()
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify(
    params: Mapping[str, str], secrets: Sequence[str], served_shops: Collection[str], now: datetime
) -> str | None:
    """The reason the request is refused, or None when it is authentic and current. Never raises."""
    shop, customer, user = params.get("shop") or "", params.get("c") or "", params.get("u") or ""
    exp_raw, sig = params.get("exp") or "", (params.get("sig") or "").strip()
    exp = ascii_int(exp_raw, 12)
    if not (shop and customer and user and sig) or exp is None:
        return "missing"
    ok = False
    for secret in secrets:
        if secret:
            ok |= hmac.compare_digest(
                sign(secret, shop, customer, user, exp).encode(), sig.encode("ascii", "replace")
            )
    if not ok:
        return "signature"
    now_s = int(now.timestamp())
    if exp <= now_s or exp > now_s + int(MAX_VALIDITY.total_seconds()):
        return "expired"
    if shop not in served_shops:
        return "unknown_shop"
    if not LINE_USER_ID.match(user) or not CUSTOMER_ID.match(customer):
        return "malformed"
    return None


def start_link(
    params: Mapping[str, str],
    *,
    secrets: Sequence[str],
    served_shops: Collection[str],
    link_token: LinkTokenSource,
    store: NonceStore,
    now: Callable[[], datetime],
) -> Answer:
    reason = verify(params, secrets, served_shops, now())
    if reason is not None:
        return Answer(403, reason=reason)
    try:
        token = link_token(params["u"])
    except LinkTokenFailed:
        return Answer(503, reason="line_unavailable")
    nonce = issue_nonce(store, params["shop"], params["c"])
    return Answer(302, location=account_link_url(token, nonce))
