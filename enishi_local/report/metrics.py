"""The report's numbers, computed from plain data (no AWS, no files): easy to test, same inputs → same numbers.

Inputs (``ReportData``) are what ``collect.py`` reads after a run: the table's profile, message, order and checkout
items, the local outbox, the Step Functions execution histories, weekly stage samples taken during the run, and a
few facts only the simulated shop knows (carts without contact never reach a profile).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from enishi.analytics.cost import (
    DDB_READS_PER_STEP,
    DDB_WRITES_PER_STEP,
    JPY_PER_USD,
    LAMBDA_GB,
    LAMBDA_SECONDS_PER_STEP,
    LINE_PLANS_JPY,
    PRICE_SES_EMAIL,
    PRICE_SFN_TRANSITION,
    cost_parts,
    line_plan_for_quota,
)
from enishi.analytics.cost import line_per_message_usd as _line_per_message_usd
from enishi.clock import parse_iso
from enishi.profiles.model import Profile, StageThresholds, derive_stage

if TYPE_CHECKING:
    from enishi.analytics.result import AnalyticsResult

STAGES = ("lead", "first_time", "repeat", "loyal", "at_risk", "dormant")
STAGE_LABELS = {
    "lead": "見込み客 Lead",
    "first_time": "初回購入 First-time",
    "repeat": "リピート Repeat",
    "loyal": "ロイヤル Loyal",
    "at_risk": "離脱予備 At-risk",
    "dormant": "休眠 Dormant",
}
SEQUENCE_LABELS = {
    "welcome": "ウェルカム Welcome",
    "shipping_notice": "発送通知 Shipping",
    "cart_recovery": "カゴ落ち Cart recovery",
    "winback": "掘り起こし Win-back",
}

# ---- prices (USD) used for "cost per sequence"; the assumptions are printed in the report. The model is shared
# with the deployed analytics job: enishi.analytics.cost (one place for prices and per-step assumptions).


@dataclass
class ExecutionInfo:
    sequence: str
    name: str
    status: str
    transitions: int  # states entered (what Standard workflows bill)
    lambda_invocations: int


@dataclass
class ReportData:
    shop: str
    start: datetime
    end: datetime
    profiles: list[dict[str, Any]]
    messages: list[dict[str, Any]]  # message record items
    outbox: list[Any]  # SentMessage-like (channel, recipient, sequence, step, sent_at, ...)
    executions: list[ExecutionInfo]
    stage_samples: list[tuple[datetime, dict[str, int]]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(
        default_factory=list
    )  # {customer_id, order_id, placed_at, total, cause?}
    sim: dict[str, Any] = field(default_factory=dict)  # ground truth of the simulated shop
    thresholds: StageThresholds = field(default_factory=StageThresholds)
    line_plan: str = "light"
    run: dict[str, Any] = field(default_factory=dict)  # wall time, memory, …
    order_items: list[dict[str, Any]] | None = None  # the table's order items (None: use ``orders``)
    margin_rate: float | None = None  # gross profit ÷ revenue (shop.yaml); None: standin.DEFAULT_MARGIN_RATE


def _dt(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    try:
        return parse_iso(str(value))
    except ValueError:
        return None


def parse_profiles(items: list[dict[str, Any]]) -> list[Profile]:
    out = []
    for item in items:
        try:
            p = Profile.model_validate(item)
        except Exception:  # noqa: BLE001 - a malformed item is skipped, not fatal to an offline report
            continue
        if p.merged_into or p.redacted:
            continue
        out.append(p)
    return out


def stage_counts(profiles: list[Profile], now: datetime, t: StageThresholds) -> dict[str, int]:
    counts: Counter[str] = Counter(derive_stage(p, now, t) for p in profiles)
    return {s: counts.get(s, 0) for s in STAGES}


def is_f2_nudge(step: str) -> bool:
    s = (step or "").lower()
    return any(k in s for k in ("f2", "nudge", "second", "recommend"))


def sent_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if m.get("status") == "sent"]


def compute(data: ReportData, result: AnalyticsResult | None = None) -> dict[str, Any]:
    """The report's summary: what enishi knows from the analytics result (``result``; when None, built from the
    run's items by ``standin.build_result``), completed by what only the run knows (stage samples, the funnel's
    visitors, the F2 nudge split, carts, cost components, the recency × frequency grid, the sim's truth)."""
    from .standin import build_result
    from .view import from_result, merge

    result = result if result is not None else build_result(data)
    return merge(from_result(result), run_sections(data, result))


