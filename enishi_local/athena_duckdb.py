"""Athena at the network edge, locally: moto's Athena backend runs the queries with DuckDB over moto's S3.

moto 5.2 keeps Athena's API (workgroups, executions, results) but executes no SQL. ``install()`` patches its
backend so that ``StartQueryExecution``

- ``CREATE EXTERNAL TABLE [IF NOT EXISTS] t (col <hive type>) ... LOCATION 's3://b/p/'`` registers ``t`` (types
  mapped from Hive to DuckDB: ``struct<a:string>`` → ``STRUCT("a" VARCHAR)``); ``DROP TABLE [IF EXISTS] t`` forgets;
- any other statement runs in DuckDB with every registered table it names read from the gzipped JSON-lines
  objects under its location in moto's S3 (how a DynamoDB export is stored; the OpenX JSON SerDe reads the same);
- the execution ends ``SUCCEEDED`` (or ``FAILED`` with DuckDB's message, or when the workgroup's
  ``BytesScannedCutoffPerQuery`` is exceeded), with ``Statistics.DataScannedInBytes`` = compressed bytes of the
  objects read (what Athena bills for gzipped text: it cannot skip columns of JSON), the result as Athena writes
  it — a CSV with a header row in ``<OutputLocation>/<id>.csv`` — and ``GetQueryResults`` pages of at most
  ``MaxResults`` (1000) rows, the first page starting with the header row, every value a string, NULL without
  ``VarCharValue``.

The production code path is unchanged: the same boto3 calls, the same SQL; only the engine behind the API differs.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Undo = Callable[[], None]
PAGE = 1000

_CREATE = re.compile(
    r"^\s*CREATE\s+EXTERNAL\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?`?(\w+)`?\s*\(\s*`?(\w+)`?\s+(.+?)\)\s+"
    r"(?:ROW\s+FORMAT.*?)?LOCATION\s+'(s3://[^']+)'",
    re.IGNORECASE | re.DOTALL,
)
_DROP = re.compile(r"^\s*DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?`?(\w+)`?\s*;?\s*$", re.IGNORECASE)
_HIVE_SCALARS = {
    "string": "VARCHAR",
    "boolean": "BOOLEAN",
    "bigint": "BIGINT",
    "int": "INTEGER",
    "double": "DOUBLE",
    "timestamp": "TIMESTAMP",
}


def hive_to_duckdb(hive: str) -> str:
    """``struct<a:string,b:struct<N:string>>`` → ``STRUCT("a" VARCHAR, "b" STRUCT("N" VARCHAR))``."""
    text = hive.strip()
    if text.lower().startswith("struct<") and text.endswith(">"):
        fields = []
        for part in _split_top(text[len("struct<") : -1]):
            name, _, kind = part.partition(":")
            fields.append(f'"{name.strip()}" {hive_to_duckdb(kind)}')
        return "STRUCT(" + ", ".join(fields) + ")"
    if text.lower().startswith("array<") and text.endswith(">"):
        return hive_to_duckdb(text[len("array<") : -1]) + "[]"
    return _HIVE_SCALARS[text.lower()]


def _split_top(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += {"<": 1, ">": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p for p in parts if p.strip()]


@dataclass(frozen=True)
class Table:
    column: str
    duck_type: str
    location: str


@dataclass
class Outcome:
    columns: list[tuple[str, str]]
    rows: list[list[str | None]]
    scanned: int


def _split_s3(url: str) -> tuple[str, str]:
    bucket, _, key = url.removeprefix("s3://").partition("/")
    return bucket, key


class Engine:
    """The tables the statements registered, and how to run a statement over moto's S3."""

    def __init__(self, s3_backend: Callable[[], Any]) -> None:
        self._s3 = s3_backend
        self.tables: dict[str, Table] = {}
        self._lock = threading.Lock()

    def run(self, query: str, bytes_limit: int | None) -> Outcome:
        if m := _CREATE.match(query):
            name, column, hive, location = m.groups()
            with self._lock:
                self.tables.setdefault(name.lower(), Table(column, hive_to_duckdb(hive), location))
            return Outcome([], [], 0)
        if m := _DROP.match(query):
            with self._lock:
                self.tables.pop(m.group(1).lower(), None)
            return Outcome([], [], 0)
        return self._select(query, bytes_limit)

    def _objects(self, location: str) -> list[tuple[str, bytes]]:
        bucket_name, prefix = _split_s3(location)
        bucket = self._s3().get_bucket(bucket_name)
        return [
            (key, obj.value)
            for key, obj in list(bucket.keys.items())
            if key.startswith(prefix) and key.endswith(".gz") and "/data/" in key
        ]

    def _select(self, query: str, bytes_limit: int | None) -> Outcome:
        import duckdb

        named = {n: t for n, t in self.tables.items() if re.search(rf"\b{n}\b", query, re.IGNORECASE)}
        workdir = Path(tempfile.mkdtemp(prefix="athena-duckdb-"))
        try:
            con = duckdb.connect(":memory:")
            scanned = 0
            for name, table in named.items():
                files = []
                for i, (_key, body) in enumerate(self._objects(table.location)):
                    path = workdir / f"{name}-{i}.json.gz"
                    path.write_bytes(body)
                    files.append(str(path))
                    scanned += len(body)
                if bytes_limit is not None and scanned > bytes_limit:
                    raise BytesLimitExceeded(scanned, bytes_limit)
                columns = "{'" + table.column + "': '" + table.duck_type + "'}"
                source = (
                    f"read_json({files!r}, format='newline_delimited', compression='gzip', columns={columns})"
                    if files
                    else f"(SELECT CAST(NULL AS {table.duck_type}) AS {table.column} WHERE false)"
                )
                con.execute(f"CREATE VIEW {name} AS SELECT * FROM {source}")
            cursor = con.execute(query)
            description = cursor.description or []
            names = [(d[0], str(d[1]).lower()) for d in description]
            rows = [[_text(v) for v in row] for row in cursor.fetchall()]
            con.close()
            return Outcome(names, rows, scanned)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


