"""The report's numbers and files from hand-made run data (no AWS)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal

from enishi.clock import JST
from enishi_local.demo.shop_sim import SentMessage
from enishi_local.report import build_report
from enishi_local.report.metrics import ExecutionInfo, ReportData, compute

START = datetime(2026, 1, 5, tzinfo=JST)
END = START + timedelta(days=60)
SHOP = "enishi-demo.myshopify.com"


def profile(
    cid: str, orders: int, first_day: int | None, last_day: int | None, spent: int = 0, **extra
) -> dict:
    item = {
        "shop": SHOP,
        "customer_id": cid,
        "created_at": START.isoformat(),
        "updated_at": START.isoformat(),
        "order_count": orders,
        "total_spent": Decimal(spent),
        "first_order_at": (START + timedelta(days=first_day)).isoformat() if first_day is not None else None,
        "last_order_at": (START + timedelta(days=last_day)).isoformat() if last_day is not None else None,
        "stage": "lead" if orders == 0 else "first_time" if orders == 1 else "repeat",
    }
    item.update(extra)
    return item


def msg(cid: str, seq: str, step: str, channel: str = "email", **extra) -> dict:
    return {
        "customer_id": cid,
        "sequence": seq,
        "step": step,
        "channel": channel,
        "status": "sent",
        "trigger_id": extra.pop("trigger_id", f"t-{cid}"),
        **extra,
    }


def data() -> ReportData:
    profiles = [
        profile("lead1", 0, None, None),
        profile("a", 1, 1, 1, 3000),  # nudged, stayed F1; last order 59 days ago → at_risk? (60 → no)
        profile("b", 2, 2, 20, 6000),  # nudged, converted
        profile("c", 1, 5, 5, 2000),  # not nudged (no consent), stayed F1
        profile("d", 1, 57, 57, 1500),  # first order too recent for the F2 comparison
        profile("g", 1, 1, 1, 1000, merged_into="b"),  # merged guest: not counted
    ]
    messages = [
        msg("a", "welcome", "thanks"),
        msg("a", "welcome", "f2_nudge"),
        msg("b", "welcome", "f2_nudge", channel="line"),
        msg(
            "c",
            "cart_recovery",
            "reminder_1",
            trigger_id="co1",
            converted_at="2026-01-10T00:00:00Z",
            revenue=4000,
            opened_at="2026-01-09T00:00:00Z",
        ),
        msg("c", "cart_recovery", "reminder_2", trigger_id="co1"),
        msg("d", "shipping_notice", "notice", delivered_at="2026-03-01T00:00:00Z"),
        {
            "customer_id": "lead1",
            "sequence": "cart_recovery",
            "step": "reminder_1",
            "status": "skipped",
            "reason": "quiet_hours",
        },
    ]
    executions = [
        ExecutionInfo("welcome", "w1", "RUNNING", 7, 2),
        ExecutionInfo("cart_recovery", "c1", "SUCCEEDED", 6, 2),
    ]
    samples = [(START + timedelta(days=7 * i), {"lead": i, "first_time": 1}) for i in range(3)]
    return ReportData(
        shop=SHOP,
        start=START,
        end=END,
        profiles=profiles,
        messages=messages,
        outbox=[],
        executions=executions,
        stage_samples=samples,
        orders=[
            {"customer_id": "b", "placed_at": START + timedelta(days=2), "total": 3000},
            {"customer_id": "b", "placed_at": START + timedelta(days=20), "total": 3000},
        ],
        sim={"visitors_with_cart": 10, "visitors_with_contact": 7},
    )


def test_counts_customers_stages_and_f2_split_by_nudge():
    # Given a small run; When computed
    s = compute(data())
    # Then the merged guest is not a customer, and stages are derived at the end of the run
    assert s["customers"] == 5
    assert s["stages_now"]["lead"] == 1 and s["stages_now"]["repeat"] == 1
    # F2: 1 of 4 buyers; nudged a,b → 1/2 converted; c not nudged (d too recent)
    assert s["f2"]["buyers"] == 4 and s["f2"]["repeaters"] == 1
    assert s["f2"]["nudged"] == {"customers": 2, "converted": 1, "rate": 0.5}
    assert s["f2"]["not_nudged"]["customers"] == 1 and s["f2"]["not_nudged"]["converted"] == 0
    assert [f["count"] for f in s["funnel"]] == [10, 7, 4, 1]


def test_cart_recovery_uses_attribution_and_messages_are_split_by_channel():
    s = compute(data())
    assert s["carts"]["reminded"] == 1 and s["carts"]["recovered"] == 1
    assert s["carts"]["recovered_revenue"] == 4000.0 and s["carts"]["source"] == "attribution"
    seqs = s["messages"]["by_sequence"]
    assert seqs["welcome"]["email"] == 2 and seqs["welcome"]["line"] == 1
    assert seqs["cart_recovery"]["opened"] == 1 and seqs["shipping_notice"]["delivered"] == 1
    assert s["messages"]["skipped_by_reason"] == {"quiet_hours": 1}


def test_cost_counts_transitions_sends_and_line_plan():
    s = compute(data())
    welcome = s["cost"]["by_sequence"]["welcome"]
    assert welcome["transitions"] == 7 and welcome["step_functions"] == round(7 * 0.000025, 6)
    assert welcome["ses"] == round(2 * 0.0001, 6)
    assert welcome["line"] > 0  # the Light plan's fee spread over the one LINE message
    assert s["cost"]["by_sequence"]["winback"]["total_usd"] == 0


def test_rfm_grid_places_buyers_by_recency_and_frequency():
    s = compute(data())
    grid = s["rfm"]["customers"]
    assert sum(map(sum, grid)) == 4
    assert grid[0][0] == 1  # d: ordered 3 days before the end, once
    assert grid[1][1] == 1  # b: 40 days ago, twice


def test_build_report_writes_html_charts_summary_and_outbox(tmp_path):
    sent_at = START + timedelta(days=3, hours=1)
    email = SentMessage(
        "email",
        "hanako@example.jp",
        "welcome",
        "thanks",
        sent_at,
        subject="ご注文ありがとうございます",
        raw={
            "html": "<p>ありがとう</p>",
            "text": "ありがとう",
            "headers": [{"Name": "List-Unsubscribe", "Value": "<http://x/u/t>"}],
        },
    )
    line = SentMessage(
        "line",
        "Uabc",
        "shipping_notice",
        "notice",
        sent_at,
        raw={"to": "Uabc", "messages": [{"type": "text", "text": "発送しました"}]},
    )
    summary = build_report(data(), tmp_path, messages=[email, line])
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "F2転換率" in html and "data:image/png;base64," in html
    assert {p.name for p in (tmp_path / "charts").iterdir()} >= {
        "stages.png",
        "funnel.png",
        "rfm.png",
        "cost.png",
    }
    assert json.loads((tmp_path / "summary.json").read_text())["customers"] == summary["customers"] == 5
    files = sorted(p.suffix for p in (tmp_path / "outbox").iterdir())
    assert files == [".eml", ".html", ".json"]
    eml = next((tmp_path / "outbox").glob("*.eml")).read_bytes()
    assert b"List-Unsubscribe: <http://x/u/t>" in eml
