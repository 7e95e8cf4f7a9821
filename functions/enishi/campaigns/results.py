"""What a campaign earned, treated vs. held out (``enishi.stats``). Pure.

The groups come from the campaign's own message records: ``sent`` is treated, ``skipped`` with reason ``holdout``
is the control group (both decided before anything was sent, by the same assignment). A recipient skipped for any
other reason (no consent, the cap, …) is in neither group. Conversion = an uncancelled order within
``window`` after the campaign started; revenue = those orders' totals (JPY).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from enishi import clock, keys, stats
from enishi.campaigns.send import REASON_HOLDOUT


def _groups(records: Iterable[Mapping[str, Any]], campaign_id: str) -> tuple[set[str], set[str]]:
    name = keys.campaign_sequence(campaign_id)
    treated, control = set(), set()
    for r in records:
        if r.get("sequence") != name:
            continue
        if r.get("status") == "sent":
            treated.add(str(r["customer_id"]))
        elif r.get("status") == "skipped" and r.get("reason") == REASON_HOLDOUT:
            control.add(str(r["customer_id"]))
    return treated, control


def _revenue(orders: Iterable[Mapping[str, Any]], since: datetime, window: timedelta) -> dict[str, float]:
    by_customer: dict[str, float] = {}
    for o in orders:
        at = clock.to_utc(o["placed_at"])
        if o.get("cancelled") or not since <= at < since + window:
            continue
        cid = str(o["customer_id"])
        by_customer[cid] = by_customer.get(cid, 0.0) + float(o.get("total") or 0)
    return by_customer


def _moments(customers: set[str], revenue: Mapping[str, float]) -> stats.Moments:
    values = [revenue.get(c, 0.0) for c in customers]
    return stats.Moments(len(values), sum(values), sum(v * v for v in values))


def _finite(x: float) -> float | None:
    return round(x, 4) if math.isfinite(x) else None


def campaign_result(
    records: Iterable[Mapping[str, Any]],
    orders: Iterable[Mapping[str, Any]],
    campaign_id: str,
    started_at: datetime,
    window: timedelta = timedelta(days=14),
) -> dict[str, Any]:
    treated, control = _groups(records, campaign_id)
    revenue = _revenue(orders, clock.to_utc(started_at), window)
    lift = stats.lift(
        sum(c in revenue for c in treated),
        _moments(treated, revenue),
        sum(c in revenue for c in control),
        _moments(control, revenue),
    )
    return {
        "campaign": campaign_id,
        "window_days": window.days,
        "sent": len(treated),
        "holdout": len(control),
        "converted": {
            "treated": sum(c in revenue for c in treated),
            "holdout": sum(c in revenue for c in control),
        },
        "revenue_jpy": {
            "treated": round(sum(revenue.get(c, 0.0) for c in treated)),
            "holdout": round(sum(revenue.get(c, 0.0) for c in control)),
        },
        "conversion_rate": {"treated": _finite(lift.treated_rate), "holdout": _finite(lift.control_rate)},
        "incremental_conversion": {
            "estimate": _finite(lift.conversion.estimate),
            "low": _finite(lift.conversion.low),
            "high": _finite(lift.conversion.high),
        },
        "incremental_revenue_jpy": {
            "estimate": _finite(lift.incremental_revenue.estimate),
            "low": _finite(lift.incremental_revenue.low),
            "high": _finite(lift.incremental_revenue.high),
        },
        "verdict": lift.verdict,
    }
