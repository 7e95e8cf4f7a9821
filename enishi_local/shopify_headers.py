"""The headers of a signed Shopify webhook delivery, as Shopify sends them and intake reads them: one builder for
everything that posts to the local stack (tests, the demo, the benchmarks), signed with the project's signer."""

from __future__ import annotations

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
