"""A campaign's treated vs. holdout numbers from its message records and the orders in the window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from enishi.campaigns.results import campaign_result

START = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


def rec(cid: str, status: str, reason: str | None = None, seq: str = "campaign-w") -> dict:
    return {"customer_id": cid, "sequence": seq, "status": status, "reason": reason}


def test_groups_window_and_cancelled_orders():
    records = [
        rec("t1", "sent"),
        rec("t2", "sent"),
        rec("h1", "skipped", "holdout"),
        rec("h2", "skipped", "holdout"),
        rec("n1", "skipped", "no_consent"),  # in neither group
        rec("t3", "sent", seq="welcome"),  # another sequence
    ]
    orders = [
        {"customer_id": "t1", "placed_at": START + timedelta(days=2), "total": 3000},
        {"customer_id": "t2", "placed_at": START + timedelta(days=20), "total": 9000},  # after the window
        {"customer_id": "h1", "placed_at": START + timedelta(days=1), "total": 1000, "cancelled": True},
        {"customer_id": "n1", "placed_at": START + timedelta(days=1), "total": 5000},
        {"customer_id": "t1", "placed_at": START - timedelta(days=1), "total": 7000},  # before the start
    ]
    out = campaign_result(records, orders, "w", START)
    assert (out["sent"], out["holdout"]) == (2, 2)
    assert out["converted"] == {"treated": 1, "holdout": 0}
    assert out["revenue_jpy"] == {"treated": 3000, "holdout": 0}
    assert out["incremental_conversion"]["estimate"] == 0.5
    assert out["verdict"] == "too_small"
