"""Issue 11's "done when" for the history import: a Shopify bulk JSONL and the CSV pair imported into the local
stack (through `enishi import --local`, the operator endpoint), then webhooks: a 12-time customer's next order is
F13 with no welcome, an imported unsubscribed customer gets no marketing, an imported customer due for win-back
gets it on the right day — and `enishi customer erase` leaves none of a customer's personal data behind."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from enishi import keys
from enishi.carts import Unprocessable
from enishi.carts import shopify as shopify_adapter
from enishi_local import operator
from enishi_local.shopify_webhooks import post_shopify
from enishi_local.stack import LocalSecrets, LocalStack

pytestmark = pytest.mark.slow

EVENTS = Path(__file__).resolve().parents[1] / "events" / "shopify"
SHOP = "enishi-demo.myshopify.com"
START = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)  # 11:00 JST; today's win-back run (10:00 JST) is past
SECRETS = LocalSecrets(shopify="history-import-secret")
LOYAL, LOYAL_EMAIL = "8800000000001", "twelve.times@example.jp"
OPTED_OUT, OPTED_OUT_EMAIL = "8800000000002", "opted.out@example.jp"
DORMANT, DORMANT_EMAIL = "C9003", "dormant.since.march@example.jp"


def _bulk_jsonl(path: Path) -> None:
    lines = [
        {
            "id": f"gid://shopify/Customer/{LOYAL}",
            "email": LOYAL_EMAIL,
            "firstName": "一郎",
            "lastName": "常連",
            "phone": "+819011112222",
            "createdAt": "2025-04-01T00:00:00Z",
            "numberOfOrders": "12",
            "emailMarketingConsent": {
                "marketingState": "SUBSCRIBED",
                "marketingOptInLevel": "SINGLE_OPT_IN",
                "consentUpdatedAt": "2025-04-01T00:00:00Z",
            },
        },
        {
            "id": f"gid://shopify/Customer/{OPTED_OUT}",
            "email": OPTED_OUT_EMAIL,
            "firstName": "停止",
            "lastName": "配信",
            "createdAt": "2025-04-01T00:00:00Z",
            "numberOfOrders": "1",
            "emailMarketingConsent": {
                "marketingState": "UNSUBSCRIBED",
                "marketingOptInLevel": None,
                "consentUpdatedAt": "2026-01-10T00:00:00Z",
            },
        },
    ]
    for n in range(12):
        at = datetime(2025, 5, 1, 3, tzinfo=UTC) + timedelta(days=30 * n)
        oid = f"gid://shopify/Order/{9100000000000 + n}"
        lines.append(
            {
                "id": oid,
                "name": f"#{2000 + n}",
                "createdAt": at.isoformat(),
                "cancelledAt": None,
                "email": LOYAL_EMAIL,
                "customer": {"id": f"gid://shopify/Customer/{LOYAL}"},
                "currentTotalPriceSet": {"shopMoney": {"amount": "3240.0", "currencyCode": "JPY"}},
            }
        )
        lines.append(
            {
                "id": f"gid://shopify/LineItem/{9200000000000 + n}",
                "title": "静岡 深蒸し煎茶 100g",
                "quantity": 2,
                "sku": "SEN-100",
                "product": {"id": "gid://shopify/Product/8100000000001"},
                "originalUnitPriceSet": {"shopMoney": {"amount": "1620.0"}},
                "__parentId": oid,
            }
        )
    lines.append(
        {
            "id": "gid://shopify/Order/9100000000099",
            "name": "#2099",
            "createdAt": "2026-04-01T03:00:00Z",
            "email": OPTED_OUT_EMAIL,
            "customer": {"id": f"gid://shopify/Customer/{OPTED_OUT}"},
            "currentTotalPriceSet": {"shopMoney": {"amount": "1620.0", "currencyCode": "JPY"}},
        }
    )
    path.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n", encoding="utf-8")


def _csv_pair(directory: Path) -> tuple[Path, Path]:
    customers, orders = directory / "customers.csv", directory / "orders.csv"
    customers.write_text(
        "会員ID,メールアドレス,姓,名,電話番号,登録日,メルマガ購読,メルマガ更新日時\n"
        f"{DORMANT},{DORMANT_EMAIL},休眠,三郎,080-3333-4444,2025/12/01,1,2025/12/01 10:00:00\n",
        encoding="utf-8",
    )
    # the last order on 2026-03-04 (JST): 90 days before 2026-06-02, when its win-back is due
    orders.write_text(
        "受注ID,受注日,会員ID,メールアドレス,合計金額,通貨,状態,キャンセル日,商品コード,商品名,数量,単価\n"
        f"J9001,2025/12/01 12:00:00,{DORMANT},{DORMANT_EMAIL},1620,JPY,,,SEN-100,静岡 深蒸し煎茶 100g,1,1620\n"
        f"J9002,2026/03/04 12:00:00,{DORMANT},{DORMANT_EMAIL},3240,JPY,,,GYO-50,玉露 50g,1,3240\n",
        encoding="utf-8",
    )
    return customers, orders


def _post(stack: LocalStack, topic: str, body: dict) -> None:
    raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
    status, _ = post_shopify(
        stack.url,
        raw,
        SECRETS.shopify,
        topic=topic,
        shop=SHOP,
        api_version="2025-01",
        webhook_id=str(uuid.uuid4()),
        event_id=str(uuid.uuid4()),
    )
    assert status == 200


def _order(stack: LocalStack, order_id: int, customer_id: str, email: str) -> dict:
    body = json.loads((EVENTS / "orders__create.json").read_text(encoding="utf-8"))
    placed = stack.clock.now().astimezone().isoformat()
    body |= {
        "id": order_id,
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "email": email,
        "contact_email": email,
        "created_at": placed,
        "updated_at": placed,
        "processed_at": placed,
        "checkout_token": uuid.uuid4().hex,
        "name": f"#{order_id % 10000}",
    }
    # Shopify's own count says 15 (cancelled orders included): the imported history decides, not this floor
    body["customer"] = {**body["customer"], "id": int(customer_id), "email": email, "orders_count": 15}
    return body


def _checkout(stack: LocalStack, customer_id: str, email: str) -> dict:
    body = json.loads((EVENTS / "checkouts__create.json").read_text(encoding="utf-8"))
    now = stack.clock.now().astimezone().isoformat()
    token = uuid.uuid4().hex
    body |= {
        "token": token,
        "cart_token": token[:16],
        "email": email,
        "created_at": now,
        "updated_at": now,
        "completed_at": None,
        "buyer_accepts_marketing": True,
    }
    body["customer"] = {
        **body.get("customer", {}),
        "id": int(customer_id),
        "email": email,
        "first_name": "停止",
        "last_name": "配信",
        "phone": None,
        "addresses": [],
        "default_address": None,
    }
    for name in ("billing_address", "shipping_address"):
        body.pop(name, None)
    return body


def _sent(stack: LocalStack, email: str) -> list[tuple[str, str]]:
    return [(m["sequence"], m["step"]) for m in stack.outbox() if m["recipient"] == email]


def _scan(table) -> str:
    items, kwargs = [], {}
    while True:
        page = table.scan(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return json.dumps(items, ensure_ascii=False, default=str)
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _bucket_text(target: operator.Target) -> str:
    out = []
    for page in target.s3.get_paginator("list_objects_v2").paginate(Bucket=target.raw_bucket):
        for obj in page.get("Contents", []):
            body = target.s3.get_object(Bucket=target.raw_bucket, Key=obj["Key"])["Body"].read()
            out.append(body.decode("utf-8", "replace"))
            doc = json.loads(body)
            if "body_base64" in doc:
                import base64

                out.append(base64.b64decode(doc["body_base64"]).decode("utf-8", "replace"))
    return "\n".join(out)


def test_imported_history_decides_fn_welcome_marketing_and_winback(tmp_path, capsys, monkeypatch):
    jsonl = tmp_path / "bulk.jsonl"
    _bulk_jsonl(jsonl)
    customers, orders = _csv_pair(tmp_path)
    with LocalStack(port=0, start=START, secrets=SECRETS) as stack:
        table = boto3.resource("dynamodb").Table(stack.table_name)
        # Given the shop's history imported through the operator command (twice: the same state)
        args = [
            "--local",
            stack.url,
            "--shopify-jsonl",
            str(jsonl),
            "--customers-csv",
            str(customers),
            "--orders-csv",
            str(orders),
            "--exported-at",
            "2026-05-31T00:00:00Z",
        ]
        assert operator.main("import", args) == 0
        first = json.loads(capsys.readouterr().out)
        assert first["orders_written"] == 15 and first["customers_read"] == 3
        before = _scan(table)
        assert operator.main("import", args) == 0
        assert _scan(table) == before
        stack.settle()
        assert stack.outbox() == []  # the past started nothing

        # When the 12-time customer orders again
        _post(stack, "orders/create", _order(stack, 9300000000001, LOYAL, LOYAL_EMAIL))
        # and the imported unsubscribed customer leaves a checkout (with a marketing tick, a snapshot)
        _post(stack, "checkouts/create", _checkout(stack, OPTED_OUT, OPTED_OUT_EMAIL))
        stack.advance(timedelta(hours=2))
        # Then the order is F13 and no welcome went out
        loyal = table.get_item(Key=keys.profile_key(SHOP, LOYAL))["Item"]
        assert loyal["order_count"] == 13 and loyal["stage"] == "loyal"
        assert [s for s in _sent(stack, LOYAL_EMAIL) if s[0] == "welcome"] == []
        # and the unsubscribed customer got no cart reminder (no marketing at all)
        assert _sent(stack, OPTED_OUT_EMAIL) == []

        # The dormant customer's win-back: not on 2026-06-01 (today's run), on 2026-06-02 10:00 JST
        stack.advance_to(datetime(2026, 6, 2, 0, 50, tzinfo=UTC))
        assert _sent(stack, DORMANT_EMAIL) == []
        stack.advance_to(datetime(2026, 6, 2, 2, 0, tzinfo=UTC))
        assert _sent(stack, DORMANT_EMAIL) == [("winback", "reminder")]
        assert _sent(stack, OPTED_OUT_EMAIL) == []

        # a delivery the adapter could not process is kept (raw) for replay: it names the customer
        real_adapt = shopify_adapter.adapt

        def broken(*args, **kwargs):
            raise Unprocessable("order shape not understood", [{"loc": "line_items", "msg": "bug"}])

        monkeypatch.setattr(shopify_adapter, "adapt", broken)
        _post(stack, "orders/create", _order(stack, 9300000000002, LOYAL, LOYAL_EMAIL))
        monkeypatch.setattr(shopify_adapter, "adapt", real_adapt)
        target = operator.local(stack)
        assert LOYAL_EMAIL in _bucket_text(target)

        # customer show / export / erase (APPI) through the same operator endpoint
        assert operator.main("customer", ["show", "--local", stack.url, "--email", LOYAL_EMAIL]) == 0
        shown = capsys.readouterr().out
        assert "F13" in shown and "orders (13)" in shown
        out = tmp_path / "export.json"
        assert (
            operator.main(
                "customer", ["export", "--local", stack.url, "--customer-id", LOYAL, "--out", str(out)]
            )
            == 0
        )
        exported = json.loads(out.read_text(encoding="utf-8"))
        assert exported["profiles"][0]["email"] == LOYAL_EMAIL and len(exported["orders"]) == 13
        assert "import" in [r["source"] for r in exported["consent_ledger"]]
        assert len(exported["raw_payloads"]) == 1  # the kept delivery for the other shop names this customer
        assert operator.main("customer", ["erase", "--local", stack.url, "--email", LOYAL_EMAIL]) == 0
        capsys.readouterr()
        held = _scan(table) + _bucket_text(target)
        # (the live order carried the fixture's phone, names and addresses: 山田 花子, +819012345678, 090-1234-5678)
        for personal in (
            LOYAL_EMAIL,
            "一郎",
            "常連",
            "+819011112222",
            "9011112222",
            "山田",
            "花子",
            "9012345678",
            "090-1234-5678",
            "神宮前1-2-3",
        ):
            assert personal not in held, personal
        loyal = table.get_item(Key=keys.profile_key(SHOP, LOYAL))["Item"]
        assert loyal["order_count"] == 13 and loyal["redacted"] is True  # anonymous aggregates stay
