"""The analytics job's AWS adapters: Athena (queries, results), S3 (the analytics bucket), DynamoDB (write-back).

Only here does the job call boto3. Locally the same calls reach moto, with DuckDB behind the Athena API
(enishi_local.athena_duckdb).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from enishi import keys
from enishi.aws_errors import lost_condition

Row = dict[str, str | None]
RUNNING = frozenset({"QUEUED", "RUNNING"})


@dataclass(frozen=True)
class QueryState:
    state: str
    scanned: int
    millis: int
    reason: str | None


class Athena:
    def __init__(self, client: Any, *, workgroup: str, database: str, output: str) -> None:
        self._client = client
        self._workgroup = workgroup
        self._database = database
        self._output = output  # s3://bucket/athena-results/

    def start(self, sql: str) -> str:
        answer = self._client.start_query_execution(
            QueryString=sql,
            QueryExecutionContext={"Database": self._database},
            ResultConfiguration={"OutputLocation": self._output},
            WorkGroup=self._workgroup,
        )
        return str(answer["QueryExecutionId"])

    def states(self, ids: list[str]) -> dict[str, QueryState]:
        answer = self._client.batch_get_query_execution(QueryExecutionIds=ids)
        out = {}
        for q in answer.get("QueryExecutions", []):
            status, stats = q.get("Status", {}), q.get("Statistics", {})
            out[q["QueryExecutionId"]] = QueryState(
                state=str(status.get("State")),
                scanned=int(stats.get("DataScannedInBytes") or 0),
                millis=int(stats.get("TotalExecutionTimeInMillis") or 0),
                reason=status.get("StateChangeReason"),
            )
        return out

    def output_location(self, query_id: str) -> str:
        answer = self._client.get_query_execution(QueryExecutionId=query_id)
        return str(answer["QueryExecution"]["ResultConfiguration"]["OutputLocation"])

    def rows(self, query_id: str) -> list[Row]:
        """All rows of a (small) result through GetQueryResults pages; the first row of the first page is the
        header."""
        header: list[str] | None = None
        out: list[Row] = []
        for page in self._client.get_paginator("get_query_results").paginate(QueryExecutionId=query_id):
            for raw in page["ResultSet"]["Rows"]:
                values = [cell.get("VarCharValue") for cell in raw["Data"]]
                if header is None:
                    header = [str(v) for v in values]
                    continue
                out.append(dict(zip(header, values, strict=True)))
        return out


class Bucket:
    def __init__(self, client: Any, name: str) -> None:
        self._client = client
        self.name = name

    def url(self, key: str) -> str:
        return f"s3://{self.name}/{key}"

    def read(self, key: str) -> bytes:
        return bytes(self._client.get_object(Bucket=self.name, Key=key)["Body"].read())

    def total_size(self, prefix: str) -> int:
        pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=prefix)
        return sum(int(o["Size"]) for page in pages for o in page.get("Contents", []))

    def put_json(self, key: str, document: Any) -> None:
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        self._client.put_object(Bucket=self.name, Key=key, Body=body, ContentType="application/json")

    def put_lines(self, key: str, rows: Iterable[dict[str, Any]]) -> int:
        body = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in rows)
        self._client.put_object(Bucket=self.name, Key=key, Body=body.encode("utf-8"))
        return body.count("\n")

    def lines(self, key: str) -> Iterator[dict[str, Any]]:
        body = self._client.get_object(Bucket=self.name, Key=key)["Body"]
        for line in body.iter_lines():
            if line:
                yield json.loads(line)

    def csv_rows(self, url: str) -> Iterator[Row]:
        """Rows of a query's CSV output (header first; an unquoted empty field is NULL, read as None)."""
        bucket, _, key = url.removeprefix("s3://").partition("/")
        body = self._client.get_object(Bucket=bucket, Key=key)["Body"]
        text = io.TextIOWrapper(body, encoding="utf-8", newline="")
        for row in csv.DictReader(text):
            yield {k: (v if v != "" else None) for k, v in row.items()}


class ProfileWriter:
    """Sets ``rfm`` and ``segment`` on profiles (UpdateItem of named attributes with ``version = version + 1``, as
    every writer but the consumer does; only for customers whose values changed; never creates a profile)."""

    def __init__(self, table: Any, shop: str, threads: int = 8) -> None:
        self._table = table
        self._shop = shop
        self._threads = threads

    def write(self, rows: list[dict[str, Any]]) -> int:
        with ThreadPoolExecutor(max_workers=self._threads) as pool:
            return sum(pool.map(self._one, rows))

    def _one(self, row: dict[str, Any]) -> int:
        from botocore.exceptions import ClientError

        names = {"#seg": "segment", "#v": "version"}
        values: dict[str, Any] = {":seg": row["segment"], ":one": 1}
        if row.get("r") is not None:
            expr = "SET #seg = :seg, #rfm = :rfm, #v = if_not_exists(#v, :zero) + :one"
            names["#rfm"] = "rfm"
            values[":rfm"] = {"r": row["r"], "f": row["f"], "m": row["m"]}
        else:
            expr = "SET #seg = :seg, #v = if_not_exists(#v, :zero) + :one REMOVE rfm"
        values[":zero"] = 0
        try:
            self._table.update_item(
                Key=keys.profile_key(self._shop, str(row["customer_id"])),
                UpdateExpression=expr,
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if lost_condition(exc):
                return 0  # erased since the export: nothing to label
            raise
        return 1
