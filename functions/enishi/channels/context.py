"""Everything a template may use, built from the profile, the sequence's trigger and the shop's settings. Pure.

``build_context(sequence, step, profile, trigger, shop, links)`` returns a plain dict (JSON-able: strings, numbers,
lists, dicts, None) so the same context renders an email and a LINE message. Money is pre-formatted (``¥1,620``;
JPY has no decimals), times are in JST (``2025年5月12日（月）``).

Keys (every key is always present; absent data is ``None`` or ``[]``):

``sequence``, ``step``, ``marketing`` (bool: an advertising message — needs consent and the legal notices),
``shop``: name, legal_name, postal_address, contact_email, contact_phone, site_url, logo_url,
          sns [{key, label, url}], coupon {code, text} (only when configured AND marketing, else None),
``customer``: display_name (「山田 太郎 様」 or 「お客様」), last_name, first_name,
``links``: unsubscribe_url, preferences_url (None on transactional messages),
``cart``: line_items, total, recovery_url, item_count                                  (from a checkout trigger)
``shipment``: carrier, tracking_numbers, tracking_url, expected_delivery, delivered, order_name, line_items
``order``: name, line_items, total                                                     (from an order trigger)
``history``: line_items (what they bought before), last_order_on                        (win-back)
``recommendations``: [{title, price, url, image_url, category}] (marketing welcome / win-back only)
``shipping``: free_shipping_threshold, fee, ships_within_days, free_for_cart (bool | None), remaining_for_free

A line item is {title, variant_title, quantity, price (unit, formatted), line_total (formatted), image_url, url}.

The trigger is the ``trigger`` object of the execution input: the canonical event's detail
(``events.to_detail_dict``) — CheckoutUpdated for cart recovery, OrderPlaced for welcome, FulfillmentUpdated
(+ optional ``order_name``) for the shipping notice, and for win-back ``{"line_items": [...last order's items],
"last_order_at": ...}``. Unknown keys are ignored, missing ones become None.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from enishi import clock
from enishi import constants as c
from enishi.channels.recommend import recommend

if TYPE_CHECKING:  # types only: importing the pydantic models is the caller's cold-start cost, not ours
    from enishi.profiles.model import Profile
    from enishi.shop_config import ShopConfig

HONORIFIC = "様"
FALLBACK_NAME = "お客様"
WEEKDAYS_JA = "月火水木金土日"
CURRENCY_SYMBOLS = {"JPY": "¥", "USD": "$", "EUR": "€", "GBP": "£"}
ZERO_DECIMAL_CURRENCIES = {"JPY", "KRW", "TWD"}
SNS_LABELS = {
    "instagram": "Instagram",
    "x": "X",
    "twitter": "X",
    "line": "LINE",
    "facebook": "Facebook",
    "youtube": "YouTube",
    "tiktok": "TikTok",
    "note": "note",
}
RECOMMENDING_SEQUENCES = (c.SEQUENCE_WELCOME, c.SEQUENCE_WINBACK)


@dataclass(frozen=True)
class Links:
    """Per-recipient links. Both None on a transactional message (no unsubscribe for a shipping notice)."""

    unsubscribe_url: str | None = None
    preferences_url: str | None = None


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def format_money(amount: Any, currency: str = "JPY") -> str | None:
    """``¥1,620`` for JPY (no decimals), ``$12.50`` / ``12.50 CHF`` otherwise. None stays None."""
    value = _decimal(amount)
    if value is None:
        return None
    currency = (currency or "JPY").upper()
    places = Decimal(1) if currency in ZERO_DECIMAL_CURRENCIES else Decimal("0.01")
    value = value.quantize(places, rounding=ROUND_HALF_UP)
    digits = f"{value:,}"
    symbol = CURRENCY_SYMBOLS.get(currency)
    if digits.startswith("-"):
        return f"-{symbol}{digits[1:]}" if symbol else f"{digits} {currency}"
    return f"{symbol}{digits}" if symbol else f"{digits} {currency}"


def format_date_jst(value: datetime | str | None) -> str | None:
    """``2025年5月12日（月）`` in JST."""
    if value is None or value == "":
        return None
    when = clock.parse_iso(value) if isinstance(value, str) else clock.to_utc(value)
    local = when.astimezone(clock.JST)
    return f"{local.year}年{local.month}月{local.day}日（{WEEKDAYS_JA[local.weekday()]}）"


def display_name(last_name: str | None, first_name: str | None) -> str:
    """「山田 太郎 様」 (family name first), 「山田 様」 with one part, 「お客様」 with none."""
    parts = [p.strip() for p in (last_name, first_name) if p and p.strip()]
    return f"{' '.join(parts)} {HONORIFIC}" if parts else FALLBACK_NAME


def _items(raw: Any, currency: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for entry in raw or ():
        if not isinstance(entry, Mapping):
            continue
        quantity = int(entry.get("quantity") or 1)
        price = _decimal(entry.get("price"))
        items.append(
            {
                "title": str(entry.get("title") or ""),
                "variant_title": entry.get("variant_title") or None,
                "quantity": quantity,
                "price": format_money(price, currency),
                "line_total": format_money(price * quantity, currency) if price is not None else None,
                "image_url": entry.get("image_url") or None,
                "url": entry.get("url") or None,
                "product_id": str(entry["product_id"]) if entry.get("product_id") is not None else None,
            }
        )
    return items


def _total(trigger: Mapping[str, Any]) -> Decimal | None:
    total = _decimal(trigger.get("total"))
    if total is not None:
        return total
    prices = [
        (_decimal(i.get("price")) or Decimal(0)) * int(i.get("quantity") or 1)
        for i in trigger.get("line_items") or trigger.get("items") or ()
        if isinstance(i, Mapping)
    ]
    return sum(prices, Decimal(0)) if prices else None


def _shop(shop: ShopConfig, marketing: bool) -> dict[str, Any]:
    coupon = shop.messaging.coupon
    return {
        "name": shop.name,
        "legal_name": shop.legal_name,
        "postal_address": shop.postal_address,
        "contact_email": shop.contact_email,
        "contact_phone": shop.contact_phone,
        "site_url": shop.site_url,
        "logo_url": shop.logo_url,
        "sns": [
            {"key": k, "label": SNS_LABELS.get(k.lower(), k), "url": url}
            for k, url in shop.sns.items()
            if url
        ],
        "coupon": {"code": coupon.code, "text": coupon.text} if (coupon is not None and marketing) else None,
    }


def _shipping(shop: ShopConfig, cart_total: Decimal | None) -> dict[str, Any]:
    threshold = shop.shipping.free_shipping_threshold
    free_for_cart: bool | None = None
    remaining: str | None = None
    if threshold is not None and cart_total is not None:
        free_for_cart = cart_total >= threshold
        if not free_for_cart:
            remaining = format_money(threshold - cart_total, shop.currency)
    return {
        "free_shipping_threshold": format_money(threshold, shop.currency),
        "fee": format_money(shop.shipping.shipping_fee, shop.currency),
        "ships_within_days": shop.shipping.ships_within_days,
        "free_for_cart": free_for_cart,
        "remaining_for_free": remaining,
    }


@dataclass(frozen=True)
class _Trigger:
    """What the sequence sections read: the trigger, its line items (formatted) and total, the currency."""

    raw: Mapping[str, Any]
    items: list[dict[str, Any]]
    total: Decimal | None
    currency: str
    shop: ShopConfig

    @property
    def order_name(self) -> Any:
        return self.raw.get("order_name") or None


def _cart(t: _Trigger) -> dict[str, Any]:
    return {
        "line_items": t.items,
        "item_count": sum(i["quantity"] for i in t.items),
        "total": format_money(t.total, t.currency),
        "recovery_url": t.raw.get("recovery_url") or t.shop.site_url,
    }


def _shipment(t: _Trigger) -> dict[str, Any]:
    urls: Sequence[str] = t.raw.get("tracking_urls") or ()
    return {
        "carrier": t.raw.get("tracking_company") or None,
        "tracking_numbers": list(t.raw.get("tracking_numbers") or ()),
        "tracking_url": urls[0] if urls else None,
        "expected_delivery": format_date_jst(t.raw.get("estimated_delivery_at")),
        "delivered": t.raw.get("shipment_status") == "delivered" or bool(t.raw.get("delivered_at")),
        "order_name": t.order_name,
        "line_items": t.items,
    }


def _history(t: _Trigger) -> dict[str, Any]:
    return {"line_items": t.items, "last_order_on": format_date_jst(t.raw.get("last_order_at"))}


# sequence → (the context key it fills, its builder); the other keys of that kind stay None
SECTIONS: dict[str, tuple[str, Callable[[_Trigger], dict[str, Any]]]] = {
    c.SEQUENCE_CART_RECOVERY: ("cart", _cart),
    c.SEQUENCE_SHIPPING: ("shipment", _shipment),
    c.SEQUENCE_WINBACK: ("history", _history),
}


def _order(sequence: str, t: _Trigger) -> dict[str, Any] | None:
    if not (t.raw.get("order_id") or t.order_name or sequence == c.SEQUENCE_WELCOME):
        return None
    return {"name": t.order_name, "line_items": t.items, "total": format_money(t.total, t.currency)}


def _customer(profile: Profile | None, trigger: Mapping[str, Any]) -> dict[str, Any]:
    """Names from the profile, else from the trigger's customer reference."""
    raw = trigger.get("customer")
    ref: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    last_name = (profile.last_name if profile else None) or ref.get("last_name")
    first_name = (profile.first_name if profile else None) or ref.get("first_name")
    return {
        "display_name": display_name(last_name, first_name),
        "last_name": last_name,
        "first_name": first_name,
    }


