"""The daily analytics job at 10k and 100k customers, measured on the local stack, and modelled at 1M on AWS.

    python -m bench.analytics [--customers 10000 100000] [--seed 7]        (make bench-analytics)

A synthetic shop is written straight into moto's table (profiles with identities and consent, placed and cancelled
orders, message records, consent-ledger and lookup items: the item mix of the demo shop), then the deployed
``Analytics`` machine runs once through ``LocalStack.run_analytics`` (moto's export in AWS's layout, DuckDB behind
the Athena API, the job λ, the write-back), and once more with nothing changed. Prints one JSON document per size
and the model at 1M; writes ``out/bench/analytics.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from enishi import keys
from enishi.analytics import cost as cm
from enishi.analytics import queries

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 6, 1, tzinfo=UTC)
SEQUENCES = {"welcome": ("thanks", "story", "f2_nudge"), "winback": ("reminder", "recommend")}
PRICE_LAMBDA_GB_SECOND = cm.PRICE_LAMBDA_GB_SECOND
JOB_LAMBDA_GB = 1769 / 1024
SFN_TRANSITIONS_PER_RUN = 20  # export, a few waits/describes, queries, polls, result, write-back chunks
PRICE_S3_PUT = 0.0047 / 1000  # ap-northeast-1
PRICE_S3_GET = 0.00037 / 1000


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _stage(orders: int) -> str:
    return "lead" if not orders else "first_time" if orders == 1 else "loyal" if orders >= 5 else "repeat"


def _profile(
    shop: str, cid: str, n: int, created: datetime, placed: list[datetime], totals: list[Decimal]
) -> dict[str, Any]:
    orders = len(placed)
    profile: dict[str, Any] = {
        **keys.profile_key(shop, cid),
        "shop": shop,
        "customer_id": cid,
        "version": 3 + orders,
        "created_at": iso(created),
        "updated_at": iso(placed[-1] if placed else created),
        "email": f"customer{n}@example.jp",
        "first_name": "花子",
        "last_name": "山田",
        "phone": "090-1234-5678",
        "email_consent": {
            "channel": "email",
            "state": "subscribed",
            "collected_at": iso(created),
            "source": "checkout",
            "wording_ref": "a" * 16,
        },
        "order_count": orders,
        "total_spent": sum(totals, Decimal(0)),
        "stage": _stage(orders),
        "recent_order_ids": [f"{cid}-{i}" for i in range(min(orders, 20))],
    }
    if placed:
        profile |= {
            "first_order_at": iso(placed[0]),
            "last_order_at": iso(placed[-1]),
            "last_order_id": f"{cid}-{orders - 1}",
        }
    return profile


def _orders(
    rng: random.Random, shop: str, cid: str, placed: list[datetime], totals: list[Decimal]
) -> list[dict[str, Any]]:
    out = []
    for i, (at, total) in enumerate(zip(placed, totals, strict=True)):
        cancelled = rng.random() < 0.03
        out.append(
            {
                **keys.order_key(shop, f"{cid}-{i}"),
                "shop": shop,
                "order_id": f"{cid}-{i}",
                "customer_id": cid,
                "status": "cancelled" if cancelled else "placed",
                "placed_at": iso(at),
                "total": total,
                "currency": "JPY",
                "items": [{"product_id": "8001", "title": "八女茶 煎茶 100g", "quantity": 1, "price": total}],
                "updated_at": iso(at),
            }
        )
    return out


def _message(
    rng: random.Random, shop: str, cid: str, seq: str, step: str, sent_at: datetime
) -> dict[str, Any]:
    sent = rng.random() < 0.9
    record: dict[str, Any] = {
        **keys.message_key(shop, cid, keys.sequence_message_key(shop, cid, seq, step, "t")),
        "shop": shop,
        "customer_id": cid,
        "sequence": seq,
        "step": step,
        "trigger_id": f"customer:{cid}",
        "status": "sent" if sent else "skipped",
        "channel": "email" if rng.random() < 0.8 else "line",
        "marketing": True,
        "created_at": iso(sent_at),
        "sent_at": iso(sent_at),
        "recipient_hash": "e" * 64,
    }
    if not sent:
        record["reason"] = "holdout"  # the control group the holdouts query compares with
    for attr, p in (("delivered_at", 0.97), ("opened_at", 0.4), ("clicked_at", 0.1)):
        if rng.random() < p:
            record[attr] = iso(sent_at + timedelta(hours=1))
    if rng.random() < 0.03:
        record |= {"converted_at": iso(sent_at + timedelta(days=1)), "revenue": Decimal(4000)}
    return record


def items_for(rng: random.Random, shop: str, n: int) -> list[dict[str, Any]]:
    """One synthetic customer's items: profile, email lookup, consent record, orders, message records."""
    cid = f"{7_000_000_000 + n}"
    created = NOW - timedelta(days=rng.randint(1, 720))
    orders = 0 if rng.random() < 0.3 else min(1 + int(rng.expovariate(0.8)), 30)
    placed = sorted(created + timedelta(days=rng.uniform(0, (NOW - created).days)) for _ in range(orders))
    totals = [Decimal(rng.randrange(1500, 15000, 10)) for _ in placed]
    profile = _profile(shop, cid, n, created, placed, totals)
    out = [profile, {**keys.email_lookup_key(shop, keys.email_hash(profile["email"])), "customer_id": cid}]
    out.append({**keys.consent_ledger_key(shop, cid, iso(created), "email", "d" * 16), "state": "subscribed"})
    out += _orders(rng, shop, cid, placed, totals)
    for seq, steps in SEQUENCES.items():
        if (seq == "welcome" and not placed) or (seq == "winback" and rng.random() < 0.7):
            continue
        start = placed[0] if placed else created
        out += [
            _message(rng, shop, cid, seq, step, start + timedelta(days=3 * j)) for j, step in enumerate(steps)
        ]
    return out


