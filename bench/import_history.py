"""History import into the local stack: customers and orders per second, and the importer's peak memory.

    .venv/bin/python -m bench.import_history --customers 500 --orders-per-customer 5
    .venv/bin/python -m bench.import_history --memory-only --customers 20000 --orders-per-customer 5

Generates a Shopify bulk-operation JSONL (customers, orders with a line item each, as child lines) in a temp
directory, starts the local stack (moto), runs the same code as ``enishi import`` and prints the figures as JSON.
Peak memory: ``tracemalloc`` peak of the import alone (the local stack's own memory is excluded), and the
process's max RSS for reference. A second run of the same file measures the idempotent re-run (writes nothing).
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path


def generate(path: Path, customers: int, per_customer: int) -> int:
    start = datetime(2023, 1, 1, tzinfo=UTC)
    orders = 0
    with path.open("w", encoding="utf-8") as f:
        for n in range(customers):
            cid = 7000000000000 + n
            f.write(
                json.dumps(
                    {
                        "id": f"gid://shopify/Customer/{cid}",
                        "email": f"bench{n}@example.jp",
                        "firstName": "花子",
                        "lastName": "山田",
                        "createdAt": start.isoformat(),
                        "numberOfOrders": str(per_customer),
                        "emailMarketingConsent": {
                            "marketingState": "SUBSCRIBED" if n % 3 else "UNSUBSCRIBED",
                            "marketingOptInLevel": "SINGLE_OPT_IN",
                            "consentUpdatedAt": start.isoformat(),
                        },
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
        for n in range(customers):
            for k in range(per_customer):
                oid = f"gid://shopify/Order/{5000000000000 + n * per_customer + k}"
                at = start + timedelta(days=(n * 7 + k * 61) % 900, hours=k)
                f.write(
                    json.dumps(
                        {
                            "id": oid,
                            "name": f"#{n}-{k}",
                            "createdAt": at.isoformat(),
                            "customer": {"id": f"gid://shopify/Customer/{7000000000000 + n}"},
                            "currentTotalPriceSet": {
                                "shopMoney": {"amount": "3240.0", "currencyCode": "JPY"}
                            },
                        }
                    )
                    + "\n"
                )
                f.write(
                    json.dumps(
                        {
                            "id": f"gid://shopify/LineItem/{n}{k}",
                            "title": "静岡 深蒸し煎茶 100g",
                            "quantity": 2,
                            "sku": "SEN-100",
                            "__parentId": oid,
                            "originalUnitPriceSet": {"shopMoney": {"amount": "1620.0"}},
                        },
                        ensure_ascii=False,
                    )
                    + "\n"
                )
                orders += 1
    return orders


class _NullTable:
    """A table that stores nothing: the importer's own memory, without the (in-process) moto table's."""

    name = "null"

    def __init__(self) -> None:
        self.meta = type("Meta", (), {"client": self})()

    def get_item(self, **_: object) -> dict:
        return {}

    def put_item(self, **_: object) -> dict:
        return {}

    def batch_get_item(self, **_: object) -> dict:
        return {"Responses": {}}

    def batch_write_item(self, **_: object) -> dict:
        return {}


def memory_only(customers: int, per_customer: int) -> dict:
    from enishi.history import sources
    from enishi.history.load import Importer

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bulk.jsonl"
        orders = generate(path, customers, per_customer)
        size = path.stat().st_size
        tracemalloc.start()
        t0 = time.monotonic()
        with path.open(encoding="utf-8") as f:
            Importer(_NullTable(), "bench.myshopify.com", exported_at=datetime(2026, 5, 31, tzinfo=UTC)).run(
                sources.shopify_bulk(f)
            )
        seconds = time.monotonic() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return {
        "customers": customers,
        "orders": orders,
        "file_mb": round(size / 2**20, 1),
        "importer_peak_mb": round(peak / 2**20, 2),
        "seconds_without_dynamodb": round(seconds, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.import_history")
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--orders-per-customer", type=int, default=5)
    parser.add_argument(
        "--memory-only",
        action="store_true",
        help="the importer alone against a table that stores nothing (peak memory vs file size)",
    )
    opts = parser.parse_args(argv)
    if opts.memory_only:
        print(json.dumps(memory_only(opts.customers, opts.orders_per_customer)))
        return 0

    from enishi_local import operator
    from enishi_local.stack import LocalStack

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bulk.jsonl"
        orders = generate(path, opts.customers, opts.orders_per_customer)
        with LocalStack(port=0, start=datetime(2026, 6, 1, 2, tzinfo=UTC)) as stack:
            target = operator.local(stack)
            argv_ = ["--shopify-jsonl", str(path), "--exported-at", "2026-05-31T00:00:00Z"]
            tracemalloc.start()
            t0 = time.monotonic()
            code, out = operator.run(target, "import", argv_)
            first = time.monotonic() - t0
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            t1 = time.monotonic()
            operator.run(target, "import", argv_)
            again = time.monotonic() - t1
        stats = json.loads(out)
        print(
            json.dumps(
                {
                    "customers": opts.customers,
                    "orders": orders,
                    "seconds": round(first, 2),
                    "customers_per_second": round(opts.customers / first, 1),
                    "orders_per_second": round(orders / first, 1),
                    "import_peak_mb_tracemalloc": round(peak / 2**20, 1),
                    "process_max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                    "rerun_seconds": round(again, 2),
                    "stats": stats,
                    "rc": code,
                },
                ensure_ascii=False,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
