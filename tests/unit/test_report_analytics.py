"""The analytics result document as the report builds (stand-in) and reads it (view): cohorts' LTV and F2 windows,
RFM quintiles and segments, per-sequence ROI, and the summary the report draws from any result."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from enishi.analytics.result import AnalyticsResult
from enishi.clock import JST
from enishi_local.report import standin, view
from enishi_local.report.metrics import ExecutionInfo, ReportData, compute

START = datetime(2026, 1, 5, tzinfo=JST)
SHOP = "enishi-demo.myshopify.com"


def profile(cid: str, orders: list[tuple[int, int]], **extra) -> dict:
    """A profile whose orders are (day, total) after START."""
    days = [d for d, _ in orders]
    return {
        "shop": SHOP,
        "customer_id": cid,
        "created_at": START.isoformat(),
        "updated_at": START.isoformat(),
        "order_count": len(orders),
        "total_spent": Decimal(sum(t for _, t in orders)),
        "first_order_at": (START + timedelta(days=min(days))).isoformat() if days else None,
        "last_order_at": (START + timedelta(days=max(days))).isoformat() if days else None,
        **extra,
    }


def order_items(cid: str, orders: list[tuple[int, int]]) -> list[dict]:
    return [
        {
            "customer_id": cid,
            "order_id": f"{cid}-{i}",
            "placed_at": (START + timedelta(days=d)).isoformat(),
            "total": Decimal(t),
            "status": "placed",
        }
        for i, (d, t) in enumerate(orders)
    ]


HISTORY = {
    "a": [(0, 1000), (20, 2000), (100, 4000), (200, 8000)],  # January; F2 within 30; LTV grows per window
    "b": [(3, 5000)],  # January, F1
    "c": [(40, 3000), (100, 1000)],  # February (day 40 = Feb 14); second order 60 days later
}


def run_data(end_day: int = 400, **kw) -> ReportData:
    profiles = [profile(cid, orders) for cid, orders in HISTORY.items()]
    profiles.append(profile("lead", []))
    items = [o for cid, orders in HISTORY.items() for o in order_items(cid, orders)]
    items.append({**order_items("b", [(5, 9999)])[0], "order_id": "b-x", "status": "cancelled"})
    messages: list[dict] = [
        {"customer_id": "a", "sequence": "welcome", "step": "thanks", "channel": "email", "status": "sent"},
        {
            "customer_id": "a",
            "sequence": "welcome",
            "step": "f2_nudge",
            "channel": "line",
            "status": "sent",
            "converted_at": "2026-01-25T00:00:00Z",
            "revenue": 2000,
        },
    ]
    return ReportData(
        shop=SHOP,
        start=START,
        end=START + timedelta(days=end_day),
        profiles=profiles,
        messages=messages,
        outbox=[],
        executions=[ExecutionInfo("welcome", "w1", "SUCCEEDED", 10, 3)],
        order_items=items,
        **kw,
    )


def test_cohorts_ltv_windows_and_f2_windows_from_each_customers_first_order():
    result = standin.build_result(run_data(margin_rate=0.5))
    jan, feb = result.cohorts
    assert (jan.month, jan.customers, feb.month, feb.customers) == ("2026-01", 2, "2026-02", 1)
    ltv = {w.days: w for w in jan.ltv}
    # a: 1000+2000 by day 90, +4000 by 180, +8000 by 365; b: 5000 (its cancelled order does not count)
    assert [ltv[d].revenue_jpy for d in (90, 180, 365)] == [8000.0, 12000.0, 20000.0]
    assert ltv[180].gross_profit_jpy == 6000.0 and ltv[180].per_customer_jpy == 6000.0
    assert all(w.complete for w in jan.ltv)  # day 400 ≥ day 3 + 365
    f2 = {w.days: w for w in feb.f2}
    assert (f2[30].converted, f2[60].converted, f2[90].converted) == (0, 1, 1)
    assert {w.days: w.rate for w in jan.f2}[30] == 0.5
    assert jan.repeat_rate == 0.5


def test_windows_not_yet_elapsed_are_marked_incomplete():
    result = standin.build_result(run_data(end_day=120))
    feb = result.cohorts[1]
    assert [w.complete for w in feb.ltv] == [False, False, False]  # day 40 + 90 > day 120
    assert [w.complete for w in feb.f2] == [True, True, False]


def test_totals_fn_distribution_and_sequence_roi():
    result = standin.build_result(run_data(margin_rate=0.5))
    assert (result.totals.customers, result.totals.buyers, result.totals.orders) == (4, 3, 7)
    assert result.fn_distribution["1"] == 1 and result.fn_distribution["2"] == 1
    assert result.fn_distribution["4"] == 1 and sum(result.fn_distribution.values()) == 3
    welcome = [s for s in result.sequences if s.sequence == "welcome"]
    total = next(s for s in welcome if s.step is None and s.channel is None)
    parts = [s for s in welcome if s.step is not None]
    assert total.sent == 2 and total.converted == 1 and total.revenue_jpy == 2000.0
    assert abs(sum(s.cost_usd for s in parts) - total.cost_usd) < 1e-12  # steps share the sequence's cost
    assert total.roi == round((1000.0 - total.cost_jpy) / total.cost_jpy, 4)
    winback = next(s for s in result.sequences if s.sequence == "winback")
    assert winback.sent == 0 and winback.roi is None


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=50), min_size=1, max_size=60))
def test_quintile_scores_are_1_to_5_and_monotone_in_the_key(values):
    ids = [f"c{i:03d}" for i in range(len(values))]
    key = dict(zip(ids, values, strict=True))
    scores = standin.quintiles(ids, key.__getitem__)
    assert set(scores.values()) <= {1, 2, 3, 4, 5}
    for x in ids:
        for y in ids:
            if key[x] < key[y]:
                assert scores[x] <= scores[y]
    if len(ids) >= 5:
        assert set(scores.values()) == {1, 2, 3, 4, 5}


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 30))
def test_every_buyer_gets_exactly_one_documented_segment(r, f, n):
    seg = standin.segment_of(r, f, n)
    assert seg in standin.SEGMENTS
    if r >= 4 and f >= 4:
        assert seg == "champions"
    if r <= 2 and f <= 2:
        assert seg == "hibernating"


def test_segments_and_rfm_grid_count_every_buyer_once():
    result = standin.build_result(run_data())
    assert sum(s.customers for s in result.segments) == result.totals.buyers == 3
    assert sum(map(sum, result.rfm.customers)) == 3
    assert sum(map(sum, result.rfm.monetary_jpy)) == result.totals.revenue_jpy


def test_summary_from_a_result_alone_has_the_reports_keys():
    result = standin.build_result(run_data())
    doc = AnalyticsResult.model_validate_json(result.model_dump_json())  # through JSON, as read from S3
    s = view.merge(view.from_result(doc), view.result_only(doc))
    assert s["customers"] == 4 and s["orders"] == 7 and s["f2"]["repeaters"] == 2
    assert [f["count"] for f in s["funnel"]] == [3, 2]
    assert s["messages"]["by_sequence"]["welcome"]["line"] == 1
    assert s["cost"]["by_sequence"]["welcome"]["roi"] == next(
        x.roi for x in doc.sequences if x.sequence == "welcome" and x.step is None and x.channel is None
    )
    assert s["analytics"]["cohorts"][0]["month"] == "2026-01"
    assert s["period"]["end"] == doc.as_of


def test_demo_summary_takes_what_enishi_knows_from_the_result():
    # Given a result document that disagrees with the run's items
    data = run_data()
    result = standin.build_result(data)
    result.totals.customers = 99
    # When the summary is computed with it, Then the result's numbers win, the run's own sections stay
    s = compute(data, result)
    assert s["customers"] == 99
    assert s["rfm"]["recency"][0] == "0–30日"  # the run's recency × frequency grid
    assert s["analytics"]["totals"]["customers"] == 99


def test_merge_keeps_base_values_and_nests():
    base = {"a": 1, "d": {"x": 1}}
    extra = {"a": 2, "b": 3, "d": {"x": 2, "y": 4}}
    assert view.merge(base, extra) == {"a": 1, "b": 3, "d": {"x": 1, "y": 4}}
    assert list(view.merge(base, extra)) == ["a", "b", "d"]


def test_report_from_a_result_alone_renders_html_charts_and_terminal(tmp_path):
    from enishi_local.report import render
    from enishi_local.report.terminal import format_summary

    doc = standin.build_result(run_data())
    summary = view.merge(view.from_result(doc), view.result_only(doc))
    render(summary, tmp_path)
    charts = {p.stem for p in (tmp_path / "charts").iterdir()}
    assert {"ltv", "f2_cohorts", "fn", "rfm_scores", "segments", "roi", "stages_now", "funnel"} <= charts
    assert "stages" not in charts and "rfm" not in charts  # no weekly samples, no run's recency grid
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "コホート別LTV" in html and "2026-01" in html and "シミュレーション" not in html
    assert "enishi report" in html
    text = format_summary(summary)
    assert "cohort 2026-02" in text and "Carts" not in text


def test_demo_report_has_the_new_charts_and_a_simulation_section(tmp_path):
    from enishi_local.report import build_report

    data = run_data()
    data.sim = {"visitors_with_cart": 9, "visitors_with_contact": 6}
    build_report(data, tmp_path)
    charts = {p.stem for p in (tmp_path / "charts").iterdir()}
    assert {"stages", "rfm", "ltv", "roi", "segments"} <= charts
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "シミュレーション Simulation" in html and "visitors_with_cart" in html


def test_summary_names_where_each_number_comes_from(tmp_path):
    from enishi_local.report import build_report

    data = run_data()
    data.sim = {"visitors_with_cart": 9}
    s = build_report(data, tmp_path)
    assert s["sources"]["customers"] == "analytics" and s["sources"]["sim"] == "simulation"
    assert s["sources"]["rfm"] == "run" and s["sources"]["f2"] == "analytics + run"
    assert s["sources"]["funnel"].startswith("simulation")


def test_a_stack_reports_period_starts_on_its_first_cohorts_first_day_in_japan():
    doc = standin.build_result(run_data())
    period = view.result_only(doc)["period"]
    assert period["start"][:10] == "2026-01-01" and period["end"] == doc.as_of
