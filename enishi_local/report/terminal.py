"""The summary table printed at the end of ``enishi demo`` and by ``enishi report``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .experiments import ab_verdict, terminal_rows

Rows = list[tuple[str, str]]


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{v * 100:.1f}%"


def format_summary(s: dict[str, Any]) -> str:
    rows: Rows = []
    for part in PARTS:
        rows += part(s)
    width = max(len(k) for k, _ in rows)
    line = "─" * (width + 60)
    return "\n".join([line, *(f"{k.ljust(width)}  {v}" for k, v in rows), line])


def _totals(s: dict[str, Any]) -> Rows:
    rows = [
        ("Customers 顧客", f"{s['customers']}"),
        ("Orders 注文 / revenue 売上", f"{s['orders']} / ¥{s['revenue_jpy']:,.0f}"),
        ("Stages now 段階", "  ".join(f"{k} {v}" for k, v in s["stages_now"].items())),
    ]
    if s.get("funnel"):
        steps = "cart → contact → 1st → 2nd" if len(s["funnel"]) == 4 else "1st → 2nd"
        rows.append(("Funnel ファネル", " → ".join(f"{f['count']}" for f in s["funnel"]) + f"  ({steps})"))
    return rows


def _f2(s: dict[str, Any]) -> Rows:
    f2 = s["f2"]
    text = _pct(f2["overall"])
    if "nudged" in f2:
        text += (
            f"  nudged {_pct(f2['nudged']['rate'])} (n={f2['nudged']['customers']})"
            f" vs not {_pct(f2['not_nudged']['rate'])} (n={f2['not_nudged']['customers']})"
            "  (groups differ in consent: the effect is the holdout's)"
        )
    return [("F2 conversion 転換率", text)]


def _carts(s: dict[str, Any]) -> Rows:
    carts = s.get("carts")
    if not carts:
        return []
    return [
        (
            "Carts recovered カゴ落ち回収",
            f"{carts['recovered']} of {carts['reminded']} reminded"
            f" ({_pct(carts['recovery_rate'])}), ¥{carts['recovered_revenue']:,.0f}",
        )
    ]


def _messages(s: dict[str, Any]) -> Rows:
    m = s["messages"]
    rows = [("Messages 配信", f"{m['total']} (email {m['email']}, LINE {m['line']})")]
    for seq, v in m["by_sequence"].items():
        cost = s["cost"]["by_sequence"].get(seq, {})
        roi = cost.get("roi")
        rows.append(
            (
                f"  {seq}",
                f"email {v['email']:4d}  LINE {v['line']:4d}  opened {v['opened']:4d}  "
                f"clicked {v['clicked']:3d}  cost ${cost.get('total_usd', 0):.4f}"
                + ("" if roi is None else f"  ROI {roi:,.1f}×"),
            )
        )
    rows.append(("Cost total コスト", f"${s['cost']['total_usd']:.4f}"))
    return rows


def _analytics(s: dict[str, Any]) -> Rows:
    a = s.get("analytics")
    if not a:
        return []
    rows = [("Analytics 分析", f"{a['source']} @ {a['as_of']}")]
    for c in a.get("cohorts", [])[-3:]:
        ltv = "  ".join(
            f"{w['days']}d ¥{w['per_customer_jpy']:,.0f}{'' if w['complete'] else '*'}" for w in c["ltv"]
        )
        f2 = " ".join(f"{w['days']}d {_pct(w['rate'])}" for w in c["f2"])
        rows.append((f"  cohort {c['month']} (n={c['customers']})", f"LTV {ltv}  F2 {f2}"))
    segments = "  ".join(f"{g['label_en']} {g['customers']}" for g in a.get("segments", []))
    if segments:
        rows.append(("  segments セグメント", segments))
    return rows


def _verdict(m: dict[str, Any]) -> str:
    v = ab_verdict(m)
    return f"{v['en']} {v['ja']}{v['p']}"


def _ab_tests(s: dict[str, Any]) -> Rows:
    rows: Rows = []
    for t in (s.get("analytics") or {}).get("ab_tests") or []:
        rows.append(
            (
                f"A/B {t['sequence']}.{t['step']}",
                f"CTR: {_verdict(t['click'])}; conversion 転換: {_verdict(t['conversion'])}"
                + (f"; ¥/sent 売上/通: {_verdict(t['revenue'])}" if t.get("revenue") else ""),
            )
        )
        for v in t["variants"]:
            rows.append(
                (
                    f"  variant {v['variant']}",
                    f"sent {v['sent']:4d}  clicked {v['clicked']:3d} ({_pct(v['click_rate'])})"
                    f"  converted {v['converted']:3d} ({_pct(v['conversion_rate'])})  ¥{v['revenue_jpy']:,.0f}",
                )
            )
    return rows


def _consent(s: dict[str, Any]) -> Rows:
    if "unsubscribed" not in s:
        return []
    rows = [
        ("Unsubscribed / suppressed / LINE", f"{s['unsubscribed']} / {s['suppressed']} / {s['line_linked']}")
    ]
    lf = s.get("line_funnel")
    if lf:
        friends = "?" if lf.get("friends") is None else lf["friends"]
        rows.append(
            (
                "LINE friends → linked → buyers → repeat",
                f"{friends} → {lf['linked']} → {lf['linked_buyers']} → {lf['linked_repeat']}",
            )
        )
    return rows


def _run(s: dict[str, Any]) -> Rows:
    run = s.get("run") or {}
    if "wall_seconds" not in run and "simulation_seconds" not in run:
        return []
    return [
        (
            "Run 実行",
            f"{run.get('wall_seconds', 0):.1f} s wall (simulation {run.get('simulation_seconds', 0):.1f} s),"
            f" peak {run.get('peak_rss_mb')} MB, {run.get('messages_per_second', 0):.1f} msgs/s",
        )
    ]


PARTS: tuple[Callable[[dict[str, Any]], Rows], ...] = (
    _totals,
    _f2,
    _carts,
    _messages,
    terminal_rows,  # the holdouts' treated vs. control (report/experiments.py)
    _analytics,
    _ab_tests,
    _consent,
    _run,
)
