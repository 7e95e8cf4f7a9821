"""Which message an order is credited to: last touch, by kind of touch, within the shop's windows.

A *touch* is something a customer did with a marketing message: clicked it (email through SES's click tracking or
enishi's redirect, LINE through the redirect — LINE reports no per-user opens) or opened it (email). Each kind has
its own window (``AttributionWindows``; defaults click 5 days, open 1 day, LINE click 5 days; a ``sent`` window,
off by default, credits a message merely delivered — how enishi attributed before clicks were tracked). The order
is credited to the touch with the latest time inside its window, at most one message per order; on equal times a
click outranks an open, an open a send. Transactional messages (a shipping notice) never earn credit.

Incrementality is not this module's business: last touch says which message a buyer last engaged with, the
holdout groups say what the messages changed (``enishi.stats``). Pure: no AWS, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

KIND_RANK = {"click": 2, "open": 1, "sent": 0}


class AttributionWindows(BaseModel):
    """``shop.yaml`` ``messaging.attribution``: days per kind of touch (0 switches a kind off)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    click_days: float = Field(5, ge=0, le=90)
    open_days: float = Field(1, ge=0, le=90)
    line_click_days: float = Field(5, ge=0, le=90)
    sent_days: float = Field(0, ge=0, le=90)

    def window(self, kind: str, channel: str) -> timedelta:
        if kind == "click":
            days = self.line_click_days if channel == "line" else self.click_days
        elif kind == "open":
            days = self.open_days if channel == "email" else 0
        else:
            days = self.sent_days
        return timedelta(days=days)

    def reach(self) -> timedelta:
        """The longest window: a touch older than this before an order cannot earn it (what a reader must fetch)."""
        return timedelta(days=max(self.click_days, self.open_days, self.line_click_days, self.sent_days))


@dataclass(frozen=True)
class MessageTouches:
    """What the message record says happened (times are UTC-aware; None when it did not happen)."""

    message_key: str
    sequence: str
    channel: str
    marketing: bool
    sent_at: datetime | None
    opened_at: datetime | None = None
    clicked_at: datetime | None = None
    step: str | None = None
    variant: str | None = None
    campaign: str | None = None


@dataclass(frozen=True)
class Credit:
    message_key: str
    sequence: str
    kind: str  # "click" | "open" | "sent"
    touched_at: datetime
    step: str | None = None
    variant: str | None = None
    campaign: str | None = None


def _touches(m: MessageTouches) -> Iterable[tuple[str, datetime]]:
    for kind, at in (("click", m.clicked_at), ("open", m.opened_at), ("sent", m.sent_at)):
        if at is not None:
            yield kind, at


def credit(
    messages: Iterable[MessageTouches], order_at: datetime, windows: AttributionWindows
) -> Credit | None:
    """The one message ``order_at`` is credited to, or None."""
    best: tuple[datetime, int, str] | None = None
    chosen: Credit | None = None
    for m in messages:
        if not m.marketing or m.sent_at is None:
            continue
        for kind, at in _touches(m):
            if not (at <= order_at <= at + windows.window(kind, m.channel)) or windows.window(
                kind, m.channel
            ) <= timedelta(0):
                continue
            rank = (
                at,
                KIND_RANK[kind],
                m.message_key,
            )  # latest, then the stronger kind, then a stable tie-break
            if best is None or rank > best:
                best = rank
                chosen = Credit(m.message_key, m.sequence, kind, at, m.step, m.variant, m.campaign)
    return chosen
