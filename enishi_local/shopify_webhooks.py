"""Signed Shopify webhook deliveries, as Shopify sends them and intake reads them: one builder of the headers for
everything that posts to the local stack (tests, the demo, the benchmarks), signed with the project's signer."""

from __future__ import annotations

import urllib.request

from enishi import constants as c
from enishi.signatures import sign_shopify


def shopify_headers(
    raw: bytes,
    secret: str,
    *,
    topic: str,
    shop: str,
    event_id: str | None = None,
    webhook_id: str | None = None,
    api_version: str | None = None,
    triggered_at: str | None = None,
) -> dict[str, str]:
    """Content type, topic, shop domain, the HMAC of ``raw`` under ``secret``, and each optional header given."""
    optional = {
        "X-Shopify-API-Version": api_version,
        "X-Shopify-Event-Id": event_id,
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Triggered-At": triggered_at,
    }
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": shop,
        **{name: value for name, value in optional.items() if value is not None},
        "X-Shopify-Hmac-Sha256": sign_shopify(raw, secret),
    }


def post_shopify(
    base_url: str, raw: bytes, secret: str, *, timeout: float = 30, **headers: str
) -> tuple[int, bytes]:
    """POST ``raw`` to ``base_url``'s Shopify webhook route with ``shopify_headers(raw, secret, **headers)``;
    (status, body). Raises ``urllib.error.HTTPError`` on a 4xx/5xx answer, as ``urlopen`` does."""
    request = urllib.request.Request(
        base_url + c.PATH_SHOPIFY_WEBHOOK,
        data=raw,
        method="POST",
        headers=shopify_headers(raw, secret, **headers),
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, response.read()
