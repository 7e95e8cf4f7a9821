"""``enishi connect eccube|colorme …``: store a shop's cart connection (OAuth client, tokens, webhook secret) in the
connection's Secrets Manager secret, which the deployed poller reads (and refreshes).

    # EC-CUBE: the shop admin registers an API client (設定 > API管理 > OAuth管理) with enishi's redirect URI,
    # approves it on https://<shop>/<admin>/authorize?response_type=code&client_id=…&redirect_uri=…&scope=read
    # and hands over the code (valid 10 minutes):
    enishi connect eccube --secret-arn <CartSecretArn…> --shop-url https://shop.example.jp \
        --client-id … --client-secret … --redirect-uri … --code … --webhook-secret …
    # カラーミーショップ: same with https://api.shop-pro.jp/oauth/authorize (scope read_sales); the token never expires
    enishi connect colorme --secret-arn <…> --client-id … --client-secret … --redirect-uri … --code …
    # STORES: no client secret; the client authenticates with an ES256 assertion signed by the private key STORES
    # issued with the partner app (a JWK file, or a PEM). The code comes from
    # https://api.id.stores.jp/oauth2/auth?response_type=code&client_id=…&redirect_uri=…&scope=retail.shop.read%20offline_access
    # (valid 15 minutes):
    enishi connect stores --secret-arn <…> --client-id … --private-key stores-key.jwk --redirect-uri … --code …

``--access-token`` / ``--refresh-token`` store tokens obtained elsewhere instead of exchanging a code. Against the
local stack, ``connect_local(stack, connection_id, secret)`` writes the same secret inside its moto (tests, demo).
Nothing secret is printed.
"""

from __future__ import annotations

import argparse
import json
import urllib.parse
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from enishi import clock
from enishi import constants as c
from enishi.polling.http import OAuthSecret, Transport, urllib_transport
from enishi.polling.store import SecretsManagerVault

CARTS = ("eccube", "colorme", "base", "stores", "makeshop")
KEY_CARTS = frozenset(
    {"stores"}
)  # carts whose client authenticates by a private_key_jwt assertion, not a secret


class ConnectError(Exception):
    pass


def token_url(cart: str, shop_url: str | None) -> str:
    if cart == "eccube":
        from enishi.carts import eccube

        if not shop_url:
            raise ConnectError("--shop-url is required for EC-CUBE")
        return eccube.token_url(shop_url)
    if cart == "base":
        from enishi.carts import base_jp

        return base_jp.TOKEN_URL
    if cart == "stores":
        from enishi.carts import stores_jp

        return stores_jp.TOKEN_URL
    if cart == "makeshop":
        return ""  # 永続token from the install webhook: nothing to exchange or refresh
    from enishi.carts import colorme

    return colorme.TOKEN_URL


def exchange_code(
    url: str,
    client_id: str,
    client_secret: str | None,
    code: str,
    redirect_uri: str,
    transport: Transport = urllib_transport,
    *,
    auth: dict[str, str] | None = None,
) -> dict[str, Any]:
    """``auth``: the client-authentication fields when not a client secret (STORES' signed assertion)."""
    client = auth if auth is not None else {"client_secret": client_secret or ""}
    form = urllib.parse.urlencode(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": client_id,
            **client,
        }
    ).encode()
    response = transport(
        "POST",
        url,
        {"content-type": "application/x-www-form-urlencoded", "accept": "application/json"},
        form,
        15.0,
    )
    if response.status != 200:
        raise ConnectError(
            f"the cart refused the code ({response.status}): codes are valid 10-15 minutes, once"
            " (STORES: or the private key / client id does not match the app)"
        )
    answer = response.json()
    if not isinstance(answer, dict) or not answer.get("access_token"):
        raise ConnectError("the cart answered no access token")
    return answer


