"""The report's summary from an analytics result document: what enishi knows about any shop (local or deployed).

``from_result`` maps the document onto the summary's keys (``customers``, ``stages_now``, ``orders``,
``revenue_jpy``, ``f2``, ``messages.by_sequence``, ``cost``) and adds the result itself under ``analytics``
(cohorts' LTV and F2 windows, the F(n) distribution, RFM scores and segments, per-sequence/step ROI). A run that
knows more (the demo) adds its own sections with ``merge``; the result's values win where both speak.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from enishi.analytics.result import AnalyticsResult, StepStats
from enishi.clock import JST, parse_iso
from enishi.constants import SEQUENCES

from .metrics import SEQUENCE_LABELS, STAGES, _ratio

FN_KEYS_REPEAT = "1"  # every F(n) bucket but this one has two orders or more


def from_result(result: AnalyticsResult) -> dict[str, Any]:
    totals = result.totals
    repeaters = _repeaters(result)
    return {
        "shop": result.shop,
        "customers": totals.customers,
        "stages_now": {s: int(result.stages.get(s, 0)) for s in STAGES}
        | {s: n for s, n in result.stages.items() if s not in STAGES},
        "revenue_jpy": totals.revenue_jpy,
        "orders": totals.orders,
        "f2": {"buyers": totals.buyers, "repeaters": repeaters, "overall": _ratio(repeaters, totals.buyers)},
        "messages": _messages(result.sequences),
        "cost": _cost(result),
        "analytics": analytics_section(result),
    }


def result_only(result: AnalyticsResult) -> dict[str, Any]:
    """What a report without a run of its own shows in place of the run's sections: the period the cohorts span
    and the part of the funnel enishi sees (first and second order)."""
    return {
        "period": _period(result),
        "funnel": [
            {"step": "first_order", "label": "初回購入 First order", "count": result.totals.buyers},
            {"step": "second_order", "label": "2回目購入 Second order", "count": _repeaters(result)},
        ],
    }


def _repeaters(result: AnalyticsResult) -> int:
    return sum(n for k, n in result.fn_distribution.items() if k != FN_KEYS_REPEAT)


def _period(result: AnalyticsResult) -> dict[str, Any]:
    end = _parse(result.as_of)
    months = [c.month for c in result.cohorts]
    start = _parse(f"{months[0]}-01T00:00:00+09:00") if months else end
    days = round((end - start).total_seconds() / 86400) if start and end else None
    shown = (
        result.as_of if start is None else start.astimezone(JST).isoformat()
    )  # a cohort month starts in JST
    return {"start": shown, "end": result.as_of, "days": days}


def _parse(value: str) -> datetime | None:
    try:
        return parse_iso(value)
    except ValueError:
        return None


_COUNTS = ("sent", "delivered", "opened", "clicked", "bounced", "complained", "converted")
_AMOUNTS = ("revenue_jpy", "gross_profit_jpy", "cost_usd", "cost_jpy")


def _sum(rows: list[StepStats], sequence: str, step: str | None, channel: str | None) -> StepStats:
    """One row adding up ``rows`` (the job writes per (step, channel); the report also shows per channel and per
    step)."""
    values: dict[str, Any] = {k: sum(getattr(r, k) for r in rows) for k in _COUNTS}
    values.update({k: float(sum(getattr(r, k) for r in rows)) for k in _AMOUNTS})
    return StepStats(sequence=sequence, step=step, channel=channel, roi=None, **values)


def _rows(stats: list[StepStats]) -> dict[str, dict[str, Any]]:
    """Per sequence: its total row, its rows per channel and per step — as the document gives them, or added up
    from its (step, channel) rows."""
    out: dict[str, dict[str, Any]] = {}
    cells: dict[str, list[StepStats]] = {}
    for s in stats:
        entry = out.setdefault(s.sequence, {"total": None, "channels": {}, "steps": {}})
        if s.step is None and s.channel is None:
            entry["total"] = s
        elif s.step is None:
            entry["channels"][s.channel] = s
        elif s.channel is None and s.sent == 0:
            continue  # skip records: no channel, nothing sent
        else:
            cells.setdefault(s.sequence, []).append(s)
    for seq, rows in cells.items():
        entry = out[seq]
        for channel in sorted({r.channel for r in rows if r.channel}):
            if channel not in entry["channels"]:
                entry["channels"][channel] = _sum(
                    [r for r in rows if r.channel == channel], seq, None, channel
                )
        for step in sorted({r.step for r in rows if r.step}):
            entry["steps"][step] = _sum([r for r in rows if r.step == step], seq, step, None)
    return out


def _messages(stats: list[StepStats]) -> dict[str, Any]:
    by_seq: dict[str, dict[str, Any]] = {}
    rows = _rows(stats)
    empty: dict[str, Any] = {"total": None, "channels": {}, "steps": {}}
    # every sequence the shop runs, with or without messages yet (as the report always listed them)
    for seq in sorted(set(SEQUENCES) | set(rows)):
        entry = rows.get(seq, empty)
        email, line = entry["channels"].get("email"), entry["channels"].get("line")
        total = entry["total"]
        by_seq[seq] = {
            "label": SEQUENCE_LABELS.get(seq, seq),
            "email": email.sent if email else 0,
            "line": line.sent if line else 0,
            "delivered": email.delivered if email else 0,
            "opened": email.opened if email else 0,
            "clicked": email.clicked if email else 0,
            "bounced": email.bounced if email else 0,
            "converted": total.converted if total else 0,
            "revenue": total.revenue_jpy if total else 0.0,
            "by_step": {step: s.sent for step, s in entry["steps"].items()},
        }
    return {
        "total": sum(v["email"] + v["line"] for v in by_seq.values()),
        "email": sum(v["email"] for v in by_seq.values()),
        "line": sum(v["line"] for v in by_seq.values()),
        "by_sequence": by_seq,
    }


def _cost(result: AnalyticsResult) -> dict[str, Any]:
    rows: dict[str, dict[str, Any]] = {}
    for seq, entry in _rows(result.sequences).items():
        total = entry["total"]
        if total is None:
            continue
        rows[seq] = {
            "total_usd": round(total.cost_usd, 6),
            "per_message_usd": round(total.cost_usd / total.sent, 6) if total.sent else None,
            "revenue_jpy": total.revenue_jpy,
            "gross_profit_jpy": total.gross_profit_jpy,
            "cost_jpy": round(total.cost_jpy, 2),
            "roi": total.roi,
        }
    return {"by_sequence": rows, "total_usd": round(sum(r["total_usd"] for r in rows.values()), 4)}


def analytics_section(result: AnalyticsResult) -> dict[str, Any]:
    """The result document as the summary carries it (JSON-ready)."""
    return result.model_dump(mode="json")


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``base`` completed by ``extra``: nested dicts merged, ``base``'s values kept where both have a key.

    The order of keys follows ``extra`` (the fuller layout, e.g. the demo's) then ``base``'s own keys."""
    out: dict[str, Any] = {}
    for key in [*extra, *(k for k in base if k not in extra)]:
        if key not in base:
            out[key] = extra[key]
        elif key in extra and isinstance(base[key], dict) and isinstance(extra[key], dict):
            out[key] = merge(base[key], extra[key])
        else:
            out[key] = base[key]
    return out