def _recommendations(shop: ShopConfig, trigger: Mapping[str, Any], limit: int) -> list[dict[str, Any]]:
    raw_items = [
        i for i in (trigger.get("line_items") or trigger.get("items") or ()) if isinstance(i, Mapping)
    ]
    return [
        {
            "title": p.title,
            "price": format_money(p.price, shop.currency),
            "url": p.url or shop.site_url,
            "image_url": p.image_url,
            "category": p.category,
        }
        for p in recommend(shop.catalog, raw_items, limit)
    ]


def build_context(
    sequence: str,
    step: str,
    profile: Profile | None,
    trigger: Mapping[str, Any] | None,
    shop: ShopConfig,
    links: Links,
    *,
    marketing: bool | None = None,
    recommendation_limit: int = 3,
) -> dict[str, Any]:
    """The template context of one message. ``marketing`` defaults to "has an unsubscribe link"."""
    trigger = trigger or {}
    is_marketing = bool(links.unsubscribe_url) if marketing is None else marketing
    currency = str(trigger.get("currency") or (profile.currency if profile else None) or shop.currency)
    items = _items(trigger.get("line_items") or trigger.get("items"), currency)
    t = _Trigger(raw=trigger, items=items, total=_total(trigger), currency=currency, shop=shop)

    ctx: dict[str, Any] = {
        "sequence": sequence,
        "step": step,
        "marketing": is_marketing,
        "shop": _shop(shop, is_marketing),
        "customer": _customer(profile, trigger),
        "links": {"unsubscribe_url": links.unsubscribe_url, "preferences_url": links.preferences_url},
        "cart": None,
        "shipment": None,
        "order": None,
        "history": None,
        "recommendations": [],
        "shipping": _shipping(shop, t.total if sequence == c.SEQUENCE_CART_RECOVERY else None),
    }
    if sequence in SECTIONS:
        key, section = SECTIONS[sequence]
        ctx[key] = section(t)
    ctx["order"] = _order(sequence, t)
    if is_marketing and sequence in RECOMMENDING_SEQUENCES:
        ctx["recommendations"] = _recommendations(shop, trigger, recommendation_limit)
    return ctx
