"""The SES message tags enishi puts on every email, and how feedback reads them back.

SES tag names and values may contain only ``[A-Za-z0-9_-]`` (≤ 256 chars), but a shop id
(``example.myshopify.com``) and a message key (``welcome.w1.<hex>``) contain dots. ``encode_tag_value`` leaves a
value that is already safe as it is and writes anything else as ``b32-`` + lower-case base32 without padding;
``decode_tag_value`` reverses it (and returns a plain value unchanged, so a raw safe value reads the same).

SES publishes tags in the event as ``mail.tags: {"name": ["value"]}`` (lists), next to its own ``ses:*`` tags.
The send step calls ``email_tags(...)`` to build ``EmailTags`` for ``SendEmail``; the feedback function calls
``read_email_tags(mail["tags"])``.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

TAG_SHOP = "shop"
TAG_CUSTOMER = "customer"
TAG_SEQUENCE = "sequence"
TAG_STEP = "step"
TAG_MESSAGE_KEY = "message_key"

_SAFE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_PREFIX = "b32-"


def encode_tag_value(value: str) -> str:
    if _SAFE.match(value) and not value.startswith(_PREFIX):
        return value
    encoded = _PREFIX + base64.b32encode(value.encode("utf-8")).decode("ascii").rstrip("=").lower()
    if len(encoded) > 256:
        raise ValueError("tag value too long for SES once encoded")
    return encoded


def decode_tag_value(value: str) -> str | None:
    if not value.startswith(_PREFIX):
        return value
    body = value[len(_PREFIX) :].upper()
    try:
        return base64.b32decode(body + "=" * (-len(body) % 8)).decode("utf-8")
    except (binascii.Error, ValueError):
        return None


@dataclass(frozen=True)
class EmailTagValues:
    shop: str
    customer_id: str
    message_key: str
    sequence: str | None = None
    step: str | None = None


def email_tags(
    shop: str, customer_id: str, sequence: str, step: str, message_key: str
) -> list[dict[str, str]]:
    """``EmailTags`` for SES v2 ``SendEmail``."""
    pairs = (
        (TAG_SHOP, shop),
        (TAG_CUSTOMER, customer_id),
        (TAG_SEQUENCE, sequence),
        (TAG_STEP, step),
        (TAG_MESSAGE_KEY, message_key),
    )
    return [{"Name": name, "Value": encode_tag_value(value)} for name, value in pairs]


def _first(tags: dict[str, Any], name: str) -> str | None:
    raw = tags.get(name)
    if isinstance(raw, list):
        raw = raw[0] if raw else None
    if not isinstance(raw, str) or not raw:
        return None
    return decode_tag_value(raw)


def read_email_tags(tags: dict[str, Any] | None) -> EmailTagValues | None:
    """Our tags from an SES event's ``mail.tags``; None when the mail was not sent by enishi."""
    if not tags:
        return None
    shop, customer_id, message_key = (_first(tags, n) for n in (TAG_SHOP, TAG_CUSTOMER, TAG_MESSAGE_KEY))
    if not (shop and customer_id and message_key):
        return None
    return EmailTagValues(
        shop=shop,
        customer_id=customer_id,
        message_key=message_key,
        sequence=_first(tags, TAG_SEQUENCE),
        step=_first(tags, TAG_STEP),
    )
