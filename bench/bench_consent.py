"""DynamoDB write units of Shopify's usual consent flow through the real adapter and ``ProfileStore`` (issue 9,
defects 1 and 8): what the consent ledger costs per webhook. Metered like ``bench_profiles`` (DynamoDB item-size
rules on moto writes, KEYS_ONLY GSI entries counted).

    .venv/bin/python -m bench bench_consent
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.fake_aws import use_fake_aws

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "tests" / "events" / "shopify"
SHOP = "enishi-demo.myshopify.com"


def _load(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def _order(base: dict[str, Any], oid: int, created: str, *, embedded: bool = True) -> dict[str, Any]:
    body = copy.deepcopy(base)
    if not embedded:
        body["customer"].pop("email_marketing_consent", None)
    body.update(id=oid, name=f"#{oid % 10000}", created_at=created, processed_at=created, updated_at=created)
    return body


def run() -> list[dict]:
    use_fake_aws()
    from moto import mock_aws

    from bench.bench_profiles import Meter, MeteredTable
    from enishi.carts import shopify
    from enishi.profiles.store import ProfileStore
    from enishi.publish import InMemoryPublisher
    from enishi_local.tables import create_single_table

    figures: list[dict] = []
    with mock_aws():
        meter = Meter()
        table = MeteredTable(create_single_table("bench-consent", region_name="ap-northeast-1"), meter)
        store = ProfileStore(table, InMemoryPublisher(), now=lambda: datetime(2025, 6, 1, tzinfo=UTC))

        def measure(
            name: str, topic: str, body: dict[str, Any], received: datetime, delivery: str, goal: str
        ) -> None:
            meter.reset()
            headers = {
                "x-shopify-topic": topic,
                "x-shopify-shop-domain": SHOP,
                "x-shopify-event-id": delivery,
            }
            for event in shopify.adapt(topic, headers, body, received):
                store.handle(event)
            figures.append(
                {
                    "name": f"WCU per {name}",
                    "value": meter.total,
                    "unit": "WCU",
                    "goal": goal,
                    "ok": None if goal == "–" else meter.total <= int(goal.split()[-1]),
                    "note": f"writes: {'; '.join(meter.writes) or 'none'}",
                }
            )

        received = datetime(2025, 1, 20, 14, tzinfo=UTC)
        order = _load("orders__create")
        measure(
            "customers/create with a consent (act → 1 ledger item)",
            "customers/create",
            _load("customers__create"),
            received,
            "b1",
            "–",
        )
        measure(
            "orders/create, first order (snapshot → 1 ledger item)",
            "orders/create",
            order,
            received,
            "b2",
            "–",
        )
        measure("orders/paid of the same order", "orders/paid", _load("orders__paid"), received, "b3", "≤ 1")
        measure(
            "orders/create, repeat order (the snapshot changes nothing)",
            "orders/create",
            _order(order, 5800000000101, "2025-02-20T10:00:00+09:00"),
            datetime(2025, 2, 20, 1, 0, 5, tzinfo=UTC),
            "b4",
            "≤ 3",
        )
        measure(
            "orders/create, repeat order with buyer_accepts_marketing only (API ≥ 2025-01)",
            "orders/create",
            _order(order, 5800000000102, "2025-03-01T10:00:00+09:00", embedded=False),
            datetime(2025, 3, 1, 1, 0, 5, tzinfo=UTC),
            "b5",
            "≤ 3",
        )
        unsubscribe = _load("customers_email_marketing_consent__update")
        measure(
            "consent webhook: unsubscribe (1 ledger item + profile)",
            "customers_email_marketing_consent/update",
            unsubscribe,
            datetime(2025, 3, 2, 13, 6, tzinfo=UTC),
            "b6",
            "≤ 2",
        )
        measure(
            "the same consent again under a new delivery id",
            "customers_email_marketing_consent/update",
            unsubscribe,
            datetime(2025, 3, 2, 13, 6, tzinfo=UTC),
            "b7",
            "≤ 0",
        )
        measure(
            "customers/create delivered again later, repeating the old consent (read, not written)",
            "customers/create",
            _load("customers__create"),
            datetime(2025, 3, 3, tzinfo=UTC),
            "b8",
            "≤ 0",
        )
        measure(
            "orders/paid of a new konbini order after the unsubscribe (snapshot: no ledger write)",
            "orders/paid",
            _order(order, 5800000000103, "2025-03-02T20:00:00+09:00", embedded=False),
            datetime(2025, 3, 2, 13, 10, tzinfo=UTC) + timedelta(hours=5),
            "b9",
            "≤ 3",
        )
    return figures


if __name__ == "__main__":
    for f in run():
        print(f)
