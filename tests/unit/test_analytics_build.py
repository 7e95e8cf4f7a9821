"""Query rows → result document (functions/enishi/analytics/build.py) and the cost model's machine shapes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from enishi.analytics import build, cost
from enishi.analytics import segments as seg
from enishi.analytics.result import AnalyticsResult

AS_OF = datetime(2026, 3, 1, tzinfo=UTC)
SETTINGS = build.Settings(shop="s", as_of=AS_OF, margin_rate=Decimal("0.25"))


def customer_row(cid, orders, monetary, last, r=None, f=None, m=None, stage="first_time", **stored):
    return {
        "customer_id": cid,
        "orders": str(orders),
        "monetary": str(monetary),
        "last_order_at": last,
        "stage": stage,
        "r": r,
        "f": f,
        "m": m,
        **stored,
    }


def test_customers_fold_into_totals_stages_fn_segments_and_the_grid():
    rows = [
        customer_row("a", 0, 0, None, stage="lead"),
        customer_row("b", 1, 1000, "2026-02-20T00:00:00Z", 5, 1, 1),
        customer_row("c", 12, 90000, "2025-10-01T00:00:00Z", 1, 5, 5, stage="loyal"),
    ]
    customers = [build.customer(r, SETTINGS) for r in rows]
    summary = build.summarize(customers)
    result = build.result(summary, [], [], SETTINGS, generated_at=AS_OF, source="test")
    AnalyticsResult.model_validate(result.model_dump(mode="json"))
    assert (result.totals.customers, result.totals.buyers, result.totals.orders) == (3, 2, 13)
    assert result.totals.revenue_jpy == 91000 and result.totals.gross_profit_jpy == 22750
    assert result.stages["lead"] == 1 and result.stages["first_time"] == 1 and result.stages["dormant"] == 1
    assert (
        result.fn_distribution["1"] == 1
        and result.fn_distribution["10+"] == 1
        and "0" not in result.fn_distribution
    )
    by = {s.segment: s.customers for s in result.segments}
    assert by == {
        "champions": 0,
        "loyal": 0,
        "new": 1,
        "promising": 0,
        "at_risk": 1,
        "hibernating": 0,
        "lead": 1,
    }
    # row 0 is R5 (the most recent), the order the chart labels and the stand-in fill: b is R5 F1, c is R1 F5
    assert result.rfm.customers[0][0] == 1 and result.rfm.customers[4][4] == 1
    assert [c.segment.key for c in customers] == ["lead", "new", "at_risk"]


def test_a_customer_is_changed_only_when_scores_or_segment_differ():
    same = build.customer(
        customer_row(
            "b", 1, 1000, "2026-02-20T00:00:00Z", 5, 1, 1, rfm_r="5", rfm_f="1", rfm_m="1", segment="new"
        ),
        SETTINGS,
    )
    assert not same.changed
    moved = build.customer(
        customer_row(
            "b", 1, 1000, "2026-02-20T00:00:00Z", 4, 1, 1, rfm_r="5", rfm_f="1", rfm_m="1", segment="new"
        ),
        SETTINGS,
    )
    assert moved.changed
    lead = build.customer(customer_row("a", 0, 0, None, stage="lead", segment="lead"), SETTINGS)
    assert not lead.changed and lead.segment is seg.LEAD


def test_cohort_windows_are_complete_only_when_every_customer_had_the_whole_window():
    row = {
        "month": "2025-12",
        "customers": "4",
        "revenue_90": "4000.00",
        "revenue_180": "5000.00",
        "revenue_365": "5000.00",
        "f2_30": "1",
        "f2_60": "2",
        "f2_90": "2",
        "repeaters": "3",
        "last_first_order_at": "2025-12-20 10:00:00",
    }
    cohort = build.cohort(row, SETTINGS)
    assert [w.complete for w in cohort.f2] == [True, True, False]  # 12-20 + 60 d = 02-18 ≤ 03-01 < 03-20
    assert [w.complete for w in cohort.ltv] == [False, False, False]
    assert cohort.ltv[0].per_customer_jpy == 1000 and cohort.ltv[0].gross_profit_jpy == 1000
    assert cohort.f2[1].rate == 0.5 and cohort.repeat_rate == 0.75


def test_sequence_rows_sum_into_a_total_row_and_cost_follows_the_model():
    rows = [
        {
            "sequence": "welcome",
            "step": "thanks",
            "channel": "email",
            "records": "10",
            "sent": "10",
            "delivered": "9",
            "opened": "5",
            "clicked": "2",
            "bounced": "1",
            "complained": "0",
            "converted": "2",
            "revenue": "6000",
        },
        {
            "sequence": "welcome",
            "step": "thanks",
            "channel": "line",
            "records": "4",
            "sent": "4",
            "delivered": "0",
            "opened": "0",
            "clicked": "0",
            "bounced": "0",
            "complained": "0",
            "converted": "1",
            "revenue": "3000",
        },
        {
            "sequence": "welcome",
            "step": "nudge",
            "channel": None,
            "records": "3",
            "sent": "0",
            "delivered": "0",
            "opened": "0",
            "clicked": "0",
            "bounced": "0",
            "complained": "0",
            "converted": "0",
            "revenue": "0",
        },
    ]
    settings = build.Settings(
        shop="s", as_of=AS_OF, shapes={"welcome": cost.MachineShape(transitions=9, tasks=3)}
    )
    stats = build.sequence_stats(rows, settings)
    total = stats[0]
    assert (total.step, total.channel, total.sent, total.converted, total.revenue_jpy) == (
        None,
        None,
        14,
        3,
        9000,
    )
    assert sum(s.cost_usd for s in stats[1:]) == pytest.approx(total.cost_usd, abs=1e-5)
    parts = cost.cost_parts(transitions=17 * 3, invocations=17, emails=10, lines=4, plan_name="light")
    assert abs(total.cost_usd - parts.total) < 1e-6
    assert total.roi == pytest.approx((9000 * 0.4 - total.cost_jpy) / total.cost_jpy, rel=1e-3)


def test_machine_shape_follows_the_compiled_layout():
    assert cost.machine_shape([0, 3 * 86400, 7 * 86400]) == cost.MachineShape(transitions=9, tasks=3)
    assert cost.machine_shape([3600, 86400]) == cost.MachineShape(transitions=7, tasks=2)
    definition = {
        "StartAt": "Send a",
        "States": {
            "Send a": {"Type": "Task", "Next": "After a"},
            "After a": {"Type": "Choice", "Default": "Wait b"},
            "Wait b": {"Type": "Wait", "Next": "Send b"},
            "Send b": {"Type": "Task", "Next": "After b"},
            "After b": {"Type": "Choice", "Default": "Done"},
            "Done": {"Type": "Succeed"},
        },
    }
    assert cost.asl_shape(definition) == cost.machine_shape([0, 60])


def test_parse_time_reads_table_and_engine_formats():
    assert build.parse_time("2026-01-02T03:04:05.123456Z") == datetime(
        2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC
    )
    assert build.parse_time("2026-01-02 03:04:05.000") == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert build.parse_time(None) is None
