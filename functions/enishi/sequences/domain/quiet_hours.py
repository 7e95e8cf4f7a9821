"""Quiet hours (default 21:00–09:00 JST, ``shop.yaml`` messaging.quiet_hours). Pure.

A marketing send due inside the window is deferred to the window's end — never dropped. The window may wrap
midnight (21:00–09:00) or not (12:00–13:00); start == end means no quiet hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from enishi import clock
from enishi.shop_config import QuietHours


def _parse(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


@dataclass(frozen=True)
class QuietWindow:
    start: time
    end: time
    tz: tzinfo

    @classmethod
    def from_config(cls, config: QuietHours) -> QuietWindow:
        tz: tzinfo = clock.JST if config.timezone in ("Asia/Tokyo", "JST") else ZoneInfo(config.timezone)
        return cls(_parse(config.start), _parse(config.end), tz)

    def is_quiet(self, when: datetime) -> bool:
        local = clock.to_utc(when).astimezone(self.tz).time()
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def next_allowed(self, when: datetime) -> datetime:
        """``when`` itself when outside the window, else the window's end (aware UTC, whole seconds)."""
        when = clock.to_utc(when)
        if not self.is_quiet(when):
            return when
        local = when.astimezone(self.tz)
        end = local.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        if end <= local:
            end += timedelta(days=1)
        return clock.to_utc(end)


def next_allowed(when: datetime, config: QuietHours | None = None) -> datetime:
    return QuietWindow.from_config(config or QuietHours()).next_allowed(when)