def run_sections(data: ReportData, result: AnalyticsResult) -> dict[str, Any]:
    """The summary's parts that come from the run's own items and the simulated shop, not the analytics result."""
    from . import view

    profiles = parse_profiles(data.profiles)
    sent = sent_messages(data.messages)
    buyers = [p for p in profiles if p.order_count >= 1]
    by_seq = messages_by_sequence(sent)
    return {
        "period": period(data.start, data.end),
        "stage_samples": [{"at": t.isoformat(), **counts} for t, counts in data.stage_samples],
        "funnel": funnel(data.sim, result.totals.buyers, view.result_only(result)["funnel"][1]["count"]),
        "f2": f2_split(buyers, sent, orders_by_customer(data.orders), data.end),
        "carts": carts(sent, data.sim),
        "messages": {
            "skipped_by_reason": skipped_by_reason(data.messages),
            "outbox": len(data.outbox),
        },
        "cost": _costs(data, by_seq),
        "rfm": _rfm(buyers, data.end),
        **consent_counts(profiles),
        "line_funnel": line_funnel(profiles, data.sim),
        "sim": data.sim,
        "run": data.run,
    }


def period(start: datetime, end: datetime) -> dict[str, Any]:
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "days": round((end - start).total_seconds() / 86400),
    }


def orders_by_customer(orders: list[dict[str, Any]]) -> dict[str, list[tuple[datetime, Decimal]]]:
    """Each customer's orders (placed, not cancelled), oldest first."""
    out: dict[str, list[tuple[datetime, Decimal]]] = defaultdict(list)
    for o in orders:
        at = _dt(o.get("placed_at") or o.get("created_at"))
        if at is None or o.get("cancelled"):
            continue
        out[str(o.get("customer_id"))].append((at, Decimal(str(o.get("total") or 0))))
    for lst in out.values():
        lst.sort()
    return out


def funnel(sim: dict[str, Any], buyers: int, repeaters: int) -> list[dict[str, Any]]:
    """Cart → contact (what only the shop knows: the simulation's counts) → first order → second order."""
    return [
        {
            "step": "cart",
            "label": "カート作成 Visitors with a cart",
            "count": int(sim.get("visitors_with_cart", 0)),
        },
        {
            "step": "contact",
            "label": "連絡先入力 Checkout with contact",
            "count": int(sim.get("visitors_with_contact", 0)),
        },
        {"step": "first_order", "label": "初回購入 First order", "count": buyers},
        {"step": "second_order", "label": "2回目購入 Second order", "count": repeaters},
    ]


NUDGE_WAIT = timedelta(days=8)


def f2_split(
    buyers: list[Profile],
    sent: list[dict[str, Any]],
    orders: dict[str, list[tuple[datetime, Decimal]]],
    end: datetime,
) -> dict[str, Any]:
    """F2 conversion of first-time buyers whose 7-day window passed: nudged by the welcome sequence or not."""
    nudged_ids = {
        str(m.get("customer_id"))
        for m in sent
        if m.get("sequence") == "welcome" and is_f2_nudge(str(m.get("step")))
    }
    eligible_nudged, eligible_not = [], []
    for p in buyers:
        if p.first_order_at is None or p.first_order_at > end - NUDGE_WAIT:
            continue
        own = orders.get(p.customer_id, [])
        second = own[1][0] if len(own) >= 2 else None
        if p.customer_id in nudged_ids:
            eligible_nudged.append(p)
        elif second is None or second > p.first_order_at + timedelta(days=7):
            eligible_not.append(p)  # still F1 on day 7 but got no nudge (no consent, suppressed, …)
    return {"nudged": _converted(eligible_nudged), "not_nudged": _converted(eligible_not)}


def _converted(group: list[Profile]) -> dict[str, Any]:
    converted = sum(1 for p in group if p.order_count >= 2)
    return {"customers": len(group), "converted": converted, "rate": _ratio(converted, len(group))}


