"""The report's charts as PNG files (matplotlib, Agg backend: no display needed).

Labels are bilingual ("見込み客 Lead"). When no font that renders Japanese is installed (``fc-list :lang=ja`` is
empty), charts keep only the English part, so nothing shows up as empty boxes.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

_CJK = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uff00-\uffef]")

COLORS = {
    "lead": "#b8c4cc",
    "first_time": "#8fc1a9",
    "repeat": "#4e9a7a",
    "loyal": "#1f5f4a",
    "at_risk": "#e0a458",
    "dormant": "#c0504d",
    "email": "#4e79a7",
    "line": "#06c755",
}


@functools.cache
def japanese_font() -> str | None:
    """Family name of an installed font that covers Japanese, or None."""
    if not shutil.which("fc-list"):
        return None
    try:
        out = subprocess.run(
            ["fc-list", ":lang=ja", "family"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    families = [line.split(",")[0].strip() for line in out.splitlines() if line.strip()]
    for preferred in ("Noto Sans CJK JP", "IPAexGothic", "IPAGothic", "TakaoGothic", "VL Gothic"):
        if preferred in families:
            return preferred
    return families[0] if families else None


def label(text: str) -> str:
    """The bilingual label, or its English part when Japanese cannot be drawn."""
    if japanese_font() or not _CJK.search(text):
        return text
    english = _CJK.sub("", text).replace("（", "").replace("）", "").strip(" ·/-")
    return english or text


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    font = japanese_font()
    if font:
        plt.rcParams["font.family"] = [font, "DejaVu Sans"]
    plt.rcParams.update(
        {
            "axes.spines.top": False,
            "axes.spines.right": False,
            "font.size": 10,
            "axes.titleweight": "bold",
            "figure.dpi": 110,
        }
    )
    return plt


Figure = Any  # a matplotlib Figure (matplotlib is imported lazily: a report without charts never loads it)
Chart = Callable[[dict[str, Any], Any], Figure | None]


def render_all(summary: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """Every chart the summary has data for, as ``out_dir/<name>.png``; returns name → path."""
    plt = _plt()
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    for name, draw in CHARTS.items():
        fig = draw(summary, plt)
        if fig is not None:
            files[name] = _save(fig, plt, out_dir / f"{name}.png")
    return files


def stages_chart(summary: dict[str, Any], plt: Any) -> Figure | None:
    """Customers by lifecycle stage over time (stacked area of the run's weekly samples)."""
    from enishi_local.report.metrics import STAGE_LABELS, STAGES

    if "stage_samples" not in summary:
        return None
    samples = summary["stage_samples"]
    fig, ax = plt.subplots(figsize=(11, 3.4))
    if samples:
        xs = [s["at"][:10] for s in samples]
        ys = [[s.get(st, 0) for s in samples] for st in STAGES]
        ax.stackplot(
            range(len(xs)),
            ys,
            labels=[label(STAGE_LABELS[s]) for s in STAGES],
            colors=[COLORS[s] for s in STAGES],
            alpha=0.95,
        )
        step = max(1, len(xs) // 8)
        ax.set_xticks(
            range(0, len(xs), step), [xs[i] for i in range(0, len(xs), step)], rotation=30, ha="right"
        )
        ax.legend(loc="upper left", fontsize=8, ncols=3, frameon=False)
    ax.set_title(label("ライフサイクル段階の推移 Customers by lifecycle stage"))
    ax.set_ylabel(label("顧客数 customers"))
    return fig


def stages_now_chart(summary: dict[str, Any], plt: Any) -> Figure | None:
    """Customers by lifecycle stage at the result's point in time (a report without weekly samples)."""
    from enishi_local.report.metrics import STAGE_LABELS, STAGES

    if "stage_samples" in summary or not summary.get("stages_now"):
        return None
    fig, ax = plt.subplots(figsize=(11, 3.0))
    counts = [summary["stages_now"].get(s, 0) for s in STAGES]
    ax.bar([label(STAGE_LABELS[s]) for s in STAGES], counts, color=[COLORS[s] for s in STAGES])
    _bar_values(ax, counts)
    ax.set_title(label("ライフサイクル段階 Customers by lifecycle stage"))
    ax.set_ylabel(label("顧客数 customers"))
    return fig


def funnel_chart(summary: dict[str, Any], plt: Any) -> Figure | None:
    funnel = summary.get("funnel")
    if not funnel:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.2))
    counts = [f["count"] for f in funnel]
    names = [label(f["label"]) for f in funnel]
    palette = ["#9bb7c9", "#6f9bb5", "#4e9a7a", "#1f5f4a"][-len(funnel) :]
    bars = ax.barh(range(len(funnel))[::-1], counts, color=palette)
    ax.set_yticks(range(len(funnel))[::-1], names)
    for b, n in zip(bars, counts, strict=True):
        pct = f" ({n / counts[0]:.0%})" if counts and counts[0] else ""
        ax.text(b.get_width(), b.get_y() + b.get_height() / 2, f" {n}{pct}", va="center", fontsize=9)
    ax.set_title(label("ファネル Funnel"))
    ax.set_xlim(0, max([*counts, 1]) * 1.25)
    return fig