class BytesLimitExceeded(Exception):
    def __init__(self, scanned: int, limit: int) -> None:
        super().__init__(f"Bytes scanned limit was exceeded: {scanned} > {limit}")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _csv(outcome: Outcome) -> bytes:
    def cell(v: str | None) -> str:
        return "" if v is None else '"' + v.replace('"', '""') + '"'

    lines = [",".join(cell(name) for name, _ in outcome.columns)] if outcome.columns else []
    lines += [",".join(cell(v) for v in row) for row in outcome.rows]
    return ("\n".join(lines) + ("\n" if lines else "")).encode("utf-8")


def _result_rows(outcome: Outcome) -> list[dict[str, Any]]:
    header = [{"Data": [{"VarCharValue": name} for name, _ in outcome.columns]}] if outcome.columns else []
    body = [{"Data": [{} if v is None else {"VarCharValue": v} for v in row]} for row in outcome.rows]
    return header + body


def install(account_id: str, partition: str = "aws") -> Undo:
    from moto.athena import models, responses
    from moto.s3.models import s3_backends

    engine = Engine(lambda: s3_backends[account_id][partition])
    backend_cls = models.AthenaBackend
    originals: dict[str, Any] = {
        "start": backend_cls.start_query_execution,
        "execution": responses.AthenaResponse.get_query_execution,
        "results": responses.AthenaResponse.get_query_results,
    }

    def start_query_execution(self: Any, *args: Any, **kwargs: Any) -> str:
        exec_id = originals["start"](self, *args, **kwargs)
        execution = self.executions[exec_id]
        _execute(engine, self, execution)
        return exec_id

    def get_query_execution(self: Any) -> str:
        body = json.loads(originals["execution"](self))
        execution = self.athena_backend.executions[self._get_param("QueryExecutionId")]
        _add_statistics(body["QueryExecution"], execution)
        return json.dumps(body)

    def batch_get_query_execution(self: Any) -> str:
        """Not in moto 5.2: each id described as GetQueryExecution does; unknown ids listed as unprocessed."""
        found, missing = [], []
        for exec_id in self._get_param("QueryExecutionIds") or []:
            execution = self.athena_backend.executions.get(exec_id)
            if execution is None:
                missing.append({"QueryExecutionId": exec_id, "ErrorCode": "INVALID_INPUT"})
                continue
            found.append(_describe(exec_id, execution))
        return json.dumps({"QueryExecutions": found, "UnprocessedQueryExecutionIds": missing})

    def get_query_results(self: Any) -> str:
        exec_id = self._get_param("QueryExecutionId")
        execution = self.athena_backend.executions.get(exec_id)
        if execution is None or getattr(execution, "rows", None) is None:
            return originals["results"](self)
        size = min(int(self._get_param("MaxResults") or PAGE), PAGE)
        start = int(self._get_param("NextToken") or 0)
        rows, meta = execution.rows, execution.column_info
        body: dict[str, Any] = {
            "ResultSet": {"Rows": rows[start : start + size], "ResultSetMetadata": {"ColumnInfo": meta}},
            "UpdateCount": 0,
        }
        if start + size < len(rows):
            body["NextToken"] = str(start + size)
        return json.dumps(body)

    setattr(backend_cls, "start_query_execution", start_query_execution)  # noqa: B010 - a patch, by name
    setattr(responses.AthenaResponse, "get_query_execution", get_query_execution)  # noqa: B010 - a patch
    setattr(responses.AthenaResponse, "get_query_results", get_query_results)  # noqa: B010 - a patch
    setattr(responses.AthenaResponse, "batch_get_query_execution", batch_get_query_execution)  # noqa: B010

    def undo() -> None:
        setattr(backend_cls, "start_query_execution", originals["start"])  # noqa: B010 - undoing the patch
        setattr(responses.AthenaResponse, "get_query_execution", originals["execution"])  # noqa: B010
        setattr(responses.AthenaResponse, "get_query_results", originals["results"])  # noqa: B010
        delattr(responses.AthenaResponse, "batch_get_query_execution")

    return undo


