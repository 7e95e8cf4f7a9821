"""The local HTTP API: the deployed routes (from the template) served on 127.0.0.1, each request turned into the
API Gateway HTTP API payload v2 event the real handler receives, the handler's response written back.

Local-only extras: ``GET /_local/outbox`` (every email and LINE message sent, JSON) and ``GET /_local/health``.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

from enishi.digits import ascii_int
from enishi_local.cfn import RouteSpec

Invoke = Callable[
    [str, dict[str, Any]], Any
]  # (function name, event) → handler result; raises on a function error

API_ID = "local"
OUTBOX_PATH = "/_local/outbox"
HEALTH_PATH = "/_local/health"
OPERATOR_PATH = "/_local/operator"  # operator commands run inside the local stack (enishi_local.operator)


def build_event(
    route: RouteSpec,
    method: str,
    raw_path: str,
    query: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    path_parameters: dict[str, str],
    *,
    source_ip: str = "127.0.0.1",
    domain: str = "localhost",
    now: datetime | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) event, as API Gateway would build it."""
    merged: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    try:
        text: str | None = body.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    when = now or datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": merged,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": API_ID,
            "domainName": domain,
            "domainPrefix": domain.split(".")[0],
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": merged.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route.route_key,
            "stage": "$default",
            "time": when.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(when.timestamp() * 1000),
        },
        "isBase64Encoded": text is None,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        params: dict[str, str] = {}
        for k, v in parse_qsl(query, keep_blank_values=True):
            params[k] = f"{params[k]},{v}" if k in params else v
        event["queryStringParameters"] = params
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body:
        event["body"] = text if text is not None else base64.b64encode(body).decode("ascii")
    return event


def to_http_response(result: Any) -> tuple[int, dict[str, str], list[str], bytes]:
    """Status, headers, cookies and body from a handler's payload v2 response (API Gateway's rules: a dict
    with ``statusCode`` is used as is; anything else is a 200 JSON body)."""
    if isinstance(result, dict) and "statusCode" in result:
        body = result.get("body") or ""
        data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode("utf-8")
        headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
        for k, values in (result.get("multiValueHeaders") or {}).items():
            headers[str(k)] = ",".join(str(v) for v in values)
        return int(result["statusCode"]), headers, list(result.get("cookies") or []), data
    data = json.dumps(result, ensure_ascii=False).encode("utf-8")
    return 200, {"content-type": "application/json"}, [], data


class LocalApi:
    """``ThreadingHTTPServer`` serving ``routes`` through ``invoke`` on 127.0.0.1 (port 0 picks a free one)."""

    def __init__(
        self,
        routes: Sequence[RouteSpec],
        invoke: Invoke,
        outbox: Callable[[], list[dict[str, Any]]] = list,
        *,
        port: int = 8787,
        host: str = "127.0.0.1",
        now: Callable[[], datetime] | None = None,
        operator: Callable[[bytes], dict[str, Any]] | None = None,
    ) -> None:
        self.routes = list(routes)
        self._operator = operator
        self._invoke = invoke
        self._outbox = outbox
        self._now = now
        self._started = time.monotonic()
        self._server = QuietServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = cast(str, self._server.server_address[0])  # an AF_INET server's address: (host as text, port)
        return f"http://{host}:{self.port}"

    def start(self) -> LocalApi:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="local-api", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
        self._server.server_close()

    def respond(
        self, method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes
    ) -> tuple[int, dict[str, str], list[str], bytes]:
        parts = urlsplit(target)
        path = parts.path or "/"
        if method == "GET" and path == OUTBOX_PATH:
            return _json(200, self._outbox())
        if method == "POST" and path == OPERATOR_PATH and self._operator is not None:
            return _json(200, self._operator(body))
        if method == "GET" and path == HEALTH_PATH:
            return _json(
                200,
                {
                    "status": "ok",
                    "uptime_seconds": round(time.monotonic() - self._started, 1),
                    "routes": [r.route_key for r in self.routes],
                    "now": self._now().isoformat() if self._now else None,
                },
            )
        for route in self.routes:
            params = route.match(method, path)
            if params is None:
                continue
            event = build_event(
                route,
                method,
                path,
                parts.query,
                headers,
                body,
                params,
                domain=_host(headers),
                now=self._now() if self._now else None,
            )
            try:
                result = self._invoke(route.function_name, event)
            except Exception:  # a function error: API Gateway answers 500 without detail  # noqa: BLE001
                return _json(500, {"message": "Internal Server Error"})
            return to_http_response(result)
        return _json(404, {"message": "Not Found"})

    def allowed_methods(self, path: str) -> list[str]:
        """The methods some route (or a local extra) serves at ``path``."""
        allowed = {"GET", "HEAD"} if path in (OUTBOX_PATH, HEALTH_PATH) else set()
        for route in self.routes:
            for method in SERVED_METHODS:
                if route.match(method, path) is not None:
                    allowed.add(method)
        return sorted(allowed)


