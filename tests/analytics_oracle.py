"""A pure-Python oracle of the analytics SQL (functions/enishi/analytics/sql): the same definitions over plain
table items (boto3 resource form), computed the obvious way. Tests compare DuckDB's answers (and the local stack's
result.json) with it."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any


def ntile(n: int, k: int = 5) -> list[int]:
    """SQL NTILE(k) of n ordered rows: the first n % k buckets get one row more."""
    q, r = divmod(n, k)
    out: list[int] = []
    for bucket in range(1, k + 1):
        out += [bucket] * (q + (1 if bucket <= r else 0))
    return out


def _live_profiles(items: list[dict[str, Any]], shop: str) -> list[dict[str, Any]]:
    return [
        i
        for i in items
        if i.get("sk") == "PROFILE"
        and i.get("shop") == shop
        and not i.get("merged_into")
        and not i.get("redacted")
    ]


def customers(items: list[dict[str, Any]], shop: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for p in _live_profiles(items, shop):
        out[p["customer_id"]] = {
            "orders": int(p.get("order_count") or 0),
            "monetary": Decimal(str(p.get("total_spent") or 0)).quantize(Decimal("0.01")),
            "last_order_at": p.get("last_order_at"),
            "stage": p.get("stage") or "lead",
            "r": None,
            "f": None,
            "m": None,
        }
    buyers = [cid for cid, c in out.items() if c["orders"] > 0 and c["last_order_at"] is not None]
    for score, key in (("r", "last_order_at"), ("f", "orders"), ("m", "monetary")):

        def order(cid: str, k: str = key) -> tuple[Any, str]:
            return out[cid][k], cid

        ordered = sorted(buyers, key=order)
        for cid, bucket in zip(ordered, ntile(len(ordered)), strict=True):
            out[cid][score] = bucket
    return out


def _seconds(value: str) -> datetime:
    return datetime.fromisoformat(value[:19]).replace(tzinfo=UTC)


def cohorts(items: list[dict[str, Any]], shop: str) -> dict[str, dict[str, Any]]:
    by_customer: dict[str, list[tuple[datetime, str, Decimal]]] = defaultdict(list)
    for o in items:
        if (
            o.get("sk") == "ORDER"
            and o.get("shop") == shop
            and o.get("status") == "placed"
            and o.get("placed_at")
            and o.get("customer_id")
        ):
            by_customer[o["customer_id"]].append(
                (_seconds(o["placed_at"]), o["order_id"], Decimal(str(o.get("total") or 0)))
            )
    out: dict[str, dict[str, Any]] = {}
    for orders in by_customer.values():
        orders.sort(key=lambda t: (t[0], t[1]))
        first = orders[0][0]
        month = (first + timedelta(hours=9)).strftime("%Y-%m")
        c = out.setdefault(
            month,
            {
                "customers": 0,
                "repeaters": 0,
                "last_first": first,
                **{f"revenue_{d}": Decimal(0) for d in (90, 180, 365)},
                **{f"f2_{d}": 0 for d in (30, 60, 90)},
            },
        )
        c["customers"] += 1
        c["repeaters"] += len(orders) >= 2
        c["last_first"] = max(c["last_first"], first)
        for d in (90, 180, 365):
            c[f"revenue_{d}"] += sum(
                (t for at, _, t in orders if at <= first + timedelta(days=d)), Decimal(0)
            )
        if len(orders) >= 2:
            for d in (30, 60, 90):
                c[f"f2_{d}"] += orders[1][0] <= first + timedelta(days=d)
    return out


COUNTED = ("delivered_at", "opened_at", "clicked_at", "bounced_at", "complained_at", "converted_at")


def sequences(
    items: list[dict[str, Any]], shop: str
) -> dict[tuple[str, str | None, str | None], dict[str, Any]]:
    out: dict[tuple[str, str | None, str | None], dict[str, Any]] = {}
    for m in items:
        if not str(m.get("sk", "")).startswith("MSG#") or m.get("shop") != shop or not m.get("sequence"):
            continue
        key = (m["sequence"], m.get("step"), m.get("channel"))
        row = out.setdefault(
            key, {"records": 0, "sent": 0, "revenue": Decimal(0), **{a[:-3]: 0 for a in COUNTED}}
        )
        row["records"] += 1
        if m.get("status") != "sent":
            continue
        row["sent"] += 1
        for a in COUNTED:
            row[a[:-3]] += bool(m.get(a))
        row["revenue"] += Decimal(str(m.get("revenue") or 0))
    return out


def _decision_records(items: list[dict[str, Any]], shop: str) -> list[dict[str, Any]]:
    """Marketing records that count: claimed for a send, whatever came of it (treated: intention to treat) or
    skipped for the holdout (control)."""
    out = []
    for m in items:
        if (
            not str(m.get("sk", "")).startswith("MSG#")
            or m.get("shop") != shop
            or m.get("marketing") is not True
        ):
            continue
        if not (m.get("sequence") and m.get("customer_id") and m.get("created_at")):
            continue
        claimed = m.get("status") in ("sent", "sending", "failed", "failed_retryable")
        if claimed or (m.get("status") == "skipped" and m.get("reason") == "holdout"):
            out.append(m)
    return out


def _pairs(items: list[dict[str, Any]], shop: str) -> dict[tuple[str, str, str], tuple[int, datetime]]:
    pairs: dict[tuple[str, str, str], tuple[int, datetime]] = {}
    for m in _decision_records(items, shop):
        key = (m["sequence"], m["customer_id"], m.get("trigger_id") or "")
        treated, at = int(m["status"] != "skipped"), _seconds(m["created_at"])
        old = pairs.get(key)
        pairs[key] = (max(old[0], treated), min(old[1], at)) if old else (treated, at)
    return pairs


def holdouts(
    items: list[dict[str, Any]], shop: str, window_days: int
) -> dict[tuple[str, str], dict[str, Any]]:
    """(sequence, 'treated' | 'control') → n, converted, revenue, revenue_sq, last_at: holdouts.sql the obvious way."""
    orders = [
        o
        for o in items
        if o.get("sk") == "ORDER"
        and o.get("shop") == shop
        and o.get("status") == "placed"
        and o.get("placed_at")
        and o.get("customer_id")
    ]
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for (sequence, customer, trigger), (treated, at) in _pairs(items, shop).items():
        won = [
            Decimal(str(o.get("total") or 0))
            for o in orders
            if o["customer_id"] == customer
            and at < _seconds(o["placed_at"]) <= at + timedelta(days=window_days)
            and o.get("order_id") != trigger
        ]
        revenue = float(sum(won, Decimal(0)))
        g = out.setdefault(
            (sequence, "treated" if treated else "control"),
            {"n": 0, "converted": 0, "revenue": 0.0, "revenue_sq": 0.0, "last_at": at},
        )
        g["n"] += 1
        g["converted"] += bool(won)
        g["revenue"] += revenue
        g["revenue_sq"] += revenue * revenue
        g["last_at"] = max(g["last_at"], at)
    return out
