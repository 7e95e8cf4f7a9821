"""The marketing frequency cap and the LINE quota month, as rules (pure). ``adapters/store.py`` evaluates the cap
in DynamoDB (``CAP_CONDITION``); times are ``clock.iso_z`` strings (UTC, whole seconds, Z), whose string order is
their time order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from enishi import clock


def cap_threshold(now: datetime, cap: timedelta) -> str:
    """A marketing send at or before this time no longer holds the cap."""
    return clock.iso_z(clock.to_utc(now) - cap)


def cap_allows(
    last_sent_at: str | None, holder: str | None, message_key: str, now: datetime, cap: timedelta
) -> bool:
    """``CAP_CONDITION`` in Python (pure): may ``message_key`` take the cap now?"""
    return last_sent_at is None or last_sent_at <= cap_threshold(now, cap) or holder == message_key


@dataclass(frozen=True)
class CapClaim:
    won: bool
    previous: str | None = None  # won: the send time it replaced (restored by ``release_cap``)
    lapses_at: datetime | None = None  # lost: when the cap lapses (defer to then)


def month_jst(now: datetime) -> str:
    return clock.to_utc(now).astimezone(clock.JST).strftime("%Y-%m")
