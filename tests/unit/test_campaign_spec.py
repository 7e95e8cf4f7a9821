"""Campaign files: validated like sequences.yaml; the audience rule decides on the analytics row alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from enishi.campaigns import spec

SHOP_DIR = Path(__file__).resolve().parents[2] / "shop"


def cand(**kw: object) -> spec.Candidate:
    base: dict[str, object] = {
        "customer_id": "c1",
        "stage": "repeat",
        "segment": "loyal",
        "days_since_last_order": 40,
        "products": frozenset({"p1"}),
        "categories": frozenset({"tea"}),
        "reachable": frozenset({"email"}),
    }
    base.update(kw)
    return spec.Candidate(**base)  # type: ignore[arg-type]


def test_the_shipped_campaign_files_load() -> None:
    campaigns = spec.load_campaigns(SHOP_DIR)
    assert "winter-sale" in campaigns
    assert campaigns["winter-sale"].holdout_percent == 10


def test_audience_rules() -> None:
    a = spec.Audience(segments=frozenset({"loyal"}), last_order_days=spec.DayWindow(min=14, max=365))
    assert spec.matches(a, cand())
    assert not spec.matches(a, cand(segment="hibernating"))
    assert not spec.matches(a, cand(days_since_last_order=3))
    assert not spec.matches(a, cand(days_since_last_order=None))  # never ordered: outside any window
    assert not spec.matches(a, cand(reachable=frozenset()))  # no consented channel
    line_only = spec.Audience(channels=frozenset({"line"}))
    assert not spec.matches(line_only, cand()) and spec.matches(
        line_only, cand(reachable=frozenset({"line"}))
    )
    tea = spec.Audience(bought_categories=frozenset({"tea", "gift"}))
    assert spec.matches(tea, cand()) and not spec.matches(tea, cand(categories=frozenset({"sweets"})))


@settings(max_examples=200, deadline=None)
@given(
    stage=st.sampled_from(["lead", "first_time", "repeat", "loyal", "at_risk", "dormant"]),
    days=st.none() | st.integers(0, 2000),
    reachable=st.frozensets(st.sampled_from(["email", "line"])),
)
def test_an_empty_audience_is_everyone_reachable(
    stage: str, days: int | None, reachable: frozenset[str]
) -> None:
    everyone = spec.Audience(last_order_days=spec.DayWindow())
    c = cand(stage=stage, days_since_last_order=days, reachable=reachable)
    assert spec.matches(everyone, c) == bool(reachable)


@pytest.mark.parametrize(
    "bad",
    [
        {"id": "Bad Id", "name": "x", "template": "t"},
        {"id": "x", "name": "x", "template": "t", "holdout_percent": 80},
        {"id": "x", "name": "x", "template": "t", "audience": {"channels": ["sms"]}},
        {"id": "x", "name": "x", "template": "t", "audience": {"last_order_days": {"min": 30, "max": 10}}},
        {"id": "x", "name": "x", "template": "t", "variants": [{"name": "a"}, {"name": "a"}]},
        {"id": "x", "name": "x", "template": "t", "schedule": {"at": "2026-12-01T10:00:00"}},  # no offset
        {"id": "x", "name": "x", "template": "t", "surprise": 1},
    ],
)
def test_invalid_campaigns_are_refused(bad: dict) -> None:
    with pytest.raises(ValidationError):
        spec.Campaign.model_validate(bad)


def test_the_file_name_is_the_id(tmp_path: Path) -> None:
    (tmp_path / "campaigns").mkdir()
    (tmp_path / "campaigns" / "other.yaml").write_text("id: winter\nname: n\ntemplate: t\n", encoding="utf-8")
    with pytest.raises(ValueError, match="file name"):
        spec.load_campaigns(tmp_path)


def test_scheduled_campaigns_fall_due_once_per_tick() -> None:
    at = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)
    c = spec.Campaign(id="x", name="x", template="t", schedule=spec.Schedule(at=at))
    assert spec.due([c], at) == [c]
    assert spec.due([c], at - timedelta(minutes=1)) == []
    assert spec.due([c], at + timedelta(hours=1)) == []