def load(stack: Any, customers: int, seed: int) -> tuple[int, float]:
    from boto3.dynamodb.types import TypeSerializer
    from moto.dynamodb.models import dynamodb_backends

    from enishi_local.stack import ACCOUNT_ID, REGION

    table = dynamodb_backends[ACCOUNT_ID][REGION].get_table(stack.table_name)
    ser = TypeSerializer()
    rng = random.Random(seed)
    count = 0
    started = time.perf_counter()
    for n in range(customers):
        for item in items_for(rng, stack.shop_id or "bench-shop", n):
            table.put_item({k: ser.serialize(v) for k, v in item.items()})
            count += 1
    return count, time.perf_counter() - started


DAILY_BUYERS = 0.004  # share of customers ordering on a given day (≈ 1.5 orders a year each)


def next_day(stack: Any, customers: int, seed: int) -> int:
    """One day later: ``DAILY_BUYERS`` of the customers order again (profile + order item updated as the consumer
    would), and the clock moves a day — what the next daily run sees."""
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
    from moto.dynamodb.models import dynamodb_backends

    from enishi_local.stack import ACCOUNT_ID, REGION

    table = dynamodb_backends[ACCOUNT_ID][REGION].get_table(stack.table_name)
    ser, de = TypeSerializer(), TypeDeserializer()
    rng = random.Random(seed + 1)
    shop = stack.shop_id or "bench-shop"
    at = NOW + timedelta(days=1)
    buyers = rng.sample(range(customers), max(1, int(customers * DAILY_BUYERS)))
    for n in buyers:
        cid = f"{7_000_000_000 + n}"
        key = keys.profile_key(shop, cid)
        from moto.dynamodb.models.dynamo_type import DynamoType

        found = table.get_item(DynamoType({"S": key["pk"]}), DynamoType({"S": key["sk"]}))
        assert found is not None
        raw = found.to_json()["Attributes"]
        profile = {k: de.deserialize(v) for k, v in raw.items()}
        total = Decimal(rng.randrange(1500, 15000, 10))
        orders = int(profile.get("order_count") or 0) + 1
        profile |= {
            "order_count": orders,
            "total_spent": Decimal(profile.get("total_spent") or 0) + total,
            "last_order_at": iso(at),
            "first_order_at": profile.get("first_order_at") or iso(at),
            "stage": _stage(orders),
        }
        table.put_item({k: ser.serialize(v) for k, v in profile.items()})
        order = {
            **keys.order_key(shop, f"{cid}-next"),
            "shop": shop,
            "order_id": f"{cid}-next",
            "customer_id": cid,
            "status": "placed",
            "placed_at": iso(at),
            "total": total,
        }
        table.put_item({k: ser.serialize(v) for k, v in order.items()})
    stack.advance(timedelta(days=1))
    return len(buyers)


