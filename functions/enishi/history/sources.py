"""Streaming parsers of history exports → ``ImportedCustomer`` / ``ImportedOrder`` (pure: no boto3, no clock).

Both formats are read line by line: memory does not grow with the file. The columns and the JSONL shape are
documented in ``docs/import.md``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TextIO

from enishi import clock, keys

# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class ImportedLine:
    title: str
    quantity: int = 1
    price: Decimal = Decimal(0)
    product_id: str | None = None
    variant_id: str | None = None
    sku: str | None = None


@dataclass(frozen=True)
class ImportedOrder:
    order_id: str
    customer_id: str | None  # None: a guest order (the email decides: ``keys.guest_customer_id``)
    email: str | None
    placed_at: datetime
    total: Decimal
    currency: str = "JPY"
    order_name: str | None = None
    cancelled_at: datetime | None = None
    lines: tuple[ImportedLine, ...] = ()

    @property
    def owner(self) -> str | None:
        if self.customer_id:
            return self.customer_id
        return keys.guest_customer_id(self.email) if self.email else None


@dataclass(frozen=True)
class ImportedCustomer:
    customer_id: str
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    consent_state: str | None = None  # enishi ConsentState, None: the export says nothing
    consent_at: datetime | None = None  # the consent's own update time, when the export carries it
    opt_in_level: str = "unknown"
    orders_count: int | None = None  # the cart's own count (a floor for F(n))
    evidence: dict[str, str] = field(default_factory=dict)


class ImportFormatError(ValueError):
    """A row the importer cannot read (the message names the file line, never the row's personal data)."""


# ---------------------------------------------------------------- small parsers


def parse_time(value: str | None) -> datetime | None:
    """ISO 8601 or the Japanese export forms ``2024/03/15 14:22(:00)`` / ``2024-03-15``; no zone → JST."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip().replace("/", "-")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        at = datetime.fromisoformat(text)
    except ValueError as err:
        raise ImportFormatError(f"not a date/time: {value!r}") from err
    if at.tzinfo is None:
        at = at.replace(tzinfo=clock.JST)
    return clock.to_utc(at)


def parse_money(value: Any) -> Decimal:
    text = (
        str(value if value is not None else "0").strip().replace(",", "").replace("¥", "").replace("円", "")
    )
    try:
        return Decimal(text or "0")
    except InvalidOperation as err:
        raise ImportFormatError(f"not an amount: {value!r}") from err


_CSV_CONSENT = {
    "1": "subscribed",
    "true": "subscribed",
    "yes": "subscribed",
    "希望する": "subscribed",
    "購読": "subscribed",
    "subscribed": "subscribed",
    "受け取る": "subscribed",
    "0": "not_subscribed",
    "false": "not_subscribed",
    "no": "not_subscribed",
    "希望しない": "not_subscribed",
    "not_subscribed": "not_subscribed",
    "受け取らない": "not_subscribed",
    "unsubscribed": "unsubscribed",
    "配信停止": "unsubscribed",
    "解除": "unsubscribed",
    "停止": "unsubscribed",
}


def csv_consent(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    state = _CSV_CONSENT.get(value.strip().lower())
    if state is None:
        raise ImportFormatError(
            f"メルマガ購読: unknown value {value!r} (use 1/0, 希望する/希望しない, 配信停止)"
        )
    return state


def _opt(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


# ---------------------------------------------------------------- the CSV pair

CUSTOMER_COLUMNS = (
    "会員ID",
    "メールアドレス",
    "姓",
    "名",
    "電話番号",
    "登録日",
    "メルマガ購読",
    "メルマガ更新日時",
)
ORDER_COLUMNS = (
    "受注ID",
    "受注日",
    "会員ID",
    "メールアドレス",
    "合計金額",
    "通貨",
    "状態",
    "キャンセル日",
    "商品コード",
    "商品名",
    "数量",
    "単価",
)
REQUIRED_CUSTOMER = ("会員ID",)
REQUIRED_ORDER = ("受注ID", "受注日", "合計金額")
CANCELLED = {"キャンセル", "cancelled", "canceled", "取消"}


def _reader(handle: TextIO, required: tuple[str, ...], name: str) -> csv.DictReader:
    reader = csv.DictReader(handle)
    missing = [col for col in required if col not in (reader.fieldnames or [])]
    if missing:
        raise ImportFormatError(f"{name}: missing column(s) {', '.join(missing)}")
    return reader


def csv_customers(handle: TextIO) -> Iterator[ImportedCustomer]:
    reader = _reader(handle, REQUIRED_CUSTOMER, "customers CSV")
    for row in reader:
        try:
            cid = _opt(row.get("会員ID"))
            if cid is None:
                continue
            consent_at = parse_time(row.get("メルマガ更新日時"))
            yield ImportedCustomer(
                customer_id=cid,
                email=_opt(row.get("メールアドレス")),
                phone=_opt(row.get("電話番号")),
                last_name=_opt(row.get("姓")),
                first_name=_opt(row.get("名")),
                created_at=parse_time(row.get("登録日")),
                consent_state=csv_consent(row.get("メルマガ購読")),
                consent_at=consent_at,
                evidence={
                    "import_format": "csv",
                    **({"csv_consent_updated_at": clock.iso_z(consent_at)} if consent_at else {}),
                },
            )
        except ImportFormatError as err:
            raise ImportFormatError(f"customers CSV line {reader.line_num}: {err}") from None


def csv_orders(handle: TextIO) -> Iterator[ImportedOrder]:
    """One row per line item (the usual 受注明細 export) or per order; rows of one 受注ID must be consecutive."""
    reader = _reader(handle, REQUIRED_ORDER, "orders CSV")
    current: dict[str, Any] | None = None
    for row in reader:
        try:
            oid = _opt(row.get("受注ID"))
            if oid is None:
                continue
            if current is not None and current["order_id"] != oid:
                yield _csv_order(current)
                current = None
            if current is None:
                status = (_opt(row.get("状態")) or "").lower()
                cancelled_at = parse_time(row.get("キャンセル日"))
                placed = parse_time(row.get("受注日"))
                assert placed is not None
                current = {
                    "order_id": oid,
                    "customer_id": _opt(row.get("会員ID")),
                    "email": _opt(row.get("メールアドレス")),
                    "placed_at": placed,
                    "total": parse_money(row.get("合計金額")),
                    "currency": _opt(row.get("通貨")) or "JPY",
                    "order_name": oid,
                    "cancelled_at": cancelled_at or (placed if status in CANCELLED else None),
                    "lines": [],
                }
            title = _opt(row.get("商品名")) or _opt(row.get("商品コード"))
            if title:
                current["lines"].append(
                    ImportedLine(
                        title=title,
                        quantity=int(_opt(row.get("数量")) or 1),
                        price=parse_money(row.get("単価")),
                        sku=_opt(row.get("商品コード")),
                        product_id=_opt(row.get("商品コード")),
                    )
                )
        except (ImportFormatError, ValueError) as err:
            raise ImportFormatError(f"orders CSV line {reader.line_num}: {err}") from None
    if current is not None:
        yield _csv_order(current)


def _csv_order(d: dict[str, Any]) -> ImportedOrder:
    return ImportedOrder(**{**d, "lines": tuple(d["lines"])})


# ---------------------------------------------------------------- Shopify bulk operation JSONL


def gid_tail(gid: Any) -> str | None:
    """``gid://shopify/Customer/123`` → ``123`` (the id the webhooks carry)."""
    text = _opt(gid)
    return text.rsplit("/", 1)[-1] if text else None


def _gid_type(gid: str) -> str:
    parts = gid.split("/")
    return parts[3] if len(parts) > 4 else ""


def _money(node: Any) -> tuple[Decimal, str | None]:
    """``{"shopMoney": {"amount": "1200.0", "currencyCode": "JPY"}}`` (a MoneyBag) or a plain amount."""
    if isinstance(node, dict):
        shop_money = node.get("shopMoney", node)
        return parse_money(shop_money.get("amount")), _opt(shop_money.get("currencyCode"))
    return parse_money(node), None


def _shopify_consent_state(value: Any) -> str | None:
    state = (_opt(value) or "").lower()
    if not state:
        return None
    return (
        {"invalid": "not_subscribed"}.get(state, state)
        if state in {"subscribed", "not_subscribed", "unsubscribed", "pending", "redacted", "invalid"}
        else None
    )


def _shopify_customer(obj: dict[str, Any]) -> ImportedCustomer:
    consent = obj.get("emailMarketingConsent") or {}
    consent_at = parse_time(consent.get("consentUpdatedAt"))
    count = obj.get("numberOfOrders", obj.get("ordersCount"))
    level = (_opt(consent.get("marketingOptInLevel")) or "unknown").lower()
    return ImportedCustomer(
        customer_id=gid_tail(obj["id"]) or "",
        email=_opt(obj.get("email")),
        phone=_opt(obj.get("phone")),
        first_name=_opt(obj.get("firstName")),
        last_name=_opt(obj.get("lastName")),
        created_at=parse_time(obj.get("createdAt")),
        updated_at=parse_time(obj.get("updatedAt")),
        consent_state=_shopify_consent_state(consent.get("marketingState")),
        consent_at=consent_at,
        opt_in_level=level if level in ("single_opt_in", "confirmed_opt_in") else "unknown",
        orders_count=int(count) if count not in (None, "") else None,
        evidence={
            "import_format": "shopify_bulk",
            **({"shopify_consent_updated_at": clock.iso_z(consent_at)} if consent_at else {}),
        },
    )


def _shopify_order(obj: dict[str, Any], lines: list[ImportedLine]) -> ImportedOrder:
    total, currency = _money(
        obj.get("currentTotalPriceSet") or obj.get("totalPriceSet") or obj.get("totalPrice")
    )
    customer = obj.get("customer") or {}
    placed = parse_time(obj.get("processedAt") or obj.get("createdAt"))
    if placed is None:
        raise ImportFormatError("an order without createdAt")
    return ImportedOrder(
        order_id=gid_tail(obj["id"]) or "",
        customer_id=gid_tail(customer.get("id")) if customer else None,
        email=_opt(obj.get("email")) or _opt(customer.get("email")),
        placed_at=placed,
        total=total,
        currency=currency or _opt(obj.get("currencyCode")) or "JPY",
        order_name=_opt(obj.get("name")),
        cancelled_at=parse_time(obj.get("cancelledAt")),
        lines=tuple(lines),
    )


def _shopify_line(obj: dict[str, Any]) -> ImportedLine:
    price, _ = _money(obj.get("originalUnitPriceSet") or obj.get("originalUnitPrice") or 0)
    return ImportedLine(
        title=_opt(obj.get("title")) or _opt(obj.get("name")) or "",
        quantity=int(obj.get("quantity") or 1),
        price=price,
        sku=_opt(obj.get("sku")),
        product_id=gid_tail((obj.get("product") or {}).get("id")),
        variant_id=gid_tail((obj.get("variant") or {}).get("id")),
    )


def shopify_bulk(lines: Iterable[str]) -> Iterator[ImportedCustomer | ImportedOrder]:
    """A bulk operation's JSONL: one object a line, a nested connection's nodes on their own lines after their
    parent, each with ``__parentId``. Customers and orders (line items as children) may share a file or not.
    An order is complete when the next top-level object starts, so only one order is held at a time."""
    pending: dict[str, Any] | None = None
    pending_lines: list[ImportedLine] = []
    for number, raw in enumerate(lines, 1):
        raw = raw.strip()
        if not raw:
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError:
            raise ImportFormatError(f"JSONL line {number}: not JSON") from None
        if not isinstance(obj, dict):
            raise ImportFormatError(f"JSONL line {number}: not an object")
        parent = obj.get("__parentId")
        if parent is not None:
            if (
                pending is not None
                and parent == pending["id"]
                and _gid_type(str(obj.get("id", ""))) != "Order"
            ):
                pending_lines.append(_shopify_line(obj))
            continue  # a child of a customer (e.g. its orders connection) or of an unknown parent: not needed
        if pending is not None:
            yield _shopify_order(pending, pending_lines)
            pending, pending_lines = None, []
        kind = _gid_type(str(obj.get("id", "")))
        try:
            if kind == "Customer":
                yield _shopify_customer(obj)
            elif kind == "Order":
                pending = obj
        except (ImportFormatError, ValueError, KeyError) as err:
            raise ImportFormatError(f"JSONL line {number}: {err}") from None
    if pending is not None:
        yield _shopify_order(pending, pending_lines)
