"""The Campaign machine's plan: recipients written as JSON lines, the quiet-hours start (a campaign started at
20:50 JST waits for 09:00), and pacing that keeps the send within the SES account's rate."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from enishi import clock, keys
from enishi.campaigns.pacing import MAP_START_SECONDS, pacing
from enishi.campaigns.plan import Deps, execution_name, plan, preview, start_at
from enishi.campaigns.spec import load_campaign
from enishi.shop_config import REPO_DIR, load_shop_config

SHOP = load_shop_config(str(REPO_DIR))
CAMPAIGN = load_campaign(REPO_DIR / "campaigns" / "winter-sale.yaml")
AT_2050_JST = datetime(2026, 12, 1, 11, 50, tzinfo=UTC)
NOON_JST = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def rows(n: int) -> list[dict]:
    return [
        {"customer_id": f"c{i}", "stage": "repeat", "segment": "loyal", "days_since_last_order": 30}
        for i in range(n)
    ]


def deps(written: dict[str, list[dict]], n: int = 50) -> Deps:
    def put_lines(key, lines):
        written[key] = list(lines)
        return len(written[key])

    return Deps(
        shop=SHOP, campaigns=lambda _id: CAMPAIGN, rows=lambda: rows(n), put_lines=put_lines, bucket="b"
    )


def test_a_campaign_started_at_2050_jst_waits_for_the_morning():
    out = plan({"campaign_id": "winter-sale", "run_tag": "r1"}, deps({}), AT_2050_JST)
    assert out["wait_until"] == "2026-12-02T00:00:00Z"  # 09:00 JST
    assert json.loads(json.dumps(out["batch"]))["started_at"] == out["wait_until"]
    assert start_at(SHOP, NOON_JST) == NOON_JST  # outside the quiet hours: at once


def test_the_plan_writes_one_line_per_recipient_with_the_holdout_decided():
    written: dict[str, list[dict]] = {}
    out = plan({"campaign_id": "winter-sale", "run_tag": "r1"}, deps(written, 200), NOON_JST)
    assert out["key"] == keys.campaign_recipients_key("winter-sale", "r1") and out["bucket"] == "b"
    lines = written[out["key"]]
    assert out["recipients"] == len(lines) == 200
    assert out["holdout"] == sum(line["holdout"] for line in lines) > 0
    assert all((line["variant"] is None) == line["holdout"] for line in lines)
    assert preview("winter-sale", deps({}, 200), NOON_JST).holdout == out["holdout"]


def test_a_scheduled_start_has_one_execution_name():
    assert execution_name("winter-sale", AT_2050_JST) == execution_name("winter-sale", AT_2050_JST)
    assert len(execution_name("x" * 63, AT_2050_JST)) <= 80


@settings(max_examples=200, deadline=None)
@given(st.floats(0.5, 2000), st.integers(1, 2_000_000))
def test_pacing_never_exceeds_the_send_rate_and_wastes_at_most_one_batch(rate, recipients):
    p = pacing(rate)
    assert p.max_concurrency / p.seconds_per_message <= rate * (
        1 + 1e-9
    )  # together, never faster than the rate
    ideal = recipients / rate
    modelled = p.modelled_seconds(recipients) - MAP_START_SECONDS
    assert ideal - 1e-6 <= modelled <= ideal + p.batch_size * p.seconds_per_message + 1e-6
    assert p.batch_size * p.seconds_per_message <= 300 + 1e-6  # a batch fits well inside the λ's 15 minutes


def test_100k_at_14_per_second_is_within_5_percent_of_what_the_rate_allows():
    p = pacing(14.0)
    assert p.modelled_seconds(100_000) <= 1.05 * 100_000 / 14.0


def test_a_slow_worker_sets_the_pace_instead():
    p = pacing(14.0)
    assert p.modelled_seconds(10_000, seconds_per_send=1.0) > p.modelled_seconds(10_000)


def test_iso():  # the plan's times are the machine's: whole seconds, Z
    assert clock.iso_z(start_at(SHOP, AT_2050_JST)).endswith("Z")


def test_a_run_that_would_reach_the_quiet_hours_waits_and_one_that_fits_goes_now():
    from datetime import timedelta

    at_1800 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # 18:00 JST
    assert start_at(SHOP, at_1800, timedelta(hours=1)) == at_1800
    assert start_at(SHOP, at_1800, timedelta(hours=3)) == datetime(2026, 12, 2, 0, 0, tzinfo=UTC)
    assert start_at(SHOP, datetime(2026, 12, 1, 14, 0, tzinfo=UTC)) == datetime(2026, 12, 2, 0, 0, tzinfo=UTC)
