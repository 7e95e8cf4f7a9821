"""The analytics result: what the daily analytics job writes to S3 and what `enishi report` renders.

Contract between the analytics job (functions/enishi/analytics) and the report (enishi_local/report). Owned by the
analytics engineer; the report reads it tolerantly. Money in JPY (Decimal serialised as float/str), costs in USD
and JPY, rates as fractions 0..1 (None when the denominator is 0), dates ISO 8601 (UTC, 'Z').

S3 layout in the analytics bucket (constant names in enishi.constants / keys in enishi.keys):
  results/<as_of: YYYY-MM-DDTHHMMSSZ>/result.json    one run
  results/latest.json                                  a copy of the newest run's result.json
  segments/<as_of>/...                                 per-customer RFM rows (for campaigns to select on)
"""

from __future__ import annotations

from pydantic import BaseModel, Field

SCHEMA_VERSION = 1


class Window(BaseModel):
    days: int  # 90 | 180 | 365 (LTV) or 30 | 60 | 90 (F2)
    complete: bool  # every customer of the cohort has been a customer for at least `days`


class LtvWindow(Window):
    revenue_jpy: (
        float  # sum over the cohort's customers of net order revenue within `days` of their first order
    )
    gross_profit_jpy: float  # revenue × margin (shop.yaml margin rate, or cost per product code)
    per_customer_jpy: float  # revenue_jpy ÷ customers
    gross_profit_per_customer_jpy: float


class F2Window(Window):
    converted: int  # customers whose second order came within `days` of the first
    rate: float | None


class Cohort(BaseModel):
    month: str  # 'YYYY-MM' of the first order (JST)
    customers: int
    ltv: list[LtvWindow]
    f2: list[F2Window]
    repeat_rate: float | None  # customers with ≥ 2 orders ÷ customers (to date)


class SegmentCount(BaseModel):
    segment: str  # champions | loyal | new | at_risk | hibernating | ... (documented rules)
    label_ja: str  # 優良 | 安定 | 新規 | 要注意 | 休眠 ...
    label_en: str
    customers: int
    revenue_jpy: float


class RfmGrid(BaseModel):
    # counts by recency score (rows: row 0 = R5, the most recent … row 4 = R1) × frequency score (columns:
    # column 0 = F1 … column 4 = F5)
    customers: list[list[int]]
    monetary_jpy: list[list[float]]


class StepStats(BaseModel):
    sequence: str
    step: str | None  # None: the sequence's total row
    channel: str | None  # 'email' | 'line' | None (all)
    sent: int
    delivered: int
    opened: int
    clicked: int
    bounced: int
    complained: int
    converted: int
    revenue_jpy: float  # attributed revenue
    gross_profit_jpy: float
    cost_usd: float  # AWS (Step Functions, Lambda, DynamoDB, SES) + LINE, same model as the demo
    cost_jpy: float
    roi: (
        float | None
    )  # attributed ROI: (gross_profit_jpy − cost_jpy − offer_cost_jpy) ÷ (cost_jpy + offer_cost_jpy)
    # issue 12: the offer's cost (coupon value × the attributed conversions of the message; 0 without an offer) and
    # the incremental ROI (the sequence's measured incremental gross profit, a step's share allocated by its
    # attributed gross profit; None when there is no control group to measure against)
    offer_cost_jpy: float = 0.0
    incremental_roi: float | None = None


class Estimate(BaseModel):
    """A difference with its 95 % interval (None where it is not finite: an empty group)."""

    estimate: float | None
    low: float | None
    high: float | None


class HoldoutGroup(BaseModel):
    """One side of a holdout comparison: (customer, trigger) pairs at their first marketing decision."""

    customers: int
    converted: int  # pairs with an uncancelled order within the window after the decision
    rate: float | None
    revenue_jpy: float  # those orders' totals
    revenue_sq: float  # Σ per-pair revenue² (with customers and revenue_jpy: Welch's interval, pooling runs)
    gross_profit_jpy: float


class HoldoutResult(BaseModel):
    """Treated vs. control of one sequence or campaign (analytics/sql/holdouts.sql + enishi.stats)."""

    kind: str  # 'sequence' | 'campaign'
    name: str  # the sequence's name or the campaign's id
    sequence: str  # as the message records carry it (a campaign: 'campaign-<id>')
    window_days: int  # conversion window after the decision
    complete: bool  # the latest decision's window has closed by as_of
    treated: HoldoutGroup
    control: HoldoutGroup
    incremental_conversion: Estimate  # treated rate − control rate (Newcombe)
    incremental_conversions: float  # × treated
    incremental_revenue_jpy: Estimate  # revenue per pair difference (Welch) × treated
    incremental_gross_profit_jpy: Estimate  # × margin rate
    p_value: float
    verdict: str  # 'lift' | 'no_lift' | 'inconclusive' | 'too_small' (enishi.stats.verdict)
    cost_jpy: float  # AWS + LINE of the sequence's messages + offer_cost_jpy
    offer_cost_jpy: float
    roi: Estimate  # incremental ROI: (incremental gross profit − cost) ÷ cost, with the interval carried through
    attributed_roi: float | None  # the last-touch one (StepStats.roi of the sequence's total row)


class VariantStats(BaseModel):
    """One variant of a step's A/B test: its sent messages (any channel) and what they did."""

    variant: str
    sent: int
    clicked: int  # email or LINE, through the redirect / SES click tracking
    converted: int
    revenue_jpy: float  # attributed revenue (converted_at / revenue on the message record)
    click_rate: float | None
    conversion_rate: float | None
    revenue_per_sent_jpy: float | None


class AbMetric(BaseModel):
    """The winner test of one metric (enishi.analytics.abtests): a winner only when significant."""

    winner: str | None
    verdict: str  # 'winner' | 'no_winner' (no significant difference) | 'too_small' (too soon to tell)
    p_value: float | None  # the best variant vs. the runner-up (two-proportion z-test, before Bonferroni)


class AbTest(BaseModel):
    """A step's A/B test: its variants and the click-rate, conversion-rate and revenue-per-sent tests."""

    sequence: str
    step: str
    variants: list[VariantStats]
    click: AbMetric
    conversion: AbMetric
    revenue: AbMetric | None = None  # revenue per message sent; None in a document written before it existed


class Totals(BaseModel):
    customers: int
    buyers: int
    orders: int
    revenue_jpy: float
    gross_profit_jpy: float
    messages: int
    cost_usd: float


class AnalyticsResult(BaseModel):
    schema_version: int = SCHEMA_VERSION
    shop: str
    as_of: str  # the export's point in time
    generated_at: str
    source: str  # 'dynamodb-export+athena' (deployed) | 'dynamodb-export+duckdb' (local stand-in)
    usd_jpy: float
    totals: Totals
    stages: dict[str, int]  # lifecycle stage → customers
    fn_distribution: dict[str, int]  # '1', '2', ..., '9', '10+' → customers with that many orders
    segments: list[SegmentCount]
    rfm: RfmGrid
    cohorts: list[Cohort]
    sequences: list[StepStats]
    ab_tests: list[AbTest] = Field(default_factory=list)  # per (sequence, step) with variants
    experiments: list[HoldoutResult] = Field(default_factory=list)  # issue 12: per sequence and campaign
    run: dict[str, float | int | str] = Field(
        default_factory=dict
    )  # export bytes, items, query seconds, bytes scanned, cost
