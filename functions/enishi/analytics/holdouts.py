"""Treated vs. control per sequence and campaign, and the incremental ROI (issue 12 items 3 and 6). Pure.

Input: the rows of ``sql/holdouts.sql`` (one per sequence/campaign and group: ``n``, ``converted``, ``revenue``,
``revenue_sq``, ``last_at``) and the sequences' ``StepStats`` (cost, attributed figures). ``enishi.stats`` turns
the sums into the incremental conversion and revenue with 95 % intervals and the verdict ("too_small" below
``stats.MIN_GROUP`` pairs in a group or ``stats.MIN_EVENTS`` conversions).

ROI = (incremental gross profit − cost) ÷ cost, cost = AWS + LINE (``StepStats.cost_jpy``) + the offer (coupon value
× the attributed conversions of the message). The interval of the ROI is the incremental gross profit's interval
carried through (the cost is known). A step has no control group of its own (the holdout is per sequence): its
incremental ROI uses the sequence's incremental gross profit allocated by the step's share of the attributed gross
profit — an estimate the report labels as such.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from enishi import keys, stats
from enishi.analytics.result import Estimate, HoldoutGroup, HoldoutResult, StepStats

Row = Mapping[str, str | None]


def _num(value: str | None) -> float:
    return float(value) if value not in (None, "") else 0.0


def _finite(x: float) -> float | None:
    return round(x, 4) if math.isfinite(x) else None


NONE = Estimate(
    estimate=None, low=None, high=None
)  # no control group (or no treated one): nothing to compare


def _estimate(i: stats.Interval, scale: float = 1.0) -> Estimate:
    return Estimate(
        estimate=_finite(i.estimate * scale), low=_finite(i.low * scale), high=_finite(i.high * scale)
    )


def _group(row: Row | None, margin: float) -> tuple[HoldoutGroup, stats.Moments]:
    n = int(_num(row.get("n"))) if row else 0
    converted = int(_num(row.get("converted"))) if row else 0
    revenue = _num(row.get("revenue")) if row else 0.0
    revenue_sq = _num(row.get("revenue_sq")) if row else 0.0
    group = HoldoutGroup(
        customers=n,
        converted=converted,
        rate=round(converted / n, 4) if n else None,
        revenue_jpy=round(revenue, 2),
        revenue_sq=revenue_sq,
        gross_profit_jpy=round(revenue * margin, 2),
    )
    return group, stats.Moments(n, revenue, revenue_sq)


def roi(gain: float, cost: float) -> float | None:
    """(gain − cost) ÷ cost; None without a cost or a finite gain."""
    if cost <= 0 or not math.isfinite(gain):
        return None
    return round((gain - cost) / cost, 4)


def _complete(last_at: str | None, window_days: int, as_of: datetime) -> bool:
    from enishi.analytics.build import parse_time

    last = parse_time(last_at)
    return last is None or last + timedelta(days=window_days) <= as_of


def holdout_result(
    sequence: str,
    groups: Mapping[str, Row],
    total: StepStats | None,
    *,
    margin: float,
    window_days: int,
    as_of: datetime,
) -> HoldoutResult:
    treated, t_m = _group(groups.get("treated"), margin)
    control, c_m = _group(groups.get("control"), margin)
    lift = stats.lift(treated.converted, t_m, control.converted, c_m)
    compared = treated.customers > 0 and control.customers > 0
    offer = total.offer_cost_jpy if total else 0.0
    cost = (total.cost_jpy if total else 0.0) + offer
    last = max((str(r.get("last_at") or "") for r in groups.values()), default="") or None
    campaign = keys.campaign_of(sequence)
    return HoldoutResult(
        kind="sequence" if campaign is None else "campaign",
        name=sequence if campaign is None else campaign,
        sequence=sequence,
        window_days=window_days,
        complete=_complete(last, window_days, as_of),
        treated=treated,
        control=control,
        incremental_conversion=_estimate(lift.conversion) if compared else NONE,
        incremental_conversions=round(lift.incremental_conversions, 4) if compared else 0.0,
        incremental_revenue_jpy=_estimate(lift.incremental_revenue) if compared else NONE,
        incremental_gross_profit_jpy=_estimate(lift.incremental_revenue, margin) if compared else NONE,
        p_value=round(lift.p_value, 6),
        verdict=lift.verdict,
        cost_jpy=round(cost, 4),
        offer_cost_jpy=round(offer, 2),
        roi=_roi(lift.incremental_revenue, margin, cost) if compared else NONE,
        attributed_roi=total.roi if total else None,
    )


def _roi(revenue: stats.Interval, margin: float, cost: float) -> Estimate:
    return Estimate(
        estimate=roi(revenue.estimate * margin, cost),
        low=roi(revenue.low * margin, cost),
        high=roi(revenue.high * margin, cost),
    )


def experiments(
    rows: Iterable[Row], steps: Sequence[StepStats], *, margin: float, window_days: int, as_of: datetime
) -> list[HoldoutResult]:
    """One result per sequence or campaign that has a treated or a control group, sequences first, by name."""
    by_sequence: dict[str, dict[str, Row]] = {}
    for r in rows:
        by_sequence.setdefault(str(r["sequence"]), {})[str(r["grp"])] = r
    totals = {s.sequence: s for s in steps if s.step is None}
    out = [
        holdout_result(name, groups, totals.get(name), margin=margin, window_days=window_days, as_of=as_of)
        for name, groups in by_sequence.items()
    ]
    return sorted(out, key=lambda h: (h.kind == "campaign", h.name))


def with_incremental_roi(steps: Sequence[StepStats], results: Sequence[HoldoutResult]) -> list[StepStats]:
    """``StepStats.incremental_roi`` filled: a sequence's own, a step's by its share of the attributed gross profit."""
    measured = {h.sequence: h for h in results if h.control.customers > 0}
    totals = {s.sequence: s for s in steps if s.step is None}
    out: list[StepStats] = []
    for s in steps:
        h = measured.get(s.sequence)
        gain = h.incremental_gross_profit_jpy.estimate if h else None
        total = totals.get(s.sequence)
        if gain is None or total is None:
            out.append(s)
            continue
        share = 1.0 if s.step is None else _share(s, total)
        value = roi(gain * share, s.cost_jpy + s.offer_cost_jpy) if share is not None else None
        out.append(s.model_copy(update={"incremental_roi": value}))
    return out


def _share(step: StepStats, total: StepStats) -> float | None:
    return step.gross_profit_jpy / total.gross_profit_jpy if total.gross_profit_jpy > 0 else None