def read_private_key(path: str) -> tuple[str, str | None]:
    """The client's private key file: a JWK (as STORES hands it over) or a PEM → (unencrypted PEM, kid)."""
    from enishi.polling import client_assertion

    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise ConnectError(f"--private-key: cannot read the file ({type(exc).__name__})") from exc
    try:
        if text.lstrip().startswith("{"):
            jwk = json.loads(text)
            if isinstance(jwk, dict) and isinstance(jwk.get("keys"), list) and jwk["keys"]:
                jwk = jwk["keys"][0]  # a JWK Set with the one key
            return client_assertion.jwk_to_pem(jwk)
        client_assertion.check_private_key(text)
        return text, None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConnectError(f"--private-key: not a usable EC P-256 private key ({exc})") from exc


def build_secret(
    opts: argparse.Namespace, transport: Transport = urllib_transport, now: Callable[[], datetime] = clock.now
) -> OAuthSecret:
    url = getattr(opts, "token_url", None) or token_url(opts.cart, getattr(opts, "shop_url", None))
    if opts.cart == "makeshop" and not (opts.access_token and opts.api_key):
        raise ConnectError("makeshop needs --access-token (the install webhook's 永続token) and --api-key")
    private_key, key_id = _signing_key(opts)
    if opts.code:
        answer = _exchange(opts, url, private_key, key_id, transport, now)
    elif opts.access_token:
        answer = _given_tokens(opts, private_key)
    else:
        raise ConnectError("give --code (with the client) or --access-token")
    _check_webhook_secret(opts)
    expires_in = answer.get("expires_in")
    return OAuthSecret(
        client_id=opts.client_id,
        client_secret=None if private_key else opts.client_secret,
        private_key=private_key,
        key_id=key_id,
        access_token=str(answer["access_token"]),
        refresh_token=answer.get("refresh_token") or None,
        expires_at=now() + timedelta(seconds=int(expires_in)) if expires_in else None,
        token_url=url or None,
        webhook_secret=opts.webhook_secret or None,
        redirect_uri=opts.redirect_uri if opts.cart == "base" else None,  # BASE's refresh grant asks for it
        **({"api_key": opts.api_key} if opts.api_key else {}),
    )


def _signing_key(opts: argparse.Namespace) -> tuple[str | None, str | None]:
    """(private key PEM, key id) for a cart whose token refreshes are signed (STORES); (None, --key-id) otherwise."""
    key_id: str | None = getattr(opts, "key_id", None)
    if opts.cart not in KEY_CARTS:
        return None, key_id
    if not (opts.client_id and getattr(opts, "private_key", None)):
        raise ConnectError(
            f"{opts.cart} needs --client-id and --private-key (the key issued with the app): "
            "every token refresh is signed with it"
        )
    private_key, kid = read_private_key(opts.private_key)
    return private_key, key_id or kid


def _exchange(
    opts: argparse.Namespace,
    url: str,
    private_key: str | None,
    key_id: str | None,
    transport: Transport,
    now: Callable[[], datetime],
) -> dict[str, Any]:
    """The tokens an authorization code is exchanged for: with a signed assertion or the client secret."""
    if private_key is not None:
        if not opts.redirect_uri:
            raise ConnectError("--code needs --redirect-uri")
        from enishi.polling.http import client_authentication

        auth = client_authentication(
            OAuthSecret(client_id=opts.client_id, private_key=private_key, key_id=key_id), url, now()
        )
        return exchange_code(url, opts.client_id, None, opts.code, opts.redirect_uri, transport, auth=auth)
    if not (opts.client_id and opts.client_secret and opts.redirect_uri):
        raise ConnectError("--code needs --client-id, --client-secret and --redirect-uri")
    return exchange_code(url, opts.client_id, opts.client_secret, opts.code, opts.redirect_uri, transport)


def _given_tokens(opts: argparse.Namespace, private_key: str | None) -> dict[str, Any]:
    if private_key is not None and not opts.refresh_token:
        raise ConnectError(
            f"{opts.cart}: give --refresh-token with --access-token (the access token lasts 1 h)"
        )
    return {
        "access_token": opts.access_token,
        "refresh_token": opts.refresh_token,
        "expires_in": opts.expires_in,
    }


