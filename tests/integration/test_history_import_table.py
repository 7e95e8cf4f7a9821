"""History import into the single table (moto): F(n), stage, consent evidence, the win-back index, idempotency,
backoff on throttling — and nothing published."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from boto3.dynamodb.conditions import Key

from enishi import constants as c
from enishi import keys
from enishi.history import sources
from enishi.history.load import Importer, Pacer

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples" / "import"
SHOP = "enishi-demo.myshopify.com"
EXPORTED = datetime(2025, 6, 1, tzinfo=UTC)


def _records():
    with (EXAMPLES / "customers.csv").open(encoding="utf-8") as f:
        yield from sources.csv_customers(f)
    with (EXAMPLES / "orders.csv").open(encoding="utf-8") as f:
        yield from sources.csv_orders(f)
    with (EXAMPLES / "shopify-bulk.jsonl").open(encoding="utf-8") as f:
        yield from sources.shopify_bulk(f)


def _scan(table) -> list[dict]:
    items, kwargs = [], {}
    while True:
        page = table.scan(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return sorted(items, key=lambda i: (i["pk"], i["sk"]))
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _profile(table, cid):
    return table.get_item(Key=keys.profile_key(SHOP, cid))["Item"]


def test_the_example_files_import_with_their_history_and_consent(table):
    stats = Importer(table, SHOP, exported_at=EXPORTED).run(_records())
    assert stats.orders_read == 7 and stats.customers_read == 5
    tanaka = _profile(table, "C1001")
    assert (
        tanaka["order_count"] == 2 and tanaka["total_spent"] == Decimal(8640) and tanaka["stage"] == "repeat"
    )
    assert tanaka["last_order_id"] == "J5002" and tanaka["first_order_at"] == "2024-01-10T01:05:00Z"
    assert tanaka["email_consent"]["state"] == "subscribed" and tanaka["email_consent"]["kind"] == "act"
    assert _profile(table, "C1002")["email_consent"]["state"] == "unsubscribed"
    sato = _profile(table, "C1003")
    assert sato["order_count"] == 0 and sato["email_consent"]["kind"] == "snapshot"
    guest = _profile(table, keys.guest_customer_id("guest.buyer@example.jp"))
    assert guest["order_count"] == 1 and guest["guest"] is True
    kobayashi = _profile(table, "7010000000001")
    assert kobayashi["order_count"] == 2 and kobayashi["last_order_id"] == "5500000000002"
    ledger = table.query(
        KeyConditionExpression=Key("pk").eq(keys.customer_pk(SHOP, "7010000000002"))
        & Key("sk").begins_with(keys.CONSENT_SK_PREFIX)
    )["Items"]
    assert [(x["state"], x["source"]) for x in ledger] == [("unsubscribed", "import")]
    # the win-back index has the placed orders on their JST day, not the cancelled one
    day = table.query(
        IndexName=c.GSI_ORDERS_BY_DAY,
        KeyConditionExpression=Key(c.ATTR_GSI1_PK).eq(
            keys.orders_by_day_pk(SHOP, datetime(2025, 1, 15).date())
        ),
    )["Items"]
    assert [keys.order_id_from_orders_by_day_sk(i[c.ATTR_GSI1_SK]) for i in day] == ["5500000000002"]
    cancelled = table.get_item(Key=keys.order_key(SHOP, "J5004"))["Item"]
    assert cancelled["status"] == "cancelled" and c.ATTR_GSI1_PK not in cancelled
    # the email lookup lets a later webhook find the customer
    lookup = table.get_item(Key=keys.email_lookup_key(SHOP, keys.email_hash("tanaka.taro@example.jp")))[
        "Item"
    ]
    assert lookup["customer_id"] == "C1001"


def test_an_import_run_twice_leaves_the_same_state(table):
    Importer(table, SHOP, exported_at=EXPORTED).run(_records())
    first = _scan(table)
    stats = Importer(table, SHOP, exported_at=EXPORTED).run(_records())
    assert _scan(table) == first
    assert (stats.orders_written, stats.profiles_written, stats.consents_written) == (0, 0, 0)


def test_an_order_the_live_system_recorded_is_not_counted_again(table):
    table.put_item(
        Item={
            **keys.order_key(SHOP, "J5002"),
            "shop": SHOP,
            "order_id": "J5002",
            "status": "placed",
            "placed_at": "2024-06-10T03:00:00Z",
            "updated_at": "2024-06-10T03:00:00Z",
        }
    )
    stats = Importer(table, SHOP, exported_at=EXPORTED).run(_records())
    assert stats.orders_live == 1
    assert _profile(table, "C1001")["order_count"] == 1


def test_the_shopify_order_count_is_a_floor_when_orders_are_not_exported(table):
    line = (
        '{"id":"gid://shopify/Customer/1","email":"a@example.jp","createdAt":"2023-01-01T00:00:00Z",'
        '"numberOfOrders":"12"}'
    )
    Importer(table, SHOP, exported_at=EXPORTED).run(sources.shopify_bulk(io.StringIO(line)))
    assert _profile(table, "1")["order_count"] == 12 and _profile(table, "1")["stage"] == "loyal"


class _Throttling:
    """Wraps the table's client: the first batch write is throttled, the second leaves items unprocessed."""

    def __init__(self, client):
        self._client, self.calls = client, 0

    def batch_write_item(self, RequestItems):
        from botocore.exceptions import ClientError

        self.calls += 1
        if self.calls == 1:
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "BatchWriteItem")
        if self.calls == 2:
            name, requests = next(iter(RequestItems.items()))
            self._client.batch_write_item(RequestItems={name: requests[:1]})
            return {"UnprocessedItems": {name: requests[1:]}}
        return self._client.batch_write_item(RequestItems=RequestItems)

    def __getattr__(self, name):
        return getattr(self._client, name)


