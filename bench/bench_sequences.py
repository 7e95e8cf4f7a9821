"""Orchestration cost of the four sequences, per message sent, from real execution histories.

Runs each sequence's typical path in the local stack (``enishi_local.stack.LocalStack``: the synthesized machines in
moto, the real starter/step/win-back handlers, a virtual clock) for one customer each, then counts from
``get_execution_history``: state transitions (every state entered, plus every task retry), step λ invocations,
and from the handlers' DynamoDB calls (counted at moto's DynamoDB endpoint) the reads and writes, priced at the
sizes of the final items. Cost per message sent = Step Functions + Lambda (step + starter/job) + DynamoDB,
divided by the messages that went out; compared with SES's $0.0001 per email — goal ≤ 1×.

Prices (USD, ap-northeast-1): Step Functions Standard $0.025 / 1,000 transitions; Lambda $0.20 / 1M requests and
$0.0000133334 per GB-s on arm64; DynamoDB on-demand $0.715 / 1M write units, $0.1425 / 1M read units. The billed
Lambda duration is an assumption (``ASSUMED_STEP_SECONDS``, 256 MB): the step's own work measured here is a few ms
of CPU, the rest is SES/LINE latency; the measured local median is reported beside it.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

PRICE_TRANSITION = 0.025 / 1000
PRICE_LAMBDA_REQUEST = 0.20 / 1_000_000
PRICE_LAMBDA_GB_SECOND_ARM = 0.0000133334
PRICE_DDB_WRITE_UNIT = 0.715 / 1_000_000
PRICE_DDB_READ_UNIT = 0.1425 / 1_000_000
PRICE_SES_EMAIL = 0.0001
LAMBDA_GB = 0.25  # FunctionFactory default 256 MB
ASSUMED_STEP_SECONDS = 0.3  # billed duration of one step invocation incl. the SES / LINE round trip
ASSUMED_STARTER_SECONDS = 0.1  # per started execution (a batch of 10 records shares one invocation)
GOAL_RATIO = 1.0

SHOP = "enishi-demo.myshopify.com"
T0 = datetime(2025, 5, 6, 1, 0, tzinfo=UTC)  # Tuesday 10:00 JST
# scenario → customer id (one customer per scenario, so the shared frequency cap never couples them)
SCENARIOS = (
    ("welcome", "b-welcome"),
    ("shipping_notice", "b-ship"),
    ("shipping_notice (delivered after 1 d)", "b-ship-delivered"),
    ("cart_recovery", "b-cart"),
    ("winback", "b-winback"),
)
WRITE_OPS = {"PutItem", "UpdateItem", "DeleteItem"}
READ_OPS = {"GetItem", "Query", "BatchGetItem"}


class DynamoCounter:
    """Counts the DynamoDB operations the handlers make (at moto's endpoint), by operation and item kind."""

    def __init__(self) -> None:
        self.ops: Counter[tuple[str, str, bool]] = Counter()
        self.enabled = False

    def install(self) -> Any:
        from moto.dynamodb.responses import DynamoHandler

        originals = {}
        counter = self

        def wrap(op: str, attr: str) -> None:
            original = getattr(DynamoHandler, attr)
            originals[attr] = original

            def method(self):
                if counter.enabled:
                    body = self.body if isinstance(self.body, dict) else json.loads(self.body or "{}")
                    key = body.get("Key") or body.get("Item") or {}
                    sk = (key.get("sk") or {}).get("S", "") if isinstance(key, dict) else ""
                    kind = "GSI" if op == "Query" else sk.split("#", 1)[0] or "BATCH"
                    counter.ops[(op, kind, bool(body.get("ConsistentRead")))] += 1
                return original(self)

            setattr(DynamoHandler, attr, method)

        for op, attr in (
            ("GetItem", "get_item"),
            ("PutItem", "put_item"),
            ("UpdateItem", "update_item"),
            ("DeleteItem", "delete_item"),
            ("Query", "query"),
            ("BatchGetItem", "batch_get_item"),
        ):
            wrap(op, attr)

        def undo() -> None:
            for attr, original in originals.items():
                setattr(DynamoHandler, attr, original)

        return undo


def _units(ops: Counter, sizes: dict[str, int]) -> tuple[float, float]:
    """(write units, read units) of the counted operations at the measured item sizes (bytes)."""
    writes = reads = 0.0
    for (op, kind, consistent), n in ops.items():
        size = sizes.get(kind, 400)
        if op in WRITE_OPS:
            writes += n * max(1, math.ceil(size / 1024))
        elif op == "Query":
            reads += n * 0.5  # keys-only index page, well under 4 KB
        else:
            reads += n * max(1, math.ceil(size / 4096)) * (1.0 if consistent else 0.5)
    return writes, reads


def _seed(stack: Any, table: Any) -> dict[str, str]:
    """One customer per sequence (so the shared frequency cap never couples them)."""
    from enishi import keys
    from enishi.events import Consent
    from enishi.profiles.items import CheckoutItem, OrderItem, OrderLine
    from enishi.profiles.model import Profile
    from enishi.profiles.serialize import to_item
    from enishi.profiles.store import order_to_item

    consent = Consent(state="subscribed", source="shopify", collected_at=T0 - timedelta(days=200))
    lines = [OrderLine(product_id="8001", title="八女茶 煎茶 100g", quantity=2, price=1620)]
    customers = dict(SCENARIOS)
    for seq, cid in customers.items():
        placed = T0 - timedelta(days=90) if seq == "winback" else T0 - timedelta(hours=1)
        ordered = seq != "cart_recovery"
        profile = Profile(
            shop=SHOP,
            customer_id=cid,
            created_at=T0 - timedelta(days=200),
            updated_at=T0,
            email=f"{cid}@example.jp",
            first_name="花子",
            last_name="山田",
            email_consent=consent,
            order_count=1 if ordered else 0,
            last_order_id=f"o-{cid}" if ordered else None,
            last_order_at=placed if ordered else None,
            first_order_at=placed if ordered else None,
            stage="first_time",
        )
        table.put_item(Item=to_item(profile, keys.profile_key(SHOP, cid)))
        if ordered:
            order = OrderItem(
                shop=SHOP,
                order_id=f"o-{cid}",
                customer_id=cid,
                order_name="#1001",
                placed_at=placed,
                total=3240,
                currency="JPY",
                items=lines,
                updated_at=placed,
            )
            table.put_item(Item=order_to_item(order))
    checkout = CheckoutItem(
        shop=SHOP,
        checkout_token="ck-bench",
        customer_id=customers["cart_recovery"],
        status="open",
        created_at=T0,
        updated_at=T0,
        items=lines,
        total=3240,
        recovery_url="https://enishi-sabo.example/checkouts/ck-bench/recover",
    )
    table.put_item(Item=to_item(checkout, keys.checkout_key(SHOP, "ck-bench")))
    return customers


def _events(customers: dict[str, str]) -> list[Any]:
    from enishi.events import CheckoutUpdated, CustomerRef, FulfillmentUpdated, LineItem, OrderRecorded

    item = LineItem(product_id="8001", title="八女茶 煎茶 100g", quantity=2, price=1620)
    return [
        OrderRecorded(
            event_id="b1",
            shop=SHOP,
            source="enishi",
            occurred_at=T0,
            received_at=T0,
            order_id=f"o-{customers['welcome']}",
            customer_id=customers["welcome"],
            order_count=1,
            placed_at=T0,
            total=3240,
        ),
        *(
            FulfillmentUpdated(
                event_id=f"b2-{cid}",
                shop=SHOP,
                source="shopify",
                occurred_at=T0,
                received_at=T0,
                fulfillment_id=f"f-{cid}",
                order_id=f"o-{cid}",
                status="success",
                shipment_status="in_transit",
                tracking_company="ヤマト運輸",
                tracking_numbers=("1234-5678-9012",),
            )
            for cid in (customers["shipping_notice"], customers["shipping_notice (delivered after 1 d)"])
        ),
        CheckoutUpdated(
            event_id="b3",
            shop=SHOP,
            source="shopify",
            occurred_at=T0,
            received_at=T0,
            checkout_token="ck-bench",
            status="open",
            line_items=(item,),
            total=3240,
            customer=CustomerRef(
                customer_id=customers["cart_recovery"], email=f"{customers['cart_recovery']}@example.jp"
            ),
            recovery_url="https://enishi-sabo.example/checkouts/ck-bench/recover",
        ),
    ]


def _delivered(customers: dict[str, str]) -> Any:
    from enishi.events import FulfillmentUpdated

    cid = customers["shipping_notice (delivered after 1 d)"]
    at = T0 + timedelta(days=1)
    return FulfillmentUpdated(
        event_id=f"b4-{cid}",
        shop=SHOP,
        source="shopify",
        occurred_at=at,
        received_at=at,
        fulfillment_id=f"f-{cid}",
        order_id=f"o-{cid}",
        status="success",
        shipment_status="delivered",
        delivered_at=at,
        tracking_company="ヤマト運輸",
        tracking_numbers=("1234-5678-9012",),
    )


def _sqs_batch(event: Any) -> dict[str, Any]:
    from enishi import clock
    from enishi.events import to_detail_dict

    body = {
        "detail-type": event.type,
        "source": "enishi.intake",
        "time": clock.iso_z(event.occurred_at),
        "detail": to_detail_dict(event),
    }
    return {
        "Records": [
            {
                "messageId": event.event_id,
                "receiptHandle": "r",
                "body": json.dumps(body),
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:ap-northeast-1:123456789012:q",
                "awsRegion": "ap-northeast-1",
            }
        ]
    }


def measure() -> dict[str, Any]:
    import boto3

    from enishi.profiles.serialize import item_size
    from enishi.sequences.step import service as runner
    from enishi_local.stack import LocalStack

    durations: list[float] = []
    original_run_step = runner.run_step

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original_run_step(*args, **kwargs)
        finally:
            durations.append(time.perf_counter() - started)

    # the local stack (re)imports each handler module when it first calls it, so the timer goes on the step's
    # logic, which the freshly imported handler binds by name
    runner.run_step = timed
    counter = DynamoCounter()
    undo = counter.install()
    try:
        with LocalStack(port=0, start=T0) as stack:
            assert stack.template is not None
            by_handler = {f.handler: f.name for f in stack.template.functions().values()}
            table = boto3.resource("dynamodb").Table(stack._table_name)
            customers = _seed(stack, table)
            counter.enabled = True
            for event in _events(customers):
                stack.invoke(by_handler["enishi.sequences.starter.handler.handler"], _sqs_batch(event))
            stack.invoke(by_handler["enishi.sequences.winback.handler.handler"], {})
            stack.advance_to(T0 + timedelta(days=1))
            stack.invoke(
                by_handler["enishi.sequences.starter.handler.handler"], _sqs_batch(_delivered(customers))
            )
            stack.advance_to(T0 + timedelta(days=16))
            counter.enabled = False
            sfn = boto3.client("stepfunctions")
            per_sequence: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
            scenario_of = {cid: name for name, cid in customers.items()}
            for machine in sfn.list_state_machines()["stateMachines"]:
                for ex in sfn.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"]:
                    data = json.loads(sfn.describe_execution(executionArn=ex["executionArn"])["input"])
                    seq = scenario_of[data["customer_id"]]
                    history = sfn.get_execution_history(executionArn=ex["executionArn"], maxResults=1000)[
                        "events"
                    ]
                    entered = sum(1 for e in history if e["type"].endswith("StateEntered"))
                    scheduled = sum(
                        1 for e in history if e["type"] in ("LambdaFunctionScheduled", "TaskScheduled")
                    )
                    tasks = sum(1 for e in history if e["type"] == "TaskStateEntered")
                    row = per_sequence[seq]
                    row["executions"] += 1
                    row["transitions"] += entered + max(
                        0, scheduled - tasks
                    )  # a retry is billed as a transition
                    row["step_invocations"] += scheduled
                    row["path"] = " | ".join(
                        filter(
                            None,
                            [
                                row.get("path") or "",
                                " → ".join(
                                    e["stateEnteredEventDetails"]["name"]
                                    for e in history
                                    if "stateEnteredEventDetails" in e
                                ),
                            ],
                        )
                    )
            outbox = stack.outbox()
            sent_by_customer = Counter(m.get("customer_id") for m in outbox)
            items = table.scan()["Items"]
            sizes: dict[str, list[int]] = defaultdict(list)
            for it in items:
                sizes[str(it["sk"]).split("#", 1)[0]].append(item_size(it))
    finally:
        undo()
        runner.run_step = original_run_step
    for scenario, cid in customers.items():
        per_sequence[scenario]["sent"] = sent_by_customer.get(cid, 0)
    return {
        "per_sequence": {k: dict(v) for k, v in per_sequence.items()},
        "dynamo_ops": counter.ops,
        "sizes": {k: max(v) for k, v in sizes.items()},
        "step_seconds_median": statistics.median(durations) if durations else 0.0,
    }


def run() -> list[dict]:
    m = measure()
    writes, reads = _units(m["dynamo_ops"], m["sizes"])
    total_sent = sum(r["sent"] for r in m["per_sequence"].values())
    # DynamoDB is shared out per message (the starter/job reads are a small part)
    ddb_per_message = (writes * PRICE_DDB_WRITE_UNIT + reads * PRICE_DDB_READ_UNIT) / max(1, total_sent)
    figures: list[dict] = []
    worst = 0.0
    for seq, _ in SCENARIOS:
        row = m["per_sequence"][seq]
        sent = row["sent"] or 1
        sfn = row["transitions"] * PRICE_TRANSITION
        lam = row["step_invocations"] * (
            PRICE_LAMBDA_REQUEST + PRICE_LAMBDA_GB_SECOND_ARM * LAMBDA_GB * ASSUMED_STEP_SECONDS
        )
        lam += row["executions"] * (
            PRICE_LAMBDA_REQUEST + PRICE_LAMBDA_GB_SECOND_ARM * LAMBDA_GB * ASSUMED_STARTER_SECONDS
        )
        per_message = (sfn + lam) / sent + ddb_per_message
        ratio = per_message / PRICE_SES_EMAIL
        worst = max(worst, ratio)
        figures.append(
            {
                "name": f"{seq}: state transitions per customer (typical path)",
                "value": row["transitions"],
                "unit": "transitions",
                "goal": "",
                "ok": None,
                "note": f"{row['executions']} execution(s), {row['sent']} messages; path: {row['path']}",
            }
        )
        figures.append(
            {
                "name": f"{seq}: orchestration cost per message ÷ SES email",
                "value": round(ratio, 3),
                "unit": "×",
                "goal": f"≤ {GOAL_RATIO}×",
                "ok": ratio <= GOAL_RATIO,
                "note": f"${per_message:.7f}/message = Step Functions ${sfn / sent:.7f} + Lambda ${lam / sent:.7f} "
                f"+ DynamoDB ${ddb_per_message:.7f}",
            }
        )
    figures.append(
        {
            "name": "DynamoDB per message sent (all sequences)",
            "value": round((writes + reads) / max(1, total_sent), 2),
            "unit": "request units",
            "goal": "",
            "ok": None,
            "note": f"{writes / max(1, total_sent):.1f} WRU + {reads / max(1, total_sent):.1f} RRU per message; item "
            f"sizes (bytes): {m['sizes']}",
        }
    )
    figures.append(
        {
            "name": "step logic (run_step) duration, local median (warm, moto)",
            "value": round(m["step_seconds_median"] * 1000, 1),
            "unit": "ms",
            "goal": "",
            "ok": None,
            "note": f"priced as {ASSUMED_STEP_SECONDS * 1000:.0f} ms billed at 256 MB arm64 (SES/LINE round trip "
            "included)",
        }
    )
    return figures


if __name__ == "__main__":
    for figure in run():
        print(json.dumps(figure, ensure_ascii=False))
