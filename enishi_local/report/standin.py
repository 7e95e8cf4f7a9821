"""The analytics result document (``enishi.analytics.result``) computed in Python from a run's items.

What the demo renders until the local stack runs the ``Analytics`` machine (export → SQL → result.json), and what
``enishi report --local`` falls back to when the running ``enishi local`` holds no ``results/latest.json`` yet. It
reads the same items the demo already read (profiles, order items, message records, execution counts), so the
numbers are the ones enishi knows; nothing from the simulated shop goes in (that stays in the report's simulation
section). The same rules as the job: RFM scores are quintiles within the shop (5 = most recent / most frequent /
highest spend, ties broken by customer id), segments by ``segment_of``, LTV and F2 windows from each customer's
first order.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from enishi.analytics import abtests
from enishi.analytics.result import (
    AbTest,
    AnalyticsResult,
    Cohort,
    F2Window,
    LtvWindow,
    RfmGrid,
    SegmentCount,
    StepStats,
    Totals,
)
from enishi.clock import JST

from . import metrics as m

DEFAULT_MARGIN_RATE = (
    0.3  # gross profit ÷ revenue when the shop states none (printed in the result's ``run``)
)
SOURCE = "table-items+python"  # the document's ``source``: computed by this module, not by the export + SQL
LTV_DAYS = (90, 180, 365)
F2_DAYS = (30, 60, 90)
FN_BUCKETS = (*(str(n) for n in range(1, 10)), "10+")

SEGMENTS = {  # segment: (label_ja, label_en)
    "champions": ("優良", "Champions"),
    "loyal": ("安定", "Loyal"),
    "new": ("新規", "New"),
    "at_risk": ("要注意", "At risk"),
    "hibernating": ("休眠", "Hibernating"),
    "others": ("その他", "Others"),
}


def segment_of(r: int, f: int, order_count: int) -> str:
    """The named segment of a buyer's recency and frequency scores (1–5), first rule that holds."""
    rules: list[tuple[str, bool]] = [
        ("champions", r >= 4 and f >= 4),
        ("loyal", r >= 3 and f >= 3),
        ("new", order_count == 1 and r >= 4),
        ("at_risk", r <= 2 and f >= 3),
        ("hibernating", r <= 2),
    ]
    return next((name for name, holds in rules if holds), "others")


