"""What attribution writes on message records comes out of the analytics query per sequence and per campaign
(issue 12 item 2 → item 6): the profile consumer credits the records, the export is queried as Athena would."""

from __future__ import annotations

from decimal import Decimal

import pytest

pytest.importorskip("duckdb")

from test_analytics_sql import SHOP as QUERIED_SHOP
from test_analytics_sql import export, run
from test_profiles_attribution import CreditingRepository, H, first_order, message, placed, service

from enishi import keys


def test_credited_revenue_is_reported_per_sequence_and_per_campaign() -> None:
    # Given a welcome email clicked before order 2, and a campaign email clicked before order 3 (a week later)
    repo = CreditingRepository()
    svc = service(repo)
    first_order(repo, svc)
    campaign = keys.campaign_sequence("spring")
    message(repo, "welcome.f2_nudge.a", clicked=1 * H)
    message(repo, f"{campaign}.{keys.CAMPAIGN_STEP_ID}.b", sent=7 * 24 * H, clicked=7 * 24 * H + H)
    # When both orders are recorded and the table is exported and queried
    svc.handle(placed("2", 2 * H))
    svc.handle(placed("3", 7 * 24 * H + 2 * H))
    items = [
        {**item, "shop": QUERIED_SHOP} for item in repo.items.values()
    ]  # the shop the query is rendered for
    rows = {r["sequence"]: r for r in run(export(items), "sequences")}
    # Then each sequence and the campaign has its own converted count and revenue
    assert set(rows) == {"welcome", campaign}
    assert int(rows["welcome"]["converted"] or 0) == 1 and Decimal(rows["welcome"]["revenue"] or 0) == 4800
    assert int(rows[campaign]["converted"] or 0) == 1 and Decimal(rows[campaign]["revenue"] or 0) == 4800
