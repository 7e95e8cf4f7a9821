"""The local HTTP API turns requests into API Gateway payload v2 events for the route's function."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request

import pytest

from enishi_local.cfn import RouteSpec
from enishi_local.http import LocalApi

ROUTES = [
    RouteSpec("POST /webhooks/shopify", "POST", "/webhooks/shopify", "Intake"),
    RouteSpec("GET /u/{token}", "GET", "/u/{token}", "Preferences"),
    RouteSpec("POST /u/{token}", "POST", "/u/{token}", "Preferences"),
]


@pytest.fixture
def api():
    calls: list[tuple[str, dict]] = []

    def invoke(function_name, event):
        calls.append((function_name, event))
        if event["rawPath"] == "/u/boom":
            raise RuntimeError("handler crashed")
        if function_name == "Preferences":
            return {
                "statusCode": 200,
                "headers": {"Content-Type": "text/html; charset=utf-8"},
                "body": "<p>配信停止しました</p>",
            }
        return {"statusCode": 202, "body": json.dumps({"accepted": True})}

    server = LocalApi(ROUTES, invoke, outbox=lambda: [{"channel": "email"}], port=0).start()
    server.calls = calls
    yield server
    server.stop()


def _request(api, method, path, body=None, headers=None):
    req = urllib.request.Request(api.url + path, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_a_webhook_becomes_a_payload_v2_event_with_the_raw_body(api):
    body = '{"id":1,"note":"日本語"}'.encode()
    status, _, data = _request(
        api,
        "POST",
        "/webhooks/shopify?x=1&x=2",
        body,
        {"X-Shopify-Topic": "checkouts/create", "Content-Type": "application/json"},
    )
    assert status == 202 and json.loads(data) == {"accepted": True}
    ((fn, event),) = api.calls
    assert fn == "Intake"
    assert event["version"] == "2.0" and event["routeKey"] == "POST /webhooks/shopify"
    assert event["headers"]["x-shopify-topic"] == "checkouts/create"  # lowercased like HTTP API
    assert event["body"].encode() == body and event["isBase64Encoded"] is False
    assert event["requestContext"]["http"] == {
        **event["requestContext"]["http"],
        "method": "POST",
        "path": "/webhooks/shopify",
    }
    assert event["queryStringParameters"] == {"x": "1,2"}


def test_a_binary_body_is_base64_encoded(api):
    body = b"\xff\xfe\x00binary"
    _request(api, "POST", "/webhooks/shopify", body)
    event = api.calls[-1][1]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body


def test_path_parameters_and_handler_headers(api):
    status, headers, data = _request(api, "GET", "/u/tok.en-1")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert data.decode() == "<p>配信停止しました</p>"
    assert api.calls[-1][1]["pathParameters"] == {"token": "tok.en-1"}


def test_unknown_routes_are_404_and_function_errors_500(api):
    assert _request(api, "GET", "/webhooks/shopify")[0] == 404
    assert _request(api, "GET", "/nowhere")[0] == 404
    status, _, data = _request(api, "GET", "/u/boom")
    assert status == 500 and json.loads(data) == {"message": "Internal Server Error"}


def test_local_outbox_and_health(api):
    status, _, data = _request(api, "GET", "/_local/outbox")
    assert status == 200 and json.loads(data) == [{"channel": "email"}]
    health = json.loads(_request(api, "GET", "/_local/health")[2])
    assert health["status"] == "ok" and "POST /webhooks/shopify" in health["routes"]


def test_keep_alive_requests_do_not_wait_for_a_delayed_ack(api):
    # Given one keep-alive connection (as the demo's requests.Session uses)
    import time

    import requests

    with requests.Session() as session:
        session.post(api.url + "/webhooks/shopify", data=b"{}")
        # When it posts twenty webhooks
        started = time.perf_counter()
        for _ in range(20):
            assert session.post(api.url + "/webhooks/shopify", data=b"{}").status_code == 202
        mean = (time.perf_counter() - started) / 20
    # Then none waited for the client's delayed ACK (Nagle held every response body back 40 ms)
    assert mean < 0.02, f"{mean * 1000:.0f} ms a request"


# ---- defect 12 (issue 9): a hostile or busy client never gets a 5xx or a reset from the local server


def test_fifty_clients_connecting_at_once_are_all_queued_and_answered():
    """The listen backlog was socketserver's 5: with the server busy for a moment (not accepting), the 7th client
    connecting was dropped and its connect timed out or was reset. All 50 now wait in the backlog and are served."""
    import socket

    server = LocalApi(
        ROUTES, lambda fn, event: {"statusCode": 202, "body": "{}"}, port=0
    )  # listening, not serving
    host, port = server.url.removeprefix("http://").split(":")
    sockets: list[socket.socket] = []
    try:
        for _ in range(50):
            sockets.append(socket.create_connection((host, int(port)), timeout=2))
        server.start()
        statuses = []
        for s in sockets:
            s.sendall(
                b"POST /webhooks/shopify HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                b"Connection: close\r\n\r\n{}"
            )
        for s in sockets:
            statuses.append(s.makefile("rb").readline().split()[1])
        assert statuses == [b"202"] * 50
    finally:
        for s in sockets:
            s.close()
        server.stop()


@pytest.mark.parametrize("method", ["OPTIONS", "TRACE", "CONNECT", "PROPFIND", "BREW"])
def test_any_other_method_is_405_with_allow_never_5xx(api, method):
    status, headers, _ = _request(api, method, "/u/abc")
    assert status == 405
    assert headers["Allow"] == "GET, POST"
    status, headers, _ = _request(api, method, "/webhooks/shopify", b"{}")
    assert status == 405 and headers["Allow"] == "POST"
    assert not api.calls


def test_a_content_length_that_is_not_a_number_is_400(api):
    import socket

    host, port = api.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(b"POST /webhooks/shopify HTTP/1.1\r\nHost: x\r\nContent-Length: 1e3\r\n\r\n{}")
        assert s.makefile("rb").readline().split()[1] == b"400"