def f2_chart(summary: dict[str, Any], plt: Any) -> Figure | None:
    f2 = summary["f2"]
    groups = [("全体 Overall", f2["overall"])]
    if "nudged" in f2:
        groups += [
            ("F2ナッジ受信 Nudged", f2["nudged"]["rate"]),
            ("未受信 Not nudged", f2["not_nudged"]["rate"]),
        ]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    vals = [(v or 0) * 100 for _, v in groups]
    ax.bar([label(g) for g, _ in groups], vals, color=["#4e9a7a", "#1f5f4a", "#b8c4cc"][: len(groups)])
    _bar_values(ax, vals, "{:.1f}%")
    ax.set_ylabel("%")
    ax.set_title(label("F2転換率 F2 conversion"))
    return fig


def messages_chart(summary: dict[str, Any], plt: Any) -> Figure | None:
    by_seq = summary["messages"]["by_sequence"]
    seqs = list(by_seq)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    emails = [by_seq[s]["email"] for s in seqs]
    lines = [by_seq[s]["line"] for s in seqs]
    x = range(len(seqs))
    ax.bar(x, emails, color=COLORS["email"], label=label("メール Email"))
    ax.bar(x, lines, bottom=emails, color=COLORS["line"], label="LINE")
    ax.set_xticks(list(x), [label(by_seq[s]["label"]) for s in seqs])
    ax.legend(frameon=False)
    ax.set_title(label("シーケンス別・チャネル別の配信数 Messages by sequence and channel"))
    return fig


COST_PARTS = (
    ("step_functions", "Step Functions", "#8e6c8a"),
    ("lambda", "Lambda", "#f28e2b"),
    ("dynamodb", "DynamoDB", "#4e79a7"),
    ("ses", "SES", "#59a14f"),
    ("line", "LINE", COLORS["line"]),
)


def cost_chart(summary: dict[str, Any], plt: Any) -> Figure | None:
    """Cost per sequence, stacked by component when the run knows them, else the result's total."""
    by_seq = summary["messages"]["by_sequence"]
    cost = summary["cost"]["by_sequence"]
    seqs = list(by_seq)
    x = list(range(len(seqs)))
    fig, ax = plt.subplots(figsize=(7, 3.2))
    has_parts = any("step_functions" in row for row in cost.values())
    parts = COST_PARTS if has_parts else (("total_usd", "Total", "#4e79a7"),)
    bottom = [0.0] * len(seqs)
    for key, name, color in parts:
        vals = [cost.get(s, {}).get(key, 0.0) for s in seqs]
        ax.bar(x, vals, bottom=bottom, color=color, label=name)
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    ax.set_xticks(x, [label(by_seq[s]["label"]) for s in seqs])
    ax.set_ylabel("USD")
    ax.legend(frameon=False, fontsize=8)
    ax.set_title(label("シーケンス別コスト Cost per sequence"))
    return fig


def rfm_chart(summary: dict[str, Any], plt: Any) -> Figure | None:
    """The run's recency (days) × frequency (orders) grid."""
    rfm = summary.get("rfm")
    if not rfm:
        return None
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    xs = [label(f) or f for f in _en_freq(rfm["frequency"])]
    ys = [label(r) or r for r in _en_rec(rfm["recency"])]
    _heatmap(fig, ax, rfm["customers"], xs, ys)
    ax.set_xlabel(label("購入回数 Frequency"))
    ax.set_ylabel(label("最終購入からの日数 Recency"))
    ax.set_title("RFM")
    return fig


