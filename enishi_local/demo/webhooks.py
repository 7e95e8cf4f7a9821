"""Shopify webhook bodies and signed deliveries, shaped like the REST resources Shopify sends (and like the
fixtures in ``tests/events/shopify/``): the body is the resource without its wrapper key, prices are strings,
times carry the shop's offset (+09:00).
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from enishi.clock import JST
from enishi_local.shopify_webhooks import shopify_headers

API_VERSION = "2025-07"

CARRIERS: tuple[tuple[str, str], ...] = (
    ("ヤマト運輸", "https://jizen.kuronekoyamato.co.jp/jizen/servlet/crjz.b.NQ0010?id={n}"),
    ("佐川急便", "https://k2k.sagawa-exp.co.jp/p/web/okurijosearch.do?okurijoNo={n}"),
    (
        "日本郵便",
        "https://trackings.post.japanpost.jp/services/srv/search/direct?reqCodeNo1={n}&searchKind=S002",
    ),
)


def ts(t: datetime) -> str:
    """Shopify's time format for a Japanese shop: 2026-01-05T20:13:05+09:00."""
    return t.astimezone(JST).replace(microsecond=0).isoformat()


def triggered_at(t: datetime) -> str:
    """X-Shopify-Triggered-At: UTC with milliseconds and Z."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def rand_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@dataclass
class Delivery:
    """One webhook delivery: what goes over HTTP. A redelivery keeps the event id and gets a new webhook id."""

    at: datetime
    path: str
    topic: str
    body: dict[str, Any]
    event_id: str
    webhook_id: str
    raw: bytes = field(default=b"", repr=False)

    def encode(self) -> bytes:
        if not self.raw:
            self.raw = json.dumps(self.body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return self.raw

    def headers(self, shop_domain: str, secret: str) -> dict[str, str]:
        raw = self.encode()
        return shopify_headers(
            raw,
            secret,
            topic=self.topic,
            shop=shop_domain,
            api_version=API_VERSION,
            event_id=self.event_id,
            webhook_id=self.webhook_id,
            triggered_at=triggered_at(self.at),
        )


def money(value: Decimal | int) -> str:
    return str(int(value)) if Decimal(value) == int(value) else str(value)


def consent_block(state: str, at: datetime) -> dict[str, Any]:
    return {
        "state": state,
        "opt_in_level": "single_opt_in" if state == "subscribed" else None,
        "consent_updated_at": ts(at) if state == "subscribed" else None,
    }


def address(person: Any) -> dict[str, Any]:
    return {
        "first_name": person.first_name,
        "last_name": person.last_name,
        "name": person.full_name,
        "address1": person.address1,
        "address2": None,
        "city": person.city,
        "province": person.province,
        "province_code": person.province_code,
        "zip": person.zip,
        "country": "Japan",
        "country_code": "JP",
        "phone": person.phone,
        "company": None,
    }


def customer_resource(
    c: Any, at: datetime, *, orders_count: int = 0, total_spent: Decimal = Decimal(0)
) -> dict:
    p = c.person
    return {
        "id": c.id,
        "email": p.email,
        "created_at": ts(c.created_at or at),
        "updated_at": ts(at),
        "first_name": p.first_name,
        "last_name": p.last_name,
        "orders_count": orders_count,
        "state": "enabled" if c.signed_up else "disabled",
        "total_spent": money(total_spent),
        "last_order_id": None,
        "note": None,
        "verified_email": True,
        "multipass_identifier": None,
        "tax_exempt": False,
        "tags": "",
        "last_order_name": None,
        "currency": "JPY",
        "phone": p.phone,
        "addresses": [dict(address(p), id=c.id * 10 + 1, customer_id=c.id, default=True)],
        "email_marketing_consent": consent_block(c.consent_state, c.consent_at or at),
        "sms_marketing_consent": None,
        "admin_graphql_api_id": f"gid://shopify/Customer/{c.id}",
        "default_address": dict(address(p), id=c.id * 10 + 1, customer_id=c.id, default=True),
    }


def line_item_resource(item: dict[str, Any], line_id: int) -> dict[str, Any]:
    price = Decimal(item["price"])
    return {
        "id": line_id,
        "variant_id": int(item["id"]) * 100 + 1,
        "product_id": int(item["id"]),
        "title": item["title"],
        "variant_title": None,
        "name": item["title"],
        "sku": f"ENS-{item['id']}",
        "vendor": "縁茶房",
        "quantity": item["quantity"],
        "price": money(price),
        "requires_shipping": True,
        "taxable": True,
        "gift_card": False,
        "fulfillment_status": None,
        "properties": [],
    }


def totals(
    items: list[dict[str, Any]], free_threshold: int, fee: int
) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """subtotal, shipping, total, tax (prices include 8% consumption tax on food; teaware 10%)."""
    subtotal = sum((Decimal(i["price"]) * i["quantity"] for i in items), Decimal(0))
    shipping = Decimal(0) if subtotal >= free_threshold else Decimal(fee)
    total = subtotal + shipping
    tax = sum(
        (
            (Decimal(i["price"]) * i["quantity"])
            * (Decimal(10) if i.get("category") == "teaware" else Decimal(8))
            / (Decimal(110) if i.get("category") == "teaware" else Decimal(108))
            for i in items
        ),
        Decimal(0),
    ).quantize(Decimal(1))
    return subtotal, shipping, total, tax


def checkout_resource(
    shop_domain: str,
    co: Any,
    at: datetime,
    *,
    with_contact: bool,
    completed_at: datetime | None = None,
    free_threshold: int = 5000,
    fee: int = 550,
) -> dict[str, Any]:
    c = co.customer
    p = c.person
    subtotal, shipping, total, tax = totals(co.items, free_threshold, fee)
    body: dict[str, Any] = {
        "id": co.id,
        "token": co.token,
        "cart_token": co.cart_token,
        "email": p.email if with_contact else None,
        "gateway": None,
        "buyer_accepts_marketing": c.consent_state == "subscribed",
        "created_at": ts(co.created_at),
        "updated_at": ts(at),
        "landing_site": "/",
        "note": None,
        "referring_site": "",
        "taxes_included": True,
        "total_weight": 0,
        "currency": "JPY",
        "presentment_currency": "JPY",
        "completed_at": ts(completed_at) if completed_at else None,
        "closed_at": None,
        "user_id": None,
        "location_id": None,
        "source_identifier": None,
        "source_url": None,
        "device_id": None,
        "phone": p.phone if with_contact else None,
        "customer_locale": "ja",
        "line_items": [
            dict(
                line_item_resource(i, n + 1),
                key=f"{co.token[:8]}-{n}",
                line_price=money(Decimal(i["price"]) * i["quantity"]),
            )
            for n, i in enumerate(co.items)
        ],
        "name": f"#{co.id}",
        "source": None,
        "abandoned_checkout_url": f"https://{shop_domain}/{co.shop_numeric_id}/checkouts/{co.token}/recover?key={co.key}",
        "discount_codes": [],
        "tax_lines": [{"price": money(tax), "rate": 0.08, "title": "消費税"}],
        "source_name": "web",
        "subtotal_price": money(subtotal),
        "total_price": money(total),
        "total_discounts": "0",
        "total_line_items_price": money(subtotal),
        "total_tax": money(tax),
        "shipping_lines": [{"title": "通常配送", "price": money(shipping), "code": "standard"}],
        "shipping_address": address(p) if with_contact else None,
        "billing_address": address(p) if with_contact else None,
    }
    if with_contact and c.known:
        body["customer"] = customer_resource(c, at, orders_count=len(c.orders), total_spent=c.spent)
    return body


def order_resource(
    shop_domain: str,
    o: Any,
    at: datetime,
    free_threshold: int = 5000,
    fee: int = 550,
    cancelled_at: datetime | None = None,
) -> dict[str, Any]:
    c = o.customer
    p = c.person
    subtotal, shipping, total, tax = totals(o.items, free_threshold, fee)
    return {
        "id": o.id,
        "admin_graphql_api_id": f"gid://shopify/Order/{o.id}",
        "app_id": 580111,
        "browser_ip": None,
        "buyer_accepts_marketing": c.consent_state == "subscribed",
        "cancel_reason": "customer" if cancelled_at else None,
        "cancelled_at": ts(cancelled_at) if cancelled_at else None,
        "cart_token": o.cart_token,
        "checkout_id": o.checkout_id,
        "checkout_token": o.checkout_token,
        "closed_at": None,
        "confirmed": True,
        "contact_email": p.email,
        "created_at": ts(o.placed_at),
        "currency": "JPY",
        "current_total_price": money(Decimal(0) if cancelled_at else total),
        "customer_locale": "ja",
        "email": p.email,
        "financial_status": "refunded" if cancelled_at else "paid",
        "fulfillment_status": None,
        "landing_site": "/",
        "name": f"#{o.number}",
        "note": None,
        "number": o.number - 1000,
        "order_number": o.number,
        "phone": p.phone,
        "presentment_currency": "JPY",
        "processed_at": ts(o.placed_at),
        "source_name": "web",
        "subtotal_price": money(subtotal),
        "tags": "",
        "taxes_included": True,
        "test": False,
        "token": o.token,
        "total_discounts": "0",
        "total_line_items_price": money(subtotal),
        "total_price": money(total),
        "total_shipping_price_set": {
            "shop_money": {"amount": money(shipping), "currency_code": "JPY"},
            "presentment_money": {"amount": money(shipping), "currency_code": "JPY"},
        },
        "total_tax": money(tax),
        "updated_at": ts(at),
        "billing_address": address(p),
        "shipping_address": address(p),
        "customer": customer_resource(c, at, orders_count=len(c.orders), total_spent=c.spent),
        "line_items": [line_item_resource(i, o.id * 10 + n) for n, i in enumerate(o.items)],
        "shipping_lines": [
            {
                "id": o.id * 10,
                "title": "通常配送",
                "price": money(shipping),
                "code": "standard",
                "source": "shopify",
            }
        ],
        "fulfillments": [],
        "refunds": [],
    }


def fulfillment_resource(o: Any, at: datetime, *, shipment_status: str) -> dict[str, Any]:
    p = o.customer.person
    url = o.tracking_url
    return {
        "id": o.fulfillment_id,
        "admin_graphql_api_id": f"gid://shopify/Fulfillment/{o.fulfillment_id}",
        "created_at": ts(o.shipped_at),
        "location_id": 61000000001,
        "name": f"#{o.number}.1",
        "order_id": o.id,
        "origin_address": {},
        "receipt": {},
        "service": "manual",
        "shipment_status": shipment_status,
        "status": "success",
        "tracking_company": o.carrier,
        "tracking_number": o.tracking_number,
        "tracking_numbers": [o.tracking_number],
        "tracking_url": url,
        "tracking_urls": [url],
        "updated_at": ts(at),
        "email": p.email,
        "destination": address(p),
        "line_items": [line_item_resource(i, o.id * 10 + n) for n, i in enumerate(o.items)],
    }