def _check_webhook_secret(opts: argparse.Namespace) -> None:
    if opts.cart == "eccube" and not opts.webhook_secret:
        raise ConnectError(
            "--webhook-secret is required for EC-CUBE (16-1024 characters, the one set in WebHook管理)"
        )
    if opts.webhook_secret and not 16 <= len(opts.webhook_secret) <= 1024:
        raise ConnectError("--webhook-secret must be 16-1024 characters (EC-CUBE's rule)")


def store(secret: OAuthSecret, secret_arn: str, client: Any) -> None:
    SecretsManagerVault(client, secret_arn).save(secret)


def connect_local(stack: Any, connection_id: str, secret: OAuthSecret) -> str:
    """Write a connection's secret inside a running ``LocalStack`` (its moto); returns the secret ARN."""
    import boto3

    for env in stack._environments.values():
        conn = env.get(c.ENV_CART_CONNECTION)
        if conn and json.loads(conn).get("id") == connection_id:
            arn = env[c.ENV_CART_SECRET_ARN]
            store(secret, arn, boto3.client("secretsmanager", region_name=env.get("AWS_REGION")))
            return arn
    raise ConnectError(f"no connection {connection_id!r} in the local stack (enishi:cartConnections)")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="enishi connect", description="store a cart connection's OAuth tokens")
    p.add_argument("cart", choices=CARTS)
    p.add_argument(
        "--secret-arn", required=True, help="the connection's secret (stack output CartSecretArn…)"
    )
    p.add_argument("--region", default=None)
    p.add_argument("--shop-url", help="EC-CUBE: the shop's URL (https://shop.example.jp)")
    p.add_argument("--client-id")
    p.add_argument("--client-secret")
    p.add_argument(
        "--private-key", help="STORES: the client's private key file (the JWK STORES issued, or a PEM)"
    )
    p.add_argument("--key-id", help="STORES: the key's kid, when the file does not carry it")
    p.add_argument("--token-url", help="override the cart's token endpoint (local fakes)")
    p.add_argument("--redirect-uri")
    p.add_argument(
        "--code",
        help="the authorization code the shop admin's approval returned "
        "(write --code=VALUE: a code may start with '-')",
    )
    p.add_argument("--access-token")
    p.add_argument("--refresh-token")
    p.add_argument("--expires-in", type=int, default=None)
    p.add_argument("--webhook-secret", help="EC-CUBE: the secret set in WebHook管理")
    p.add_argument("--api-key", help="makeshop: the x-api-key issued with the app")
    return p


def main(argv: list[str], transport: Transport = urllib_transport) -> int:
    opts = parser().parse_args(argv)
    try:
        secret = build_secret(opts, transport)
    except ConnectError as exc:
        print(f"enishi connect: {exc}")
        return 2
    import boto3

    store(secret, opts.secret_arn, boto3.client("secretsmanager", region_name=opts.region))
    refresh = "with a refresh token" if secret.refresh_token else "no refresh token (does not expire)"
    print(
        f"connected {opts.cart}: tokens stored in the connection's secret ({refresh}); the next sweep uses them"
    )
    return 0


def point_connection_at(stack: Any, connection_id: str, base_url: str) -> None:
    """Local only: aim a connection's functions at a fake cart started after the template was synthesized (its
    port is only known then). Call before the connection's first invocation."""
    found = False
    for env in stack._environments.values():
        conn = env.get(c.ENV_CART_CONNECTION)
        if conn and json.loads(conn).get("id") == connection_id:
            env[c.ENV_CART_CONNECTION] = json.dumps({**json.loads(conn), "base_url": base_url})
            found = True
    if not found:
        raise ConnectError(f"no connection {connection_id!r} in the local stack (enishi:cartConnections)")


def function_of(stack: Any, connection_id: str, handler: str = "enishi.polling.handler.handler") -> str:
    """The local function name of a connection's poller (or webhook λ with ``handler``)."""
    for name, env in stack._environments.items():
        conn = env.get(c.ENV_CART_CONNECTION)
        if conn and json.loads(conn).get("id") == connection_id and stack._functions[name].handler == handler:
            return str(name)
    raise ConnectError(f"no function for connection {connection_id!r}")
