"""Query rows → the result document and the per-customer segment rows. Pure: rows in, models out.

Rows are what Athena returns (every value a string, NULL as ``None``): ``customers.sql`` one per customer,
``cohorts.sql`` one per first-order month, ``sequences.sql`` one per (sequence, step, channel, variant).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from enishi import clock
from enishi.analytics import abtests, holdouts, queries
from enishi.analytics import cost as cm
from enishi.analytics import segments as seg
from enishi.analytics.result import (
    AnalyticsResult,
    Cohort,
    F2Window,
    LtvWindow,
    RfmGrid,
    SegmentCount,
    StepStats,
    Totals,
)
from enishi.profiles.model import STORED_STAGES, StageThresholds, stage_at

Row = Mapping[str, str | None]
LTV_DAYS = (90, 180, 365)
F2_DAYS = (30, 60, 90)
STAGES = ("lead", "first_time", "repeat", "loyal", "at_risk", "dormant")
FN_TOP = 10  # F(n) distribution: '1' … '9', '10+'


@dataclass(frozen=True)
class Settings:
    shop: str
    as_of: datetime
    margin_rate: Decimal = Decimal("0.4")
    thresholds: StageThresholds = field(default_factory=StageThresholds)
    line_plan: str = "light"
    usd_jpy: float = cm.JPY_PER_USD
    shapes: Mapping[str, cm.MachineShape] = field(default_factory=dict)  # sequence → compiled machine shape
    # issue 12: sequence (a campaign: 'campaign-<id>') → step → the offer's coupon value (JPY) of that message
    offers: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    holdout_window_days: int = queries.WINDOW_DAYS  # holdouts.sql: conversion window after a decision


@dataclass(frozen=True)
class CustomerRow:
    """One customer as the job sees it, and what the profile item holds now (for the write-back)."""

    customer_id: str
    orders: int
    monetary: Decimal
    last_order_at: datetime | None
    stage: str
    scores: seg.Scores | None
    segment: seg.Segment
    stored_scores: tuple[int, int, int] | None
    stored_segment: str | None

    @property
    def changed(self) -> bool:
        rfm = (self.scores.r, self.scores.f, self.scores.m) if self.scores else None
        return rfm != self.stored_scores or self.segment.key != self.stored_segment

    def segment_row(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "orders": self.orders,
            "monetary_jpy": float(self.monetary),
            "stage": self.stage,
            "r": self.scores.r if self.scores else None,
            "f": self.scores.f if self.scores else None,
            "m": self.scores.m if self.scores else None,
            "segment": self.segment.key,
            # campaigns select on the days since it (enishi.campaigns.recipients.candidate)
            "last_order_at": clock.iso_z(self.last_order_at) if self.last_order_at else None,
        }


def parse_time(value: str | None) -> datetime | None:
    """An ISO 8601 time as the table stores it ('…Z') or as an engine prints a timestamp ('YYYY-MM-DD HH:MM:SS')."""
    if not value:
        return None
    text = value.strip().replace(" ", "T").removesuffix("Z")
    parsed = datetime.fromisoformat(text[:26])
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _int(value: str | None) -> int:
    return int(Decimal(value)) if value not in (None, "") else 0


def _dec(value: str | None) -> Decimal:
    return Decimal(value) if value not in (None, "") else Decimal(0)


def _score_triple(row: Row, prefix: str) -> tuple[int, int, int] | None:
    values = [row.get(f"{prefix}{k}") for k in ("r", "f", "m")]
    if any(v in (None, "") for v in values):
        return None
    r, f, m = (_int(v) for v in values)
    return r, f, m


def customer(row: Row, settings: Settings) -> CustomerRow:
    orders = _int(row.get("orders"))
    last = parse_time(row.get("last_order_at"))
    triple = _score_triple(row, "")
    scores = seg.Scores(*triple, orders=orders) if triple else None
    stored = row.get("stage") or "lead"
    stage = stage_at(
        stored if stored in STORED_STAGES else "lead",
        orders,
        last,
        settings.as_of,
        settings.thresholds,
    )
    return CustomerRow(
        customer_id=str(row["customer_id"]),
        orders=orders,
        monetary=_dec(row.get("monetary")),
        last_order_at=last,
        stage=stage,
        scores=scores,
        segment=seg.segment_of(scores),
        stored_scores=_score_triple(row, "rfm_"),
        stored_segment=row.get("segment") or None,
    )


@dataclass
class CustomerSummary:
    """What the result needs from all customers, folded one row at a time (the rows file can be large)."""

    customers: int = 0
    buyers: int = 0
    orders: int = 0
    revenue: Decimal = Decimal(0)
    stages: Counter[str] = field(default_factory=Counter)
    fn: Counter[str] = field(default_factory=Counter)
    segment_customers: Counter[str] = field(default_factory=Counter)
    segment_revenue: dict[str, Decimal] = field(default_factory=dict)
    grid: list[list[int]] = field(default_factory=lambda: [[0] * 5 for _ in range(5)])
    grid_money: list[list[Decimal]] = field(default_factory=lambda: [[Decimal(0)] * 5 for _ in range(5)])

    def add(self, c: CustomerRow) -> None:
        self.customers += 1
        self.stages[c.stage] += 1
        self.segment_customers[c.segment.key] += 1
        self.segment_revenue[c.segment.key] = self.segment_revenue.get(c.segment.key, Decimal(0)) + c.monetary
        if c.orders <= 0:
            return
        self.buyers += 1
        self.orders += c.orders
        self.revenue += c.monetary
        self.fn[str(c.orders) if c.orders < FN_TOP else f"{FN_TOP}+"] += 1
        if c.scores is not None:
            row = (
                5 - c.scores.r
            )  # RfmGrid: row 0 = R5 (the most recent), as the chart and the stand-in read it
            self.grid[row][c.scores.f - 1] += 1
            self.grid_money[row][c.scores.f - 1] += c.monetary


def summarize(customers: Iterable[CustomerRow]) -> CustomerSummary:
    summary = CustomerSummary()
    for c in customers:
        summary.add(c)
    return summary


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def cohort(row: Row, settings: Settings) -> Cohort:
    customers = _int(row.get("customers"))
    last_first = parse_time(row.get("last_first_order_at"))

    def complete(days: int) -> bool:
        return last_first is not None and last_first + timedelta(days=days) <= settings.as_of

    ltv = []
    for days in LTV_DAYS:
        revenue = _dec(row.get(f"revenue_{days}"))
        profit = revenue * settings.margin_rate
        ltv.append(
            LtvWindow(
                days=days,
                complete=complete(days),
                revenue_jpy=float(revenue),
                gross_profit_jpy=float(profit),
                per_customer_jpy=float(revenue / customers) if customers else 0.0,
                gross_profit_per_customer_jpy=float(profit / customers) if customers else 0.0,
            )
        )
    f2 = [
        F2Window(
            days=days,
            complete=complete(days),
            converted=_int(row.get(f"f2_{days}")),
            rate=_ratio(_int(row.get(f"f2_{days}")), customers),
        )
        for days in F2_DAYS
    ]
    return Cohort(
        month=str(row["month"]),
        customers=customers,
        ltv=ltv,
        f2=f2,
        repeat_rate=_ratio(_int(row.get("repeaters")), customers),
    )


COUNTS = ("sent", "delivered", "opened", "clicked", "bounced", "complained", "converted")


def _step_stats(
    sequence: str, step: str | None, channel: str | None, rows: Sequence[Row], settings: Settings
) -> StepStats:
    counts = {k: sum(_int(r.get(k)) for r in rows) for k in COUNTS}
    revenue = sum((_dec(r.get("revenue")) for r in rows), Decimal(0))
    records = sum(_int(r.get("records")) for r in rows)
    shape = settings.shapes.get(sequence)
    per_task = shape.transitions_per_task if shape else 3.0
    sent_by = Counter[str]()
    for r in rows:
        sent_by[str(r.get("channel"))] += _int(r.get("sent"))
    parts = cm.cost_parts(
        transitions=records * per_task,
        invocations=records,
        emails=sent_by["email"],
        lines=sent_by["line"],
        plan_name=settings.line_plan,
    )
    cost_usd = parts.total
    cost_jpy = cost_usd * settings.usd_jpy
    profit = float(revenue * settings.margin_rate)
    offer = _offer_cost(sequence, rows, settings)
    return StepStats(
        sequence=sequence,
        step=step,
        channel=channel,
        **counts,
        revenue_jpy=float(revenue),
        gross_profit_jpy=profit,
        cost_usd=round(cost_usd, 6),
        cost_jpy=round(cost_jpy, 4),
        roi=holdouts.roi(profit, cost_jpy + offer),
        offer_cost_jpy=offer,
    )


def _offer_cost(sequence: str, rows: Sequence[Row], settings: Settings) -> float:
    """Coupon value × the attributed conversions of each offering message (issue 12 item 6)."""
    values = settings.offers.get(sequence) or {}
    return float(sum(values.get(str(r.get("step") or ""), 0) * _int(r.get("converted")) for r in rows))


def sequence_stats(rows: Sequence[Row], settings: Settings) -> list[StepStats]:
    """Per sequence: its total row (step None, channel None), then one row per (step, channel) in name order."""
    out: list[StepStats] = []
    for sequence in sorted({str(r["sequence"]) for r in rows}):
        own = [r for r in rows if r["sequence"] == sequence]
        out.append(_step_stats(sequence, None, None, own, settings))
        keys = sorted({(str(r.get("step") or ""), str(r.get("channel") or "")) for r in own})
        for step, channel in keys:
            part = [r for r in own if (r.get("step") or "", r.get("channel") or "") == (step, channel)]
            out.append(_step_stats(sequence, step or None, channel or None, part, settings))
    return out


def variant_rows(rows: Sequence[Row]) -> list[abtests.VariantRow]:
    """The rows of steps with an A/B test (a variant on the record) that sent something, for ``abtests.ab_tests``
    (a variant's skip records — no consent, no address — are in ``sequences``' records, not in its A/B counts)."""
    return [
        abtests.VariantRow(
            sequence=str(r["sequence"]),
            step=str(r.get("step") or ""),
            variant=str(r["variant"]),
            sent=_int(r.get("sent")),
            clicked=_int(r.get("clicked")),
            converted=_int(r.get("converted")),
            revenue_jpy=float(_dec(r.get("revenue"))),
            revenue_sq=None if r.get("revenue_sq") is None else float(_dec(r.get("revenue_sq"))),
        )
        for r in rows
        if r.get("variant") and _int(r.get("sent"))
    ]


def result(
    summary: CustomerSummary,
    cohort_rows: Sequence[Row],
    sequence_rows: Sequence[Row],
    settings: Settings,
    *,
    generated_at: datetime,
    source: str,
    run: dict[str, float | int | str] | None = None,
    holdout_rows: Sequence[Row] = (),
) -> AnalyticsResult:
    steps = sequence_stats(sequence_rows, settings)
    experiments = holdouts.experiments(
        holdout_rows,
        steps,
        margin=float(settings.margin_rate),
        window_days=settings.holdout_window_days,
        as_of=settings.as_of,
    )
    sequences = holdouts.with_incremental_roi(steps, experiments)
    totals_rows = [s for s in sequences if s.step is None]
    revenue = summary.revenue
    return AnalyticsResult(
        shop=settings.shop,
        as_of=_iso(settings.as_of),
        generated_at=_iso(generated_at),
        source=source,
        usd_jpy=settings.usd_jpy,
        totals=Totals(
            customers=summary.customers,
            buyers=summary.buyers,
            orders=summary.orders,
            revenue_jpy=float(revenue),
            gross_profit_jpy=float(revenue * settings.margin_rate),
            messages=sum(s.sent for s in totals_rows),
            cost_usd=round(sum(s.cost_usd for s in totals_rows), 6),
        ),
        stages={s: summary.stages.get(s, 0) for s in STAGES},
        fn_distribution={
            k: summary.fn.get(k, 0) for k in [*(str(i) for i in range(1, FN_TOP)), f"{FN_TOP}+"]
        },
        segments=[
            SegmentCount(
                segment=s.key,
                label_ja=s.label_ja,
                label_en=s.label_en,
                customers=summary.segment_customers.get(s.key, 0),
                revenue_jpy=float(summary.segment_revenue.get(s.key, Decimal(0))),
            )
            for s in seg.ALL
        ],
        rfm=RfmGrid(
            customers=summary.grid,
            monetary_jpy=[[float(v) for v in row] for row in summary.grid_money],
        ),
        cohorts=[cohort(r, settings) for r in sorted(cohort_rows, key=lambda r: str(r["month"]))],
        sequences=sequences,
        ab_tests=abtests.ab_tests(variant_rows(sequence_rows)),
        experiments=experiments,
        run=dict(run or {}),
    )


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
