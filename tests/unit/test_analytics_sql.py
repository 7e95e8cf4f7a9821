"""The analytics SQL (functions/enishi/analytics/sql) against a pure-Python oracle (tests/analytics_oracle.py), on
generated table items written as a DynamoDB JSON export and read by the local Athena stand-in (DuckDB)."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("duckdb")

from boto3.dynamodb.types import TypeSerializer

from enishi.analytics import build, queries, schema
from enishi_local.athena_duckdb import Engine, hive_to_duckdb
from tests import analytics_oracle as oracle

SHOP = "shop-a.myshopify.com"
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


class FakeS3:
    """Just what Engine reads: get_bucket(name).keys → {key: object with .value}."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}

    def get_bucket(self, _name: str) -> Any:
        return SimpleNamespace(keys=self.keys)


def export(items: list[dict[str, Any]], files: int = 2) -> FakeS3:
    s3 = FakeS3()
    ser = TypeSerializer()
    for n in range(files):
        part = items[n::files]
        lines = "".join(
            json.dumps({"Item": {k: ser.serialize(v) for k, v in i.items()}}) + "\n" for i in part
        )
        s3.keys[f"exports/AWSDynamoDB/0001-abc/data/{n}.json.gz"] = SimpleNamespace(
            value=gzip.compress(lines.encode())
        )
    s3.keys["exports/AWSDynamoDB/0001-abc/manifest-summary.json"] = SimpleNamespace(value=b"{}")
    return s3


def run(s3: FakeS3, name: str) -> list[dict[str, str | None]]:
    engine = Engine(lambda: s3)
    table = schema.table_name("0001-abc")
    engine.run(schema.ddl(table, "s3://b/exports/AWSDynamoDB/0001-abc/data/"), None)
    outcome = engine.run(queries.render(name, table=table, shop=SHOP), None)
    names = [c for c, _ in outcome.columns]
    return [dict(zip(names, row, strict=True)) for row in outcome.rows]


times = st.integers(min_value=0, max_value=500 * 86400).map(lambda s: T0 + timedelta(seconds=s))
money = st.integers(min_value=0, max_value=5_000_000).map(lambda c: Decimal(c) / 100)


@st.composite
def table_items(draw: st.DrawFn) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    n_customers = draw(st.integers(min_value=0, max_value=14))
    for i in range(n_customers):
        cid = f"c{i:03d}"
        shop = SHOP if draw(st.integers(0, 9)) else "other-shop"
        orders = draw(st.lists(st.tuples(times, money, st.booleans()), max_size=5))
        placed = sorted((t, m) for t, m, cancelled in orders if not cancelled)
        profile: dict[str, Any] = {
            "pk": f"SHOP#{shop}#CUST#{cid}",
            "sk": "PROFILE",
            "shop": shop,
            "customer_id": cid,
            "order_count": len(placed) + draw(st.integers(0, 1)),  # an imported floor beyond the order items
            "total_spent": sum((m for _, m in placed), Decimal(0)),
            "stage": draw(st.sampled_from(["lead", "first_time", "repeat", "loyal"])),
        }
        if placed:
            profile["first_order_at"] = iso(placed[0][0])
            profile["last_order_at"] = iso(placed[-1][0])
        if draw(st.integers(0, 9)) == 0:
            profile["merged_into"] = "c999"
        if draw(st.integers(0, 9)) == 0:
            profile["redacted"] = True
        if draw(st.booleans()):
            profile["rfm"] = {"r": 1, "f": 2, "m": 3}
            profile["segment"] = "new"
        items.append(profile)
        for j, (t, m, cancelled) in enumerate(orders):
            items.append(
                {
                    "pk": f"SHOP#{shop}#ORDER#{cid}-{j}",
                    "sk": "ORDER",
                    "shop": shop,
                    "customer_id": cid,
                    "order_id": f"{cid}-{j}",
                    "status": "cancelled" if cancelled else "placed",
                    "placed_at": iso(t),
                    "total": m,
                }
            )
        for k in range(draw(st.integers(0, 3))):
            message: dict[str, Any] = {
                "pk": f"SHOP#{shop}#CUST#{cid}",
                "sk": f"MSG#{k}",
                "shop": shop,
                "customer_id": cid,
                "sequence": draw(st.sampled_from(["welcome", "winback"])),
                "step": draw(st.sampled_from(["first", "second"])),
                "status": draw(st.sampled_from(["sent", "sent", "skipped"])),
                "trigger_id": f"t{k}",
            }
            if message["status"] == "sent":
                message["channel"] = draw(st.sampled_from(["email", "line"]))
                for attr in oracle.COUNTED:
                    if draw(st.booleans()):
                        message[attr] = iso(draw(times))
                if "converted_at" in message:
                    message["revenue"] = draw(money)
            items.append(message)
    return items


FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(table_items())
def test_customers_query_matches_the_oracle(items):
    rows = run(export(items), "customers")
    expected = oracle.customers(items, SHOP)
    assert sorted(r["customer_id"] for r in rows) == sorted(expected)
    for r in rows:
        e = expected[r["customer_id"]]
        assert int(r["orders"]) == e["orders"]
        assert Decimal(r["monetary"]) == e["monetary"]
        assert [None if r[k] is None else int(r[k]) for k in "rfm"] == [e["r"], e["f"], e["m"]]


@FAST
@given(table_items())
def test_cohorts_query_matches_the_oracle(items):
    rows = {r["month"]: r for r in run(export(items), "cohorts")}
    expected = oracle.cohorts(items, SHOP)
    assert set(rows) == set(expected)
    for month, e in expected.items():
        r = rows[month]
        assert int(r["customers"]) == e["customers"]
        assert int(r["repeaters"]) == e["repeaters"]
        for d in (90, 180, 365):
            assert Decimal(r[f"revenue_{d}"]) == e[f"revenue_{d}"]
        for d in (30, 60, 90):
            assert int(r[f"f2_{d}"]) == e[f"f2_{d}"]
        assert build.parse_time(r["last_first_order_at"]) == e["last_first"]


@FAST
@given(table_items())
def test_sequences_query_matches_the_oracle(items):
    rows = run(export(items), "sequences")
    got = {(r["sequence"], r["step"], r["channel"]): r for r in rows}
    expected = oracle.sequences(items, SHOP)
    assert set(got) == set(expected)
    for key, e in expected.items():
        r = got[key]
        for name in (
            "records",
            "sent",
            "delivered",
            "opened",
            "clicked",
            "bounced",
            "complained",
            "converted",
        ):
            assert int(r[name]) == e[name], name
        assert Decimal(r["revenue"]) == e["revenue"]


def test_an_empty_export_answers_empty_results():
    assert run(export([], files=1), "customers") == []
    assert run(export([], files=1), "sequences") == []


def test_hive_types_map_to_duckdb():
    assert hive_to_duckdb("struct<a:string,b:struct<N:string>,c:boolean>") == (
        'STRUCT("a" VARCHAR, "b" STRUCT("N" VARCHAR), "c" BOOLEAN)'
    )


def test_a_query_over_the_byte_limit_fails_like_athena():
    s3 = export([{"pk": "x", "sk": "PROFILE", "shop": SHOP, "customer_id": "c1"}], files=1)
    engine = Engine(lambda: s3)
    engine.run(schema.ddl("export_t", "s3://b/exports/AWSDynamoDB/0001-abc/data/"), None)
    with pytest.raises(Exception, match="Bytes scanned limit"):
        engine.run(queries.render("customers", table="export_t", shop=SHOP), 10)


def test_values_a_query_cannot_carry_are_refused():
    with pytest.raises(ValueError):
        queries.render("customers", table="export_t", shop="x' OR '1'='1")
    assert schema.table_name("'; DROP") == "export_drop"
    with pytest.raises(ValueError):
        schema.ddl("export_t", "s3://b/x' OR '1")


