"""Load on loopback (issue 9, suite item 5): signed webhooks at a fixed rate against ``enishi local``, duplicates
and reorderings mixed in, then a check that every distinct one is reflected exactly once.

Workload (deterministic for a seed):
- distinct deliveries, in four kinds: Shopify ``orders/create``, Shopify ``orders/paid`` for an order of the same run
  (a second delivery about the same order, with its own event id), Shopify ``customers/create``, and generic
  ``order.placed``; a customer has one or two orders;
- reordered: the schedule is shuffled in windows of ``WINDOW`` deliveries, so an ``orders/paid`` can come before its
  ``orders/create`` and a customer after their order;
- duplicated: ``dup_ratio`` of the deliveries are sent again with the same bytes and ids, at once (concurrently with
  the first send) or up to ``WINDOW`` places later.

Clients: ``threads`` threads send on an open-loop schedule (delivery *i* is due at ``t0 + i / rate``), one HTTP/1.1
connection per request, and time each request (connect → response read). Afterwards the stack settles and the
table is read by key: every order exactly once, every customer's profile with exactly its distinct orders, every
delivery accepted exactly once and its copies answered ``duplicate``.

Uses only the local stack's public surface: ``LocalStack(port=0, start=…, secrets=…)``, ``.url``, ``.settle()``,
``.table_name`` and HTTP. Run: ``make load`` (``python -m bench.load --webhooks 3000 --rate 150``).
"""

from __future__ import annotations

import argparse
import copy
import http.client
import json
import random
import statistics
import sys
import threading
import time
import urllib.parse
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHOPIFY_ORDER = ROOT / "tests" / "events" / "shopify" / "orders__create.json"
SHOPIFY_CUSTOMER = ROOT / "tests" / "events" / "shopify" / "customers__create.json"
GENERIC_ORDER = ROOT / "docs" / "examples" / "generic" / "order.placed.json"
SHOP = "enishi-demo.myshopify.com"
WINDOW = 20


@dataclass(frozen=True)
class Delivery:
    key: str  # the delivery id enishi dedupes on
    path: str
    headers: dict[str, str]
    body: bytes
    order_id: str | None
    customer_id: str


@dataclass
class Send:
    delivery: Delivery
    due: float  # seconds after t0
    status: int = 0
    answer: str = ""
    latency: float = 0.0
    lag: float = 0.0
    error: str = ""