def rfm_scores_chart(summary: dict[str, Any], plt: Any) -> Figure | None:
    """The result's RFM grid: recency score (rows, 5 = most recent) × frequency score (1–5), quintiles."""
    grid = _analytics(summary, "rfm", {}).get("customers")
    if not grid:
        return None
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    _heatmap(fig, ax, grid, ["F1", "F2", "F3", "F4", "F5"], [f"R{5 - i}" for i in range(len(grid))])
    ax.set_xlabel(label("頻度スコア Frequency score"))
    ax.set_ylabel(label("最新度スコア Recency score"))
    ax.set_title(label("顧客スコア RFM scores (quintiles)"))
    return fig


def segments_chart(summary: dict[str, Any], plt: Any) -> Figure | None:
    segments = _analytics(summary, "segments", [])
    if not segments:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.2))
    names = [label(f"{s['label_ja']} {s['label_en']}") for s in segments]
    counts = [s["customers"] for s in segments]
    ax.barh(range(len(segments))[::-1], counts, color=SEGMENT_COLORS[: len(segments)])
    ax.set_yticks(range(len(segments))[::-1], names)
    for i, (n, s) in enumerate(zip(counts, segments, strict=True)):
        ax.text(n, len(segments) - 1 - i, f" {n} · ¥{s['revenue_jpy']:,.0f}", va="center", fontsize=8)
    ax.set_xlim(0, max([*counts, 1]) * 1.5)
    ax.set_title(label("顧客セグメント RFM segments"))
    return fig


SEGMENT_COLORS = ["#1f5f4a", "#4e9a7a", "#8fc1a9", "#e0a458", "#c0504d", "#b8c4cc", "#9bb7c9", "#6f9bb5"]


def ltv_chart(summary: dict[str, Any], plt: Any) -> Figure | None:
    """LTV per customer over 90/180/365 days by first-order cohort: revenue (solid) and gross profit (hatched)."""
    cohorts = _analytics(summary, "cohorts", [])
    if not cohorts:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4), sharey=True)
    for ax, key, title in (
        (axes[0], "per_customer_jpy", "売上 Revenue"),
        (axes[1], "gross_profit_per_customer_jpy", "粗利 Gross profit"),
    ):
        _grouped_bars(ax, cohorts, "ltv", key, LTV_COLORS, "{}日 days")
        ax.set_title(label(f"LTV（顧客あたり）{title} per customer"))
    axes[0].set_ylabel(label("円 JPY"))
    return fig


LTV_COLORS = ("#8fc1a9", "#4e9a7a", "#1f5f4a")


def f2_cohort_chart(summary: dict[str, Any], plt: Any) -> Figure | None:
    """F2 within 30/60/90 days of the first order, by cohort (%)."""
    cohorts = _analytics(summary, "cohorts", [])
    if not cohorts:
        return None
    fig, ax = plt.subplots(figsize=(7, 3.2))
    _grouped_bars(
        ax, cohorts, "f2", "rate", ("#b8c4cc", "#6f9bb5", "#1f5f4a"), "{}日以内 within {} days", 100
    )
    ax.set_ylabel("%")
    ax.set_title(label("コホート別・二回目購入率 F2 by cohort"))
    return fig


def fn_chart(summary: dict[str, Any], plt: Any) -> Figure | None:
    dist = _analytics(summary, "fn_distribution", {})
    if not dist:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.2))
    counts = list(dist.values())
    ax.bar([f"F{k}" for k in dist], counts, color="#4e9a7a")
    _bar_values(ax, counts)
    ax.set_xlabel(label("購入回数 Orders per customer"))
    ax.set_ylabel(label("顧客数 customers"))
    ax.set_title(label("購入回数の分布 F(n) distribution"))
    return fig


