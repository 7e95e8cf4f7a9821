"""Local fakes of three Japanese carts' APIs on 127.0.0.1, shaped after their public documentation (JP_CARTS.md):

- ``FakeEccube``: EC-CUBE 4 + Web API plugin — GraphQL ``POST /api`` (``orders``/``order``/``customers``/
  ``customer``; ``orders`` leaves out statuses 7 and 8 like OrderRepository; ``update_datetime_start``; ``page`` /
  ``limit``; ``update_date`` descending), OAuth2 ``POST /token`` (authorization code and refresh grant; access tokens
  expire, refresh tokens **rotate**: the old one is refused once used), and the shop's signed id-only webhook
  (``notify``).
- ``FakeColorme``: カラーミーショップ — ``GET /v1/sales.json`` / ``/v1/customers.json`` with ``update_date_min`` /
  ``limit`` / ``offset`` and ``meta.total``; Unix timestamps; a bearer token that never expires.
- ``FakeStores``: STORES — ``GET /retail/202211/orders`` and a token endpoint that authenticates the client only by
  a ``private_key_jwt`` ES256 assertion (verified with the public key: signature, iss/sub, aud, exp, jti not
  replayed); refresh tokens rotate.

All: ``fail_next(n, status, retry_after)`` answers the next n API calls with an error (429 with ``Retry-After``),
``calls`` records every API call, ``expire_tokens_after(n)`` makes the current access token expire after n more API
calls (a token that runs out in the middle of a sweep). Times come from ``now`` (the local stack's virtual clock).
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler
from typing import Any, cast

from enishi import clock as enishi_clock
from enishi.carts import eccube
from enishi_local.http import LocalRequestHandler, QuietServer

JST = timezone(timedelta(hours=9))


class _FakeServer:
    name = "fake-cart"

    def __init__(self, now: Callable[[], datetime] = enishi_clock.now, port: int = 0) -> None:
        self._now = now
        self._lock = threading.RLock()
        self._faults: list[tuple[int, str | None]] = []
        self.calls: list[dict[str, Any]] = []
        self._expire_after: int | None = None
        self._server = QuietServer(("127.0.0.1", port), _handler_for(self))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{cast(str, host)}:{port}"  # an AF_INET server's address: (host as text, port)

    def start(self) -> Any:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name=self.name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fail_next(self, n: int = 1, status: int = 429, retry_after: str | None = "0") -> None:
        with self._lock:
            self._faults.extend([(status, retry_after)] * n)

    def expire_tokens_after(self, n: int) -> None:
        with self._lock:
            self._expire_after = n

    def _api_call(self, record: dict[str, Any]) -> tuple[int, dict[str, str], Any] | None:
        """Count the call, apply an injected fault; None to go on."""
        with self._lock:
            self.calls.append(record)
            if self._faults:
                status, retry_after = self._faults.pop(0)
                headers = {"Retry-After": retry_after} if retry_after is not None else {}
                return status, headers, {"message": "injected fault"}
        return None

    def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], Any]:
        raise NotImplementedError


def _handler_for(fake: _FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(LocalRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                status, extra, payload = fake.handle(self.command, self.path, headers, body)
            except Exception as exc:  # noqa: BLE001 - a fake answers 500 like a broken server
                status, extra, payload = 500, {}, {"message": type(exc).__name__}
            data = json.dumps(payload, ensure_ascii=False).encode()
            self.send_response(status)
            for k, v in extra.items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

    return Handler


class _OAuthTokens:
    """Access tokens that expire (``token_lifetime``) and refresh tokens that **rotate** (spent once used); the
    fake's ``_token`` decides who may have them. Mixed into a ``_FakeServer``."""

    _lock: Any
    _now: Callable[[], datetime]
    _expire_after: int | None
    token_lifetime: int
    _access: dict[str, datetime]
    _refresh: set[str]
    _codes: set[str]
    refreshes: int

    def issue_code(self) -> str:
        """What the admin's approval on /admin/authorize hands back to the redirect URI (valid once)."""
        with self._lock:
            code = secrets.token_urlsafe(16)
            self._codes.add(code)
            return code

    def _issue(self) -> dict[str, Any]:
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        self._access[access] = self._now() + timedelta(seconds=self.token_lifetime)
        self._refresh.add(refresh)
        return {
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
            "access_token": access,
            "refresh_token": refresh,
        }

    def _grant(self, form: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        """The grant itself, once the client is authenticated (call under ``_lock``): a code is spent once, a
        refresh token rotates."""
        if form.get("grant_type") == "authorization_code" and form.get("code") in self._codes:
            self._codes.discard(form["code"])
            return 200, {}, self._issue()
        if form.get("grant_type") == "refresh_token" and form.get("refresh_token") in self._refresh:
            self._refresh.discard(form["refresh_token"])  # rotated: the old refresh token is spent
            self.refreshes += 1
            return 200, {}, self._issue()
        return 400, {}, {"error": "invalid_grant"}

    def _authorized(self, headers: dict[str, str]) -> bool:
        token = headers.get("authorization", "").removeprefix("Bearer ")
        with self._lock:
            expiry = self._access.get(token)
            if expiry is None or expiry <= self._now():
                return False
            if self._expire_after is not None:
                if self._expire_after <= 0:
                    self._access[token] = self._now()
                    self._expire_after = None
                    return False
                self._expire_after -= 1
            return True


# ---------------------------------------------------------------- EC-CUBE 4 + Web API plugin

STATUS_NAMES = {
    1: "新規受付",
    3: "注文取消し",
    4: "対応中",
    5: "発送済み",
    6: "入金済み",
    7: "決済処理中",
    8: "購入処理中",
    9: "返品",
}


class FakeEccube(_OAuthTokens, _FakeServer):
    name = "fake-eccube"

    def __init__(
        self,
        now: Callable[[], datetime] = enishi_clock.now,
        port: int = 0,
        client_id: str = "local-eccube-client",
        client_secret: str = "local-eccube-client-secret",
        token_lifetime: int = 3600,
    ) -> None:
        super().__init__(now, port)
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_lifetime = token_lifetime
        self.orders: dict[str, dict[str, Any]] = {}
        self.customers: dict[str, dict[str, Any]] = {}
        self._access: dict[str, datetime] = {}  # token → expiry
        self._refresh: set[str] = set()
        self._codes: set[str] = set()
        self._ids = itertools.count(1)
        self.refreshes = 0
        self.mailmaga_plugin = True  # False: a shop without the MailMagazine plugin (the field is unknown)

    # ---- the shop's side (what a customer or the admin does)
    def _stamp(self) -> str:
        return self._now().astimezone(UTC).replace(microsecond=0).isoformat()

    def put_customer(
        self,
        email: str,
        name01: str = "山田",
        name02: str = "花子",
        mailmaga_flg: int | None = 1,
        customer_id: str | None = None,
    ) -> str:
        with self._lock:
            cid = customer_id or str(next(self._ids))
            row = self.customers.get(cid) or {"id": cid, "create_date": self._stamp()}
            row.update({"email": email, "name01": name01, "name02": name02, "update_date": self._stamp()})
            if mailmaga_flg is not None:
                row["mailmaga_flg"] = mailmaga_flg
            self.customers[cid] = row
            return cid

    def start_checkout(
        self,
        email: str,
        customer_id: str | None = None,
        items: list[dict[str, Any]] | None = None,
        order_id: str | None = None,
    ) -> str:
        """The order row EC-CUBE creates when a checkout starts: status 8 購入処理中."""
        items = items or [
            {
                "product_name": "玉露 八女 100g",
                "product_code": "GY-100",
                "price": 3240,
                "quantity": 1,
                "Product": {"id": "11"},
                "ProductClass": {"id": "21"},
            }
        ]
        with self._lock:
            oid = order_id or str(next(self._ids))
            total = sum(int(i["price"]) * int(i["quantity"]) for i in items)
            self.orders[oid] = {
                "id": oid,
                "order_no": oid,
                "email": email,
                "name01": "山田",
                "name02": "花子",
                "payment_total": total,
                "order_date": None,
                "payment_date": None,
                "create_date": self._stamp(),
                "update_date": self._stamp(),
                "OrderStatus": {"id": "8"},
                "Customer": {"id": customer_id} if customer_id else None,
                "OrderItems": [
                    *items,
                    {
                        "product_name": "送料",
                        "price": 770,
                        "quantity": 1,
                        "Product": None,
                        "ProductClass": None,
                    },
                ],
                "Shippings": [
                    {
                        "id": f"s{oid}",
                        "tracking_number": None,
                        "shipping_delivery_name": None,
                        "shipping_date": None,
                    }
                ],
            }
            return oid

    def complete(self, order_id: str, status: int = 1) -> None:
        with self._lock:
            row = self.orders[order_id]
            row.update(
                {
                    "OrderStatus": {"id": str(status)},
                    "order_date": self._stamp(),
                    "update_date": self._stamp(),
                }
            )

    def set_status(self, order_id: str, status: int) -> None:
        with self._lock:
            self.orders[order_id].update({"OrderStatus": {"id": str(status)}, "update_date": self._stamp()})

    def ship(self, order_id: str, tracking_number: str, carrier: str = "ヤマト運輸") -> None:
        with self._lock:
            row = self.orders[order_id]
            row["Shippings"][0].update(
                {
                    "tracking_number": tracking_number,
                    "shipping_delivery_name": carrier,
                    "shipping_date": self._stamp(),
                }
            )
            row.update({"OrderStatus": {"id": "5"}, "update_date": self._stamp()})

    def notify(self, url: str, secret: str | None, items: list[dict[str, Any]]) -> int:
        """EC-CUBE's WebHook: one signed POST of the id array, no retry; returns the HTTP status (0: unreachable)."""
        raw = json.dumps(items).encode()
        headers = {"Content-Type": "application/json", "X-ECCUBE-URL": self.url}
        if secret:
            headers["X-ECCUBE-Signature"] = eccube.sign(raw, secret)
        request = urllib.request.Request(url, data=raw, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except OSError:
            return 0

    def _token(self, body: bytes) -> tuple[int, dict[str, str], Any]:
        form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode()).items()}
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return 401, {}, {"error": "invalid_client"}
        with self._lock:
            return self._grant(form)

    # ---- GraphQL
    def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], Any]:
        if method == "POST" and path == "/token":
            return self._token(body)
        if method != "POST" or path != "/api":
            return 404, {}, {"message": "not found"}
        if not self._authorized(headers):
            return 401, {}, {"error": "invalid_token"}
        request = json.loads(body or b"{}")
        query, variables = str(request.get("query") or ""), request.get("variables") or {}
        fault = self._api_call({"query": query.split("(")[0].strip(), "variables": variables})
        if fault:
            return fault
        if "mailmaga_flg" in query and not self.mailmaga_plugin:
            return 200, {}, {"errors": [{"message": 'Cannot query field "mailmaga_flg" on type "Customer".'}]}
        with self._lock:
            for field, rows, listing in (
                ("orders", self.orders, True),
                ("customers", self.customers, True),
                ("order", self.orders, False),
                ("customer", self.customers, False),
            ):
                if re.search(rf"\b{field}\s*\(", query):
                    if not listing:
                        row = rows.get(str(variables.get("id")))
                        return 200, {}, {"data": {field: json.loads(json.dumps(row)) if row else None}}
                    return 200, {}, {"data": {field: self._list(field, rows, variables)}}
        return 200, {}, {"errors": [{"message": "unknown query"}]}

    def _list(self, field: str, rows: dict[str, dict[str, Any]], variables: dict[str, Any]) -> dict[str, Any]:
        since = variables.get("since")
        selected = list(rows.values())
        if since:
            bound = datetime.fromisoformat(since)
            selected = [r for r in selected if datetime.fromisoformat(r["update_date"]) >= bound]
        if field == "orders":  # without a status argument, 7 and 8 are left out (OrderRepository)
            selected = [r for r in selected if r["OrderStatus"]["id"] not in ("7", "8")]
        selected.sort(key=lambda r: (r["update_date"], int(r["id"])), reverse=True)
        page, limit = int(variables.get("page") or 1), int(variables.get("limit") or 50)
        chunk = selected[(page - 1) * limit : page * limit]
        return {
            "nodes": json.loads(json.dumps(chunk)),
            "totalCount": len(selected),
            "pageInfo": {"hasNextPage": page * limit < len(selected), "hasPreviousPage": page > 1},
        }


