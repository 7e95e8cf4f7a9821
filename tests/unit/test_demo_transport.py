"""The simulated shop's HTTP client (``demo.driver.HttpTransport``): one kept-alive connection, the status as the
answer (redirects not followed), and a connection the server dropped between requests replaced, not failed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from enishi_local.demo.driver import HttpTransport


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[tuple[str, str, bytes, int, str]]] = []  # method, path, body, client port, user agent
    drop_after_next = False

    def _answer(self, status: int, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
        if _Handler.drop_after_next:  # close without saying so: the client finds out on its next request
            _Handler.drop_after_next = False
            self.close_connection = True

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append(
            ("POST", self.path, body, self.client_address[1], self.headers.get("User-Agent", ""))
        )
        self._answer(201 if self.path == "/created" else 200)

    def do_GET(self) -> None:
        self.seen.append(("GET", self.path, b"", self.client_address[1], self.headers.get("User-Agent", "")))
        self._answer(302, {"Location": "https://shop.example/landing"})

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_posts_and_gets_answer_their_status_over_one_connection(server):
    transport = HttpTransport(timeout=5)
    try:
        assert (
            transport.post(server + "/created", "注文".encode(), {"Content-Type": "application/json"}) == 201
        )
        assert transport.post(server + "/webhooks/x?shop=a", b"{}", {}) == 200
        assert (
            transport.get(server + "/c/abc", {"User-Agent": "Mozilla/5.0 Line/14.0"}) == 302
        )  # not followed
    finally:
        transport.close()
    paths = [(m, p, b) for m, p, b, _, _ in _Handler.seen]
    assert paths == [
        ("POST", "/created", "注文".encode()),
        ("POST", "/webhooks/x?shop=a", b"{}"),
        ("GET", "/c/abc", b""),
    ]
    assert len({port for *_, port, _ in _Handler.seen}) == 1  # kept alive
    assert _Handler.seen[-1][4] == "Mozilla/5.0 Line/14.0"


def test_a_connection_the_server_dropped_between_requests_is_replaced(server):
    transport = HttpTransport(timeout=5)
    try:
        _Handler.drop_after_next = True
        assert transport.post(server + "/a", b"1", {}) == 200
        assert (
            transport.post(server + "/b", b"2", {}) == 200
        )  # the old connection is gone: a new one carries it
    finally:
        transport.close()
    assert [p for _, p, _, _, _ in _Handler.seen] == ["/a", "/b"]  # each delivered once
    assert len({port for *_, port, _ in _Handler.seen}) == 2
