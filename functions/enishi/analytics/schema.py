"""The export's table for Athena: the ``Item`` struct of a DynamoDB JSON export, only the attributes the queries read.

A DynamoDB export (``ExportTableToPointInTime``, ``DYNAMODB_JSON``) writes gzipped JSON lines
``{"Item": {"pk": {"S": "..."}, "order_count": {"N": "3"}, ...}}`` under ``<prefix>/AWSDynamoDB/<export id>/data/``.
The OpenX JSON SerDe ignores attributes the DDL does not declare, so the table declares just what ``sql/*.sql`` read.
``ddl`` renders the Athena (Hive) ``CREATE EXTERNAL TABLE``; the local stand-in (enishi_local.athena_duckdb) reads the
same statement and maps its types to DuckDB's.
"""

from __future__ import annotations

import re

S = "struct<S:string>"
N = "struct<N:string>"
BOOL = "struct<BOOL:boolean>"
RFM = "struct<M:struct<r:struct<N:string>,f:struct<N:string>,m:struct<N:string>>>"

# attribute → DynamoDB JSON type (one struct per attribute: {"S": ...}, {"N": ...}, {"BOOL": ...}, {"M": ...})
ITEM_ATTRIBUTES: dict[str, str] = {
    "pk": S,
    "sk": S,
    "shop": S,
    "customer_id": S,
    # profile
    "order_count": N,
    "total_spent": N,
    "first_order_at": S,
    "last_order_at": S,
    "stage": S,
    "merged_into": S,
    "redacted": BOOL,
    "rfm": RFM,
    "segment": S,
    # order
    "order_id": S,
    "status": S,
    "placed_at": S,
    "total": N,
    # message record
    "sequence": S,
    "step": S,
    "variant": S,  # the A/B variant (only on records of a step with variants)
    "channel": S,
    "trigger_id": S,
    "marketing": BOOL,
    "reason": S,
    "created_at": S,
    "delivered_at": S,
    "opened_at": S,
    "clicked_at": S,
    "bounced_at": S,
    "complained_at": S,
    "converted_at": S,
    "revenue": N,
}

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,127}$")


def item_type() -> str:
    return "struct<" + ",".join(f"{name}:{kind}" for name, kind in ITEM_ATTRIBUTES.items()) + ">"


def table_name(export_id: str) -> str:
    """The Athena table of one export (``export_<id>``): queries of a run read only their own export."""
    name = "export_" + re.sub(r"[^a-z0-9]", "", export_id.lower())
    if not _NAME.match(name):
        raise ValueError("not a usable export id")
    return name


def ddl(table: str, location: str) -> str:
    """``CREATE EXTERNAL TABLE`` over an export's data folder (``s3://bucket/.../AWSDynamoDB/<id>/data/``)."""
    if not _NAME.match(table) or not location.startswith("s3://") or "'" in location:
        raise ValueError("bad table name or location")
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS {table} (Item {item_type()}) "
        "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' "
        f"LOCATION '{location}'"
    )


def drop(table: str) -> str:
    if not _NAME.match(table):
        raise ValueError("bad table name")
    return f"DROP TABLE IF EXISTS {table}"
