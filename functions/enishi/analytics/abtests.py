"""A/B results per (sequence, step): each variant's sent, clicked, converted and revenue, and the winner test.

Rows are the message records grouped by (sequence, step, variant) — ``sequences.sql`` in the job, the run's items
in the report's stand-in; records without a variant (no test, the holdout, a stopped sequence) are not here.
Counts are of **sent** messages: a variant's recipients are the customers it reached, on any channel.

The test is ``enishi.stats.winner`` for each rate (click rate, conversion rate): a variant is named only when it
beats every other one significantly (two-proportion z-test, Bonferroni over the pairs, α = 0.05); revenue per
message sent is tested the same way on means (``stats.mean_winner``: Welch's z with the pooled-variance floor).
Otherwise the verdict says why there is none: ``too_small`` (a variant reached fewer than ``stats.MIN_GROUP``
customers or the variants together have fewer than ``stats.MIN_EVENTS`` events — too soon to tell) or
``no_winner`` (enough data, no significant difference). Nothing switches automatically: the report shows the
verdict, the shop edits ``sequences.yaml``. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from enishi import stats
from enishi.analytics.result import AbMetric, AbTest, VariantStats

VERDICT_WINNER = "winner"
VERDICT_NO_WINNER = "no_winner"
VERDICT_TOO_SMALL = "too_small"


@dataclass(frozen=True)
class VariantRow:
    """One (sequence, step, variant) cell — several rows of the same cell (per channel) are added up."""

    sequence: str
    step: str
    variant: str
    sent: int
    clicked: int
    converted: int
    revenue_jpy: float
    revenue_sq: (
        float | None
    )  # Σ revenue² over the sent messages (0 for one that earned nothing); None: not known


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


def metric(events: dict[str, tuple[int, int]]) -> AbMetric:
    """The winner test of one metric; ``events``: variant → (events, sent)."""
    total = sum(x for x, _ in events.values())
    smallest = min((n for _, n in events.values()), default=0)
    ranked = sorted(events, key=lambda k: (events[k][0] / events[k][1] if events[k][1] else 0.0, k))
    p_value = None
    if len(ranked) >= 2:
        (xb, nb), (xr, nr) = events[ranked[-1]], events[ranked[-2]]
        p_value = round(stats.two_proportion_p_value(xb, nb, xr, nr), 6)
    if smallest < stats.MIN_GROUP or total < stats.MIN_EVENTS:
        return AbMetric(winner=None, verdict=VERDICT_TOO_SMALL, p_value=p_value)
    best = stats.winner(events)
    return AbMetric(winner=best, verdict=VERDICT_WINNER if best else VERDICT_NO_WINNER, p_value=p_value)


def revenue_metric(arms: list[VariantRow]) -> AbMetric | None:
    """The winner test of revenue per message sent: Welch's z on each variant's per-message revenue (0 for a
    message that earned nothing), each variance floored at the pooled one, Bonferroni over the pairs. Too small
    under the same thresholds, counting conversions as the events. None when a variant's sum of squares is not
    known (rows without ``revenue_sq``): its variance would read as 0, a certainty the data never gave."""
    if any(r.revenue_sq is None for r in arms):
        return None
    moments = {r.variant: stats.Moments(r.sent, r.revenue_jpy, r.revenue_sq or 0.0) for r in arms}
    ranked = sorted(moments, key=lambda k: (moments[k].mean, k))
    p_value = None
    if len(ranked) >= 2:
        p_value = round(stats.mean_p_value(moments[ranked[-1]], moments[ranked[-2]]), 6)
    if min((m.n for m in moments.values()), default=0) < stats.MIN_GROUP or (
        sum(r.converted for r in arms) < stats.MIN_EVENTS
    ):
        return AbMetric(winner=None, verdict=VERDICT_TOO_SMALL, p_value=p_value)
    best = stats.mean_winner(moments)
    return AbMetric(winner=best, verdict=VERDICT_WINNER if best else VERDICT_NO_WINNER, p_value=p_value)


def _cells(rows: Iterable[VariantRow]) -> dict[tuple[str, str], dict[str, VariantRow]]:
    cells: dict[tuple[str, str], dict[str, VariantRow]] = {}
    for r in rows:
        arms = cells.setdefault((r.sequence, r.step), {})
        old = arms.get(r.variant)
        arms[r.variant] = (
            r
            if old is None
            else VariantRow(
                r.sequence,
                r.step,
                r.variant,
                old.sent + r.sent,
                old.clicked + r.clicked,
                old.converted + r.converted,
                old.revenue_jpy + r.revenue_jpy,
                None if old.revenue_sq is None or r.revenue_sq is None else old.revenue_sq + r.revenue_sq,
            )
        )
    return cells


def _stats(r: VariantRow) -> VariantStats:
    return VariantStats(
        variant=r.variant,
        sent=r.sent,
        clicked=r.clicked,
        converted=r.converted,
        revenue_jpy=round(r.revenue_jpy, 2),
        click_rate=_rate(r.clicked, r.sent),
        conversion_rate=_rate(r.converted, r.sent),
        revenue_per_sent_jpy=round(r.revenue_jpy / r.sent, 2) if r.sent else None,
    )


def ab_tests(rows: Iterable[VariantRow]) -> list[AbTest]:
    """One test per (sequence, step) that has variants, in name order, its variants in name order."""
    out: list[AbTest] = []
    for (sequence, step), arms in sorted(_cells(rows).items()):
        ordered = [arms[name] for name in sorted(arms)]
        out.append(
            AbTest(
                sequence=sequence,
                step=step,
                variants=[_stats(r) for r in ordered],
                click=metric({r.variant: (r.clicked, r.sent) for r in ordered}),
                conversion=metric({r.variant: (r.converted, r.sent) for r in ordered}),
                revenue=revenue_metric(ordered),
            )
        )
    return out
