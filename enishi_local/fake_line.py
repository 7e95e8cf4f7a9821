"""A fake LINE Messaging API on 127.0.0.1 that checks requests the way LINE does and records what it accepted.

Checked like LINE (REFERENCE §3): ``Authorization: Bearer <channel access token>`` (401), 1–5 messages, text
≤ 5,000 characters, Flex ``altText`` ≤ 1,500, a bubble ≤ 30 KB, a carousel ≤ 12 bubbles and ≤ 50 KB (400 with
LINE's ``{message, details[{message, property}]}`` body), ``X-Line-Retry-Key`` must be a UUID; a key seen before →
409 with ``x-line-accepted-request-id`` and the original ``sentMessages``; a monthly quota (``GET
/v2/bot/message/quota``, ``/quota/consumption``; 429 "You have reached your monthly limit." when used up).

Multicast (``POST /v2/bot/message/multicast``): ``to`` 1–500 user ids (``U`` + 32 hex; a malformed one → 400
naming ``to[i]``; LINE itself accepts a well-formed id that is no friend and delivers nothing), one optional
``customAggregationUnits`` name; 200 answers ``{}``, a repeated retry key 409 without ``sentMessages``; the quota
counts each recipient, and a multicast the rest of the month cannot cover is refused whole (429). ``pushes()`` lists
every delivered message (a multicast: one entry per recipient), ``multicasts()`` the requests.

For tests: ``fail_next(n, status)`` answers the next n pushes or multicasts with ``status`` (``accept=True``
records the request first, like a response lost after LINE accepted it, so the retry meets a 409).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import uuid
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from typing import Any, cast

from enishi import clock as enishi_clock
from enishi_local.http import LocalRequestHandler, QuietServer

DEFAULT_ACCESS_TOKEN = "local-line-channel-access-token"
DEFAULT_MONTHLY_QUOTA = 5000  # ライト plan (shop.yaml messaging.line_monthly_quota)

MAX_MESSAGES = 5
MAX_TEXT = 5000
MAX_ALT_TEXT = 1500
MAX_BUBBLE_BYTES = 30 * 1024
MAX_CAROUSEL_BYTES = 50 * 1024
MAX_CAROUSEL_BUBBLES = 12

_PUSH = "/v2/bot/message/push"
_MULTICAST = "/v2/bot/message/multicast"
MAX_MULTICAST_TO = 500
_USER_ID = re.compile(r"^U[0-9a-f]{32}$")  # LINE user ids: "U" + 32 hex digits
_UNIT = re.compile(r"^[A-Za-z0-9_]{1,30}$")  # customAggregationUnits: one name of 1–30 of these
_QUOTA = "/v2/bot/message/quota"
_CONSUMPTION = "/v2/bot/message/quota/consumption"
_LINK_TOKEN = re.compile(r"^/v2/bot/user/([^/]+)/linkToken$")


class FakeLine:
    def __init__(
        self,
        access_token: str = DEFAULT_ACCESS_TOKEN,
        monthly_quota: int | None = DEFAULT_MONTHLY_QUOTA,
        port: int = 0,
        now: Callable[[], datetime] = enishi_clock.now,
    ) -> None:
        self.access_token = access_token
        self.monthly_quota = monthly_quota
        self._now = now
        self._lock = threading.Lock()
        self._pushes: list[dict[str, Any]] = []  # one per delivered message (a multicast: one per recipient)
        self._multicasts: list[dict[str, Any]] = []  # one per accepted multicast request
        self._accepted: dict[str, dict[str, Any]] = {}  # retry key → {request_id, sent_messages}
        self._usage: dict[str, int] = {}  # "yyyy-mm" → messages counted
        self._faults: list[tuple[int, bool]] = []  # (status, accept) per upcoming push
        self._ids = itertools.count(100_000_000_000_000_001)
        self._server = QuietServer(("127.0.0.1", port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # ---- lifecycle
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{cast(str, host)}:{port}"  # an AF_INET server's address: (host as text, port)

    def start(self) -> FakeLine:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fake-line", daemon=True
        )
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeLine:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- test controls and records
    def fail_next(self, n: int = 1, status: int = 500, *, accept: bool = False) -> None:
        with self._lock:
            self._faults.extend([(status, accept)] * n)

    def pushes(self, since: int = 0) -> list[dict[str, Any]]:
        """Accepted pushes, oldest first: {to, messages, retry_key, request_id, sent_at, sent_messages}; ``since``
        skips the first ones (an incremental reader pays for what is new, not for the whole history)."""
        with self._lock:
            return [dict(p) for p in self._pushes[since:]]

    def multicasts(self) -> list[dict[str, Any]]:
        """Accepted multicast requests, oldest first: {to: [...], messages, retry_key, request_id, sent_at}."""
        with self._lock:
            return [dict(m) for m in self._multicasts]

    def usage(self, month: str | None = None) -> int:
        with self._lock:
            return self._usage.get(month or self._month(), 0)

    def clear(self) -> None:
        with self._lock:
            self._pushes.clear()
            self._multicasts.clear()
            self._accepted.clear()
            self._usage.clear()
            self._faults.clear()

    def _month(self) -> str:
        return self._now().strftime("%Y-%m")

    # ---- the API (called by the request handler; returns status, headers, body)
    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, dict]:
        if headers.get("authorization") != f"Bearer {self.access_token}":
            return (
                401,
                {},
                {
                    "message": "Authentication failed. Confirm that the access token in the "
                    "authorization header is valid."
                },
            )
        if method == "GET" and path == _QUOTA:
            if self.monthly_quota is None:
                return 200, {}, {"type": "none"}
            return 200, {}, {"type": "limited", "value": self.monthly_quota}
        if method == "GET" and path == _CONSUMPTION:
            return 200, {}, {"totalUsage": self.usage()}
        if method == "POST" and _LINK_TOKEN.match(path):
            return 200, {}, {"linkToken": uuid.uuid4().hex}
        if method == "POST" and path in (_PUSH, _MULTICAST):
            return self._send(path, headers, body)
        if "x-line-retry-key" in headers:
            return (
                400,
                {},
                {"message": "The retry key can only be used with push, multicast, narrowcast and broadcast."},
            )
        return 404, {}, {"message": "Not found"}

    def _send(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, dict]:
        """A push (``to``: one user id) or a multicast (``to``: 1–500 user ids, counted each)."""
        retry_key = headers.get("x-line-retry-key")
        if retry_key is not None and not _is_uuid(retry_key):
            return 400, {}, {"message": "The value for the 'X-Line-Retry-Key' header is invalid"}
        try:
            request = json.loads(body)
        except ValueError:
            return (
                400,
                {},
                {
                    "message": "The request body has 1 error(s)",
                    "details": [{"message": "malformed JSON", "property": ""}],
                },
            )
        multicast = path == _MULTICAST
        problems = validate_multicast(request) if multicast else validate_push(request)
        if problems:
            return 400, {}, {"message": f"The request body has {len(problems)} error(s)", "details": problems}
        with self._lock:
            return self._accept(request, retry_key, multicast)

    def _accept(
        self, request: dict[str, Any], retry_key: str | None, multicast: bool
    ) -> tuple[int, dict, dict]:
        """Under the lock: the retry key, an injected fault, the quota (a multicast counts each recipient and is
        refused whole when the rest of the month's quota cannot cover it), then the record."""
        if retry_key is not None and retry_key in self._accepted:
            first = self._accepted[retry_key]
            repeated = {} if multicast else {"sentMessages": first["sent_messages"]}  # push only
            return (
                409,
                {"x-line-accepted-request-id": first["request_id"]},
                {"message": "The retry key is already accepted", **repeated},
            )
        fault = self._faults.pop(0) if self._faults else None
        if fault is not None and not fault[1]:
            return fault[0], {}, {"message": "An error occurred in the API server (injected)"}
        month = self._month()
        recipients = request["to"] if multicast else [request["to"]]
        if (
            self.monthly_quota is not None
            and self._usage.get(month, 0) + len(recipients) > self.monthly_quota
        ):
            return 429, {}, {"message": "You have reached your monthly limit."}
        request_id = str(uuid.uuid4())
        sent = [{"id": str(next(self._ids)), "quoteToken": uuid.uuid4().hex} for _ in request["messages"]]
        self._usage[month] = self._usage.get(month, 0) + len(recipients)  # counted per recipient
        if retry_key is not None:
            self._accepted[retry_key] = {"request_id": request_id, "sent_messages": sent}
        record = {"retry_key": retry_key, "request_id": request_id, "sent_at": self._now().isoformat()}
        if multicast:
            self._multicasts.append({**record, "to": list(recipients), "messages": request["messages"]})
        for to in recipients:  # one delivered message per recipient, as a push records it
            self._pushes.append({**record, "to": to, "messages": request["messages"], "sent_messages": sent})
        if fault is not None:  # accepted, but the caller sees an error (a lost response)
            return fault[0], {}, {"message": "An error occurred in the API server (injected)"}
        return 200, {"x-line-request-id": request_id}, ({} if multicast else {"sentMessages": sent})


def validate_push(request: Any) -> list[dict[str, str]]:
    """LINE's 400 details for a push body, empty when it is acceptable."""
    if not isinstance(request, dict):
        return [{"message": "must be an object", "property": ""}]
    problems: list[dict[str, str]] = []
    if not isinstance(request.get("to"), str) or not request["to"]:
        problems.append({"message": "must be specified", "property": "to"})
    return problems + _message_problems(request.get("messages"))


def validate_multicast(request: Any) -> list[dict[str, str]]:
    """LINE's 400 details for a multicast body: ``to`` 1–500 user ids (each ``U`` + 32 hex; a bad one is named
    ``to[i]``), the messages as for a push, ``customAggregationUnits`` one name of 1–30 ``[A-Za-z0-9_]``."""
    if not isinstance(request, dict):
        return [{"message": "must be an object", "property": ""}]
    to = request.get("to")
    if not isinstance(to, list) or not 1 <= len(to) <= MAX_MULTICAST_TO:
        problems = [{"message": f"Size must be between 1 and {MAX_MULTICAST_TO}", "property": "to"}]
    else:
        problems = [
            {"message": "invalid user ID", "property": f"to[{i}]"}
            for i, user in enumerate(to)
            if not isinstance(user, str) or not _USER_ID.match(user)
        ]
    units = request.get("customAggregationUnits")
    if units is not None and not (
        isinstance(units, list) and len(units) == 1 and isinstance(units[0], str) and _UNIT.match(units[0])
    ):
        problems.append({"message": "invalid aggregation unit", "property": "customAggregationUnits"})
    return problems + _message_problems(request.get("messages"))


def _message_problems(messages: Any) -> list[dict[str, str]]:
    problems: list[dict[str, str]] = []
    if not isinstance(messages, list) or not 1 <= len(messages) <= MAX_MESSAGES:
        problems.append({"message": f"Size must be between 1 and {MAX_MESSAGES}", "property": "messages"})
        return problems
    for i, message in enumerate(messages):
        prop = f"messages[{i}]"
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "text":
            text = message.get("text")
            if not isinstance(text, str) or not 1 <= len(text) <= MAX_TEXT:
                problems.append(
                    {"message": f"Length must be between 1 and {MAX_TEXT}", "property": f"{prop}.text"}
                )
        elif kind == "flex":
            alt = message.get("altText")
            if not isinstance(alt, str) or not 1 <= len(alt) <= MAX_ALT_TEXT:
                problems.append(
                    {"message": f"Length must be between 1 and {MAX_ALT_TEXT}", "property": f"{prop}.altText"}
                )
            problems.extend(_flex_problems(message.get("contents"), f"{prop}.contents"))
        elif kind in ("image", "video", "audio", "location", "sticker", "imagemap", "template"):
            continue
        else:
            problems.append({"message": "Invalid message type", "property": f"{prop}.type"})
    return problems


def _flex_problems(contents: Any, prop: str) -> list[dict[str, str]]:
    if not isinstance(contents, dict):
        return [{"message": "must be specified", "property": prop}]
    size = len(json.dumps(contents, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    if contents.get("type") == "bubble":
        if size > MAX_BUBBLE_BYTES:
            return [{"message": f"Size must be at most {MAX_BUBBLE_BYTES} bytes", "property": prop}]
        return []
    if contents.get("type") == "carousel":
        bubbles = contents.get("contents")
        if not isinstance(bubbles, list) or not 1 <= len(bubbles) <= MAX_CAROUSEL_BUBBLES:
            return [
                {
                    "message": f"Size must be between 1 and {MAX_CAROUSEL_BUBBLES}",
                    "property": f"{prop}.contents",
                }
            ]
        if size > MAX_CAROUSEL_BYTES:
            return [{"message": f"Size must be at most {MAX_CAROUSEL_BYTES} bytes", "property": prop}]
        problems: list[dict[str, str]] = []
        for i, bubble in enumerate(bubbles):
            problems.extend(_flex_problems(bubble, f"{prop}.contents[{i}]"))
        return problems
    return [{"message": "Invalid flex container type", "property": f"{prop}.type"}]


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _handler_for(fake: FakeLine) -> type[BaseHTTPRequestHandler]:
    class Handler(LocalRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, extra, payload = fake.handle(self.command, self.path.split("?", 1)[0], headers, body)
            data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in extra.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

    return Handler