def carts(sent: list[dict[str, Any]], sim: dict[str, Any]) -> dict[str, Any]:
    """Carts recovered: a cart-recovery message, then the order (attribution on the record, or the sim's truth)."""
    cart_msgs = [m for m in sent if m.get("sequence") == "cart_recovery"]
    carts_reminded = {str(m.get("trigger_id")) for m in cart_msgs}
    attributed: dict[str, Decimal] = {}
    for m in cart_msgs:
        if m.get("converted_at") and m.get("trigger_id"):
            attributed[str(m["trigger_id"])] = Decimal(str(m.get("revenue") or 0))
    if attributed:
        recovered_count = len(attributed)
        recovered_revenue = sum(attributed.values(), Decimal(0))
        recovered_source = "attribution"
    else:
        recovered_count = int(sim.get("carts_recovered_after_reminder", 0))
        recovered_revenue = Decimal(str(sim.get("carts_recovered_revenue", 0)))
        recovered_source = "simulation"
    return {
        "abandoned_with_contact": int(sim.get("carts_abandoned_with_contact", len(carts_reminded))),
        "reminded": len(carts_reminded),
        "recovered": recovered_count,
        "recovered_revenue": float(recovered_revenue),
        "recovery_rate": _ratio(recovered_count, len(carts_reminded)),
        "recovered_on_their_own": int(sim.get("carts_recovered_on_their_own", 0)),
        "source": recovered_source,
    }


