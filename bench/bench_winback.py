"""The daily win-back job's cost follows the customers due, not the customers held (issue 11, DESIGN invariant 4).

    .venv/bin/python -m bench.bench_winback                      # 10k and 100k customers, 100 due
    .venv/bin/python -m bench.bench_winback --sizes 2000 20000 --due 50

For each size: the local stack (moto, the synthesized template, the deployed handler), ``customers`` imported
customers each with a profile and a last order, their last orders spread over the year before — except exactly
``due`` of them, whose last order is the win-back threshold (90 days) before the run day, and no one else's is.
Then the job is invoked as EventBridge's daily schedule would (the deployed ``Winback`` function, found in the
template by name) and measured from its own DynamoDB calls (a botocore hook in the job's thread: every Query and
BatchGetItem, items read, their size → read units as DynamoDB bills them: eventually consistent reads, 0.5 unit per
4 KB, a Query per page on the sum of its items, a BatchGet per item) and its wall time.
The figure: read units at the largest size ÷ at the smallest (goal ≤ 1.2×).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

SHOP = "enishi-demo.myshopify.com"
RUN_AT = datetime(2026, 6, 1, 1, 5, tzinfo=UTC)  # 10:05 JST, just after the daily 10:00 run
THRESHOLD_DAYS = 90
GOAL_RATIO = 1.2
READ_OPS = ("Query", "BatchGetItem", "GetItem", "Scan")


class ReadMeter:
    """Counts the DynamoDB reads made on one thread (the job's), from the parsed responses."""

    def __init__(self) -> None:
        self.thread: int | None = None
        self.calls: dict[str, int] = {}
        self.items = 0
        self.read_units = 0.0
        self.seconds: dict[str, float] = {}  # wall time inside each read operation (moto's, locally)
        self._started = 0.0

    def reset(self) -> None:
        self.thread, self.calls, self.items, self.read_units, self.seconds = (
            threading.get_ident(),
            {},
            0,
            0.0,
            {},
        )

    def before(self, model: Any, **_: Any) -> None:
        if threading.get_ident() == self.thread:
            self._started = time.perf_counter()

    def hook(self, http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if threading.get_ident() != self.thread or model.name not in READ_OPS:
            return
        self.seconds[model.name] = self.seconds.get(model.name, 0.0) + time.perf_counter() - self._started
        self.calls[model.name] = self.calls.get(model.name, 0) + 1
        if model.name == "BatchGetItem":
            for items in (parsed.get("Responses") or {}).values():
                self.items += len(items)
                self.read_units += sum(0.5 * max(1, math.ceil(_size(i) / 4096)) for i in items)
        elif model.name == "GetItem":
            item = parsed.get("Item")
            self.items += 1 if item else 0
            self.read_units += 0.5 * max(1, math.ceil(_size(item or {}) / 4096))
        else:
            items = parsed.get("Items") or []
            self.items += len(items)
            self.read_units += 0.5 * max(1, math.ceil(sum(_size(i) for i in items) / 4096))


def _size(item: dict[str, Any]) -> int:
    """DynamoDB's item size, closely enough: attribute names + values (wire format)."""
    return sum(len(k.encode()) + len(json.dumps(v, ensure_ascii=False).encode()) for k, v in item.items())


def _populate(stack: Any, customers: int, due: int) -> int:
    """``customers`` profiles and last orders, written straight into moto's table (the import's layout)."""
    from boto3.dynamodb.types import TypeSerializer
    from moto.dynamodb.models import dynamodb_backends

    from enishi import clock
    from enishi.profiles import apply as profile_logic
    from enishi.profiles.items import OrderItem
    from enishi.profiles.store import order_to_item, profile_put

    table = dynamodb_backends[stack_account()][stack.region].get_table(stack.table_name)
    serialize = TypeSerializer().serialize
    run_day = RUN_AT.astimezone(clock.JST).date()
    due_day = run_day - timedelta(days=THRESHOLD_DAYS)
    written = 0
    for n in range(customers):
        customer_id = f"W{n:07d}"
        day = due_day if n < due else _other_day(n, run_day, due_day)
        placed = datetime(day.year, day.month, day.day, 3, 0, tzinfo=UTC)
        order_id = f"O{n:07d}"
        profile = profile_logic.new_profile(SHOP, customer_id, placed).model_copy(
            update={
                "email": f"winback{n}@example.jp",
                "order_count": 1 + n % 5,
                "first_order_at": placed - timedelta(days=200),
                "last_order_at": placed,
                "last_order_id": order_id,
                "total_spent": Decimal(3240 * (1 + n % 5)),
            }
        )
        item, _ = profile_put(profile, None, None)
        order = order_to_item(
            OrderItem(
                shop=SHOP,
                order_id=order_id,
                customer_id=customer_id,
                status="placed",
                placed_at=placed,
                total=Decimal(3240),
                currency="JPY",
                updated_at=placed,
            )
        )
        for it in (item, order):
            table.put_item({k: serialize(v) for k, v in it.items()})
            written += 1
    return written


def _other_day(n: int, run_day: date, due_day: date) -> date:
    """A last-order day in the year before the run, never the due day."""
    day = run_day - timedelta(days=1 + (n * 7919) % 365)
    return day - timedelta(days=1) if day == due_day else day


def stack_account() -> str:
    from enishi_local.stack import ACCOUNT_ID

    return ACCOUNT_ID


def _winback_function(stack: Any) -> str:
    names = [
        n for n, spec in stack._functions.items() if spec.handler.endswith(".handler") and "Winback" in n
    ]
    if len(names) != 1:
        raise SystemExit(f"cannot tell the win-back function among {sorted(stack._functions)}")
    return names[0]


def measure(customers: int, due: int) -> dict[str, Any]:
    import boto3

    from enishi_local.stack import LocalStack

    with LocalStack(port=0, start=RUN_AT) as stack:  # today's 10:00 JST run is past: the schedule stays quiet
        started = time.perf_counter()
        written = _populate(stack, customers, due)
        populate_s = time.perf_counter() - started
        meter = ReadMeter()
        boto3._get_default_session().events.register("before-call.dynamodb", meter.before)
        boto3._get_default_session().events.register("after-call.dynamodb", meter.hook)
        name = _winback_function(stack)
        times: list[float] = []
        reads: list[float] = []
        results: list[tuple[Any, ...]] = []
        for _ in range(3):  # the job is idempotent: a re-run reads the same and starts nothing twice
            meter.reset()
            t0 = time.perf_counter()
            result = stack.invoke(name, {"day": (RUN_AT.date() - timedelta(days=THRESHOLD_DAYS)).isoformat()})
            times.append(time.perf_counter() - t0)
            reads.append(sum(meter.seconds.values()))
            results.append((dict(meter.calls), meter.items, meter.read_units, result, dict(meter.seconds)))
            meter.thread = None
        calls, items, units, result, seconds = results[-1]
        return {
            "customers": customers,
            "due": due,
            "items_written": written,
            "populate_seconds": round(populate_s, 1),
            "job_result": result,
            "calls": calls,
            "items_read": items,
            "read_units": units,
            "job_seconds_median": round(statistics.median(times), 4),
            "read_seconds_median": round(statistics.median(reads), 4),  # inside Query/BatchGetItem (moto)
            "read_seconds_by_op": {k: round(v, 4) for k, v in seconds.items()},
        }


def run(sizes: tuple[int, ...] = (10_000, 100_000), due: int = 100) -> list[dict[str, Any]]:
    rows = [measure(n, due) for n in sizes]
    small, large = rows[0], rows[-1]
    ratio_units = large["read_units"] / small["read_units"] if small["read_units"] else float("inf")
    ratio_time = large["job_seconds_median"] / small["job_seconds_median"]
    note = "; ".join(
        f"{r['customers']:,} customers: {r['items_read']} items / {r['read_units']:g} RU / "
        f"{r['job_seconds_median'] * 1000:.0f} ms ({r['calls']})"
        for r in rows
    )
    label = f"{large['customers'] // 1000}k ÷ {small['customers'] // 1000}k customers, {due} due"
    return [
        {
            "name": f"win-back job read units, {label}",
            "value": round(ratio_units, 3),
            "unit": "×",
            "goal": f"≤ {GOAL_RATIO}×",
            "ok": ratio_units <= GOAL_RATIO,
            "note": note,
            "rows": rows,
        },
        {
            "name": f"win-back job time, {label}",
            "value": round(ratio_time, 3),
            "unit": "×",
            "goal": f"≤ {GOAL_RATIO}×",
            "ok": ratio_time <= GOAL_RATIO,
            "note": "median of 3 runs of the deployed handler in the local stack (moto)",
        },
    ]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.bench_winback")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--due", type=int, default=100)
    opts = parser.parse_args(argv)
    print(json.dumps(run(tuple(opts.sizes), opts.due), indent=2, ensure_ascii=False, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
