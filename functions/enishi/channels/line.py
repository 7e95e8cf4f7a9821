"""A thin LINE Messaging API push client on ``urllib.request`` (no SDK, no requests in the Lambda).

Why not the official ``line-bot-sdk``: importing ``linebot.v3.messaging`` costs several times ``import boto3`` on a
cold start (see ``bench/bench_send.py`` and the README's decision log), and one POST with two headers does not need
it. The SDK's pydantic models are still used in the tests to validate our Flex JSON.

``push(to, messages, retry_key)`` sends ``POST {base}/v2/bot/message/push`` with ``X-Line-Retry-Key: retry_key``
on the first try and on every retry, so LINE executes it at most once (a repeat answers 409 = already accepted).
``multicast(to, messages, retry_key)`` sends one message to up to 500 user ids (``POST …/multicast``) with the
same answers; LINE counts each recipient against the monthly quota and refuses with 429 a multicast that the rest
of the quota cannot cover (as the fake LINE models it).

| answer                         | result                                                           |
|--------------------------------|------------------------------------------------------------------|
| 200                            | ``PushResult(sent_message_ids=…)``                               |
| 409 (retry key already used)   | ``PushResult(duplicate=True)`` — it was sent                     |
| 5xx, timeout, connection error | retried with backoff (same key), then ``LineRetryable``           |
| 429 "monthly limit"            | ``LineQuotaExceeded`` (fall back to email / wait)                 |
| 429 other                      | ``LineRateLimited``                                              |
| 400 / 401 / 403 / 413 / other  | ``LineRejected`` — not retried                                   |
"""

from __future__ import annotations

import json
import random
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from enishi import clock
from enishi import constants as c
from enishi.channels.backoff import Backoff

PUSH_PATH = "/v2/bot/message/push"
MULTICAST_PATH = "/v2/bot/message/multicast"
MAX_MULTICAST = 500  # user ids per multicast request (LINE's limit)
DEFAULT_BASE_URL = c.LINE_API_BASE_URL
DEFAULT_TIMEOUT_SECONDS = 5.0
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_BACKOFF_BASE_SECONDS = 0.5
DEFAULT_BACKOFF_CAP_SECONDS = 4.0
MAX_MESSAGES = 5
MONTHLY_LIMIT_MARKER = "monthly limit"
# A fixed namespace: the retry key of a message is the same in every run, so a resend is always safe.
RETRY_KEY_NAMESPACE = uuid.UUID("6f1c2a7e-4b1d-5e0a-9c3e-656e69736869")


def retry_key(message_key: str) -> str:
    """``X-Line-Retry-Key`` for one message: a UUID derived from its idempotency key (uuid5)."""
    return str(uuid.uuid5(RETRY_KEY_NAMESPACE, message_key))


@dataclass(frozen=True)
class PushResult:
    sent_message_ids: tuple[str, ...] = ()
    duplicate: bool = False  # 409: this retry key was already accepted — the message was sent before
    request_id: str | None = None  # x-line-request-id (or x-line-accepted-request-id on a 409)
    attempts: int = 1


@dataclass
class LineError(Exception):
    message: str
    status: int | None = None
    details: list[Any] = field(default_factory=list)
    attempts: int = 1

    def __str__(self) -> str:
        return f"LINE {self.status}: {self.message}" if self.status else f"LINE: {self.message}"


class LineRetryable(LineError):
    """5xx / timeout after our retries: the state machine may retry later with the same key."""


class LineQuotaExceeded(LineError):
    """429 "You have reached your monthly limit.": no LINE pushes until next month."""


class LineRateLimited(LineError):
    """429 (per-second rate limit): retry later."""


class LineRejected(LineError):
    """400 / 401 / 403 / 413 …: the request itself is wrong (bad token, plan, payload); never retried."""