def messages_by_sequence(sent: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Sent messages by sequence × channel with their outcomes (email outcomes count emails only)."""
    return {seq: _sequence_row(seq, ms) for seq, ms in group_by_sequence(sent).items()}


def group_by_sequence(sent: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Sent messages by sequence, every known sequence present (sorted by name)."""
    return {
        seq: [m for m in sent if m.get("sequence") == seq]
        for seq in sorted({str(m.get("sequence")) for m in sent} | set(SEQUENCE_LABELS))
    }


def _sequence_row(seq: str, ms: list[dict[str, Any]]) -> dict[str, Any]:
    emails = [m for m in ms if m.get("channel") == "email"]
    return {
        "label": SEQUENCE_LABELS.get(seq, seq),
        "email": len(emails),
        "line": sum(1 for m in ms if m.get("channel") == "line"),
        "delivered": sum(1 for m in emails if m.get("delivered_at")),
        "opened": sum(1 for m in emails if m.get("opened_at")),
        "clicked": sum(1 for m in emails if m.get("clicked_at")),
        "bounced": sum(1 for m in emails if m.get("bounced_at")),
        "converted": sum(1 for m in ms if m.get("converted_at")),
        "revenue": float(sum((Decimal(str(m.get("revenue") or 0)) for m in ms), Decimal(0))),
        "by_step": dict(Counter(str(m.get("step")) for m in ms)),
    }


def skipped_by_reason(messages: list[dict[str, Any]]) -> dict[str, int]:
    return dict(Counter(str(m.get("reason") or "?") for m in messages if m.get("status") == "skipped"))


def consent_counts(profiles: list[Profile]) -> dict[str, int]:
    return {
        "suppressed": sum(1 for p in profiles if p.email_suppression is not None),
        "unsubscribed": sum(
            1 for p in profiles if p.email_consent is not None and p.email_consent.state == "unsubscribed"
        ),
        "line_linked": sum(1 for p in profiles if p.line is not None),
    }


def line_funnel(profiles: list[Profile], sim: dict[str, Any]) -> dict[str, Any]:
    """The LINE linking funnel as a lifecycle measure: friends → linked → buyers → repeat buyers.

    enishi keeps no profile for a friend who never linked (nothing ties them to a customer), so ``friends`` comes
    from outside: the simulated shop's ground truth here, LINE's follower insight in production (None if unknown).
    ``linked`` counts profiles with a linked LINE identity; ``following`` those still following (not blocked).
    """
    linked = [p for p in profiles if p.line is not None and p.line.linked_at is not None]
    friends = sim.get("line_friends")
    steps = [
        ("friends", friends),
        ("linked", len(linked)),
        ("linked_buyers", sum(1 for p in linked if p.order_count >= 1)),
        ("linked_repeat", sum(1 for p in linked if p.order_count >= 2)),
    ]
    out: dict[str, Any] = dict(steps)
    out["following"] = sum(1 for p in linked if p.line is not None and p.line.following)
    out["link_rate"] = _ratio(len(linked), friends) if isinstance(friends, int) else None
    out["buyer_rate"] = _ratio(out["linked_buyers"], len(linked))
    return out


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


# the one LINE plan rule and price per message (enishi.analytics.cost), under the names the report's callers use
line_plan_for = line_plan_for_quota
line_per_message_usd = _line_per_message_usd


def sequence_cost(data: ReportData, seq: str, emails: int, lines: int) -> dict[str, float]:
    """One sequence's cost in USD by component (unrounded), from its executions and messages."""
    ex = [e for e in data.executions if e.sequence == seq]
    transitions = sum(e.transitions for e in ex)
    invocations = sum(e.lambda_invocations for e in ex)
    usd = cost_parts(
        transitions=transitions, invocations=invocations, emails=emails, lines=lines, plan_name=data.line_plan
    )  # the Analytics job's cost model, so the local report and a deployed one price a message alike
    return {
        "executions": len(ex),
        "transitions": transitions,
        "lambda_invocations": invocations,
        "step_functions": usd.step_functions,
        "lambda": usd.lambda_,
        "dynamodb": usd.dynamodb,
        "ses": usd.ses,
        "line": usd.line,
        "total": usd.total,
    }


COST_COMPONENTS = ("step_functions", "lambda", "dynamodb", "ses", "line")


def _costs(data: ReportData, by_seq: dict[str, dict[str, Any]]) -> dict[str, Any]:
    plan = LINE_PLANS_JPY.get(data.line_plan, LINE_PLANS_JPY["light"])
    rows: dict[str, dict[str, Any]] = {}
    for seq, v in by_seq.items():
        parts = sequence_cost(data, seq, v["email"], v["line"])
        total = parts["total"]
        sent = v["email"] + v["line"]
        rows[seq] = {
            "executions": parts["executions"],
            "transitions": parts["transitions"],
            "lambda_invocations": parts["lambda_invocations"],
            **{k: round(parts[k], 6) for k in COST_COMPONENTS},
            "total_usd": round(total, 6),
            "per_message_usd": round(total / sent, 6) if sent else None,
            "revenue_jpy": v["revenue"],
        }
    return {
        "by_sequence": rows,
        "total_usd": round(sum(r["total_usd"] for r in rows.values()), 4),
        "assumptions": {
            "step_functions_per_transition": PRICE_SFN_TRANSITION,
            "lambda_gb": LAMBDA_GB,
            "lambda_seconds_per_step": LAMBDA_SECONDS_PER_STEP,
            "ddb_writes_per_step": DDB_WRITES_PER_STEP,
            "ddb_reads_per_step": DDB_READS_PER_STEP,
            "ses_per_email": PRICE_SES_EMAIL,
            "line_plan": data.line_plan,
            "line_plan_fee_jpy_month": plan[0],
            "line_plan_messages": plan[1],
            "line_per_message_jpy": round(plan[0] / plan[1], 2) if plan[1] else 0,
            "jpy_per_usd": JPY_PER_USD,
        },
    }


RECENCY_BUCKETS = (
    (0, 30, "0–30日"),
    (31, 60, "31–60日"),
    (61, 90, "61–90日"),
    (91, 180, "91–180日"),
    (181, 10**6, "181日+"),
)
FREQUENCY_BUCKETS = ((1, 1, "1回"), (2, 2, "2回"), (3, 3, "3回"), (4, 4, "4回"), (5, 10**6, "5回+"))


def _rfm(buyers: list[Profile], now: datetime) -> dict[str, Any]:
    grid = [[0 for _ in FREQUENCY_BUCKETS] for _ in RECENCY_BUCKETS]
    money = [[0.0 for _ in FREQUENCY_BUCKETS] for _ in RECENCY_BUCKETS]
    for p in buyers:
        if p.last_order_at is None:
            continue
        days = (now - p.last_order_at).days
        r = next(i for i, (lo, hi, _) in enumerate(RECENCY_BUCKETS) if lo <= max(days, 0) <= hi)
        f = next(i for i, (lo, hi, _) in enumerate(FREQUENCY_BUCKETS) if lo <= p.order_count <= hi)
        grid[r][f] += 1
        money[r][f] += float(p.total_spent)
    return {
        "recency": [b[2] for b in RECENCY_BUCKETS],
        "frequency": [b[2] for b in FREQUENCY_BUCKETS],
        "customers": grid,
        "monetary_jpy": money,
    }
