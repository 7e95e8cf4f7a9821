"""Named customer segments from RFM scores: pure rules, first match wins (docs/analytics.md "Segments").

Scores are quintiles within the shop's buyers (1..5, 5 = best): R by last order time, F by F(n), M by total spent.
A customer without an order is a lead and has no scores. NTILE breaks ties by customer id (so every engine gives the
same scores); where most buyers have one order, some one-order buyers get F = 3 or more — hence the F(n) ≥ 2 in the
rules that mean "buys again and again".

| segment     | 日本語 | rule (first match)                                  |
|-------------|--------|-----------------------------------------------------|
| champions   | 優良   | R ≥ 4, F ≥ 4, M ≥ 4, F(n) ≥ 2                       |
| loyal       | 安定   | R ≥ 3, F ≥ 3, F(n) ≥ 2                              |
| new         | 新規   | R ≥ 4, F(n) = 1                                     |
| promising   | 育成   | R ≥ 3                                               |
| at_risk     | 要注意 | R ≤ 2, F ≥ 3 or M ≥ 3 (were good, are slipping)     |
| hibernating | 休眠   | R ≤ 2                                               |
| lead        | 見込み | no order                                            |
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Scores:
    r: int
    f: int
    m: int
    orders: int  # F(n)

    def __post_init__(self) -> None:
        if not all(1 <= s <= 5 for s in (self.r, self.f, self.m)):
            raise ValueError("RFM scores are 1..5")


@dataclass(frozen=True)
class Segment:
    key: str
    label_ja: str
    label_en: str


CHAMPIONS = Segment("champions", "優良", "Champions")
LOYAL = Segment("loyal", "安定", "Loyal")
NEW = Segment("new", "新規", "New")
PROMISING = Segment("promising", "育成", "Promising")
AT_RISK = Segment("at_risk", "要注意", "At risk")
HIBERNATING = Segment("hibernating", "休眠", "Hibernating")
LEAD = Segment("lead", "見込み", "Lead")

RULES: tuple[tuple[Segment, Callable[[Scores], bool]], ...] = (
    (CHAMPIONS, lambda s: s.r >= 4 and s.f >= 4 and s.m >= 4 and s.orders >= 2),
    (LOYAL, lambda s: s.r >= 3 and s.f >= 3 and s.orders >= 2),
    (NEW, lambda s: s.r >= 4 and s.orders == 1),
    (PROMISING, lambda s: s.r >= 3),
    (AT_RISK, lambda s: s.f >= 3 or s.m >= 3),
    (HIBERNATING, lambda s: True),
)
ALL = (CHAMPIONS, LOYAL, NEW, PROMISING, AT_RISK, HIBERNATING, LEAD)
BY_KEY = {s.key: s for s in ALL}


def segment_of(scores: Scores | None) -> Segment:
    """The customer's segment; ``None`` scores (no order) → lead."""
    if scores is None:
        return LEAD
    return next(segment for segment, rule in RULES if rule(scores))