@dataclass
class Plan:
    distinct: list[Delivery]
    sends: list[Send]
    orders_by_customer: dict[str, set[str]] = field(default_factory=dict)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def build_plan(
    n: int, rate: float, *, dup_ratio: float = 0.1, seed: int = 1, secrets: Any, now: datetime
) -> Plan:
    """``n`` distinct deliveries (plus ``dup_ratio`` × n copies), scheduled at ``rate`` per second."""
    from enishi.signatures import sign_generic
    from enishi_local.shopify_webhooks import shopify_headers

    rng = random.Random(seed)
    order_tpl = json.loads(SHOPIFY_ORDER.read_text(encoding="utf-8"))
    customer_tpl = json.loads(SHOPIFY_CUSTOMER.read_text(encoding="utf-8"))
    generic_tpl = json.loads(GENERIC_ORDER.read_text(encoding="utf-8"))
    t_sign = int(now.timestamp())

    def shopify(
        topic: str, key: str, body: dict[str, Any], order_id: str | None, customer_id: str
    ) -> Delivery:
        raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = shopify_headers(
            raw,
            secrets.shopify,
            topic=topic,
            shop=SHOP,
            api_version="2025-01",
            event_id=key,
            webhook_id=f"wh-{key}",
            triggered_at=_iso(now),
        )
        return Delivery(key, "/webhooks/shopify", headers, raw, order_id, customer_id)

    def generic(key: str, body: dict[str, Any], order_id: str, customer_id: str) -> Delivery:
        raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "X-Enishi-Signature": sign_generic(raw, secrets.generic, t_sign),
        }
        return Delivery(key, "/webhooks/generic", headers, raw, order_id, customer_id)

    distinct: list[Delivery] = []
    orders_by_customer: dict[str, set[str]] = defaultdict(set)
    placed_shopify: list[tuple[str, dict[str, Any]]] = []
    i = 0
    while len(distinct) < n:
        i += 1
        kind = ("shopify_order", "shopify_order", "shopify_paid", "shopify_customer", "generic_order")[i % 5]
        at = now - timedelta(minutes=rng.randint(1, 600))
        if kind == "shopify_paid" and placed_shopify:
            order_id, body = rng.choice(placed_shopify)
            paid = body | {"financial_status": "paid", "updated_at": _iso(now)}
            distinct.append(
                shopify("orders/paid", f"load-paid-{i}", paid, order_id, str(body["customer"]["id"]))
            )
            continue
        if kind in ("shopify_order", "shopify_paid"):
            # a customer has one or two orders: every third order goes to the previous order's customer
            reuse = placed_shopify and i % 3 == 0
            customer_id = (
                str(placed_shopify[-1][1]["customer"]["id"]) if reuse else str(8_000_000_000_000 + i)
            )
            order_id = str(9_000_000_000_000 + i)
            body = copy.deepcopy(order_tpl)
            email = f"load-{customer_id}@example.jp"
            body.update(
                id=int(order_id),
                name=f"#L{i}",
                order_number=100000 + i,
                email=email,
                contact_email=email,
                created_at=_iso(at),
                processed_at=_iso(at),
                updated_at=_iso(at),
                checkout_token=f"ck-{i}",
            )
            body["customer"] = body["customer"] | {"id": int(customer_id), "email": email}
            placed_shopify.append((order_id, body))
            orders_by_customer[customer_id].add(order_id)
            distinct.append(shopify("orders/create", f"load-order-{i}", body, order_id, customer_id))
        elif kind == "shopify_customer":
            customer_id = str(8_000_000_000_000 + i)
            body = copy.deepcopy(customer_tpl)
            body.update(
                id=int(customer_id),
                email=f"load-{customer_id}@example.jp",
                created_at=_iso(at),
                updated_at=_iso(at),
            )
            orders_by_customer.setdefault(customer_id, set())
            distinct.append(shopify("customers/create", f"load-customer-{i}", body, None, customer_id))
        else:
            customer_id = f"LC-{i}"
            order_id = f"LO-{i}"
            body = copy.deepcopy(generic_tpl)
            body.update(id=f"load-generic-{i}", shop=SHOP, occurred_at=_iso(at))
            body["data"] = body["data"] | {
                "order_id": order_id,
                "placed_at": _iso(at),
                "checkout_id": f"LCK-{i}",
            }
            body["data"]["customer"] = body["data"]["customer"] | {
                "id": customer_id,
                "email": f"load-{customer_id.lower()}@example.jp",
            }
            orders_by_customer[customer_id].add(order_id)
            distinct.append(generic(f"load-generic-{i}", body, order_id, customer_id))

    # reorder within windows, then mix the copies in: some at once (concurrent), some a little later
    order = list(distinct)
    for start in range(0, len(order), WINDOW):
        chunk = order[start : start + WINDOW]
        rng.shuffle(chunk)
        order[start : start + WINDOW] = chunk
    schedule: list[Delivery] = list(order)
    for d in rng.sample(order, int(len(order) * dup_ratio)):
        position = schedule.index(d) + rng.choice([1, rng.randint(2, WINDOW)])
        schedule.insert(min(position, len(schedule)), d)
    sends = [Send(d, due=k / rate) for k, d in enumerate(schedule)]
    return Plan(distinct, sends, dict(orders_by_customer))


