"""The thin LINE push client against a tiny LINE stand-in on 127.0.0.1 (an in-process thread, not the network)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from enishi.channels.line import (
    LineClient,
    LineQuotaExceeded,
    LineRateLimited,
    LineRejected,
    LineRetryable,
    PushResult,
    retry_key,
)

TOKEN = "test-channel-access-token"
MESSAGES = [{"type": "text", "text": "ご注文の商品を発送いたしました。"}]


class FakeLine:
    """Answers each push with the next scripted (status, body, headers); records every request."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict, dict]] = []
        self.requests: list[dict] = []
        self.delay_first: float = 0.0


@pytest.fixture
def fake_line() -> Iterator[tuple[FakeLine, str]]:
    state = FakeLine()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep test output clean
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length))
            state.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
            if state.delay_first and len(state.requests) == 1:
                threading.Event().wait(state.delay_first)
            status, payload, headers = (
                state.script.pop(0) if state.script else (200, {"sentMessages": []}, {})
            )
            raw = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(raw)
            except (BrokenPipeError, ConnectionResetError):
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def client(base: str, **kw) -> LineClient:
    return LineClient(base, TOKEN, timeout=kw.pop("timeout", 2.0), sleep=lambda s: None, **kw)


def test_two_server_errors_then_ok_is_one_accepted_push_with_one_retry_key(fake_line):
    # Given LINE answers 500, 503, then 200
    state, base = fake_line
    state.script = [
        (500, {"message": "An error occurred in the backend"}, {}),
        (503, {"message": "Service unavailable"}, {}),
        (
            200,
            {"sentMessages": [{"id": "461230966842064897", "quoteToken": "q"}]},
            {"x-line-request-id": "req-3"},
        ),
    ]
    key = retry_key("shipping_notice.shipped.abc123")

    # When we push once
    result = client(base).push("U" + "a" * 32, MESSAGES, key)

    # Then it succeeded on the third request, and all three carried the same retry key and body
    assert result == PushResult(sent_message_ids=("461230966842064897",), request_id="req-3", attempts=3)
    assert len(state.requests) == 3
    assert {r["headers"]["X-Line-Retry-Key"] for r in state.requests} == {key}
    assert all(r["headers"]["Authorization"] == f"Bearer {TOKEN}" for r in state.requests)
    assert all(r["path"] == "/v2/bot/message/push" for r in state.requests)
    assert state.requests[0]["body"] == {
        "to": "U" + "a" * 32,
        "messages": MESSAGES,
        "notificationDisabled": False,
    }


def test_conflict_means_already_sent(fake_line):
    # Given the retry key was accepted before (LINE answers 409)
    state, base = fake_line
    state.script = [
        (
            409,
            {"message": "The retry key is already accepted", "sentMessages": [{"id": "1"}]},
            {"x-line-accepted-request-id": "first-req"},
        ),
    ]
    # When / Then the push counts as sent, without another request
    result = client(base).push("U1", MESSAGES, retry_key("k"))
    assert result.duplicate is True
    assert result.request_id == "first-req"
    assert result.sent_message_ids == ("1",)
    assert len(state.requests) == 1


def test_monthly_limit_is_quota_exceeded_without_retry(fake_line):
    state, base = fake_line
    state.script = [(429, {"message": "You have reached your monthly limit."}, {})]
    with pytest.raises(LineQuotaExceeded) as info:
        client(base).push("U1", MESSAGES, retry_key("k"))
    assert info.value.status == 429
    assert len(state.requests) == 1


def test_other_429_is_rate_limited(fake_line):
    state, base = fake_line
    state.script = [(429, {"message": "Too many requests"}, {})]
    with pytest.raises(LineRateLimited):
        client(base).push("U1", MESSAGES, retry_key("k"))
    assert len(state.requests) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 413])
def test_client_errors_are_rejected_and_not_retried(fake_line, status):
    # Given LINE refuses the request (bad token, payload, plan …)
    state, base = fake_line
    state.script = [
        (status, {"message": "Authentication failed", "details": [{"message": "x", "property": "y"}]}, {})
    ]
    # When / Then it is reported at once and never retried
    with pytest.raises(LineRejected) as info:
        client(base).push("U1", MESSAGES, retry_key("k"))
    assert info.value.status == status
    assert info.value.details == [{"message": "x", "property": "y"}]
    assert len(state.requests) == 1
    assert TOKEN not in str(info.value) and TOKEN not in repr(client(base))


def test_server_errors_every_time_raise_retryable_after_the_attempts(fake_line):
    state, base = fake_line
    state.script = [(500, {}, {})] * 3
    with pytest.raises(LineRetryable) as info:
        client(base, max_attempts=3).push("U1", MESSAGES, retry_key("k"))
    assert info.value.attempts == 3
    assert len(state.requests) == 3


def test_timeout_is_retried_with_the_same_key(fake_line):
    # Given the first request hangs past the client's timeout, the second is answered
    state, base = fake_line
    state.delay_first = 0.6
    state.script = [(200, {"sentMessages": [{"id": "late"}]}, {}), (200, {"sentMessages": [{"id": "2"}]}, {})]
    result = client(base, timeout=0.2).push("U1", MESSAGES, retry_key("k"))
    assert result.attempts == 2
    assert len(state.requests) == 2
    assert (
        state.requests[0]["headers"]["X-Line-Retry-Key"] == state.requests[1]["headers"]["X-Line-Retry-Key"]
    )


def test_connection_refused_is_retryable():
    # Given nothing listens on the port
    with pytest.raises(LineRetryable):
        client("http://127.0.0.1:9", max_attempts=2).push("U1", MESSAGES, retry_key("k"))


def test_retry_key_is_a_stable_uuid_per_message_key():
    assert retry_key("welcome.welcome.x") == retry_key("welcome.welcome.x")
    assert retry_key("welcome.welcome.x") != retry_key("welcome.welcome.y")


def test_refuses_more_than_five_messages_before_sending():
    with pytest.raises(ValueError):
        client("http://127.0.0.1:9").push("U1", MESSAGES * 6, retry_key("k"))
