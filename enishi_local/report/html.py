"""``report.html``: one self-contained page (charts embedded as data URIs), bilingual labels, dashboard layout."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from jinja2 import Environment, select_autoescape

from enishi_local.report.experiments import ab_verdict
from enishi_local.report.experiments import rows as experiment_rows
from enishi_local.report.metrics import SEQUENCE_LABELS, STAGE_LABELS, STAGES

TEMPLATE = Path(__file__).with_name("report.html.j2")  # Jinja2; its lines are HTML, not Python


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def render_html(summary: dict[str, Any], charts: dict[str, Path], generator: str = "enishi demo") -> str:
    env = Environment(autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
    env.autoescape = True
    tpl = env.from_string(TEMPLATE.read_text(encoding="utf-8"))
    return tpl.render(
        s=summary,
        img={k: data_uri(p) for k, p in charts.items()},
        pct=pct,
        stages=STAGES,
        stage_labels=STAGE_LABELS,
        seq_labels=SEQUENCE_LABELS,
        a=summary.get("analytics"),
        ltv_days=(90, 180, 365),
        f2_days=(30, 60, 90),
        generator=generator,
        experiments=experiment_rows(summary),
        ab_words=ab_verdict,
    )
