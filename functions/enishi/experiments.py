"""Who is held out and who sees which variant: deterministic, sticky, independent assignments.

Every sequence and campaign can keep a control group that receives nothing from it (a holdout), and a step can
have variants (an A/B test). Both assignments are a pure function of (shop, customer, scope): the same customer
lands in the same group on every run, on every retry and on every machine, without storing anything first — the
message record (or the skip record of a held-out customer) stores what was decided, for the report.

- ``bucket`` maps (label, shop, customer, scope) to 0..9999 with SHA-256. Holdout and variant use different labels,
  so being held out of the welcome sequence says nothing about the variant a customer sees elsewhere.
- ``in_holdout(…, percent)`` is ``bucket < percent × 100``: raising the percentage only adds customers to the
  control group, lowering it only releases some, and nobody moves between two sequences' groups by accident.
- ``variant`` walks cumulative integer weights over the same 0..9999 range (its own label).

Pure: no AWS, no clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

BUCKETS = 10_000
_HOLDOUT = "enishi/holdout"
_VARIANT = "enishi/variant"


def bucket(label: str, shop: str, customer_id: str, scope: str) -> int:
    """0..9999, uniform and stable for the four strings."""
    data = "\x00".join((label, shop, customer_id, scope)).encode("utf-8")
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "big") % BUCKETS


def holdout_scope(kind: str, name: str) -> str:
    """The scope of a sequence's or campaign's control group: ``sequence:welcome``, ``campaign:2026-12-sale``."""
    if kind not in ("sequence", "campaign"):
        raise ValueError(f"unknown holdout kind {kind!r}")
    return f"{kind}:{name}"


def in_holdout(shop: str, customer_id: str, scope: str, percent: float) -> bool:
    """True when the customer belongs to the scope's control group of ``percent`` % (0–50)."""
    if not 0 <= percent <= 50:
        raise ValueError("a holdout is between 0 and 50 percent")
    threshold = round(percent * BUCKETS / 100)
    return bucket(_HOLDOUT, shop, customer_id, scope) < threshold


@dataclass(frozen=True)
class Variant:
    name: str
    weight: int = 1


def variant(shop: str, customer_id: str, scope: str, variants: Sequence[Variant]) -> str:
    """The variant this customer sees in ``scope`` (e.g. ``welcome/f2_nudge``), by the variants' weights."""
    total = sum(v.weight for v in variants)
    if not variants or total <= 0 or any(v.weight < 0 for v in variants):
        raise ValueError("variants need positive weights")
    point = bucket(_VARIANT, shop, customer_id, scope) * total // BUCKETS
    for v in variants:
        if point < v.weight:
            return v.name
        point -= v.weight
    return variants[-1].name  # unreachable: point < total
