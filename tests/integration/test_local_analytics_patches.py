"""The local stand-ins the Analytics machine runs on: moto's table export in AWS's layout
(``moto_patches.install_dynamodb_export_layout``) and DuckDB behind moto's Athena API (``athena_duckdb.install``)."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import time

import boto3
import pytest

pytest.importorskip("duckdb")

from moto import mock_aws

from enishi.analytics import schema
from enishi_local import athena_duckdb, moto_patches

REGION = "ap-northeast-1"
ACCOUNT = "123456789012"


@pytest.fixture
def aws():
    with mock_aws():
        undo = [moto_patches.install_dynamodb_export_layout(), athena_duckdb.install(ACCOUNT)]
        try:
            yield boto3.session.Session(region_name=REGION)
        finally:
            for u in reversed(undo):
                u()


def _table(session, items: int) -> str:
    ddb = session.client("dynamodb")
    ddb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.update_continuous_backups(
        TableName="t", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    for i in range(items):
        ddb.put_item(
            TableName="t",
            Item={
                "pk": {"S": f"SHOP#s#CUST#{i:05d}"},
                "sk": {"S": "PROFILE"},
                "shop": {"S": "s"},
                "customer_id": {"S": f"{i:05d}"},
                "order_count": {"N": str(i % 4)},
            },
        )
    session.client("s3").create_bucket(
        Bucket="analytics-b", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    return ddb.describe_table(TableName="t")["Table"]["TableArn"]


def _export(session, table_arn: str) -> dict:
    ddb = session.client("dynamodb")
    arn = ddb.export_table_to_point_in_time(
        TableArn=table_arn, S3Bucket="analytics-b", S3Prefix="exports", ExportFormat="DYNAMODB_JSON"
    )["ExportDescription"]["ExportArn"]
    for _ in range(100):
        described = ddb.describe_export(ExportArn=arn)["ExportDescription"]
        if described["ExportStatus"] != "IN_PROGRESS":
            return described
        time.sleep(0.05)
    raise AssertionError("export did not finish")


def test_an_export_is_written_in_aws_layout_with_manifests(aws):
    table_arn = _table(aws, 3)
    described = _export(aws, table_arn)
    assert described["ExportStatus"] == "COMPLETED"
    assert re.fullmatch(rf"{re.escape(table_arn)}/export/\d{{13}}-[0-9a-f]{{8}}", described["ExportArn"])
    export_id = described["ExportArn"].rsplit("/", 1)[1]
    base = f"exports/AWSDynamoDB/{export_id}"
    assert described["ExportManifest"] == f"{base}/manifest-summary.json"
    s3 = aws.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="analytics-b")["Contents"]]
    data = [k for k in keys if k.startswith(f"{base}/data/")]
    assert data and all(k.endswith(".json.gz") for k in data)
    summary = json.loads(s3.get_object(Bucket="analytics-b", Key=described["ExportManifest"])["Body"].read())
    assert summary["itemCount"] == 3 and summary["outputFormat"] == "DYNAMODB_JSON"
    files = [
        json.loads(line)
        for line in s3.get_object(Bucket="analytics-b", Key=summary["manifestFilesS3Key"])["Body"]
        .read()
        .splitlines()
    ]
    assert sorted(f["dataFileS3Key"] for f in files) == sorted(data)
    lines = (
        gzip.decompress(s3.get_object(Bucket="analytics-b", Key=data[0])["Body"].read()).decode().splitlines()
    )
    assert summary["billedSizeBytes"] == sum(len(line.encode()) for line in lines)
    assert json.loads(lines[0])["Item"]["sk"] == {"S": "PROFILE"}


def test_the_export_is_complete_when_its_call_returns_however_slow_this_machine_is(aws, monkeypatch):
    """moto ran the export in a thread of its own, so how many of the Analytics machine's polling Waits passed
    before it completed depended on this machine's speed: a demo campaign started after a local Analytics run
    began at a different virtual time on each run."""
    from moto.dynamodb.models import table_export

    slow = table_export.TableExport._backup_to_s3_file

    def slowly(self, s3_backend):
        time.sleep(0.3)
        slow(self, s3_backend)

    monkeypatch.setattr(table_export.TableExport, "_backup_to_s3_file", slowly)
    table_arn = _table(aws, 2)
    ddb = aws.client("dynamodb")
    arn = ddb.export_table_to_point_in_time(
        TableArn=table_arn, S3Bucket="analytics-b", S3Prefix="exports", ExportFormat="DYNAMODB_JSON"
    )["ExportDescription"]["ExportArn"]
    assert ddb.describe_export(ExportArn=arn)["ExportDescription"]["ExportStatus"] == "COMPLETED"


def _query(session, sql: str, workgroup: str = "primary") -> tuple[str, dict]:
    athena = session.client("athena")
    qid = athena.start_query_execution(
        QueryString=sql,
        WorkGroup=workgroup,
        ResultConfiguration={"OutputLocation": "s3://analytics-b/athena-results/"},
    )["QueryExecutionId"]
    return qid, athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]


def test_athena_answers_with_duckdb_pages_csv_and_statistics(aws):
    table_arn = _table(aws, 2500)
    described = _export(aws, table_arn)
    folder = described["ExportManifest"].rsplit("/", 1)[0]
    _, ddl = _query(aws, schema.ddl("export_x", f"s3://analytics-b/{folder}/data/"))
    assert ddl["Status"]["State"] == "SUCCEEDED" and ddl["StatementType"] == "DDL"
    qid, q = _query(aws, "SELECT Item.customer_id.S AS id, Item.order_count.N AS n FROM export_x ORDER BY 1")
    assert q["Status"]["State"] == "SUCCEEDED"
    assert q["Statistics"]["DataScannedInBytes"] > 0
    pages = list(aws.client("athena").get_paginator("get_query_results").paginate(QueryExecutionId=qid))
    assert [len(p["ResultSet"]["Rows"]) for p in pages] == [1000, 1000, 501]  # header row first
    assert pages[0]["ResultSet"]["Rows"][0]["Data"] == [{"VarCharValue": "id"}, {"VarCharValue": "n"}]
    bucket, key = q["ResultConfiguration"]["OutputLocation"].removeprefix("s3://").split("/", 1)
    body = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == 2500 and rows[0] == {"id": "00000", "n": "0"}
    batch = aws.client("athena").batch_get_query_execution(QueryExecutionIds=[qid])["QueryExecutions"]
    assert batch[0]["Status"]["State"] == "SUCCEEDED"


def test_a_workgroup_byte_cutoff_fails_the_query_and_sql_errors_fail_it_too(aws):
    table_arn = _table(aws, 10)
    folder = _export(aws, table_arn)["ExportManifest"].rsplit("/", 1)[0]
    athena = aws.client("athena")
    athena.create_work_group(Name="tight", Configuration={"BytesScannedCutoffPerQuery": 10_000_000})
    from moto.athena.models import athena_backends  # AWS's minimum is 10 MB: shrink it to this small export

    athena_backends[ACCOUNT][REGION].work_groups["tight"].configuration["BytesScannedCutoffPerQuery"] = 10
    _query(aws, schema.ddl("export_y", f"s3://analytics-b/{folder}/data/"))
    _, q = _query(aws, "SELECT COUNT(*) FROM export_y", workgroup="tight")
    assert q["Status"]["State"] == "FAILED" and "Bytes scanned limit" in q["Status"]["StateChangeReason"]
    _, bad = _query(aws, "SELECT nope FROM export_y")
    assert bad["Status"]["State"] == "FAILED"
