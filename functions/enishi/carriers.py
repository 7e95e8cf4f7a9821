"""Tracking links for Japanese carriers, built when a cart gives a carrier and a tracking number but no link.

No carrier publishes a link format as a specification; these are the de facto links every Japanese shop system
uses (../shared/JP_CARTS.md §9). Hyphens and spaces are stripped and full-width digits folded (伝票番号 are often
typed as ``1234-5678-9012`` or in 全角). An unknown carrier, or a number that cannot be that carrier's, gets **no**
link rather than a wrong one — a wrong link in a shipping notice is worse than none. Pure: no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import quote

from enishi.digits import is_ascii_digits


@dataclass(frozen=True)
class Carrier:
    code: str
    url: str  # with {number}
    digits: tuple[int, ...]  # lengths a domestic tracking number of this carrier has
    names: tuple[str, ...]  # lower-cased, NFKC-folded substrings that identify the carrier


CARRIERS: tuple[Carrier, ...] = (
    Carrier(
        "yamato",
        "https://jizen.kuronekoyamato.co.jp/jizen/servlet/crjz.b.NQ0010?id={number}",
        (12,),
        ("ヤマト", "クロネコ", "宅急便", "yamato", "kuroneko"),
    ),
    Carrier(
        "sagawa",
        "https://k2k.sagawa-exp.co.jp/p/web/okurijosearch.do?okurijoNo={number}",
        (10, 11, 12),
        ("佐川", "飛脚", "sagawa"),
    ),
    Carrier(
        "japan_post",
        "https://trackings.post.japanpost.jp/services/srv/search/direct?searchKind=S002&locale=ja&reqCodeNo1={number}",
        (11, 12, 13),
        (
            "日本郵便",
            "郵便",
            "ゆうパック",
            "ゆうパケット",
            "ゆうメール",
            "レターパック",
            "クリックポスト",
            "japan post",
            "japanpost",
        ),
    ),
)

_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―ー−]")


def normalise_number(number: str) -> str:
    """``１２３４－５６７８－９０１２`` → ``123456789012``: NFKC, separators and spaces removed."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", number))


def carrier_for(name: str | None) -> Carrier | None:
    if not name:
        return None
    folded = unicodedata.normalize("NFKC", name).lower()
    for carrier in CARRIERS:
        if any(n in folded for n in carrier.names):
            return carrier
    return None


def tracking_url(carrier_name: str | None, number: str | None) -> str | None:
    """The carrier's tracking page for ``number``, or None when the carrier is unknown or the number cannot be one
    of its tracking numbers."""
    carrier = carrier_for(carrier_name)
    if carrier is None or not number:
        return None
    digits = normalise_number(number)
    if not is_ascii_digits(digits, max(carrier.digits)) or len(digits) not in carrier.digits:
        return None
    return carrier.url.format(number=quote(digits))


def tracking_urls(carrier_name: str | None, numbers: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """One link per number that has one (the order of ``numbers`` kept)."""
    urls = (tracking_url(carrier_name, n) for n in numbers)
    return tuple(u for u in urls if u)