def _host(headers: Sequence[tuple[str, str]]) -> str:
    for k, v in headers:
        if k.lower() == "host":
            return v
    return "localhost"


def _json(status: int, payload: Any) -> tuple[int, dict[str, str], list[str], bytes]:
    return status, {"content-type": "application/json"}, [], json.dumps(payload, ensure_ascii=False).encode()


SERVED_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH")


class LocalRequestHandler(BaseHTTPRequestHandler):
    """What the local servers (the API and the fake LINE) share: keep-alive HTTP/1.1, no Nagle, no access log, and
    no 5xx for a method it does not serve (``http.server`` answers those 501): 405 with ``Allow``."""

    protocol_version = "HTTP/1.1"
    # TCP_NODELAY: the headers and the body go out in two writes; with Nagle the body waited for the
    # client's delayed ACK — 40 ms on every keep-alive request (measured: 44 ms → under 1 ms a request)
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def allowed_methods(self, path: str) -> list[str]:
        """The methods served at ``path`` (the ``Allow`` of a 405)."""
        return ["GET", "HEAD", "POST"]

    def __getattr__(self, name: str) -> Any:
        # ``http.server`` looks up ``do_<METHOD>`` and answers 501 when it is missing: every other method
        # (OPTIONS, TRACE, CONNECT, anything a client invents) is answered here
        if name.startswith("do_") and name[3:] not in SERVED_METHODS:
            return self._method_not_allowed
        raise AttributeError(name)

    def body_length(self) -> int | None:
        """The request's ``Content-Length`` (0 when absent), or None when it is not a number."""
        return ascii_int(self.headers.get("Content-Length") or "0", 12)

    def _method_not_allowed(self) -> None:
        length = self.body_length()
        if length:
            self.rfile.read(length)
        data = json.dumps({"message": "Method Not Allowed"}).encode()
        self.send_response(405)
        self.send_header("Allow", ", ".join(self.allowed_methods(urlsplit(self.path).path or "/")))
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if length is None:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    # the listen backlog: with socketserver's 5, 20 clients connecting at once got connection resets
    request_queue_size = 1024

    def handle_error(self, request, client_address) -> None:
        """A client that hung up (timeout, Ctrl-C) is not an error worth a traceback."""
        import sys

        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


def _handler_for(api: LocalApi) -> type[BaseHTTPRequestHandler]:
    class Handler(LocalRequestHandler):
        def allowed_methods(self, path: str) -> list[str]:
            return api.allowed_methods(path)

        def __getattr__(self, name: str) -> Any:
            method = name[3:] if name.startswith("do_") else ""
            if (
                method
                and method not in SERVED_METHODS
                and any(r.match(method, urlsplit(self.path).path or "/") is not None for r in api.routes)
            ):
                return (
                    self._serve
                )  # an ANY route takes every method: its handler answers, as behind API Gateway
            return super().__getattr__(name)

        def _serve(self) -> None:
            length = self.body_length()
            if length is None:  # no way to know where the body ends: answer and close
                self.close_connection = True
                self._send(*_json(400, {"message": "Bad Request"}))
                return
            body = self.rfile.read(length) if length else b""
            self._send(*api.respond(self.command, self.path, list(self.headers.items()), body))

        def _send(self, status: int, headers: dict[str, str], cookies: list[str], data: bytes) -> None:
            self.send_response(status)
            lowered = {k.lower() for k in headers}
            for k, v in headers.items():
                if k.lower() != "content-length":
                    self.send_header(k, v)
            if "content-type" not in lowered and data:
                self.send_header("Content-Type", "application/json")
            for c in cookies:
                self.send_header("Set-Cookie", c)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve

    return Handler