# ---- holdouts.sql (issue 12): treated vs. control per sequence and campaign
@st.composite
def holdout_items(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Customers with orders (some cancelled, some another shop's) and marketing/transactional message records:
    sent, held out, skipped for other reasons — several per (sequence, trigger), in any order."""
    items: list[dict[str, Any]] = []
    for i in range(draw(st.integers(min_value=0, max_value=10))):
        cid = f"c{i:03d}"
        for j, (t, m, cancelled, mine) in enumerate(
            draw(st.lists(st.tuples(times, money, st.booleans(), st.integers(0, 5)), max_size=4))
        ):
            shop = SHOP if mine else "other-shop"
            items.append(
                {
                    "pk": f"SHOP#{shop}#ORDER#{cid}-{j}",
                    "sk": "ORDER",
                    "shop": shop,
                    "customer_id": cid,
                    "order_id": f"{cid}-{j}",
                    "status": "cancelled" if cancelled else "placed",
                    "placed_at": iso(t),
                    "total": m,
                }
            )
        for k in range(draw(st.integers(0, 4))):
            status, reason = draw(
                st.sampled_from(
                    [
                        ("sent", None),
                        ("skipped", "holdout"),
                        ("skipped", "no_consent"),
                        ("failed", "email_rejected"),
                        ("sending", None),
                        ("other", None),
                    ]
                )
            )
            record: dict[str, Any] = {
                "pk": f"SHOP#{SHOP}#CUST#{cid}",
                "sk": f"MSG#{k}",
                "shop": SHOP,
                "customer_id": cid,
                "sequence": draw(st.sampled_from(["welcome", "cart_recovery", "campaign-new-season"])),
                "step": "s",
                "trigger_id": draw(
                    st.sampled_from(["t1", "t2", f"{cid}-0"])
                ),  # an order id: the trigger order
                "status": status,
                "marketing": draw(st.sampled_from([True, True, False])),
                "created_at": iso(draw(times)),
            }
            if reason:
                record["reason"] = reason
            items.append(record)
    return items


@FAST
@given(holdout_items(), st.sampled_from([1, 14, 30]))
def test_holdouts_query_matches_the_oracle(items, window_days):
    s3 = export(items)
    engine = Engine(lambda: s3)
    table = schema.table_name("0001-abc")
    engine.run(schema.ddl(table, "s3://b/exports/AWSDynamoDB/0001-abc/data/"), None)
    outcome = engine.run(queries.render("holdouts", table=table, shop=SHOP, window_days=window_days), None)
    names = [c for c, _ in outcome.columns]
    rows = [dict(zip(names, row, strict=True)) for row in outcome.rows]
    got = {(r["sequence"], r["grp"]): r for r in rows}
    expected = oracle.holdouts(items, SHOP, window_days)
    assert set(got) == set(expected)
    for key, e in expected.items():
        r = got[key]
        assert (int(r["n"]), int(r["converted"])) == (e["n"], e["converted"]), key
        assert float(r["revenue"]) == pytest.approx(e["revenue"])
        assert float(r["revenue_sq"]) == pytest.approx(e["revenue_sq"])
        assert build.parse_time(r["last_at"]) == e["last_at"]


def test_a_conversion_window_a_query_cannot_carry_is_refused():
    for bad in (0, 366, "30' DAY OR 1=1 --", 1.5):
        with pytest.raises(ValueError):
            queries.render("holdouts", table="export_t", shop=SHOP, window_days=bad)


def test_a_campaigns_groups_window_and_cancelled_orders():
    """Moved from test_campaigns_results.py (campaigns/results.py is replaced by holdouts.sql): the same records,
    orders and assertions, through the analytics query and result."""
    start = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)

    def rec(cid: str, status: str, reason: str | None = None, seq: str = "campaign-w") -> dict[str, Any]:
        r = {"pk": f"SHOP#{SHOP}#CUST#{cid}", "sk": f"MSG#{seq}", "shop": SHOP, "customer_id": cid}
        r.update({"sequence": seq, "step": "send", "trigger_id": "w", "status": status, "marketing": True})
        r["created_at"] = iso(start)
        return r | ({"reason": reason} if reason else {})

    def order(cid: str, n: int, at: datetime, total: int, status: str = "placed") -> dict[str, Any]:
        return {
            "pk": f"SHOP#{SHOP}#ORDER#{cid}-{n}",
            "sk": "ORDER",
            "shop": SHOP,
            "customer_id": cid,
            "order_id": f"{cid}-{n}",
            "status": status,
            "placed_at": iso(at),
            "total": Decimal(total),
        }

    items = [
        rec("t1", "sent"),
        rec("t2", "sent"),
        rec("h1", "skipped", "holdout"),
        rec("h2", "skipped", "holdout"),
        rec("n1", "skipped", "no_consent"),  # in neither group
        rec("t3", "sent", seq="welcome"),  # another sequence
        order("t1", 1, start + timedelta(days=2), 3000),
        order("t2", 1, start + timedelta(days=20), 9000),  # after the window
        order("h1", 1, start + timedelta(days=1), 1000, "cancelled"),
        order("n1", 1, start + timedelta(days=1), 5000),
        order("t1", 0, start - timedelta(days=1), 7000),  # before the start
    ]
    s3 = export(items)
    engine = Engine(lambda: s3)
    table = schema.table_name("0001-abc")
    engine.run(schema.ddl(table, "s3://b/exports/AWSDynamoDB/0001-abc/data/"), None)
    outcome = engine.run(queries.render("holdouts", table=table, shop=SHOP, window_days=14), None)
    names = [c for c, _ in outcome.columns]
    rows = [dict(zip(names, row, strict=True)) for row in outcome.rows]
    settings_ = build.Settings(shop=SHOP, as_of=start + timedelta(days=30), holdout_window_days=14)
    result = build.result(
        build.summarize([]), [], [], settings_, generated_at=start, source="t", holdout_rows=rows
    )
    out = next(h for h in result.experiments if h.kind == "campaign")
    assert out.name == "w" and out.window_days == 14
    assert (out.treated.customers, out.control.customers) == (2, 2)
    assert (out.treated.converted, out.control.converted) == (1, 0)
    assert (out.treated.revenue_jpy, out.control.revenue_jpy) == (3000, 0)
    assert out.incremental_conversion.estimate == 0.5
    assert out.verdict == "too_small"
