"""``report.html``: one self-contained page (charts embedded as data URIs), bilingual labels, dashboard layout."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from jinja2 import Environment, select_autoescape

from enishi_local.report.metrics import STAGE_LABELS, STAGES

TEMPLATE = """<!doctype html>
<html lang="ja"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>enishi レポート — {{ s.shop }}</title>
<style>
:root { --ink:#1d2b26; --muted:#6b7a74; --line:#e3e8e5; --accent:#1f5f4a; --bg:#f6f8f7; }
* { box-sizing:border-box; }
body { margin:0; font-family:"Noto Sans CJK JP","Hiragino Sans","Yu Gothic",system-ui,sans-serif; color:var(--ink); background:var(--bg); }
header { background:var(--accent); color:#fff; padding:18px 32px; display:flex; align-items:baseline; gap:18px; }
header h1 { margin:0; font-size:22px; letter-spacing:.04em; }
header .sub { opacity:.85; font-size:13px; }
main { padding:24px 32px; max-width:1280px; margin:auto; }
.kpis { display:grid; grid-template-columns:repeat(6, 1fr); gap:12px; margin-bottom:20px; }
.kpi { background:#fff; border:1px solid var(--line); border-radius:10px; padding:12px 14px; }
.kpi .v { font-size:24px; font-weight:700; }
.kpi .l { font-size:12px; color:var(--muted); }
.grid { display:grid; grid-template-columns:1fr 1fr; gap:16px; }
.card { background:#fff; border:1px solid var(--line); border-radius:10px; padding:14px 16px; }
.card.wide { grid-column:1 / -1; }
.card h2 { font-size:15px; margin:0 0 8px; }
.card img { width:100%; height:auto; }
table { border-collapse:collapse; width:100%; font-size:13px; }
th, td { padding:5px 8px; border-bottom:1px solid var(--line); text-align:right; }
th:first-child, td:first-child { text-align:left; }
th { color:var(--muted); font-weight:600; }
.note { color:var(--muted); font-size:12px; margin-top:6px; }
footer { color:var(--muted); font-size:12px; padding:16px 32px 32px; max-width:1280px; margin:auto; }
</style></head>
<body>
<header><h1>縁 enishi</h1><div class="sub">ライフサイクル・レポート Lifecycle report · {{ s.shop }} ·
{{ s.period.start[:10] }} → {{ s.period.end[:10] }} ({{ s.period.days }} 日 days)</div></header>
<main>
<section class="kpis">
  <div class="kpi"><div class="v">{{ s.customers }}</div><div class="l">顧客 Customers</div></div>
  <div class="kpi"><div class="v">{{ s.orders }}</div><div class="l">注文 Orders</div></div>
  <div class="kpi"><div class="v">¥{{ "{:,.0f}".format(s.revenue_jpy) }}</div><div class="l">売上 Revenue</div></div>
  <div class="kpi"><div class="v">{{ pct(s.f2.overall) }}</div><div class="l">F2転換率 F2 conversion</div></div>
  <div class="kpi"><div class="v">{{ s.carts.recovered }}</div><div class="l">カゴ落ち回収 Carts recovered (¥{{ "{:,.0f}".format(s.carts.recovered_revenue) }})</div></div>
  <div class="kpi"><div class="v">{{ s.messages.total }}</div><div class="l">配信 Messages (✉ {{ s.messages.email }} · LINE {{ s.messages.line }})</div></div>
</section>
<section class="grid">
  <div class="card wide"><h2>ライフサイクル段階の推移 Customers by lifecycle stage (weekly)</h2>
    <img alt="stages" src="{{ img.stages }}">
    <table><tr><th>段階 Stage</th>{% for st in stages %}<th>{{ stage_labels[st] }}</th>{% endfor %}</tr>
    <tr><td>期末 End of run</td>{% for st in stages %}<td>{{ s.stages_now[st] }}</td>{% endfor %}</tr></table></div>
  <div class="card"><h2>ファネル Funnel</h2><img alt="funnel" src="{{ img.funnel }}">
    <div class="note">カート作成・連絡先入力はショップ側の事実（連絡先のないカートはプロフィールに届かない）。
    Carts and contact: the shop's own counts (a cart without contact never reaches a profile).</div></div>
  <div class="card"><h2>F2転換率 F2 conversion</h2><img alt="f2" src="{{ img.f2 }}">
    <table><tr><th></th><th>顧客 Customers</th><th>F2</th><th>率 Rate</th></tr>
    <tr><td>全体 Overall</td><td>{{ s.f2.buyers }}</td><td>{{ s.f2.repeaters }}</td><td>{{ pct(s.f2.overall) }}</td></tr>
    <tr><td>F2ナッジ受信 Nudged</td><td>{{ s.f2.nudged.customers }}</td><td>{{ s.f2.nudged.converted }}</td><td>{{ pct(s.f2.nudged.rate) }}</td></tr>
    <tr><td>未受信 Not nudged</td><td>{{ s.f2.not_nudged.customers }}</td><td>{{ s.f2.not_nudged.converted }}</td><td>{{ pct(s.f2.not_nudged.rate) }}</td></tr></table>
    <div class="note">初回購入から8日以上たった F1 顧客のみ。Only first-time buyers whose 7-day window has passed.</div></div>
  <div class="card"><h2>カゴ落ち回収 Cart recovery</h2>
    <table>
    <tr><td>連絡先ありで放棄 Abandoned with contact</td><td>{{ s.carts.abandoned_with_contact }}</td></tr>
    <tr><td>リマインド送信 Reminded</td><td>{{ s.carts.reminded }}</td></tr>
    <tr><td>リマインド後に回収 Recovered after a reminder</td><td>{{ s.carts.recovered }} ({{ pct(s.carts.recovery_rate) }})</td></tr>
    <tr><td>回収売上 Recovered revenue</td><td>¥{{ "{:,.0f}".format(s.carts.recovered_revenue) }}</td></tr>
    <tr><td>自力で戻った Came back on their own</td><td>{{ s.carts.recovered_on_their_own }}</td></tr>
    </table><div class="note">出典 Source: {{ s.carts.source }}</div></div>
  <div class="card"><h2>配信 Messages by sequence and channel</h2><img alt="messages" src="{{ img.messages }}">
    <table><tr><th>シーケンス Sequence</th><th>✉</th><th>LINE</th><th>到達 Delivered</th><th>開封 Opened</th><th>クリック Clicked</th><th>バウンス Bounced</th></tr>
    {% for k, v in s.messages.by_sequence.items() %}<tr><td>{{ v.label }}</td><td>{{ v.email }}</td><td>{{ v.line }}</td><td>{{ v.delivered }}</td><td>{{ v.opened }}</td><td>{{ v.clicked }}</td><td>{{ v.bounced }}</td></tr>{% endfor %}
    </table>
    {% if s.messages.skipped_by_reason %}<div class="note">送信前チェックで見送り Skipped by the pre-send check:
    {% for r, n in s.messages.skipped_by_reason.items() %}{{ r }} {{ n }}{% if not loop.last %} · {% endif %}{% endfor %}</div>{% endif %}</div>
  <div class="card"><h2>シーケンス別コスト Cost per sequence</h2><img alt="cost" src="{{ img.cost }}">
    <table><tr><th>シーケンス Sequence</th><th>実行 Executions</th><th>遷移 Transitions</th><th>USD</th><th>USD / 通 msg</th></tr>
    {% for k, v in s.cost.by_sequence.items() %}<tr><td>{{ s.messages.by_sequence[k].label }}</td><td>{{ v.executions }}</td><td>{{ v.transitions }}</td><td>{{ "%.4f"|format(v.total_usd) }}</td><td>{{ "%.5f"|format(v.per_message_usd) if v.per_message_usd is not none else "–" }}</td></tr>{% endfor %}
    <tr><th>合計 Total</th><td></td><td></td><th>{{ "%.4f"|format(s.cost.total_usd) }}</th><td></td></tr></table>
    <div class="note">Step Functions $0.000025/遷移 transition · Lambda {{ (s.cost.assumptions.lambda_gb*1024)|int }} MB × {{ s.cost.assumptions.lambda_seconds_per_step }} s/step ·
    DynamoDB {{ s.cost.assumptions.ddb_writes_per_step }} W + {{ s.cost.assumptions.ddb_reads_per_step }} R/step · SES $0.0001/通 ·
    LINE {{ s.cost.assumptions.line_plan }} プラン ¥{{ s.cost.assumptions.line_plan_fee_jpy_month }}/月 ÷ {{ s.cost.assumptions.line_plan_messages }} 通 = ¥{{ s.cost.assumptions.line_per_message_jpy }}/通 · ¥{{ s.cost.assumptions.jpy_per_usd|int }}/USD</div></div>
  <div class="card"><h2>RFM (最終購入 Recency × 購入回数 Frequency)</h2><img alt="rfm" src="{{ img.rfm }}"></div>
  <div class="card"><h2>同意・抑止・LINE Consent, suppression, LINE</h2>
    <table><tr><td>配信停止 Unsubscribed</td><td>{{ s.unsubscribed }}</td></tr>
    <tr><td>抑止（バウンス等） Suppressed (bounce/complaint)</td><td>{{ s.suppressed }}</td></tr>
    <tr><td>LINE 連携 LINE linked</td><td>{{ s.line_linked }}</td></tr>
    {% if s.line_funnel %}<tr><td>LINE 友だち→連携→購入→リピート friends → linked → buyers → repeat</td>
    <td>{{ s.line_funnel.friends if s.line_funnel.friends is not none else "?" }} → {{ s.line_funnel.linked }} →
    {{ s.line_funnel.linked_buyers }} → {{ s.line_funnel.linked_repeat }}</td></tr>{% endif %}</table></div>
</section>
</main>
<footer>生成 Generated by <code>enishi demo</code>{% if s.run %} · シード seed {{ s.run.seed }} ·
実時間 wall {{ "%.1f"|format(s.run.wall_seconds or 0) }} s · 最大メモリ peak {{ s.run.peak_rss_mb }} MB ·
{{ "%.1f"|format(s.run.messages_per_second or 0) }} 通/秒 msgs/s{% endif %}</footer>
</body></html>
"""


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def render_html(summary: dict[str, Any], charts: dict[str, Path]) -> str:
    env = Environment(autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
    env.autoescape = True
    tpl = env.from_string(TEMPLATE)
    return tpl.render(
        s=summary,
        img={k: data_uri(p) for k, p in charts.items()},
        pct=pct,
        stages=STAGES,
        stage_labels=STAGE_LABELS,
    )