def roi_chart(summary: dict[str, Any], plt: Any) -> Figure | None:
    """Per sequence: attributed gross profit against cost (JPY), ROI on top."""
    rows = {s: r for s, r in summary["cost"]["by_sequence"].items() if "cost_jpy" in r}
    if not rows:
        return None
    by_seq = summary["messages"]["by_sequence"]
    seqs = list(rows)
    x = list(range(len(seqs)))
    fig, ax = plt.subplots(figsize=(7, 3.2))
    profit = [rows[s]["gross_profit_jpy"] for s in seqs]
    cost = [rows[s]["cost_jpy"] for s in seqs]
    ax.bar([i - 0.2 for i in x], profit, width=0.4, color="#1f5f4a", label=label("粗利 Gross profit"))
    ax.bar([i + 0.2 for i in x], cost, width=0.4, color="#c0504d", label=label("費用 Cost"))
    for i, s in enumerate(seqs):
        roi = rows[s].get("roi")
        text = "ROI –" if roi is None else f"ROI {roi:,.0f}×" if abs(roi) >= 10 else f"ROI {roi:.1f}×"
        ax.text(i, max(profit[i], cost[i]), text, ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, [label(by_seq.get(s, {}).get("label", s)) for s in seqs])
    ax.set_ylabel(label("円 JPY"))
    ax.legend(frameon=False, fontsize=8)
    ax.set_title(label("シーケンス別の投資対効果 ROI per sequence"))
    return fig


def _analytics(summary: dict[str, Any], key: str, default: Any) -> Any:
    return (summary.get("analytics") or {}).get(key) or default


def _grouped_bars(
    ax: Any,
    cohorts: list[dict[str, Any]],
    part: str,
    key: str,
    colors: tuple[str, ...],
    name: str,
    scale: float = 1,
) -> None:
    """One group of bars per cohort, one bar per window; an incomplete window's bar is faded."""
    windows = [w["days"] for w in cohorts[0][part]]
    width = 0.8 / max(len(windows), 1)
    for j, days in enumerate(windows):
        xs = [i + (j - (len(windows) - 1) / 2) * width for i in range(len(cohorts))]
        rows: list[dict[str, Any]] = [next((w for w in c[part] if w["days"] == days), {}) for c in cohorts]
        vals = [(r.get(key) or 0) * scale for r in rows]
        alphas = [1.0 if r.get("complete") else 0.45 for r in rows]
        bars = ax.bar(
            xs, vals, width=width, color=colors[j % len(colors)], label=label(name.format(days, days))
        )
        for b, a in zip(bars, alphas, strict=True):
            b.set_alpha(a)
    ax.set_xticks(range(len(cohorts)), [c["month"] for c in cohorts], rotation=30 if len(cohorts) > 6 else 0)
    ax.legend(frameon=False, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=len(windows))


def _bar_values(ax: Any, vals: list[float], fmt: str = "{:g}") -> None:
    for i, v in enumerate(vals):
        ax.text(i, v, fmt.format(v), ha="center", va="bottom", fontsize=9)


def _heatmap(fig: Any, ax: Any, grid: list[list[float]], xs: list[str], ys: list[str]) -> None:
    im = ax.imshow(grid, cmap="YlGn", aspect="auto")
    ax.set_xticks(range(len(xs)), xs)
    ax.set_yticks(range(len(ys)), ys)
    top = max(max(r) for r in grid) if grid and grid[0] else 0
    for i, row in enumerate(grid):
        for j, v in enumerate(row):
            color = "white" if v > top * 0.6 else "#222"
            ax.text(j, i, f"{v:g}", ha="center", va="center", fontsize=9, color=color)
    fig.colorbar(im, ax=ax, shrink=0.8)


CHARTS: dict[str, Chart] = {
    "stages": stages_chart,
    "stages_now": stages_now_chart,
    "funnel": funnel_chart,
    "f2": f2_chart,
    "messages": messages_chart,
    "cost": cost_chart,
    "rfm": rfm_chart,
    "ltv": ltv_chart,
    "f2_cohorts": f2_cohort_chart,
    "fn": fn_chart,
    "rfm_scores": rfm_scores_chart,
    "segments": segments_chart,
    "roi": roi_chart,
}


def _en_freq(labels: list[str]) -> list[str]:
    return labels if japanese_font() else [s.replace("回", "x") for s in labels]


def _en_rec(labels: list[str]) -> list[str]:
    return labels if japanese_font() else [s.replace("日", "d") for s in labels]


def _save(fig: Any, plt: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
