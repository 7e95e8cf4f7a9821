"""The operator commands against a deployed stack, found by its CloudFormation name (moto): `enishi import`,
`enishi customer show|export|erase`. After an erase, a scan of the table and the raw-payload bucket finds none of
the customer's email, name, phone, address or LINE id; the anonymous aggregates stay."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import boto3
import pytest

from enishi import constants as c
from enishi import keys
from enishi_local import operator

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples" / "import"
SHOP = "enishi-demo.myshopify.com"
STACK = "Enishi"
BUCKET = "enishi-raw-test"
LINE_ID = "U1234567890abcdef1234567890abcdef"


@pytest.fixture
def deployed(table):
    s3 = boto3.client("s3")
    s3.create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": s3.meta.region_name}
    ) if s3.meta.region_name != "us-east-1" else s3.create_bucket(Bucket=BUCKET)
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {c.OUTPUT_TABLE_NAME: {"Value": table.name}, c.OUTPUT_RAW_BUCKET_NAME: {"Value": BUCKET}},
    }
    boto3.client("cloudformation").create_stack(StackName=STACK, TemplateBody=json.dumps(template))
    return table, s3


def _everything(table, s3) -> str:
    items = table.scan()["Items"]
    texts = [json.dumps(items, ensure_ascii=False, default=str)]
    for obj in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        doc = s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read().decode()
        texts += [doc, base64.b64decode(json.loads(doc)["body_base64"]).decode()]
    return "\n".join(texts)


def test_import_show_export_and_erase_on_a_deployed_stack(deployed, capsys, tmp_path):
    table, s3 = deployed
    where = ["--stack", STACK, "--shop", SHOP]
    assert (
        operator.main(
            "import",
            [
                *where,
                "--customers-csv",
                str(EXAMPLES / "customers.csv"),
                "--orders-csv",
                str(EXAMPLES / "orders.csv"),
                "--exported-at",
                "2025-06-01T00:00:00+09:00",
            ],
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["profiles_written"] == 4
    # the customer also linked LINE, and a payload naming them was kept for replay (another customer's too)
    profile = table.get_item(Key=keys.profile_key(SHOP, "C1001"))["Item"]
    table.put_item(
        Item={
            **profile,
            "line": {"user_id": LINE_ID, "following": True, "updated_at": "2025-06-01T00:00:00Z"},
        }
    )
    table.put_item(Item={**keys.line_lookup_key(SHOP, LINE_ID), "customer_id": "C1001"})
    for key, email, name in (
        ("raw/shopify/a.json", "tanaka.taro@example.jp", "太郎"),
        ("raw/shopify/b.json", "sato.jiro@example.jp", "次郎"),
    ):
        body = json.dumps({"customer": {"email": email, "first_name": name}}, ensure_ascii=False).encode()
        s3.put_object(
            Bucket=BUCKET,
            Key=key,
            Body=json.dumps(
                {"source": "shopify", "headers": {}, "body_base64": base64.b64encode(body).decode()}
            ).encode(),
        )

    assert operator.main("customer", ["show", *where, "--line-id", LINE_ID]) == 0
    shown = capsys.readouterr().out
    assert "customer C1001" in shown and "F2" in shown and "J5002" in shown

    out = tmp_path / "c1001.json"
    assert (
        operator.main("customer", ["export", *where, "--email", "TANAKA.taro@example.jp", "--out", str(out)])
        == 0
    )
    exported = json.loads(out.read_text(encoding="utf-8"))
    assert exported["profiles"][0]["email"] == "tanaka.taro@example.jp"
    assert {o["order_id"] for o in exported["orders"]} == {"J5001", "J5002"}
    assert [r["key"] for r in exported["raw_payloads"]] == ["raw/shopify/a.json"]
    assert len(exported["lookups"]) == 2 and exported["consent_ledger"][0]["source"] == "import"

    # attributes another writer added to the profile: a personal one goes with the erase, the others stay
    table.update_item(
        Key=keys.profile_key(SHOP, "C1001"),
        UpdateExpression="SET shipping_address = :a, loyalty_tier = :t",
        ExpressionAttributeValues={":a": "東京都港区芝公園4-2-8", ":t": "gold"},
    )
    assert operator.main("customer", ["erase", *where, "--customer-id", "C1001", "--yes"]) == 0
    held = _everything(table, s3)
    for personal in ("tanaka.taro@example.jp", "田中", "太郎", "090-1111-2222", LINE_ID, "芝公園"):
        assert personal not in held, personal
    assert table.get_item(Key=keys.profile_key(SHOP, "C1001"))["Item"]["loyalty_tier"] == "gold"
    assert "sato.jiro@example.jp" in held  # another customer's data stays
    profile = table.get_item(Key=keys.profile_key(SHOP, "C1001"))["Item"]
    assert (
        profile["redacted"] is True
        and profile["order_count"] == 2
        and profile["email_consent"]["state"] == "redacted"
    )
    assert (
        table.get_item(Key=keys.order_key(SHOP, "J5002"))["Item"]["total"] == 5400
    )  # aggregates still add up
    # an erase run again changes nothing and still finds the (anonymous) customer by id
    before = held
    assert operator.main("customer", ["erase", *where, "--customer-id", "C1001", "--yes"]) == 0
    assert _everything(table, s3) == before
    capsys.readouterr()
    assert operator.main("customer", ["show", *where, "--email", "tanaka.taro@example.jp"]) == 1