def test_throttling_and_unprocessed_items_are_retried_with_backoff(table, monkeypatch):
    slept: list[float] = []
    wrapped = _Throttling(table.meta.client)
    monkeypatch.setattr(table.meta, "client", wrapped)
    stats = Importer(table, SHOP, exported_at=EXPORTED, pacer=Pacer(sleep=slept.append)).run(_records())
    assert wrapped.calls >= 3 and len(slept) >= 2 and stats.retries >= 2
    assert _profile(table, "C1001")["order_count"] == 2
    assert table.get_item(Key=keys.order_key(SHOP, "5500000000002")).get("Item")


def test_a_bad_row_names_its_line_not_its_data():
    bad = "受注ID,受注日,合計金額\nJ1,not-a-date,100\n"
    with pytest.raises(sources.ImportFormatError, match="line 2") as err:
        list(sources.csv_orders(io.StringIO(bad)))
    assert "J1" not in str(err.value).split(":")[0]


def test_an_import_replaces_the_floor_a_first_live_order_took_from_the_carts_count(table):
    from datetime import timedelta

    from enishi import events as ev
    from enishi.profiles.store import ProfileStore

    class _Publisher:
        def publish(self, events):
            pass

    # Given C1001's first live order after deploy, whose payload says Shopify counts 3 orders (this one included)
    at = datetime(2025, 7, 1, 3, tzinfo=UTC)
    order = ev.OrderPlaced(
        event_id="live-1",
        shop=SHOP,
        source="shopify",
        occurred_at=at,
        received_at=at,
        order_id="L1",
        customer=ev.CustomerRef(customer_id="C1001", orders_count=3),
        placed_at=at,
        total=Decimal(1000),
    )
    ProfileStore(table, _Publisher(), now=lambda: at + timedelta(seconds=1)).handle(order)
    assert _profile(table, "C1001")["order_count"] == 3
    # When the history (2 orders before it) is imported
    Importer(table, SHOP, exported_at=EXPORTED).run(_records())
    # Then F(n) is the 2 imported + the live one, not 3 + 2
    assert _profile(table, "C1001")["order_count"] == 3
    assert _profile(table, "C1001")["last_order_id"] == "L1"
