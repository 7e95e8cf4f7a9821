"""The lifecycle report: numbers (``metrics`` for a run, ``view`` for any analytics result), charts (``charts``),
``report.html``, ``summary.json``, the outbox as files, and a terminal summary. ``enishi demo`` and
``enishi report`` (``command``) write it through the same ``render``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .metrics import ReportData, compute

if TYPE_CHECKING:
    from enishi.analytics.result import AnalyticsResult

__all__ = ["ReportData", "build_report", "compute", "render", "write_summary"]


def build_report(
    data: ReportData,
    out_dir: Path,
    messages: list[Any] | None = None,
    result: AnalyticsResult | None = None,
) -> dict[str, Any]:
    """The demo's report: ``enishi report``'s ``write_report`` of the analytics result (``result``; when None,
    computed from the run's items by the stand-in) with the run's own sections, and ``outbox/``."""
    from .command import write_report
    from .metrics import run_sections
    from .standin import build_result

    result = result if result is not None else build_result(data)
    extra = run_sections(data, result)
    return write_report(result, out_dir, extra=extra, generator="enishi demo", outbox=messages)


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
