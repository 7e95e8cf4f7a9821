"""A campaign's declaration (``shop/campaigns/<id>.yaml``) as a validated model, and its audience rule.

A campaign names who (``audience``: lifecycle stage, RFM segment, last-order window, products or categories bought,
reachable channel), what (a template per channel, optional A/B variants, an optional offer whose value counts as
cost), when (``schedule.at``, or started from the command line) and how many to keep back (``holdout_percent``,
default the shop's). The files are reviewed in git like ``sequences.yaml``.

Selecting by the audience is coarse and happens on the analytics rows (yesterday's RFM, stage, purchases); every
recipient is then checked again right before the send by the same rules as a sequence step (consent, suppression,
quiet hours, the shared frequency cap, the holdout), so a customer who unsubscribed this morning is not messaged.
Pure: no AWS, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

CAMPAIGNS_DIR = "campaigns"
CHANNELS = ("email", "line")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DayWindow(_Model):
    """Days since the last order (JST calendar days), both ends included; None = open."""

    min: int | None = Field(None, ge=0)
    max: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> DayWindow:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("last_order_days: min must not exceed max")
        return self

    def contains(self, days: int | None) -> bool:
        if days is None:
            return self.min is None and self.max is None
        return (self.min is None or days >= self.min) and (self.max is None or days <= self.max)


class Audience(_Model):
    stages: frozenset[str] = frozenset()  # empty: any
    segments: frozenset[str] = frozenset()  # RFM named segments (docs/analytics.md)
    last_order_days: DayWindow = DayWindow()
    bought_products: frozenset[str] = frozenset()  # any of these product ids
    bought_categories: frozenset[str] = frozenset()  # any of these categories (shop.yaml products)
    channels: frozenset[str] = frozenset(CHANNELS)  # reachable on at least one of these

    @model_validator(mode="after")
    def _known_channels(self) -> Audience:
        if not self.channels or not self.channels <= set(CHANNELS):
            raise ValueError(f"channels: a non-empty subset of {CHANNELS}")
        return self


@dataclass(frozen=True)
class Candidate:
    """One customer as the analytics rows describe them (what the audience can be decided on)."""

    customer_id: str
    stage: str
    segment: str | None
    days_since_last_order: int | None
    products: frozenset[str] = field(default_factory=frozenset)
    categories: frozenset[str] = field(default_factory=frozenset)
    reachable: frozenset[str] = field(
        default_factory=frozenset
    )  # channels with an address and marketing consent


def matches(audience: Audience, c: Candidate) -> bool:
    return (
        (not audience.stages or c.stage in audience.stages)
        and (not audience.segments or (c.segment or "") in audience.segments)
        and audience.last_order_days.contains(c.days_since_last_order)
        and (not audience.bought_products or bool(audience.bought_products & c.products))
        and (not audience.bought_categories or bool(audience.bought_categories & c.categories))
        and bool(audience.channels & c.reachable)
    )


class Variant(_Model):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,20}$")
    weight: int = Field(1, ge=1, le=100)
    template: str | None = None  # another template for this variant
    subject: str | None = None  # another email subject for this variant


class Offer(_Model):
    coupon_value_jpy: int = Field(0, ge=0)  # counted as cost for each converted recipient (ROI)


class Schedule(_Model):
    at: AwareDatetime | None = None  # None: started from the command line


class Campaign(_Model):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    name: str
    template: str  # templates/email/<template>.* and templates/line/<template>.*
    channel: str = Field("prefer_line", pattern=r"^(email|line|prefer_line)$")
    # push: one LINE message per customer (tracked links, per-customer clicks); multicast: one message for the
    # campaign to ≤ 500 customers per request (campaigns/multicast.py)
    line_delivery: Literal["push", "multicast"] = "push"
    audience: Audience = Audience()
    schedule: Schedule = Schedule()
    holdout_percent: float | None = Field(None, ge=0, le=50)  # None: the shop's default
    variants: tuple[Variant, ...] = ()
    offer: Offer = Offer()

    @model_validator(mode="after")
    def _unique_variants(self) -> Campaign:
        names = [v.name for v in self.variants]
        if len(names) != len(set(names)):
            raise ValueError("variant names must be unique")
        return self


def load_campaign(path: Path) -> Campaign:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    campaign = Campaign.model_validate(data)
    if campaign.id != path.stem:
        raise ValueError(f"{path.name}: the file name must be the campaign id ({campaign.id!r})")
    return campaign


def load_campaigns(shop_dir: Path) -> dict[str, Campaign]:
    """Every ``campaigns/*.yaml`` of the shop directory, by id (sorted; none is fine)."""
    folder = shop_dir / CAMPAIGNS_DIR
    return {c.id: c for c in (load_campaign(p) for p in sorted(folder.glob("*.yaml")))}


def due(
    campaigns: Iterable[Campaign], now: datetime, lookback: timedelta = timedelta(hours=1)
) -> list[Campaign]:
    """Scheduled campaigns whose time came in the last ``lookback`` (the scheduler's tick)."""
    return [c for c in campaigns if c.schedule.at is not None and now - lookback < c.schedule.at <= now]
