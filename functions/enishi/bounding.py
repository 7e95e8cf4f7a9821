"""Every canonical event fits in one EventBridge entry, by construction. Pure: no AWS, no clock.

PutEvents refuses an entry over 256 KB, and a whole request over 256 KB. EventBridge counts an entry as
``Time`` (14 bytes when set) + ``Source`` + ``DetailType`` + ``Detail`` + each ``Resources`` ARN, in UTF-8 bytes
(`entry_size`; we add ``EventBusName`` too, to stay on the safe side). A Shopify order with 3,000 line items is
≈ 500 KB of Detail: without a bound it is refused on every delivery, and the cart retries forever.

``bound_event(event)`` returns the event unchanged when it fits and nothing in it is oversized. Otherwise it cuts,
always the same way for the same input:

1. ``line_items``: the first ``MAX_LINE_ITEMS`` are kept (templates show a handful, the profile stores 10);
   ``item_count`` says how many the cart sent. ``total`` is the cart's own and is never recomputed.
2. strings: display text (titles, names, URLs, tags, tracking numbers, consent evidence …) is truncated to a per-field
   limit; identifiers, money, times, states and e-mail addresses are never altered (a cut id would name something
   else). Lists of free text (tags, tracking numbers) are capped too.
3. while the entry is still over ``MAX_ENTRY_BYTES``, halve the kept line items.

If it still does not fit (an identifier of 200 KB), ``EventTooLarge``: intake keeps the body as unprocessable.
When anything was cut the caller stores the full body in the raw-payload bucket and sets ``raw_ref`` on the event
(``RAW_REF_RESERVE`` bytes are kept free for it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from enishi import events as ev

PUT_EVENTS_MAX_BYTES = 256 * 1024  # one entry, and one PutEvents request
MAX_ENTRY_BYTES = 200 * 1024  # the project's bound (DESIGN: ≤ 200 KB), well inside the limit
RAW_REF_RESERVE = 1024  # room for ``"raw_ref": "raw/shopify/2025-01-20/<32 hex>.json"`` added after bounding
MAX_BUS_NAME_BYTES = 256
TIME_BYTES = 14  # what EventBridge charges for a set ``Time``

MAX_LINE_ITEMS = 50
DEFAULT_TEXT_CHARS = 1000
ELLIPSIS = "…"

# never altered: cutting one would make the event name another thing (or an invalid one)
IDENTIFIERS = frozenset(
    {
        "schema_version", "type", "event_id", "shop", "source", "raw_ref", "customer_id", "order_id", "checkout_token",
        "cart_token", "fulfillment_id", "line_user_id", "product_id", "variant_id", "email", "guest", "total", "price",
        "quantity", "currency", "state", "channel", "opt_in_level", "change", "item_count",
        "order_count", "request_id", "order_ids",
    }
)  # fmt: skip
TEXT_CHARS = {
    "title": 200, "variant_title": 200, "sku": 100, "first_name": 100, "last_name": 100, "phone": 50,
    "order_name": 100, "financial_status": 50, "shipment_status": 50, "tracking_company": 100, "tags": 100,
    "tracking_numbers": 100, "email_original": 320, "wording": 2000, "evidence": 500,
}  # fmt: skip
LIST_ITEMS = {"tags": 50, "tracking_numbers": 20, "tracking_urls": 20}


class EventTooLarge(ValueError):
    """Even cut to the bone, the event does not fit one entry (a giant identifier)."""


E = TypeVar("E", bound=ev.EventBase)


@dataclass(frozen=True)
class Bounded(Generic[E]):
    event: E  # of the type given to ``bound_event``
    cut: bool  # something was dropped or truncated: keep the full body and set ``raw_ref``


def entry_size(entry: dict[str, Any]) -> int:
    """Bytes EventBridge counts for one PutEvents entry (plus the bus name, which it does not count)."""
    size = TIME_BYTES if entry.get("Time") is not None else 0
    for name in ("Source", "DetailType", "Detail", "EventBusName"):
        size += len(str(entry.get(name) or "").encode("utf-8"))
    size += sum(len(str(r).encode("utf-8")) for r in entry.get("Resources") or ())
    return size


def event_size(event: ev.EventBase) -> int:
    """``entry_size`` of the event's entry on a bus whose name is as long as a bus name can be."""
    return entry_size(ev.put_events_entry(event, "b" * MAX_BUS_NAME_BYTES))


def bound_event(event: E, *, max_bytes: int = MAX_ENTRY_BYTES - RAW_REF_RESERVE) -> Bounded[E]:
    detail = event.model_dump(mode="json")
    cut = _cap_line_items(detail, MAX_LINE_ITEMS)
    detail, truncated = _truncate(detail, None)
    cut = cut or truncated
    if not cut and event_size(event) <= max_bytes:
        return Bounded(event, False)
    bounded = type(event).model_validate(detail) if cut else event
    while event_size(bounded) > max_bytes:
        items = detail.get("line_items") or []
        if not items:
            raise EventTooLarge(f"{event.type} does not fit one EventBridge entry")  # type: ignore[attr-defined]
        _cap_line_items(detail, len(items) // 2)
        bounded = type(event).model_validate(detail)
        cut = True
    return Bounded(bounded, cut)


def _cap_line_items(detail: dict[str, Any], keep: int) -> bool:
    items = detail.get("line_items")
    if not isinstance(items, list) or len(items) <= keep:
        return False
    detail["item_count"] = detail.get("item_count") or len(items)
    detail["line_items"] = items[:keep]
    return True


def _truncate(value: Any, key: str | None) -> tuple[Any, bool]:
    """Truncate display text below ``value``; identifiers (``IDENTIFIERS``) and times (``*_at``) stay whole."""
    if key is not None and (key in IDENTIFIERS or key.endswith("_at")) and key not in TEXT_CHARS:
        return value, False
    if isinstance(value, str):
        limit = TEXT_CHARS.get(key or "", DEFAULT_TEXT_CHARS)
        if len(value) <= limit:
            return value, False
        return value[: limit - 1] + ELLIPSIS, True
    if isinstance(value, dict):
        cut = False
        out: dict[str, Any] = {}
        for k, v in value.items():
            # consent evidence: free-form strings under arbitrary keys, all of them text
            out[k], c = _truncate(v, "evidence" if key == "evidence" else k)
            cut = cut or c
        return out, cut
    if isinstance(value, list):
        max_items = LIST_ITEMS.get(key or "")
        items = value if max_items is None or len(value) <= max_items else value[:max_items]
        cut = len(items) < len(value)
        out_list = []
        for item in items:
            new, c = _truncate(item, key if isinstance(item, str) else None)
            out_list.append(new)
            cut = cut or c
        return out_list, cut
    return value, False
