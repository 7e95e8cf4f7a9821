"""`enishi report`'s own cost: rendering a result document, and the local stand-in that computes one from items.

    .venv/bin/python -m bench.report_render --customers 10000 100000

For each size: synthetic run items (profiles with 1–6 orders over two years, order items, one message per
customer), the stand-in's ``build_result`` time and peak memory (``tracemalloc``), the document's size, and
``write_report``'s time (charts, HTML, JSON). The deployed report only reads and renders the document (its size
follows cohorts × windows and sequences × steps, not customers), so its render time is the figure for any shop.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

START = datetime(2024, 7, 1, tzinfo=UTC)
SHOP = "bench.myshopify.com"


def items(
    customers: int, seed: int = 7
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(seed)
    profiles, orders, messages = [], [], []
    for n in range(customers):
        cid = str(7000000000000 + n)
        count = rng.choice((1, 1, 1, 2, 2, 3, 4, 6))
        days = sorted(rng.randrange(0, 730) for _ in range(count))
        totals = [Decimal(rng.randrange(2000, 12000)) for _ in days]
        for i, (d, t) in enumerate(zip(days, totals, strict=True)):
            orders.append(
                {
                    "customer_id": cid,
                    "order_id": f"{cid}-{i}",
                    "placed_at": (START + timedelta(days=d)).isoformat(),
                    "total": t,
                    "status": "placed",
                }
            )
        profiles.append(
            {
                "shop": SHOP,
                "customer_id": cid,
                "created_at": START.isoformat(),
                "updated_at": START.isoformat(),
                "order_count": count,
                "total_spent": sum(totals, Decimal(0)),
                "first_order_at": (START + timedelta(days=days[0])).isoformat(),
                "last_order_at": (START + timedelta(days=days[-1])).isoformat(),
            }
        )
        messages.append(
            {
                "customer_id": cid,
                "sequence": rng.choice(("welcome", "cart_recovery", "winback", "shipping_notice")),
                "step": rng.choice(("first", "second")),
                "channel": rng.choice(("email", "email", "line")),
                "status": "sent",
                "opened_at": "x" if rng.random() < 0.4 else None,
                "converted_at": "x" if rng.random() < 0.05 else None,
                "revenue": rng.randrange(2000, 9000),
            }
        )
    return profiles, orders, messages


def measure(customers: int) -> dict[str, Any]:
    from enishi_local.report.command import write_report
    from enishi_local.report.metrics import ReportData
    from enishi_local.report.standin import build_result

    profiles, orders, messages = items(customers)
    end = START + timedelta(days=760)
    data = ReportData(
        shop=SHOP,
        start=START,
        end=end,
        profiles=profiles,
        messages=messages,
        outbox=[],
        executions=[],
        order_items=orders,
    )
    tracemalloc.start()
    t0 = time.perf_counter()
    result = build_result(data)
    standin_s = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    with tempfile.TemporaryDirectory() as tmp:
        t1 = time.perf_counter()
        write_report(result, Path(tmp))
        render_s = time.perf_counter() - t1
        size = (Path(tmp) / "result.json").stat().st_size
    return {
        "customers": customers,
        "orders": len(orders),
        "standin_seconds": round(standin_s, 2),
        "standin_peak_mb": round(peak / 2**20, 1),
        "result_json_bytes": size,
        "cohorts": len(result.cohorts),
        "render_seconds": round(render_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.report_render")
    parser.add_argument("--customers", type=int, nargs="+", default=[10_000, 100_000])
    for n in parser.parse_args().customers:
        print(json.dumps(measure(n)))


if __name__ == "__main__":
    main()
