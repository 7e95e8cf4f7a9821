"""The lifecycle report: numbers (``metrics`` for a run, ``view`` for any analytics result), charts (``charts``),
``report.html``, ``summary.json``, the outbox as files, and a terminal summary. ``enishi demo`` and
``enishi report`` (``command``) write it through the same ``render``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .metrics import ReportData, compute


def build_report(data: ReportData, out_dir: Path, messages: list[Any] | None = None) -> dict[str, Any]:
    """Write ``report.html``, ``charts/*.png``, ``summary.json`` and ``outbox/`` under ``out_dir``; return the
    summary."""
    from .outbox_files import write_outbox

    summary = compute(data)
    if messages is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        summary["outbox_files"] = write_outbox(messages, out_dir / "outbox")
    return render(summary, out_dir, generator="enishi demo")


def render(summary: dict[str, Any], out_dir: Path, generator: str = "enishi report") -> dict[str, Any]:
    """``charts/*.png``, ``report.html`` and ``summary.json`` of a summary, under ``out_dir``."""
    from .charts import render_all
    from .html import render_html

    out_dir.mkdir(parents=True, exist_ok=True)
    charts = render_all(summary, out_dir / "charts")
    (out_dir / "report.html").write_text(render_html(summary, charts, generator), encoding="utf-8")
    write_summary(summary, out_dir)
    return summary


def write_summary(summary: dict[str, Any], out_dir: Path) -> Path:
    path = out_dir / "summary.json"
    path.write_text(json.dumps(summary, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    return path
