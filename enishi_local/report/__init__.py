"""The lifecycle report of a run: numbers (``metrics``), charts (``charts``), ``report.html``, ``summary.json``,
the outbox as files, and a terminal summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .metrics import ReportData, compute


def build_report(data: ReportData, out_dir: Path, messages: list[Any] | None = None) -> dict[str, Any]:
    """Write ``report.html``, ``charts/*.png``, ``summary.json`` and ``outbox/`` under ``out_dir``; return the summary."""
    from .charts import render_all
    from .html import render_html
    from .outbox_files import write_outbox

    out_dir.mkdir(parents=True, exist_ok=True)
    summary = compute(data)
    charts = render_all(summary, out_dir / "charts")
    if messages is not None:
        summary["outbox_files"] = write_outbox(messages, out_dir / "outbox")
    (out_dir / "report.html").write_text(render_html(summary, charts), encoding="utf-8")
    write_summary(summary, out_dir)
    return summary


def write_summary(summary: dict[str, Any], out_dir: Path) -> Path:
    path = out_dir / "summary.json"
    path.write_text(json.dumps(summary, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    return path
