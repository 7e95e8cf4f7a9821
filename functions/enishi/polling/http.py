"""The cart API client and the OAuth token manager. No boto3 here: the token vault is a port.

``CartApi`` paces calls to the cart's rate limit (``min_interval`` seconds between two requests), retries 429 and
5xx/transport errors with exponential backoff (``Retry-After`` honoured, capped), and on a 401 refreshes the token
once and retries (a token that expired in the middle of a sweep). When the attempts are used up it raises
``CartUnavailable``: the sweep stops at its last saved page and the next scheduled run resumes there.

``TokenManager`` refreshes the access token ``REFRESH_MARGIN`` before it expires (refresh grant) and saves the new
tokens — including a rotated refresh token — to the vault *before* using them. When the cart refuses a refresh
token (another run rotated it first), it reloads the vault once and retries with what is there.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict

from enishi import clock
from enishi.carts import CartRequestFailed
from enishi.digits import ascii_int

REFRESH_MARGIN = timedelta(minutes=5)
REQUEST_TIMEOUT = 10.0
MAX_ATTEMPTS = 5
BACKOFF_BASE = 1.0
BACKOFF_CAP = 60.0


class CartUnavailable(Exception):
    """429 / 5xx / network errors persisted through every attempt: stop, resume on the next run."""


class CartAuthFailed(Exception):
    """No usable token (refresh refused, nothing to refresh with): the operator reconnects the shop."""


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


Transport = Callable[[str, str, Mapping[str, str], bytes | None, float], HttpResponse]


def urllib_transport(
    method: str, url: str, headers: Mapping[str, str], body: bytes | None, timeout: float
) -> HttpResponse:
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return HttpResponse(
                response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
            )
    except urllib.error.HTTPError as exc:
        return HttpResponse(
            exc.code, {k.lower(): v for k, v in (exc.headers or {}).items()}, exc.read() or b""
        )


class OAuthSecret(BaseModel):
    """What a connection's secret holds (written by ``enishi connect``). Extra keys are kept."""

    model_config = ConfigDict(extra="allow")

    client_id: str | None = None
    client_secret: str | None = None
    # private_key_jwt client authentication (STORES): an EC P-256 private key (PEM) signs an ES256 assertion
    # instead of sending a client secret; ``key_id`` is the JWK's ``kid`` (sent in the JWS header when present)
    private_key: str | None = None
    key_id: str | None = None
    access_token: str | None = None
    refresh_token: str | None = None
    expires_at: AwareDatetime | None = None  # None: the token does not expire (カラーミー)
    token_url: str | None = None
    redirect_uri: str | None = None  # BASE's refresh grant asks for it
    webhook_secret: str | None = None  # EC-CUBE: the WebHook secret
    previous_webhook_secret: str | None = None  # during a rotation

    def webhook_secrets(self) -> list[str]:
        return [s for s in (self.webhook_secret, self.previous_webhook_secret) if s]


class TokenVault(Protocol):
    def load(self) -> OAuthSecret: ...

    def save(self, secret: OAuthSecret) -> None: ...


def client_authentication(secret: OAuthSecret, token_url: str, now: datetime) -> dict[str, str]:
    """The form fields that authenticate enishi's client: a signed ES256 assertion when the secret holds a private
    key (``private_key_jwt``; ``cryptography`` imported only here), otherwise the client secret."""
    if not secret.private_key:
        return {"client_secret": secret.client_secret or ""}
    from enishi.polling import client_assertion

    try:
        return client_assertion.client_assertion(
            secret.client_id or "", token_url, secret.private_key, now, secret.key_id
        )
    except ValueError as exc:
        raise CartAuthFailed(f"the connection's private key is unusable: {exc}") from exc


