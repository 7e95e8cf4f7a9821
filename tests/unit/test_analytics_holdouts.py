"""Treated vs. control and ROI in the analytics result (functions/enishi/analytics/holdouts.py, issue 12)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enishi import stats
from enishi.analytics import build, holdouts

AS_OF = datetime(2026, 6, 1, tzinfo=UTC)
SETTINGS = build.Settings(shop="s", as_of=AS_OF, margin_rate=Decimal("0.4"))


def group(sequence: str, grp: str, n: int, converted: int, revenue: float, revenue_sq: float) -> dict:
    return {
        "sequence": sequence,
        "grp": grp,
        "n": str(n),
        "converted": str(converted),
        "revenue": str(revenue),
        "revenue_sq": str(revenue_sq),
        "last_at": "2026-04-01 10:00:00",
    }


def step_row(
    sequence: str, step: str, sent: int, converted: int, revenue: float, channel: str = "email"
) -> dict:
    return {
        "sequence": sequence,
        "step": step,
        "channel": channel,
        "records": str(sent),
        "sent": str(sent),
        "converted": str(converted),
        "revenue": str(revenue),
    }


def result(holdout_rows, sequence_rows, s=SETTINGS):
    return build.result(
        build.summarize([]),
        [],
        sequence_rows,
        s,
        generated_at=AS_OF,
        source="test",
        holdout_rows=holdout_rows,
    )


def test_a_measured_lift_with_its_interval_and_verdict():
    # 1000 treated pairs, 200 converted, ¥5,000 each; 1000 control pairs, 100 converted
    rows = [
        group("welcome", "treated", 1000, 200, 200 * 5000.0, 200 * 5000.0**2),
        group("welcome", "control", 1000, 100, 100 * 5000.0, 100 * 5000.0**2),
    ]
    r = result(rows, [step_row("welcome", "f2_nudge", 1000, 150, 750_000)])
    (h,) = r.experiments
    assert (h.kind, h.name, h.treated.customers, h.control.customers) == ("sequence", "welcome", 1000, 1000)
    assert (h.treated.rate, h.control.rate) == (0.2, 0.1)
    assert h.incremental_conversion.estimate == pytest.approx(0.1)
    assert h.incremental_conversion.low > 0 and h.verdict == "lift"
    assert h.incremental_revenue_jpy.estimate == pytest.approx(1000 * 500.0)
    assert h.incremental_gross_profit_jpy.estimate == pytest.approx(1000 * 500.0 * 0.4)
    total = next(s for s in r.sequences if s.sequence == "welcome" and s.step is None)
    assert h.cost_jpy == pytest.approx(total.cost_jpy)
    assert h.roi.estimate == pytest.approx((200_000 - h.cost_jpy) / h.cost_jpy, rel=1e-3)
    assert h.roi.low < h.roi.estimate < h.roi.high
    assert h.attributed_roi == total.roi and total.incremental_roi == pytest.approx(h.roi.estimate, rel=1e-3)


def test_a_small_group_says_it_is_too_small_to_tell():
    rows = [
        group("cart_recovery", "treated", 25, 10, 10 * 3000.0, 10 * 3000.0**2),
        group("cart_recovery", "control", 3, 0, 0.0, 0.0),
    ]
    (h,) = result(rows, []).experiments
    assert h.verdict == "too_small"
    assert (
        h.incremental_conversion.low is not None and h.incremental_conversion.low < 0
    )  # an interval is given


def test_no_control_group_gives_no_incremental_roi():
    rows = [group("winback", "treated", 50, 5, 5000.0, 5 * 1000.0**2)]
    r = result(rows, [step_row("winback", "reminder", 50, 5, 5000)])
    (h,) = r.experiments
    assert h.control.customers == 0 and h.control.rate is None and h.verdict == "too_small"
    # nothing to compare with: no difference, no interval, no incremental ROI (not the treated group's own rate)
    assert h.incremental_conversion.estimate is None and h.incremental_revenue_jpy.estimate is None
    assert h.roi.estimate is None and h.incremental_conversions == 0
    assert all(s.incremental_roi is None for s in r.sequences)


def test_an_offer_is_a_cost_per_attributed_conversion_in_both_rois():
    """A ¥500 coupon on the F2 nudge, 40 attributed conversions: ¥20,000 of offer cost in the step, the sequence
    and the incremental ROI; the attributed ROI counts it too."""
    offers = build.Settings(shop="s", as_of=AS_OF, offers={"welcome": {"f2_nudge": 500}})
    steps = [
        step_row("welcome", "thanks", 400, 10, 20_000),
        step_row("welcome", "f2_nudge", 400, 40, 100_000),
    ]
    rows = [
        group("welcome", "treated", 400, 80, 80 * 4000.0, 80 * 4000.0**2),
        group("welcome", "control", 400, 40, 40 * 4000.0, 40 * 4000.0**2),
    ]
    plain, offered = result(rows, steps), result(rows, steps, offers)
    by_step = {s.step: s for s in offered.sequences}
    assert by_step["f2_nudge"].offer_cost_jpy == 20_000 and by_step["thanks"].offer_cost_jpy == 0
    assert by_step[None].offer_cost_jpy == 20_000
    cost = by_step["f2_nudge"].cost_jpy + 20_000
    assert by_step["f2_nudge"].roi == pytest.approx((100_000 * 0.4 - cost) / cost, rel=1e-3)
    (h,), (h0,) = offered.experiments, plain.experiments
    assert h.offer_cost_jpy == 20_000 and h.cost_jpy == pytest.approx(h0.cost_jpy + 20_000)
    gain = h.incremental_gross_profit_jpy.estimate
    assert h.roi.estimate == pytest.approx((gain - h.cost_jpy) / h.cost_jpy, rel=1e-3)
    assert h.roi.estimate < h0.roi.estimate
    # a step's incremental ROI: the sequence's gain allocated by its share of the attributed gross profit (5/6)
    f2 = by_step["f2_nudge"]
    assert f2.incremental_roi == pytest.approx((gain * 100 / 120 - cost) / cost, rel=1e-3)


def test_campaigns_are_listed_after_sequences_by_their_id():
    rows = [
        group("campaign-new-season", "treated", 40, 4, 1.0, 1.0),
        group("welcome", "treated", 40, 4, 1.0, 1.0),
        group("cart_recovery", "control", 4, 0, 0.0, 0.0),
    ]
    got = [(h.kind, h.name) for h in result(rows, []).experiments]
    assert got == [("sequence", "cart_recovery"), ("sequence", "welcome"), ("campaign", "new-season")]


@settings(max_examples=100, deadline=None)
@given(
    st.integers(0, 400),
    st.integers(0, 400),
    st.floats(0, 1),
    st.floats(0, 1),
)
def test_the_result_is_enishi_stats_on_the_groups(n_t, n_c, rate_t, rate_c):
    x_t, x_c = int(n_t * rate_t), int(n_c * rate_c)
    rows = [
        group("welcome", "treated", n_t, x_t, x_t * 1000.0, x_t * 1000.0**2),
        group("welcome", "control", n_c, x_c, x_c * 1000.0, x_c * 1000.0**2),
    ]
    (h,) = result(rows, []).experiments
    lift = stats.lift(
        x_t, stats.Moments(n_t, x_t * 1000.0, x_t * 1e6), x_c, stats.Moments(n_c, x_c * 1000.0, x_c * 1e6)
    )
    assert h.verdict == lift.verdict
    if n_t and n_c:
        assert h.incremental_conversion.estimate == pytest.approx(lift.conversion.estimate, abs=1e-4)
    else:
        assert h.incremental_conversion.estimate is None and h.roi.estimate is None
    assert h.complete is True and holdouts.roi(1.0, 0.0) is None


def test_offers_are_read_from_the_steps_and_the_campaign_files(tmp_path):
    """The job's offers: a step's ``offer`` in sequences.yaml, a campaign's in its file (by its one step)."""
    import shutil
    from pathlib import Path

    from enishi import bootstrap
    from enishi.analytics.handler import offers

    shop = Path(__file__).resolve().parents[2] / "shop"
    shutil.copytree(shop, tmp_path / "shop")
    sequences = tmp_path / "shop" / "sequences.yaml"
    text = sequences.read_text(encoding="utf-8")
    nudge = "        template: welcome_f2_nudge\n"
    assert text.count(nudge) == 1
    sequences.write_text(
        text.replace(nudge, nudge + "        offer: {coupon_value_jpy: 500}\n"), encoding="utf-8"
    )
    campaign = tmp_path / "shop" / "campaigns" / "new-season.yaml"
    campaign.write_text(
        campaign.read_text(encoding="utf-8") + "offer: {coupon_value_jpy: 300}\n", encoding="utf-8"
    )
    bootstrap.reset_all()
    try:
        assert offers(str(tmp_path / "shop")) == {
            "welcome": {"f2_nudge": 500},
            "campaign-new-season": {"send": 300},
        }
        assert offers(str(shop)) == {}  # the shipped shop offers no coupon
    finally:
        bootstrap.reset_all()
