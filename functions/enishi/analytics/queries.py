"""The analytics queries: ``sql/<name>.sql`` rendered for one export table and one shop.

The SQL is in the common subset of Athena (Trino) and DuckDB: struct field access on the export's ``Item``, CAST,
COALESCE, CASE, NTILE / ROW_NUMBER windows, ``timestamp + INTERVAL 'n' DAY``, substr/replace. Values are
substituted (``string.Template``) only after validation: a table name from ``schema.table_name`` and a shop id of
safe characters, so no value can change a query's meaning.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from string import Template

SQL_DIR = Path(__file__).resolve().parent / "sql"
QUERIES = ("customers", "cohorts", "sequences", "holdouts")
FRAGMENT = "placed_orders"  # sql/placed_orders.sql: the orders cohorts.sql and holdouts.sql both read
WINDOW_DAYS = 30  # holdouts.sql: conversion window after a decision (shop.yaml analytics.holdout_window_days)
_SAFE = re.compile(r"^[A-Za-z0-9._:-]{1,200}$")


@cache
def _template(name: str) -> Template:
    return Template((SQL_DIR / f"{name}.sql").read_text(encoding="utf-8"))


def render(name: str, *, table: str, shop: str, window_days: int = WINDOW_DAYS) -> str:
    if name not in QUERIES:
        raise ValueError(f"unknown query {name!r}")
    if not _SAFE.match(table) or not _SAFE.match(shop):
        raise ValueError("table or shop id with characters a query cannot carry")
    if type(window_days) is not int or not 1 <= window_days <= 365:
        raise ValueError("a conversion window is 1 to 365 days")
    # the shared fragment first (rendered with the same validated values), then the query around it
    fragment = _template(FRAGMENT).substitute(table=table, shop=shop).splitlines(keepends=True)
    orders = "".join(line for line in fragment if not line.startswith("--"))  # its header comment stays out
    return _template(name).substitute(table=table, shop=shop, window_days=window_days, placed_orders=orders)


def rendered(*, table: str, shop: str, window_days: int = WINDOW_DAYS) -> dict[str, str]:
    return {name: render(name, table=table, shop=shop, window_days=window_days) for name in QUERIES}