class TokenManager:
    def __init__(
        self,
        vault: TokenVault,
        transport: Transport = urllib_transport,
        now: Callable[[], datetime] = clock.now,
    ) -> None:
        self._vault = vault
        self._transport = transport
        self._now = now
        self._secret: OAuthSecret | None = None
        self.refreshes = 0

    @property
    def secret(self) -> OAuthSecret:
        if self._secret is None:
            self._secret = self._vault.load()
        return self._secret

    def access_token(self) -> str:
        secret = self.secret
        if secret.expires_at is not None and secret.expires_at - self._now() <= REFRESH_MARGIN:
            self.refresh()
        token = self.secret.access_token
        if not token:
            raise CartAuthFailed("no access token: connect the shop (enishi connect)")
        return token

    def refresh(self) -> None:
        secret = self.secret
        if not secret.refresh_token or not secret.token_url:
            raise CartAuthFailed("the token cannot be refreshed: reconnect the shop (enishi connect)")
        try:
            answer = self._grant(secret)
        except CartAuthFailed:
            reloaded = self._vault.load()  # another run may have rotated the refresh token first
            if reloaded.refresh_token == secret.refresh_token:
                raise
            self._secret = reloaded
            if reloaded.expires_at is not None and reloaded.expires_at - self._now() > REFRESH_MARGIN:
                return
            answer = self._grant(reloaded)
            secret = reloaded
        expires_in = answer.get("expires_in")
        updated = secret.model_copy(
            update={
                "access_token": str(answer["access_token"]),
                "refresh_token": str(answer.get("refresh_token") or secret.refresh_token),
                "expires_at": self._now() + timedelta(seconds=int(expires_in)) if expires_in else None,
            }
        )
        self._vault.save(updated)  # before use: a rotated refresh token is never held only in memory
        self._secret = updated
        self.refreshes += 1

    def _grant(self, secret: OAuthSecret) -> dict[str, Any]:
        fields = {
            "grant_type": "refresh_token",
            "refresh_token": secret.refresh_token or "",
            "client_id": secret.client_id or "",
            **client_authentication(secret, str(secret.token_url), self._now()),
        }
        if secret.redirect_uri:
            fields["redirect_uri"] = secret.redirect_uri
        form = urllib.parse.urlencode(fields).encode()
        headers = {"content-type": "application/x-www-form-urlencoded", "accept": "application/json"}
        try:
            response = self._transport("POST", str(secret.token_url), headers, form, REQUEST_TIMEOUT)
        except OSError as exc:
            raise CartUnavailable(f"token endpoint unreachable: {type(exc).__name__}") from exc
        if response.status in (400, 401):
            raise CartAuthFailed(f"refresh refused ({response.status})")
        if response.status != 200:
            raise CartUnavailable(f"token endpoint answered {response.status}")
        try:
            answer = response.json()
        except ValueError as exc:
            raise CartUnavailable("token endpoint answered non-JSON") from exc
        if not isinstance(answer, dict) or not answer.get("access_token"):
            raise CartAuthFailed("token endpoint answered no access token")
        return answer


class CartApi:
    """``graphql(query, variables)`` (EC-CUBE, makeshop) and ``get(path, params)`` (REST carts)."""

    def __init__(
        self,
        base_url: str,
        *,
        tokens: TokenManager | None,
        min_interval: float = 0.0,
        transport: Transport = urllib_transport,
        sleep: Callable[[float], None] = clock.pause,  # time.sleep in Lambda; virtual time in the local stack
        monotonic: Callable[[], float] = clock.monotonic,
        max_attempts: int = MAX_ATTEMPTS,
        extra_headers: Mapping[str, str] | None = None,
        header_factory: Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._tokens = tokens
        self._min_interval = min_interval
        self._transport = transport
        self._sleep = sleep
        self._monotonic = monotonic
        self._max_attempts = max_attempts
        self._extra = dict(extra_headers or {})
        self._header_factory = header_factory  # per-request headers (makeshop's x-timestamp)
        self._last: float | None = None
        self.calls = 0
        self.backoffs: list[float] = []

    def graphql(self, query: str, variables: Mapping[str, Any]) -> Any:
        body = json.dumps({"query": query, "variables": dict(variables)}).encode()
        answer = self._send("POST", self._base, body)
        if not isinstance(answer, dict):
            raise CartRequestFailed("GraphQL answer is not an object")
        if answer.get("errors"):
            messages = [str(e.get("message", ""))[:200] for e in answer["errors"] if isinstance(e, dict)]
            raise CartRequestFailed(f"GraphQL errors: {messages}")
        return answer.get("data")

    def get(self, path: str, params: Mapping[str, Any]) -> Any:
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        return self._send("GET", f"{self._base}{path}?{query}" if query else self._base + path, None)

    def _pace(self) -> None:
        if self._last is not None and self._min_interval > 0:
            wait = self._min_interval - (self._monotonic() - self._last)
            if wait > 0:
                self._sleep(wait)
        self._last = self._monotonic()

    def _backoff(self, attempt: int, retry_after: str | None) -> None:
        delay = min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt)
        seconds = ascii_int(retry_after, 6) if retry_after else None
        if seconds is not None:
            delay = min(BACKOFF_CAP, float(seconds))
        self.backoffs.append(delay)
        self._sleep(delay)

    def _send(self, method: str, url: str, body: bytes | None) -> Any:
        refreshed = False
        attempt = 0
        while attempt < self._max_attempts:
            headers = {
                "accept": "application/json",
                **self._extra,
                **(self._header_factory() if self._header_factory else {}),
            }
            if body is not None:
                headers["content-type"] = "application/json"
            if self._tokens is not None:
                headers["authorization"] = f"Bearer {self._tokens.access_token()}"
            self._pace()
            self.calls += 1
            try:
                response = self._transport(method, url, headers, body, REQUEST_TIMEOUT)
            except OSError:
                self._backoff(attempt, None)
                attempt += 1
                continue
            if response.status == 401 and self._tokens is not None and not refreshed:
                self._tokens.refresh()  # expired in the middle of a sweep: refresh once, same attempt
                refreshed = True
                continue
            if response.status == 429 or response.status >= 500:
                self._backoff(attempt, response.headers.get("retry-after"))
                attempt += 1
                continue
            if response.status == 401:
                raise CartAuthFailed("the cart refused a fresh token")
            if response.status >= 400:
                raise CartRequestFailed(f"{method} answered {response.status}")
            try:
                return response.json()
            except ValueError as exc:
                raise CartUnavailable("cart answered non-JSON") from exc
        raise CartUnavailable(f"{method} gave up after {self._max_attempts} attempts")
