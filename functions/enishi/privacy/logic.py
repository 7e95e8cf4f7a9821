"""Pure rules of disclosure and erasure: which attributes are personal, what an erased item keeps.

An erased customer keeps anonymous aggregates (F(n), totals, stage, order totals and times, message counts and
outcomes) so reports still add up; everything that identifies a person goes: names, email and its hash, phone,
addresses, LINE user id, recovery URLs (they open the customer's cart), recipients of messages, the evidence of
consent records (their state, time and source stay: the proof that marketing stopped).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from enishi import keys

# attributes removed from any item that belongs to the customer (profiles are redacted through their model)
PERSONAL_ATTRIBUTES = frozenset(
    {
        "email",
        "email_hash",
        "phone",
        "first_name",
        "last_name",
        "name",
        "address",
        "addresses",
        "shipping_address",
        "billing_address",
        "recipient",
        "recipient_hash",
        "recovery_url",
        "line_user_id",
        "evidence",
        "sender_at",
        "note",
        "customer_email",
    }
)

# item kinds by sort key
KIND_PROFILE, KIND_LOOKUP, KIND_OTHER = "profile", "lookup", "other"


def kind_of(item: Mapping[str, Any]) -> str:
    sk = str(item.get("sk", ""))
    if sk == keys.PROFILE_SK:
        return KIND_PROFILE
    if sk == keys.LOOKUP_SK:
        return KIND_LOOKUP
    return KIND_OTHER


def section_of(item: Mapping[str, Any]) -> str:
    """The export's section for an item."""
    sk = str(item.get("sk", ""))
    if sk == keys.PROFILE_SK:
        return "profiles"
    if sk.startswith(keys.CONSENT_SK_PREFIX):
        return "consent_ledger"
    if sk.startswith(keys.MSG_SK_PREFIX):
        return "messages"
    if sk == keys.ORDER_SK:
        return "orders"
    if sk.startswith(keys.FULFILLMENT_SK_PREFIX):
        return "fulfillments"
    if sk == keys.CHECKOUT_SK:
        return "checkouts"
    if sk == keys.LOOKUP_SK:
        return "lookups"
    return "other"


def personal_attributes(item: Mapping[str, Any]) -> list[str]:
    return sorted(name for name in item if name in PERSONAL_ATTRIBUTES)


def needles(profile_items: Iterable[Mapping[str, Any]], extra: Iterable[str] = ()) -> set[str]:
    """The strings that identify the customer in kept raw payloads (email, phone, LINE id, customer ids)."""
    out = {x for x in extra if x}
    for p in profile_items:
        for name in ("email", "phone"):
            if p.get(name):
                out.add(str(p[name]))
        line = p.get("line")
        if isinstance(line, Mapping) and line.get("user_id"):
            out.add(str(line["user_id"]))
    return {x for x in out if len(x) >= 4}


def mentions(document: bytes, strings: Iterable[str]) -> bool:
    """A kept payload document mentions the customer (its decoded body, or the document itself)."""
    import base64

    texts = [document.decode("utf-8", "replace")]
    try:
        doc = json.loads(document)
        if isinstance(doc, dict) and isinstance(doc.get("body_base64"), str):
            texts.append(base64.b64decode(doc["body_base64"]).decode("utf-8", "replace"))
    except (ValueError, TypeError):
        pass
    lowered = [t.lower() for t in texts]
    for s in strings:
        needle = s.lower()
        if any(needle in t for t in lowered) or any(f'"id": {s}' in t or f'"id":{s}' in t for t in texts):
            return True
    return False