# ---------------------------------------------------------------- カラーミーショップ

DEFAULT_COLORME_TOKEN = "local-colorme-access-token"


class FakeColorme(_FakeServer):
    name = "fake-colorme"

    def __init__(
        self,
        now: Callable[[], datetime] = enishi_clock.now,
        port: int = 0,
        access_token: str = DEFAULT_COLORME_TOKEN,
    ) -> None:
        super().__init__(now, port)
        self.access_token = access_token
        self.sales: dict[str, dict[str, Any]] = {}
        self.customers: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(100001)

    def _ts(self) -> int:
        return int(self._now().timestamp())

    def put_customer(
        self, mail: str, name: str = "佐藤 一郎", receive_mail_magazine: bool | None = True
    ) -> str:
        with self._lock:
            cid = str(next(self._ids))
            self.customers[cid] = {
                "id": int(cid),
                "name": name,
                "mail": mail,
                "member": True,
                "receive_mail_magazine": receive_mail_magazine,
                "make_date": self._ts(),
                "update_date": self._ts(),
            }
            return cid

    def order(self, customer_id: str, items: list[dict[str, Any]] | None = None, paid: bool = True) -> str:
        items = items or [
            {"product_id": 501, "product_name": "ほうじ茶 ティーバッグ 20包", "price": 1080, "product_num": 2}
        ]
        with self._lock:
            sid = str(next(self._ids))
            customer = dict(self.customers[customer_id])
            self.sales[sid] = {
                "id": int(sid),
                "make_date": self._ts(),
                "update_date": self._ts(),
                "paid": paid,
                "delivered": False,
                "canceled": False,
                "total_price": sum(i["price"] * i["product_num"] for i in items) + 550,
                "customer": {k: customer[k] for k in ("id", "name", "mail", "receive_mail_magazine")},
                "details": items,
                "sale_deliveries": [
                    {
                        "id": int(sid) * 10,
                        "slip_number": None,
                        "tracking_url": None,
                        "delivered": False,
                        "preferred_date": None,
                        "preferred_period": None,
                    }
                ],
            }
            return sid

    def ship(self, sale_id: str, slip_number: str) -> None:
        with self._lock:
            sale = self.sales[sale_id]
            sale["sale_deliveries"][0].update({"slip_number": slip_number, "delivered": True})
            sale.update({"delivered": True, "update_date": self._ts()})

    def cancel(self, sale_id: str) -> None:
        with self._lock:
            self.sales[sale_id].update({"canceled": True, "update_date": self._ts()})

    def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], Any]:
        parts = urllib.parse.urlsplit(path)
        envelope = {
            "/v1/sales.json": ("sales", self.sales),
            "/v1/customers.json": ("customers", self.customers),
        }
        if method != "GET" or parts.path not in envelope:
            return 404, {}, {"errors": [{"code": 404000, "message": "not found"}]}
        if headers.get("authorization") != f"Bearer {self.access_token}":
            return 401, {}, {"errors": [{"code": 401000, "message": "invalid token", "status": 401}]}
        params = {k: v[0] for k, v in urllib.parse.parse_qs(parts.query).items()}
        fault = self._api_call({"path": parts.path, "params": params})
        if fault:
            return fault
        key, rows = envelope[parts.path]
        limit = int(params.get("limit") or 10)
        if limit > 50:
            return 400, {}, {"errors": [{"code": 400000, "message": "limit must be <= 50"}]}
        offset = int(params.get("offset") or 0)
        with self._lock:
            selected = list(rows.values())
            if "update_date_min" in params:
                bound = datetime.strptime(params["update_date_min"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=JST)
                selected = [r for r in selected if r["update_date"] >= int(bound.timestamp())]
            else:  # without dates only the last 7 days
                selected = [r for r in selected if r["make_date"] >= self._ts() - 7 * 86400]
            selected.sort(key=lambda r: r["id"], reverse=True)
            chunk = json.loads(json.dumps(selected[offset : offset + limit]))
        return 200, {}, {key: chunk, "meta": {"total": len(selected), "limit": limit, "offset": offset}}


# ---------------------------------------------------------------- STORES

STORES_MAX_ASSERTION_SECONDS = 3600  # STORES' own example assertion lives 1 h; a longer one is refused here


class FakeStores(_OAuthTokens, _FakeServer):
    """STORES (retail API 202211): ``GET /retail/202211/orders`` (``ordered_at_from``, ``limit`` ≤ 100, ``offset``)
    and its token endpoint ``POST /oauth2/token``, which authenticates the client **only** by a ``private_key_jwt``
    assertion: ES256 signature by the client's key (the fake generates the key pair, as STORES issues it),
    ``iss`` = ``sub`` = client id, ``aud`` = this token URL, not expired, ``jti`` never seen before. Access tokens
    last ``token_lifetime`` (1 h); refresh tokens rotate. ``refused`` records why each refused assertion was."""

    name = "fake-stores"

    def __init__(
        self,
        now: Callable[[], datetime] = enishi_clock.now,
        port: int = 0,
        client_id: str = "local-stores-client",
        token_lifetime: int = 3600,
    ) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec

        super().__init__(now, port)
        self.client_id = client_id
        self.token_lifetime = token_lifetime
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.key_id = "local-stores-key-1"
        self.orders: dict[str, dict[str, Any]] = {}
        self._access: dict[str, datetime] = {}
        self._refresh: set[str] = set()
        self._codes: set[str] = set()
        self._jtis: set[str] = set()
        self._ids = itertools.count(5001)
        self.refreshes = 0
        self.refused: list[str] = []

    @property
    def token_url(self) -> str:
        return f"{self.url}/oauth2/token"

    def private_key_pem(self) -> str:
        from cryptography.hazmat.primitives import serialization

        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode("ascii")

    def private_jwk(self) -> dict[str, str]:
        """The client's key as STORES hands it over (a JWK)."""
        from enishi.polling.client_assertion import b64url

        numbers = self._key.private_numbers()
        pub = numbers.public_numbers
        return {
            "kty": "EC",
            "crv": "P-256",
            "kid": self.key_id,
            "d": b64url(numbers.private_value.to_bytes(32, "big")),
            "x": b64url(pub.x.to_bytes(32, "big")),
            "y": b64url(pub.y.to_bytes(32, "big")),
        }

    # ---- the shop's side
    def order(self, email: str, items: list[dict[str, Any]] | None = None) -> str:
        items = items or [
            {"item_id": "it-1", "variation_id": "va-1", "name": "煎茶 100g", "price": 1620, "quantity": 1}
        ]
        with self._lock:
            oid = str(next(self._ids))
            self.orders[oid] = {
                "id": oid,
                "number": f"S{oid}",
                "email": email,
                "payment_amount": sum(int(i["price"]) * int(i["quantity"]) for i in items),
                "ordered_at": self._now().astimezone(JST).replace(microsecond=0).isoformat(),
                "deliveries": [
                    {
                        "id": f"d{oid}",
                        "items": items,
                        "shipped_at": None,
                        "canceled_at": None,
                        "tracking_number": None,
                        "delivery_method_name": None,
                    }
                ],
            }
            return oid

    # ---- OAuth2 (private_key_jwt only)
    def _client_ok(self, form: dict[str, str]) -> str | None:
        """None when the client authenticated; else why not."""
        from enishi.polling import client_assertion as ca

        if form.get("client_assertion_type") != ca.ASSERTION_TYPE or not form.get("client_assertion"):
            return "no client assertion"
        try:
            claims = ca.verify(form["client_assertion"], self._key.public_key())
        except ValueError as exc:
            return str(exc)
        now = int(self._now().timestamp())
        if claims.get("iss") != self.client_id or claims.get("sub") != self.client_id:
            return "iss/sub"
        if form.get("client_id") not in (None, self.client_id):
            return "client_id"
        if claims.get("aud") != self.token_url:
            return "aud"
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, int) or exp <= now or exp > now + STORES_MAX_ASSERTION_SECONDS:
            return "exp"
        if isinstance(iat, int) and iat > now + 60:
            return "iat"
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or jti in self._jtis:
            return "jti"
        self._jtis.add(jti)
        return None

    def _token(self, body: bytes) -> tuple[int, dict[str, str], Any]:
        form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode()).items()}
        with self._lock:
            why = self._client_ok(form)
            if why:
                self.refused.append(why)
                return 401, {}, {"error": "invalid_client", "error_description": why}
            return self._grant(form)

    def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], Any]:
        parts = urllib.parse.urlsplit(path)
        if method == "POST" and parts.path == "/oauth2/token":
            return self._token(body)
        if method != "GET" or parts.path != "/retail/202211/orders":
            return 404, {}, {"message": "not found"}
        if not self._authorized(headers):
            return 401, {}, {"error": "invalid_token"}
        params = {k: v[0] for k, v in urllib.parse.parse_qs(parts.query).items()}
        fault = self._api_call({"path": parts.path, "params": params})
        if fault:
            return fault
        limit, offset = int(params.get("limit") or 20), int(params.get("offset") or 0)
        if limit > 100:
            return 400, {}, {"message": "limit must be <= 100"}
        with self._lock:
            selected = list(self.orders.values())
            if params.get("ordered_at_from"):
                bound = datetime.fromisoformat(params["ordered_at_from"])
                selected = [r for r in selected if datetime.fromisoformat(r["ordered_at"]) >= bound]
            selected.sort(key=lambda r: (r["ordered_at"], int(r["id"])))
            chunk = json.loads(json.dumps(selected[offset : offset + limit]))
        return 200, {}, {"orders": chunk}