def _add_statistics(body: dict[str, Any], execution: Any) -> None:
    stats = body.setdefault("Statistics", {})
    stats["DataScannedInBytes"] = getattr(execution, "scanned", 0)
    stats["EngineExecutionTimeInMillis"] = getattr(execution, "millis", 0)
    stats["TotalExecutionTimeInMillis"] = getattr(execution, "millis", 0)
    if getattr(execution, "reason", None):
        body["Status"]["StateChangeReason"] = execution.reason


def _describe(exec_id: str, execution: Any) -> dict[str, Any]:
    """One QueryExecution as GetQueryExecution answers it."""
    ddl = execution.query.lstrip().upper().startswith(("ALTER", "CREATE", "DESCRIBE", "DROP", "MSCK", "SHOW"))
    body: dict[str, Any] = {
        "QueryExecutionId": exec_id,
        "Query": execution.query,
        "StatementType": "DDL" if ddl else "DML",
        "ResultConfiguration": execution.config,
        "QueryExecutionContext": execution.context,
        "Status": {
            "State": execution.status,
            "SubmissionDateTime": execution.start_time,
            "CompletionDateTime": execution.end_time,
        },
        "WorkGroup": execution.workgroup.name if execution.workgroup else None,
    }
    _add_statistics(body, execution)
    return body


def _bytes_limit(execution: Any) -> int | None:
    workgroup = execution.workgroup
    config = (workgroup.configuration or {}) if workgroup is not None else {}
    limit = config.get("BytesScannedCutoffPerQuery")
    return int(limit) if limit else None


def _execute(engine: Engine, backend: Any, execution: Any) -> None:
    started = time.perf_counter()
    try:
        outcome = engine.run(execution.query, _bytes_limit(execution))
    except Exception as exc:  # noqa: BLE001 - any engine error is the query's failure, reported like Athena's
        execution.status = "FAILED"
        execution.reason = str(exc).splitlines()[0][:500]
        execution.scanned = 0
        execution.millis = int((time.perf_counter() - started) * 1000)
        return
    execution.status = "SUCCEEDED"
    execution.scanned = outcome.scanned
    execution.millis = int((time.perf_counter() - started) * 1000)
    execution.rows = _result_rows(outcome)
    execution.column_info = [
        {"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": n, "Label": n, "Type": t}
        for n, t in outcome.columns
    ]
    output = (execution.config or {}).get("OutputLocation")
    if output and outcome.columns:
        bucket, key = _split_s3(output)
        from moto.s3.models import s3_backends

        s3_backends[backend.account_id][backend.partition].put_object(
            bucket_name=bucket, key_name=key, value=_csv(outcome)
        )
