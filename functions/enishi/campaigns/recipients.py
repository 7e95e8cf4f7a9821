"""Who a campaign goes to: the audience over the analytics rows → recipient lines, holdout and variant decided.

The select step of the Campaign machine reads the latest ``segments/<as_of>/customers.jsonl`` (one row per customer,
``analytics/build.py`` ``segment_row``), keeps the rows the audience matches, and writes one JSON line per
recipient: ``{"customer_id", "holdout", "variant"}``. The assignment is ``enishi.experiments`` (deterministic and
sticky: a rerun writes the same lines), so what the send does with a line never depends on when it was written.

Rows the analytics job does not fill (``last_order_at``, ``products``, ``categories``, ``reachable``) are read when
present; a row without ``reachable`` counts as reachable on every channel — the send checks consent and addresses
again right before it sends, so the audience only narrows, it never authorises. Pure: no AWS, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from enishi import clock, experiments
from enishi.campaigns.spec import CHANNELS, Campaign, Candidate, matches


@dataclass(frozen=True)
class Recipient:
    customer_id: str
    holdout: bool
    variant: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"customer_id": self.customer_id, "holdout": self.holdout, "variant": self.variant}

    @classmethod
    def of(cls, line: Mapping[str, Any]) -> Recipient:
        variant = line.get("variant")
        return cls(
            str(line["customer_id"]), bool(line.get("holdout")), None if variant is None else str(variant)
        )


def days_between(earlier: datetime, now: datetime) -> int:
    """JST calendar days from ``earlier`` to ``now``."""
    return (
        clock.to_utc(now).astimezone(clock.JST).date() - clock.to_utc(earlier).astimezone(clock.JST).date()
    ).days


def candidate(row: Mapping[str, Any], now: datetime) -> Candidate:
    """An analytics segment row as the audience rule reads it."""
    last = row.get("last_order_at")
    days = row.get("days_since_last_order")
    if days is None and last:
        days = days_between(clock.parse_iso(str(last)), now)
    return Candidate(
        customer_id=str(row["customer_id"]),
        stage=str(row.get("stage") or ""),
        segment=row.get("segment"),
        days_since_last_order=None if days is None else int(days),
        products=frozenset(str(p) for p in row.get("products") or ()),
        categories=frozenset(str(p) for p in row.get("categories") or ()),
        reachable=frozenset(row["reachable"]) if "reachable" in row else frozenset(CHANNELS),
    )


def scope(campaign: Campaign) -> str:
    return experiments.holdout_scope("campaign", campaign.id)


def assign(campaign: Campaign, shop: str, customer_id: str, default_holdout: float) -> Recipient:
    """The holdout and the variant of one customer in this campaign (the same on every run)."""
    percent = default_holdout if campaign.holdout_percent is None else campaign.holdout_percent
    held = experiments.in_holdout(shop, customer_id, scope(campaign), percent)
    variant = None
    if campaign.variants and not held:
        weighted = [experiments.Variant(v.name, v.weight) for v in campaign.variants]
        variant = experiments.variant(shop, customer_id, scope(campaign), weighted)
    return Recipient(customer_id, held, variant)


def select(
    campaign: Campaign, rows: Iterable[Mapping[str, Any]], *, shop: str, now: datetime, default_holdout: float
) -> Iterator[Recipient]:
    """The recipients of the campaign among the analytics rows, each customer once, in row order."""
    seen: set[str] = set()
    for row in rows:
        c = candidate(row, now)
        if c.customer_id in seen or not matches(campaign.audience, c):
            continue
        seen.add(c.customer_id)
        yield assign(campaign, shop, c.customer_id, default_holdout)


@dataclass(frozen=True)
class Counts:
    """What ``enishi campaign preview`` shows before anything is sent."""

    recipients: int
    holdout: int
    by_variant: dict[str, int]

    @property
    def treated(self) -> int:
        return self.recipients - self.holdout


def count(recipients: Iterable[Recipient]) -> Counts:
    total = held = 0
    by_variant: dict[str, int] = {}
    for r in recipients:
        total += 1
        held += r.holdout
        if r.variant is not None:
            by_variant[r.variant] = by_variant.get(r.variant, 0) + 1
    return Counts(total, held, dict(sorted(by_variant.items())))
