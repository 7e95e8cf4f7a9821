"""Segment rules (functions/enishi/analytics/segments.py): total, documented, monotone where they should be."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enishi.analytics import segments as seg

score = st.integers(min_value=1, max_value=5)
scores = st.builds(seg.Scores, r=score, f=score, m=score, orders=st.integers(min_value=1, max_value=50))
FAST = settings(max_examples=200, deadline=None)


@FAST
@given(scores)
def test_every_buyer_gets_exactly_one_named_segment_that_is_not_lead(s):
    segment = seg.segment_of(s)
    assert segment in seg.ALL and segment is not seg.LEAD
    assert segment.label_ja and segment.label_en


def test_no_order_is_a_lead():
    assert seg.segment_of(None) is seg.LEAD


@FAST
@given(scores, st.sampled_from(["r", "f", "m"]))
def test_a_champion_with_a_better_score_is_still_a_champion(s, field):
    if seg.segment_of(s) is not seg.CHAMPIONS:
        return
    better = seg.Scores(**{**s.__dict__, field: 5})
    assert seg.segment_of(better) is seg.CHAMPIONS


@FAST
@given(scores)
def test_recent_buyers_are_never_at_risk_or_hibernating(s):
    if s.r >= 3:
        assert seg.segment_of(s) not in (seg.AT_RISK, seg.HIBERNATING)
    else:
        assert seg.segment_of(s) in (seg.AT_RISK, seg.HIBERNATING)


@FAST
@given(scores)
def test_one_order_is_never_champion_or_loyal(s):
    if s.orders == 1:
        assert seg.segment_of(s) not in (seg.CHAMPIONS, seg.LOYAL)


@pytest.mark.parametrize(
    ("r", "f", "m", "orders", "expected"),
    [
        (5, 5, 5, 8, seg.CHAMPIONS),
        (3, 4, 1, 3, seg.LOYAL),
        (5, 1, 2, 1, seg.NEW),
        (3, 1, 1, 1, seg.PROMISING),
        (1, 4, 4, 6, seg.AT_RISK),
        (2, 1, 1, 1, seg.HIBERNATING),
    ],
)
def test_documented_examples(r, f, m, orders, expected):
    assert seg.segment_of(seg.Scores(r, f, m, orders)) is expected


def test_scores_outside_1_to_5_are_refused():
    with pytest.raises(ValueError):
        seg.Scores(0, 1, 1, 1)


def test_the_docstring_table_names_every_segment():
    for s in seg.ALL:
        assert f"| {s.key}" in (seg.__doc__ or "") and s.label_ja in (seg.__doc__ or "")