class LineClient:
    def __init__(
        self,
        base_url: str,
        access_token: str,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff_base: float = DEFAULT_BACKOFF_BASE_SECONDS,
        backoff_cap: float = DEFAULT_BACKOFF_CAP_SECONDS,
        sleep: Callable[[float], None] = clock.pause,
        rng: Callable[[], float] = random.random,
    ) -> None:
        base = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self._push_url = base + PUSH_PATH
        self._multicast_url = base + MULTICAST_PATH
        self._token = access_token
        self._timeout = timeout
        self._backoff = Backoff(max_attempts, backoff_base, backoff_cap, sleep, rng)

    def __repr__(self) -> str:  # never print the token
        return f"LineClient(url={self._push_url!r})"

    def push(
        self,
        to: str,
        messages: Sequence[dict[str, Any]],
        retry_key: str,
        *,
        notification_disabled: bool = False,
    ) -> PushResult:
        _check_messages(messages)
        uuid.UUID(retry_key)  # LINE accepts only a UUID; fail before sending anything
        body = {"to": to, "messages": list(messages), "notificationDisabled": notification_disabled}
        return self._post(self._push_url, body, retry_key)

    def multicast(
        self,
        to: Sequence[str],
        messages: Sequence[dict[str, Any]],
        retry_key: str,
        *,
        aggregation_unit: str | None = None,
        notification_disabled: bool = False,
    ) -> PushResult:
        """One identical message to up to ``MAX_MULTICAST`` user ids (``POST /v2/bot/message/multicast``); the
        answers are those of ``push`` (200 → ``{}``: no ``sentMessages``; a repeated retry key → 409)."""
        _check_messages(messages)
        if not 1 <= len(to) <= MAX_MULTICAST:
            raise ValueError(f"a multicast goes to 1 to {MAX_MULTICAST} user ids, got {len(to)}")
        uuid.UUID(retry_key)
        body: dict[str, Any] = {
            "to": list(to),
            "messages": list(messages),
            "notificationDisabled": notification_disabled,
        }
        if aggregation_unit:
            body["customAggregationUnits"] = [aggregation_unit]
        return self._post(self._multicast_url, body, retry_key)

    def _post(self, url: str, body_json: dict[str, Any], retry_key: str) -> PushResult:
        """POST with the retry key on every try; 5xx / no answer retried with backoff (table above)."""
        body = json.dumps(body_json, ensure_ascii=False).encode("utf-8")
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Content-Type": "application/json; charset=utf-8",
            "X-Line-Retry-Key": retry_key,
        }
        last: LineRetryable | None = None
        for attempt in range(1, self._backoff.max_attempts + 1):
            request = urllib.request.Request(url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self._timeout) as response:
                    payload = _json(response.read())
                    return PushResult(
                        sent_message_ids=_sent_ids(payload),
                        request_id=response.headers.get("x-line-request-id"),
                        attempts=attempt,
                    )
            except urllib.error.HTTPError as exc:
                answered = _answered(exc, attempt)
                if isinstance(answered, PushResult):
                    return answered
                last = answered
            except (TimeoutError, urllib.error.URLError, ConnectionError) as exc:
                last = LineRetryable(f"no answer: {type(exc).__name__}", None, [], attempt)
            if attempt < self._backoff.max_attempts:
                self._backoff.wait(attempt)
        assert last is not None
        raise last


def _check_messages(messages: Sequence[dict[str, Any]]) -> None:
    if not 1 <= len(messages) <= MAX_MESSAGES:
        raise ValueError(f"a push carries 1 to {MAX_MESSAGES} messages, got {len(messages)}")


def _answered(exc: urllib.error.HTTPError, attempt: int) -> PushResult | LineRetryable:
    """An HTTP error answer: 409 → the earlier acceptance; 5xx → retryable; anything else raised."""
    status = exc.code
    payload = _json(exc.read())
    message = str(payload.get("message") or exc.reason or "")
    details = payload.get("details") or []
    if status == 409:
        return PushResult(
            sent_message_ids=_sent_ids(payload),
            duplicate=True,
            request_id=exc.headers.get("x-line-accepted-request-id") if exc.headers else None,
            attempts=attempt,
        )
    if status == 429:
        kind = LineQuotaExceeded if MONTHLY_LIMIT_MARKER in message.lower() else LineRateLimited
        raise kind(message, status, details, attempt) from None
    if status >= 500:
        return LineRetryable(message or "server error", status, details, attempt)
    raise LineRejected(message or "rejected", status, details, attempt) from None


def _json(raw: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(raw.decode("utf-8")) if raw else {}
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _sent_ids(payload: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(m["id"]) for m in payload.get("sentMessages") or () if isinstance(m, dict) and "id" in m)
