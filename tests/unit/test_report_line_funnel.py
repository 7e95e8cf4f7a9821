"""The LINE linking funnel in the report: friends → linked → buyers → repeat buyers (issue 13, item 5)."""

from __future__ import annotations

from datetime import UTC, datetime

from enishi.profiles.model import Profile
from enishi_local.report.metrics import line_funnel

AT = datetime(2026, 6, 1, tzinfo=UTC)


def profile(cid: str, orders: int, line: dict | None) -> Profile:
    data = {"shop": "s", "customer_id": cid, "order_count": orders, "created_at": AT, "updated_at": AT}
    if line is not None:
        data["line"] = {"user_id": "U" + cid.rjust(32, "0"), "updated_at": AT, **line}
    return Profile.model_validate(data)


def test_funnel_counts_linked_buyers_and_repeaters_against_friends() -> None:
    profiles = [
        profile("1", 0, {"linked_at": AT}),
        profile("2", 1, {"linked_at": AT}),
        profile("3", 3, {"linked_at": AT, "following": False}),
        profile("4", 2, None),  # a buyer without LINE
        profile("5", 1, {"linked_at": None}),  # a LINE identity that is not (or no longer) linked
    ]
    f = line_funnel(profiles, {"line_friends": 8})
    assert (f["friends"], f["linked"], f["linked_buyers"], f["linked_repeat"]) == (8, 3, 2, 1)
    assert f["following"] == 2 and f["link_rate"] == 0.375 and f["buyer_rate"] == 0.6667


def test_friends_unknown_without_an_outside_count() -> None:
    f = line_funnel([], {})
    assert f["friends"] is None and f["link_rate"] is None and f["linked"] == 0


def test_the_summary_prints_the_funnel() -> None:
    from enishi_local.report.metrics import compute
    from enishi_local.report.terminal import format_summary
    from tests.unit.test_report_metrics import data

    summary = compute(data())
    assert "line_funnel" in summary
    assert "LINE friends → linked → buyers → repeat" in format_summary(summary)
