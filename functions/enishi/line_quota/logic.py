"""Pure: LINE's two quota answers → the figures published (``GET /v2/bot/message/quota`` and
``/v2/bot/message/quota/consumption``, REFERENCE.md §3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

QUOTA_PATH = "/v2/bot/message/quota"
CONSUMPTION_PATH = "/v2/bot/message/quota/consumption"


@dataclass(frozen=True)
class QuotaUsage:
    used: int  # messages counted this month (push, multicast, narrowcast, broadcast)
    limit: int | None  # None: the plan has no limit (``type: none``)

    @property
    def percent(self) -> float | None:
        """Share of the monthly limit used, in percent (None without a limit; 100 when the limit is 0)."""
        if self.limit is None:
            return None
        if self.limit <= 0:
            return 100.0
        return round(100.0 * self.used / self.limit, 2)


def usage(quota: dict[str, Any], consumption: dict[str, Any]) -> QuotaUsage:
    """``{type: none|limited, value}`` and ``{totalUsage}`` → the usage (unknown shapes count as no limit, 0 used)."""
    used = consumption.get("totalUsage")
    limit = quota.get("value") if quota.get("type") == "limited" else None
    return QuotaUsage(
        used=int(used) if isinstance(used, int) and used >= 0 else 0,
        limit=int(limit) if isinstance(limit, int) and limit >= 0 else None,
    )