def measure(customers: int, seed: int) -> dict[str, Any]:
    from enishi_local.stack import LocalStack

    with LocalStack(port=0, start=NOW) as stack:
        items, load_seconds = load(stack, customers, seed)
        started = time.perf_counter()
        first = stack.run_analytics(timeout=3600)
        first_seconds = time.perf_counter() - started
        day_orders = next_day(stack, customers, seed)
        started = time.perf_counter()
        second = stack.run_analytics(timeout=3600)
        second_seconds = time.perf_counter() - started
    assert first["status"] == "SUCCEEDED", first.get("error")
    run = first["result"]["run"]
    return {
        "customers": customers,
        "items": items,
        "load_seconds": round(load_seconds, 1),
        "first_run_seconds": round(first_seconds, 1),
        "second_run_seconds": round(second_seconds, 1),
        "changed_first": first["output"]["result"]["changed"],
        "next_day_orders": day_orders,
        "changed_next_day": second["output"]["result"]["changed"],
        "export_table_bytes": run["export_bytes"],
        "export_gz_bytes": run["export_files_bytes"],
        "bytes_scanned": run["bytes_scanned"],
        "query_seconds": run["query_seconds"],
        "result_seconds": run["result_seconds"],
        "athena_usd": run["athena_usd"],
        "export_usd": run["export_usd"],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def model(measured: dict[str, Any], customers: int, changed_fraction: float) -> dict[str, Any]:
    """Scale one measured run linearly by customers (the export and the scans are linear in table size)."""
    k = customers / measured["customers"]
    table_gb = measured["export_table_bytes"] * k / 1e9
    gz = measured["export_gz_bytes"] * k
    export = table_gb * cm.PRICE_EXPORT_GB
    athena = cm.athena_usd([int(gz)] * len(queries.QUERIES))  # every query scans the export once
    # the job λ: the result step's measured seconds (local, one loaded core) scaled; write-back 1 ms per update / 8
    result_seconds = measured["result_seconds"] * k
    writes = customers * changed_fraction
    lam = (result_seconds + writes * 0.001 / 8) * JOB_LAMBDA_GB * PRICE_LAMBDA_GB_SECOND
    ddb = writes * 2 * cm.PRICE_DDB_WRITE  # profile items are 1–2 KB: 2 write units per update
    sfn = (SFN_TRANSITIONS_PER_RUN + writes / 20_000 * 2) * cm.PRICE_SFN_TRANSITION
    s3 = 10 * PRICE_S3_PUT + (gz / 8e6) * 3 * PRICE_S3_GET  # Athena reads the data files in ~8 MB splits
    total = export + athena + lam + ddb + sfn + s3
    return {
        "customers": customers,
        "changed_fraction": changed_fraction,
        "table_gb": round(table_gb, 3),
        "export_gz_gb": round(gz / 1e9, 3),
        "export_usd": round(export, 4),
        "athena_usd": round(athena, 4),
        "lambda_usd": round(lam, 4),
        "dynamodb_write_back_usd": round(ddb, 4),
        "step_functions_usd": round(sfn, 5),
        "s3_usd": round(s3, 5),
        "total_usd": round(total, 4),
        "job_seconds_excluding_export": round(result_seconds + writes * 0.001 / 8 + 30, 1),
        "pitr_usd_per_month": round(table_gb * cm.PRICE_PITR_GB_MONTH, 4),
    }


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.analytics")
    p.add_argument("--customers", type=int, nargs="+", default=[10_000, 100_000])
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args(argv)
    results = []
    for n in args.customers:
        r = measure(n, args.seed)
        print(json.dumps(r), flush=True)
        results.append(r)
    largest = results[-1]
    daily = (
        largest["changed_next_day"] / largest["customers"]
    )  # measured: profiles whose rfm/segment moved in a day
    models = {
        "1M_daily": model(largest, 1_000_000, daily),
        "1M_first_run_all_changed": model(largest, 1_000_000, 1.0),
        "100k_daily": model(largest, 100_000, daily),
        "10k_daily": model(results[0], 10_000, results[0]["changed_next_day"] / results[0]["customers"]),
    }
    models["ratio_100k_to_10k"] = round(
        models["100k_daily"]["total_usd"] / models["10k_daily"]["total_usd"], 2
    )
    print(json.dumps(models, indent=1))
    out = ROOT / "out" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "analytics.json").write_text(json.dumps({"measured": results, "modelled": models}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
