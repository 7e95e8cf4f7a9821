"""The report's treated-vs-control section (issue 12): per sequence and campaign, from ``result.experiments``.

One formatting for the HTML card and the terminal table: conversion treated / control, the incremental conversion
and revenue with their 95 % intervals, the incremental ROI (what the report leads with: it counts only what the
messages changed) beside the attributed one (last touch: it credits a message with orders that would have come
anyway), and the verdict in words — "too small to tell" when it is.
"""

from __future__ import annotations

from typing import Any

from .metrics import SEQUENCE_LABELS

VERDICTS = {
    "lift": ("効果あり", "lift"),
    "no_lift": ("逆効果", "worse than nothing"),
    "inconclusive": ("差は不明", "no clear difference"),
    "too_small": ("少なすぎて判断できません", "too small to tell"),
}


AB_VERDICTS = {  # an A/B comparison's verdict (``analytics/abtests.py``), for the terminal and the HTML card alike
    "winner": ("勝ち", "winner {winner}"),
    "no_winner": ("有意差なし", "no significant difference"),
    "too_small": ("サンプル不足", "too few to tell"),
}


def ab_verdict(m: dict[str, Any]) -> dict[str, str]:
    """``{"ja", "en", "p"}``: the verdict of one A/B comparison (click or conversion) in words, and its p-value."""
    ja, en = AB_VERDICTS.get(m["verdict"], (m["verdict"], m["verdict"]))
    p = "" if m.get("p_value") is None else f" (p={m['p_value']:.3f})"
    return {"ja": ja, "en": en.format(winner=m.get("winner")), "p": p}


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{v * 100:.1f}%"


def _pts(v: float | None) -> str:
    return "–" if v is None else f"{v * 100:+.1f}"


def _yen(v: float | None) -> str:
    if v is None:
        return "–"
    return f"-¥{-v:,.0f}" if v < 0 else f"¥{v:,.0f}"


def _times(v: float | None) -> str:
    return "–" if v is None else f"{v:,.1f}×"


def _interval(e: dict[str, Any], fmt: Any) -> str:
    return f"{fmt(e.get('estimate'))} [{fmt(e.get('low'))}, {fmt(e.get('high'))}]"


def _label(h: dict[str, Any]) -> str:
    if h["kind"] == "campaign":
        return f"キャンペーン Campaign {h['name']}"
    return SEQUENCE_LABELS.get(h["name"], h["name"])


def row(h: dict[str, Any]) -> dict[str, str]:
    """One experiment as the report shows it (every value a string)."""
    t, c = h["treated"], h["control"]
    ja, en = VERDICTS.get(h["verdict"], (h["verdict"], h["verdict"]))
    return {
        "label": _label(h),
        "treated": f"{t['customers']}",
        "control": f"{c['customers']}",
        "conversion": f"{_pct(t['rate'])} / {_pct(c['rate'])}",
        "incremental_conversion": _interval(h["incremental_conversion"], _pts) + " pt",
        "incremental_revenue": _interval(h["incremental_revenue_jpy"], _yen),
        "roi": _interval(h["roi"], _times),
        "attributed_roi": _times(h.get("attributed_roi")),
        "verdict": f"{ja} {en}",
        "incomplete": "" if h.get("complete", True) else "*",
        "window": f"{h['window_days']}日 days" + ("" if h.get("complete", True) else " *"),
    }


def experiments(summary: dict[str, Any]) -> list[dict[str, Any]]:
    a = summary.get("analytics") or {}
    return list(a.get("experiments") or ())


def rows(summary: dict[str, Any]) -> list[dict[str, str]]:
    return [row(h) for h in experiments(summary)]


def terminal_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """The terminal summary's lines: a header, then one line per sequence and campaign."""
    shown = rows(summary)
    if not shown:
        return []
    out = [("Holdout 効果測定 (treated / control)", "conversion, +pt [95% CI], incremental revenue, ROI")]
    for r in shown:
        out.append(
            (
                f"  {r['label']}",
                f"n {r['treated']}/{r['control']}  conv {r['conversion']}  Δ {r['incremental_conversion']}"
                f"  rev {r['incremental_revenue']}  ROI {r['roi']} (attributed {r['attributed_roi']})"
                f"  → {r['verdict']}",
            )
        )
    return out
