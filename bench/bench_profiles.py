"""DynamoDB write units consumed per ``order.placed`` by the profile consumer (issue 3 figure; goal ≤ 3).

Runs the real ``ProfileStore`` against moto, with every write (PutItem / UpdateItem / DeleteItem) metered.

Method: moto does not bill realistically — it answers ``ReturnConsumedCapacity`` with a flat 1.0 per call whatever
the item size, and reports no GSI units (``moto/dynamodb/responses.py``, ``include_consumed_capacity``). So each
write is charged as DynamoDB would: ⌈max(item size before, after) / 1 KB⌉ for the table (item size by DynamoDB's
documented rules, ``enishi.profiles.serialize.item_size``), plus, for the KEYS_ONLY ``orders_by_day`` GSI, 1 unit
per index entry written and 1 per index entry deleted (an index-key change is both). Moto's own reported total is
shown beside it for comparison.

    .venv/bin/python -m bench bench_profiles
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from bench.fake_aws import use_fake_aws
from enishi import constants as c
from enishi import events as ev
from enishi import keys
from enishi.profiles.serialize import WRITE_UNIT_BYTES, item_size

SHOP = "enishi-demo.myshopify.com"
T0 = datetime(2025, 3, 1, 3, 0, tzinfo=UTC)
GOAL = 3
GSI_KEYS = (c.ATTR_GSI1_PK, c.ATTR_GSI1_SK)


@dataclass
class Meter:
    """Charges every write like DynamoDB on-demand would (see the module docstring)."""

    table_units: int = 0
    index_units: int = 0
    moto_reported: float = 0.0
    writes: list[str] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.table_units + self.index_units

    def reset(self) -> None:
        self.table_units = self.index_units = 0
        self.moto_reported = 0.0
        self.writes.clear()
        self.sizes.clear()


class MeteredTable:
    """A boto3 ``Table`` stand-in that meters writes; reads pass through."""

    def __init__(self, table: Any, meter: Meter) -> None:
        self._table = table
        self.meter = meter

    def get_item(self, **kw: Any) -> Any:
        return self._table.get_item(**kw)

    def query(self, **kw: Any) -> Any:
        return self._table.query(**kw)

    def put_item(self, **kw: Any) -> Any:
        key = {c.ATTR_PK: kw["Item"][c.ATTR_PK], c.ATTR_SK: kw["Item"][c.ATTR_SK]}
        return self._metered("put", key, lambda: self._table.put_item(ReturnConsumedCapacity="INDEXES", **kw))

    def update_item(self, **kw: Any) -> Any:
        return self._metered(
            "update", kw["Key"], lambda: self._table.update_item(ReturnConsumedCapacity="INDEXES", **kw)
        )

    def delete_item(self, **kw: Any) -> Any:
        return self._metered(
            "delete", kw["Key"], lambda: self._table.delete_item(ReturnConsumedCapacity="INDEXES", **kw)
        )

    def _metered(self, op: str, key: dict[str, str], call: Any) -> Any:
        before = self._table.get_item(Key=key, ConsistentRead=True).get("Item")
        try:
            response = call()
        finally:
            after = self._table.get_item(Key=key, ConsistentRead=True).get("Item")
            size = max(item_size(before) if before else 0, item_size(after) if after else 0)
            units = max(1, -(-size // WRITE_UNIT_BYTES))  # a write is billed at least 1 unit
            self.meter.table_units += units
            index = _index_writes(before, after)
            self.meter.index_units += index
            kind = key[c.ATTR_SK].split("#")[0] if "#" in key[c.ATTR_SK] else key[c.ATTR_SK]
            kind = kind if kind not in (keys.LOOKUP_SK,) else f"LOOKUP({key[c.ATTR_PK].split('#')[2]})"
            self.meter.writes.append(
                f"{op} {kind} {size} B → {units} WCU" + (f" + {index} GSI" if index else "")
            )
            self.meter.sizes[kind] = size
        self.meter.moto_reported += float(response.get("ConsumedCapacity", {}).get("CapacityUnits", 0))
        return response


def _index_writes(before: dict | None, after: dict | None) -> int:
    def entry(item: dict | None) -> tuple | None:
        if not item or any(k not in item for k in GSI_KEYS):
            return None
        return tuple(item[k] for k in GSI_KEYS)

    old, new = entry(before), entry(after)
    if old == new:
        return 0  # KEYS_ONLY: a change to non-key attributes does not touch the index
    return (old is not None) + (new is not None)


# ---------------------------------------------------------------- scenarios


def _base(t: datetime, event_id: str) -> dict:
    return {"event_id": event_id, "shop": SHOP, "source": "shopify", "occurred_at": t, "received_at": t}


def _customer(cid: str, email: str, guest: bool = False) -> ev.CustomerRef:
    return ev.CustomerRef(
        customer_id=cid, guest=guest, email=email, first_name="太郎", last_name="山田", phone="090-1234-5678"
    )


def _consent(t: datetime) -> ev.Consent:
    from enishi.shop_config import load_shop_config

    return ev.Consent(
        state="subscribed",
        opt_in_level="single_opt_in",
        source="shopify",
        collected_at=t,
        wording=load_shop_config().consent_wording,
        evidence={"shopify_consent_updated_at": t.isoformat()},
    )


def _order(oid: str, customer: ev.CustomerRef, t: datetime, **kw: Any) -> ev.OrderPlaced:
    lines = (
        ev.LineItem(
            product_id="8001",
            variant_id="40001",
            sku="YAME-100",
            title="八女茶 煎茶 100g",
            quantity=2,
            price=Decimal(1620),
        ),
        ev.LineItem(
            product_id="8006",
            variant_id="40006",
            sku="CHASEN",
            title="茶筅 百本立",
            quantity=1,
            price=Decimal(3300),
        ),
    )
    return ev.OrderPlaced(
        **_base(t, f"shopify:{oid}:order.placed"),
        order_id=oid,
        order_name=f"#{oid}",
        customer=customer,
        placed_at=t,
        total=Decimal(7090),
        currency="JPY",
        line_items=lines,
        checkout_token=f"ck{oid}",
        financial_status="paid",
        email_consent=_consent(T0),
        **kw,
    )


def run() -> list[dict]:
    use_fake_aws()
    import boto3
    from moto import mock_aws

    from enishi.profiles.store import ProfileStore
    from enishi.publish import EventBridgePublisher
    from enishi_local.tables import create_single_table

    with mock_aws():
        created = create_single_table("bench", region_name="ap-northeast-1")
        boto3.client("events", region_name="ap-northeast-1").create_event_bus(Name=c.EVENT_BUS_NAME)
        meter = Meter()
        table = MeteredTable(created, meter)
        store = ProfileStore(
            table,
            EventBridgePublisher(boto3.client("events", region_name="ap-northeast-1"), c.EVENT_BUS_NAME),
            now=lambda: T0 + timedelta(days=400),
        )

        def measure(event: Any) -> Meter:
            meter.reset()
            store.handle(event)
            snapshot = Meter(
                meter.table_units,
                meter.index_units,
                meter.moto_reported,
                list(meter.writes),
                dict(meter.sizes),
            )
            return snapshot

        figures: list[dict] = []

        def figure(name: str, m: Meter, note: str) -> None:
            figures.append(
                {
                    "name": name,
                    "value": m.total,
                    "unit": "WCU",
                    "goal": f"≤ {GOAL}",
                    "ok": m.total <= GOAL,
                    "note": f"{note}; writes: {'; '.join(m.writes) or 'none'}; moto reported {m.moto_reported:g}",
                }
            )

        # (a) a known customer's repeat order (customers/create, a first order, then this one)
        known = _customer("7212345670001", "taro@example.jp")
        store.handle(ev.CustomerUpserted(**_base(T0, "u1"), customer=known, email_consent=_consent(T0)))
        store.handle(_order("5612345671001", known, T0 + timedelta(days=1)))
        repeat = measure(_order("5612345671002", known, T0 + timedelta(days=40)))
        figure(
            "WCU per order.placed: known customer, repeat order",
            repeat,
            "profile + order + orders_by_day GSI",
        )

        # (b) first orders
        new_cust = _customer("7212345670002", "hanako@example.jp")
        first = measure(_order("5612345672001", new_cust, T0 + timedelta(days=2)))
        figure(
            "WCU per order.placed: first order, new customer id (new profile + email lookup)",
            first,
            "no customers/create before it: the email lookup is written with the order",
        )
        guest_email = "guest@example.jp"
        guest = ev.CustomerRef(customer_id=keys.guest_customer_id(guest_email), guest=True, email=guest_email)
        first_guest = measure(_order("5612345673001", guest, T0 + timedelta(days=3)))
        figure(
            "WCU per order.placed: first order, guest (new profile)",
            first_guest,
            "guest id = hash of the email, so no lookup item is needed",
        )
        shopify = _customer("7212345670004", "jiro@example.jp")
        store.handle(ev.CustomerUpserted(**_base(T0, "u4"), customer=shopify, email_consent=_consent(T0)))
        first_known = measure(_order("5612345674001", shopify, T0 + timedelta(days=4)))
        figure(
            "WCU per order.placed: first order after customers/create (Shopify's usual flow)",
            first_known,
            "profile and lookup already written by customer.upserted",
        )

        # duplicates cost nothing
        dup = measure(_order("5612345671002", known, T0 + timedelta(days=40)))
        figure("WCU per order.placed: the same order delivered again", dup, "reads only")

        # (c) an attributed order also credits its message record
        mk = keys.sequence_message_key(SHOP, "7212345670001", "welcome", "f2", "5612345671001")
        raw = boto3.resource("dynamodb", region_name="ap-northeast-1").Table("bench")
        raw.update_item(
            Key=keys.profile_key(SHOP, "7212345670001"),
            UpdateExpression="SET last_message = :m, last_marketing_sent_at = :t, version = version + :one",
            ExpressionAttributeValues={
                ":one": 1,
                ":t": "2025-04-12T01:00:00Z",
                ":m": {
                    "message_key": mk,
                    "sequence": "welcome",
                    "step": "f2",
                    "channel": "email",
                    "sent_at": "2025-04-12T01:00:00Z",
                },
            },
        )
        raw.put_item(
            Item={
                **keys.message_key(SHOP, "7212345670001", mk),
                "status": "sent",
                "sequence": "welcome",
                "step": "f2",
                "channel": "email",
                "marketing": True,
                "created_at": "2025-04-12T01:00:00Z",
                "sent_at": "2025-04-12T01:00:01Z",
                "customer_id": "7212345670001",
                "shop": SHOP,
                "trigger_id": "5612345671001",
                "recipient_hash": "0" * 64,
                "cost_usd": Decimal("0.0001"),
                "provider_message_id": "0100018e-" + "a" * 50,
            }
        )
        attributed = measure(_order("5612345671003", known, T0 + timedelta(days=43)))
        figures.append(
            {
                "name": "WCU per order.placed: repeat order attributed to a message",
                "value": attributed.total,
                "unit": "WCU",
                "goal": "–",
                "ok": None,
                "note": f"+1 for the message record's conversion; writes: {'; '.join(attributed.writes)}",
            }
        )

        # a loyal customer: 10 more orders (the profile keeps at most 10 recent order ids)
        for i in range(10):
            loyal = measure(_order(f"56123456790{i:02d}", known, T0 + timedelta(days=50 + i * 20)))
        figures.append(
            {
                "name": "size of a loyal customer's profile item (13 orders)",
                "value": loyal.sizes["PROFILE"],
                "unit": "B",
                "goal": "≤ 1024",
                "ok": loyal.sizes["PROFILE"] <= WRITE_UNIT_BYTES,
                "note": f"5 recent 13-digit order ids (the most kept), last_message set; "
                f"its next order costs {loyal.total} WCU",
            }
        )

        # consent.changed: a one-click unsubscribe of a known, subscribed customer; then the same one delivered again
        unsub = ev.Consent(
            state="unsubscribed",
            source="one_click",
            collected_at=T0 + timedelta(days=41),
            evidence={
                "request": "one_click",
                "method": "POST",
                "user_agent_class": "other",
                "endpoint": "/u/{token}",
            },
        )
        changed = measure(
            ev.ConsentChanged(**_base(T0 + timedelta(days=41), "cc1"), customer=known, consent=unsub)
        )
        figures.append(
            {
                "name": "WCU per consent.changed: one-click unsubscribe",
                "value": changed.total,
                "unit": "WCU",
                "goal": "–",
                "ok": None,
                "note": f"writes: {'; '.join(changed.writes)}",
            }
        )
        again = measure(
            ev.ConsentChanged(**_base(T0 + timedelta(days=41), "cc1"), customer=known, consent=unsub)
        )
        figures.append(
            {
                "name": "WCU per consent.changed: the same one delivered again",
                "value": again.total,
                "unit": "WCU",
                "goal": "0",
                "ok": again.total == 0,
                "note": f"writes: {'; '.join(again.writes) or 'none'}",
            }
        )

        for kind, label in (("PROFILE", "profile item"), ("ORDER", "order item")):
            size = repeat.sizes.get(kind, 0)
            figures.append(
                {
                    "name": f"size of a typical {label}",
                    "value": size,
                    "unit": "B",
                    "goal": "≤ 1024",
                    "ok": size <= WRITE_UNIT_BYTES,
                    "note": "DynamoDB item-size rules; profile with names, phone, consent + shop wording, "
                    "2 orders; order with 2 line items",
                }
            )
    return figures


if __name__ == "__main__":
    for f in run():
        print(f)
