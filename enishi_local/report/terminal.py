"""The summary table printed at the end of ``enishi demo``."""

from __future__ import annotations

from typing import Any


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{v * 100:.1f}%"


def format_summary(s: dict[str, Any]) -> str:
    rows: list[tuple[str, str]] = [
        ("Customers 顧客", f"{s['customers']}"),
        ("Orders 注文 / revenue 売上", f"{s['orders']} / ¥{s['revenue_jpy']:,.0f}"),
        ("Stages now 段階", "  ".join(f"{k} {v}" for k, v in s["stages_now"].items())),
        (
            "Funnel ファネル",
            " → ".join(f"{f['count']}" for f in s["funnel"]) + "  (cart → contact → 1st → 2nd)",
        ),
        (
            "F2 conversion 転換率",
            f"{_pct(s['f2']['overall'])}  nudged {_pct(s['f2']['nudged']['rate'])}"
            f" (n={s['f2']['nudged']['customers']}) vs not {_pct(s['f2']['not_nudged']['rate'])}"
            f" (n={s['f2']['not_nudged']['customers']})",
        ),
        (
            "Carts recovered カゴ落ち回収",
            f"{s['carts']['recovered']} of {s['carts']['reminded']} reminded"
            f" ({_pct(s['carts']['recovery_rate'])}), ¥{s['carts']['recovered_revenue']:,.0f}",
        ),
        (
            "Messages 配信",
            f"{s['messages']['total']} (email {s['messages']['email']}, LINE {s['messages']['line']})",
        ),
    ]
    for seq, v in s["messages"]["by_sequence"].items():
        cost = s["cost"]["by_sequence"].get(seq, {})
        rows.append(
            (
                f"  {seq}",
                f"email {v['email']:4d}  LINE {v['line']:4d}  opened {v['opened']:4d}  "
                f"clicked {v['clicked']:3d}  cost ${cost.get('total_usd', 0):.4f}",
            )
        )
    rows += [
        ("Cost total コスト", f"${s['cost']['total_usd']:.4f}"),
        ("Unsubscribed / suppressed / LINE", f"{s['unsubscribed']} / {s['suppressed']} / {s['line_linked']}"),
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
    run = s.get("run") or {}
    if run:
        rows.append(
            (
                "Run 実行",
                f"{run.get('wall_seconds', 0):.1f} s wall (simulation {run.get('simulation_seconds', 0):.1f} s),"
                f" peak {run.get('peak_rss_mb')} MB, {run.get('messages_per_second', 0):.1f} msgs/s",
            )
        )
    width = max(len(k) for k, _ in rows)
    line = "─" * (width + 60)
    return "\n".join([line, *(f"{k.ljust(width)}  {v}" for k, v in rows), line])
