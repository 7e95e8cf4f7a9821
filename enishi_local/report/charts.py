"""The report's charts as PNG files (matplotlib, Agg backend: no display needed).

Labels are bilingual ("見込み客 Lead"). When no font that renders Japanese is installed (``fc-list :lang=ja`` is
empty), charts keep only the English part, so nothing shows up as empty boxes.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
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


def render_all(summary: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    from enishi_local.report.metrics import STAGE_LABELS, STAGES

    plt = _plt()
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}

    # stages over time (stacked area)
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
    files["stages"] = _save(fig, plt, out_dir / "stages.png")

    # funnel
    funnel = summary["funnel"]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    counts = [f["count"] for f in funnel]
    names = [label(f["label"]) for f in funnel]
    bars = ax.barh(range(len(funnel))[::-1], counts, color=["#9bb7c9", "#6f9bb5", "#4e9a7a", "#1f5f4a"])
    ax.set_yticks(range(len(funnel))[::-1], names)
    for b, n in zip(bars, counts, strict=True):
        pct = f" ({n / counts[0]:.0%})" if counts and counts[0] else ""
        ax.text(b.get_width(), b.get_y() + b.get_height() / 2, f" {n}{pct}", va="center", fontsize=9)
    ax.set_title(label("ファネル Funnel"))
    ax.set_xlim(0, max(counts + [1]) * 1.25)
    files["funnel"] = _save(fig, plt, out_dir / "funnel.png")

    # F2 conversion
    f2 = summary["f2"]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    groups = [
        ("全体 Overall", f2["overall"]),
        ("F2ナッジ受信 Nudged", f2["nudged"]["rate"]),
        ("未受信 Not nudged", f2["not_nudged"]["rate"]),
    ]
    vals = [(v or 0) * 100 for _, v in groups]
    bars = ax.bar([label(g) for g, _ in groups], vals, color=["#4e9a7a", "#1f5f4a", "#b8c4cc"])
    for b, v in zip(bars, vals, strict=True):
        ax.text(
            b.get_x() + b.get_width() / 2, b.get_height(), f"{v:.1f}%", ha="center", va="bottom", fontsize=9
        )
    ax.set_ylabel("%")
    ax.set_title(label("F2転換率 F2 conversion"))
    files["f2"] = _save(fig, plt, out_dir / "f2.png")

    # messages by sequence and channel
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
    files["messages"] = _save(fig, plt, out_dir / "messages.png")

    # cost per sequence (stacked by component)
    cost = summary["cost"]["by_sequence"]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    comps = [
        ("step_functions", "Step Functions", "#8e6c8a"),
        ("lambda", "Lambda", "#f28e2b"),
        ("dynamodb", "DynamoDB", "#4e79a7"),
        ("ses", "SES", "#59a14f"),
        ("line", "LINE", COLORS["line"]),
    ]
    bottom = [0.0] * len(seqs)
    for key, name, color in comps:
        vals = [cost.get(s, {}).get(key, 0.0) for s in seqs]
        ax.bar(list(x), vals, bottom=bottom, color=color, label=name)
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    ax.set_xticks(list(x), [label(by_seq[s]["label"]) for s in seqs])
    ax.set_ylabel("USD")
    ax.legend(frameon=False, fontsize=8)
    ax.set_title(label("シーケンス別コスト Cost per sequence"))
    files["cost"] = _save(fig, plt, out_dir / "cost.png")

    # RFM grid
    rfm = summary["rfm"]
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    grid = rfm["customers"]
    im = ax.imshow(grid, cmap="YlGn", aspect="auto")
    ax.set_xticks(range(len(rfm["frequency"])), [label(f) or f for f in _en_freq(rfm["frequency"])])
    ax.set_yticks(range(len(rfm["recency"])), [label(r) or r for r in _en_rec(rfm["recency"])])
    for i, row in enumerate(grid):
        for j, v in enumerate(row):
            ax.text(
                j,
                i,
                str(v),
                ha="center",
                va="center",
                fontsize=9,
                color="white" if v > max(max(r) for r in grid) * 0.6 else "#222",
            )
    ax.set_xlabel(label("購入回数 Frequency"))
    ax.set_ylabel(label("最終購入からの日数 Recency"))
    ax.set_title("RFM")
    fig.colorbar(im, ax=ax, shrink=0.8)
    files["rfm"] = _save(fig, plt, out_dir / "rfm.png")
    return files


def _en_freq(labels: list[str]) -> list[str]:
    return labels if japanese_font() else [s.replace("回", "x") for s in labels]


def _en_rec(labels: list[str]) -> list[str]:
    return labels if japanese_font() else [s.replace("日", "d") for s in labels]


def _save(fig: Any, plt: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