def quintiles(ids: Sequence[str], key: Callable[[str], Any]) -> dict[str, int]:
    """Score 1–5 of each id by ``key`` ascending (NTILE(5): the lowest fifth 1, the highest 5)."""
    ordered = sorted(ids, key=lambda i: (key(i), i))
    n = len(ordered)
    return {cid: 1 + (rank * 5) // n for rank, cid in enumerate(ordered)} if n else {}


def build_result(data: m.ReportData, as_of: datetime | None = None) -> AnalyticsResult:
    as_of = as_of or data.end
    profiles = m.parse_profiles(data.profiles)
    buyers = [p for p in profiles if p.order_count >= 1]
    margin = data.margin_rate if data.margin_rate is not None else DEFAULT_MARGIN_RATE
    sent = m.sent_messages(data.messages)
    sequences = sequence_stats(data, sent, margin)
    revenue = sum((p.total_spent for p in profiles), Decimal(0))
    stamp = as_of.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return AnalyticsResult(
        shop=data.shop,
        as_of=stamp,
        generated_at=stamp,
        source=SOURCE,
        usd_jpy=m.JPY_PER_USD,
        totals=Totals(
            customers=len(profiles),
            buyers=len(buyers),
            orders=sum(p.order_count for p in profiles),
            revenue_jpy=float(revenue),
            gross_profit_jpy=float(revenue) * margin,
            messages=len(sent),
            cost_usd=sum(s.cost_usd for s in sequences if s.step is None and s.channel is None),
        ),
        stages=m.stage_counts(profiles, as_of, data.thresholds),
        fn_distribution=fn_distribution([p.order_count for p in buyers]),
        **rfm_and_segments(buyers, as_of),
        cohorts=cohorts(buyers, _orders(data, profiles), as_of, margin),
        sequences=sequences,
        ab_tests=ab_tests(sent),
        run={"margin_rate": margin, "margin_source": "shop" if data.margin_rate is not None else "default"},
    )


def fn_distribution(counts: list[int]) -> dict[str, int]:
    tally = Counter(str(n) if n < 10 else "10+" for n in counts if n >= 1)
    return {k: tally.get(k, 0) for k in FN_BUCKETS}


def rfm_and_segments(buyers: list[Any], as_of: datetime) -> dict[str, Any]:
    by_id = {p.customer_id: p for p in buyers}
    ids = list(by_id)
    r = quintiles(ids, lambda i: by_id[i].last_order_at or as_of)
    f = quintiles(ids, lambda i: by_id[i].order_count)
    grid = [[0] * 5 for _ in range(5)]
    monetary = [[0.0] * 5 for _ in range(5)]
    seg_customers: Counter[str] = Counter()
    seg_revenue: dict[str, float] = defaultdict(float)
    for cid, p in by_id.items():
        row, col = 5 - r[cid], f[cid] - 1  # row 0 = recency score 5 (the most recent)
        grid[row][col] += 1
        monetary[row][col] += float(p.total_spent)
        seg = segment_of(r[cid], f[cid], p.order_count)
        seg_customers[seg] += 1
        seg_revenue[seg] += float(p.total_spent)
    return {
        "rfm": RfmGrid(customers=grid, monetary_jpy=monetary),
        "segments": [
            SegmentCount(
                segment=seg,
                label_ja=ja,
                label_en=en,
                customers=seg_customers.get(seg, 0),
                revenue_jpy=seg_revenue.get(seg, 0.0),
            )
            for seg, (ja, en) in SEGMENTS.items()
        ],
    }


def _orders(data: m.ReportData, profiles: list[Any]) -> dict[str, list[tuple[datetime, Decimal]]]:
    """Each customer's placed orders (table order items when given, guests followed to their customer)."""
    if data.order_items is None:
        return m.orders_by_customer(data.orders)
    merged = {
        str(i.get("customer_id")): str(i.get("merged_into")) for i in data.profiles if i.get("merged_into")
    }
    rows = [
        {
            "customer_id": merged.get(str(i.get("customer_id")), i.get("customer_id")),
            "placed_at": i.get("placed_at"),
            "total": i.get("total"),
            "cancelled": i.get("status") == "cancelled",
        }
        for i in data.order_items
    ]
    return m.orders_by_customer(rows)


def cohorts(
    buyers: list[Any],
    orders: dict[str, list[tuple[datetime, Decimal]]],
    as_of: datetime,
    margin: float,
) -> list[Cohort]:
    """Per first-order month (JST): LTV 90/180/365 days (revenue, gross profit), F2 within 30/60/90 days."""
    by_month: dict[str, list[Any]] = defaultdict(list)
    for p in buyers:
        if p.first_order_at is not None:
            by_month[p.first_order_at.astimezone(JST).strftime("%Y-%m")].append(p)
    return [_cohort(month, by_month[month], orders, as_of, margin) for month in sorted(by_month)]


def _cohort(
    month: str,
    members: list[Any],
    orders: dict[str, list[tuple[datetime, Decimal]]],
    as_of: datetime,
    margin: float,
) -> Cohort:
    n = len(members)
    newest = max(p.first_order_at for p in members)
    ltv = []
    for days in LTV_DAYS:
        revenue = float(sum((_within(orders, p, days) for p in members), Decimal(0)))
        ltv.append(
            LtvWindow(
                days=days,
                complete=as_of >= newest + timedelta(days=days),
                revenue_jpy=revenue,
                gross_profit_jpy=revenue * margin,
                per_customer_jpy=revenue / n,
                gross_profit_per_customer_jpy=revenue * margin / n,
            )
        )
    f2 = []
    for days in F2_DAYS:
        converted = sum(1 for p in members if _second_within(orders, p, days))
        f2.append(
            F2Window(
                days=days,
                complete=as_of >= newest + timedelta(days=days),
                converted=converted,
                rate=round(converted / n, 4),
            )
        )
    repeat = sum(1 for p in members if p.order_count >= 2)
    return Cohort(month=month, customers=n, ltv=ltv, f2=f2, repeat_rate=round(repeat / n, 4))


def _within(orders: dict[str, list[tuple[datetime, Decimal]]], p: Any, days: int) -> Decimal:
    own = orders.get(p.customer_id)
    if not own:  # no order items (e.g. history without orders): what the profile holds, if inside the window
        inside = p.last_order_at is not None and p.last_order_at < p.first_order_at + timedelta(days=days)
        return p.total_spent if inside else Decimal(0)
    cutoff = own[0][0] + timedelta(days=days)
    return sum((total for at, total in own if at < cutoff), Decimal(0))


def _second_within(orders: dict[str, list[tuple[datetime, Decimal]]], p: Any, days: int) -> bool:
    own = orders.get(p.customer_id) or []
    return len(own) >= 2 and own[1][0] <= own[0][0] + timedelta(days=days)


# ---------------------------------------------------------------- sequences


def ab_tests(sent: list[dict[str, Any]]) -> list[AbTest]:
    """Per step with an A/B test: its variants' sent messages and the winner tests (``abtests``, like the job)."""
    return abtests.ab_tests(_variant_row(x) for x in sent if x.get("variant"))


def _variant_row(x: dict[str, Any]) -> abtests.VariantRow:
    """One sent message as a one-message A/B row (its revenue and that revenue squared: the job's sums)."""
    revenue = float(Decimal(str(x.get("revenue") or 0)))
    return abtests.VariantRow(
        sequence=str(x.get("sequence")),
        step=str(x.get("step") or ""),
        variant=str(x["variant"]),
        sent=1,
        clicked=1 if x.get("clicked_at") else 0,
        converted=1 if x.get("converted_at") else 0,
        revenue_jpy=revenue,
        revenue_sq=revenue**2,
    )


def sequence_stats(data: m.ReportData, sent: list[dict[str, Any]], margin: float) -> list[StepStats]:
    """Per sequence: its total row (step and channel None), a row per channel, a row per step."""
    out: list[StepStats] = []
    for seq, msgs in m.group_by_sequence(sent).items():
        emails = sum(1 for x in msgs if x.get("channel") == "email")
        cost = m.sequence_cost(data, seq, emails, len(msgs) - emails)
        fixed = cost["total"] - cost["ses"] - cost["line"]  # executions' share, spread over the messages
        per_msg = fixed / len(msgs) if msgs else 0.0
        line_usd = m.line_per_message_usd(data.line_plan)

        def cost_of(
            rows: list[dict[str, Any]], per_msg: float = per_msg, line_usd: float = line_usd
        ) -> float:
            return sum(
                per_msg + (m.PRICE_SES_EMAIL if x.get("channel") == "email" else line_usd) for x in rows
            )

        out.append(_stats(seq, None, None, msgs, cost["total"], margin))
        for channel in ("email", "line"):
            rows = [x for x in msgs if x.get("channel") == channel]
            out.append(_stats(seq, None, channel, rows, cost_of(rows), margin))
        for step in dict.fromkeys(str(x.get("step")) for x in msgs):
            rows = [x for x in msgs if str(x.get("step")) == step]
            out.append(_stats(seq, step, None, rows, cost_of(rows), margin))
    return out


def _stats(
    seq: str,
    step: str | None,
    channel: str | None,
    rows: list[dict[str, Any]],
    cost_usd: float,
    margin: float,
) -> StepStats:
    emails = [x for x in rows if x.get("channel") == "email"]
    revenue = float(sum((Decimal(str(x.get("revenue") or 0)) for x in rows), Decimal(0)))
    cost_jpy = cost_usd * m.JPY_PER_USD
    profit = revenue * margin
    return StepStats(
        sequence=seq,
        step=step,
        channel=channel,
        sent=len(rows),
        delivered=sum(1 for x in emails if x.get("delivered_at")),
        opened=sum(1 for x in emails if x.get("opened_at")),
        clicked=sum(1 for x in emails if x.get("clicked_at")),
        bounced=sum(1 for x in emails if x.get("bounced_at")),
        complained=sum(1 for x in emails if x.get("complained_at")),
        converted=sum(1 for x in rows if x.get("converted_at")),
        revenue_jpy=revenue,
        gross_profit_jpy=profit,
        cost_usd=cost_usd,
        cost_jpy=cost_jpy,
        roi=round((profit - cost_jpy) / cost_jpy, 4) if cost_jpy else None,
    )