def fire(url: str, plan: Plan, threads: int) -> float:
    """Send every planned request at its due time from ``threads`` threads; returns the wall time taken."""
    parsed = urllib.parse.urlsplit(url)
    host = parsed.hostname
    if host is None:
        raise ValueError(f"no host in {url!r}")
    lock = threading.Lock()
    cursor = iter(plan.sends)
    t0 = time.perf_counter() + 0.05

    def worker() -> None:
        while True:
            with lock:
                send = next(cursor, None)
            if send is None:
                return
            wait = t0 + send.due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            started = time.perf_counter()
            send.lag = started - (t0 + send.due)
            try:
                conn = http.client.HTTPConnection(host, parsed.port, timeout=30)
                conn.request(
                    "POST", send.delivery.path, body=send.delivery.body, headers=send.delivery.headers
                )
                resp = conn.getresponse()
                payload = resp.read()
                conn.close()
                send.status = resp.status
                try:
                    send.answer = str(json.loads(payload).get("status", ""))
                except ValueError:
                    send.answer = payload[:80].decode("utf-8", "replace")
            except OSError as exc:
                send.error = type(exc).__name__
            send.latency = time.perf_counter() - started

    pool = [threading.Thread(target=worker, name=f"load-{k}") for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return time.perf_counter() - t0


def verify(plan: Plan, table: Any) -> dict[str, Any]:
    """What the table and the answers say: lost and duplicated, by key reads only."""
    by_key: dict[str, list[Send]] = defaultdict(list)
    for s in plan.sends:
        by_key[s.delivery.key].append(s)
    accepted_twice = [k for k, ss in by_key.items() if sum(s.answer == "accepted" for s in ss) > 1]
    never_accepted = [k for k, ss in by_key.items() if not any(s.answer == "accepted" for s in ss)]
    copies = sum(len(ss) - 1 for ss in by_key.values())
    copies_answered_duplicate = sum(
        sum(s.answer == "duplicate" for s in ss) for ss in by_key.values() if len(ss) > 1
    )
    orders_missing = _orders_missing(plan, table)
    profile_wrong = _profiles_wrong(plan, table)
    return {
        "distinct": len(plan.distinct),
        "sent": len(plan.sends),
        "copies": copies,
        "copies_answered_duplicate": copies_answered_duplicate,
        "accepted_twice": accepted_twice[:10],
        "never_accepted": never_accepted[:10],
        "orders_expected": sum(len(o) for o in plan.orders_by_customer.values()),
        "orders_missing": orders_missing[:10],
        "profiles_expected": len(plan.orders_by_customer),
        "profiles_wrong": profile_wrong[:10],
        "lost": len(never_accepted) + len(orders_missing),
        "duplicated": len(accepted_twice)
        + sum(1 for _, got, want in profile_wrong if got is not None and got > want),
    }


def _orders_missing(plan: Plan, table: Any) -> list[str]:
    """Planned orders with no order item."""
    from enishi import keys

    return [
        order_id
        for orders in plan.orders_by_customer.values()
        for order_id in orders
        if "Item" not in table.get_item(Key=keys.order_key(SHOP, order_id))
    ]


def _profiles_wrong(plan: Plan, table: Any) -> list[tuple[str, int | None, int]]:
    """(customer, order count in the profile or None without one, orders planned) where the two differ."""
    from enishi import keys

    wrong = []
    for customer_id, orders in plan.orders_by_customer.items():
        item = table.get_item(Key=keys.profile_key(SHOP, customer_id)).get("Item")
        if item is None or int(item.get("order_count", 0)) != len(orders):
            wrong.append(
                (customer_id, None if item is None else int(item.get("order_count", 0)), len(orders))
            )
    return wrong


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_load(
    n: int = 3000,
    rate: float = 150.0,
    threads: int = 4,
    dup_ratio: float = 0.1,
    seed: int = 1,
    settle_timeout: float = 600.0,
) -> dict[str, Any]:
    import boto3

    from enishi_local.stack import LocalSecrets, LocalStack

    secrets = LocalSecrets(shopify="load-shopify-secret", generic="load-generic-secret")
    # manual virtual clock started at the wall-clock time: generic signatures are fresh on either clock, and
    # sequences started by the orders park in their first Wait instead of running for days
    start = datetime.now(UTC).replace(microsecond=0)
    with LocalStack(port=0, start=start, secrets=secrets) as stack:
        plan = build_plan(n, rate, dup_ratio=dup_ratio, seed=seed, secrets=secrets, now=start)
        elapsed = fire(stack.url, plan, threads)
        settle_started = time.perf_counter()
        stack.settle(timeout=settle_timeout)
        settled_in = time.perf_counter() - settle_started
        table = boto3.resource("dynamodb").Table(stack.table_name)
        result = verify(plan, table)
    latencies = [s.latency for s in plan.sends if not s.error]
    statuses = Counter(s.status for s in plan.sends)
    result.update(
        target_rate=rate,
        threads=threads,
        held_rate=round(len(plan.sends) / elapsed, 1),
        rate_held=len(plan.sends) / elapsed
        >= 0.95 * rate,  # open loop: below target means the stack fell behind
        p50_ms=round(_pct(latencies, 0.50) * 1000, 1),
        p99_ms=round(_pct(latencies, 0.99) * 1000, 1),
        max_ms=round(max(latencies, default=float("nan")) * 1000, 1),
        p99_lag_ms=round(_pct([s.lag for s in plan.sends], 0.99) * 1000, 1),
        statuses={str(k): v for k, v in sorted(statuses.items())},
        errors=dict(Counter(s.error for s in plan.sends if s.error)),
        five_xx=sum(v for k, v in statuses.items() if k >= 500),
        send_seconds=round(elapsed, 2),
        settle_seconds=round(settled_in, 2),
        mean_ms=round(statistics.fmean(latencies) * 1000, 1) if latencies else None,
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--webhooks", type=int, default=3000, help="distinct deliveries (copies come on top)")
    parser.add_argument("--rate", type=float, default=150.0, help="requests per second to hold")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--dup-ratio", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    result = run_load(args.webhooks, args.rate, args.threads, args.dup_ratio, args.seed)
    print(json.dumps(result, indent=2, ensure_ascii=False))
    ok = result["lost"] == 0 and result["duplicated"] == 0 and result["five_xx"] == 0 and not result["errors"]
    ok = ok and result["copies_answered_duplicate"] == result["copies"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "functions"))
    raise SystemExit(main())
