"""The Analytics machine end to end on the local stack: the demo's shop runs (signed webhooks, sequences, SES
events), then the deployed ``Analytics`` state machine exports the table (moto, AWS's layout), DuckDB answers the
Athena API, the job λ writes result.json — whose numbers must agree with a direct computation from the table."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest

pytest.importorskip("duckdb")
pytest.importorskip("enishi_local.stack")

from enishi import keys
from enishi.analytics.result import AnalyticsResult
from enishi.profiles.model import StageThresholds
from enishi.shop_config import load_shop_config
from tests import analytics_oracle as oracle

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run():
    from enishi_local.demo import parse_args, quiet_handlers, sim_config
    from enishi_local.demo.driver import HttpTransport, Progress, Secrets, drive, set_shop_domain
    from enishi_local.demo.shop_sim import ShopSimulation
    from enishi_local.demo.stack_world import StackWorld
    from enishi_local.stack import LocalStack

    quiet_handlers()
    args = parse_args(["--small", "--no-progress"])
    cfg = sim_config(args)
    shop = load_shop_config()
    set_shop_domain(shop.shop_id)
    sim = ShopSimulation(
        cfg,
        [p.model_dump() for p in shop.catalog],
        shop.shop_id,
        free_shipping_threshold=int(shop.shipping.free_shipping_threshold or 5000),
        shipping_fee=int(shop.shipping.shipping_fee or 550),
    )
    with LocalStack(port=0, time_scale=None, start=cfg.start) as stack:
        world = StackWorld(stack, shop.shop_id)
        transport = HttpTransport()
        drive(
            sim,
            world,
            transport,
            Secrets(shopify=stack.secrets.shopify, line_channel=stack.secrets.line_channel_secret),
            resolution=timedelta(minutes=10),
            wake_resolution=None,
            sampler=world.sampler(sim, StageThresholds(**shop.stages.model_dump())),
            progress=Progress(cfg.days, enabled=False),
        )
        transport.close()
        stack.settle()
        before = list(stack.direct_table().scan())
        exported_at = stack.clock.now()
        first = stack.run_analytics()
        after_first = list(stack.direct_table().scan())
        second = stack.run_analytics()  # nothing changed since: nothing to write back
        segments = _segment_rows(stack, first)
        yield {
            "shop": shop,
            "items": before,
            "first": first,
            "after_first": after_first,
            "second": second,
            "segments": segments,
            "exported_at": exported_at,
        }


def _segment_rows(stack, first):
    import boto3

    as_of = first["result"]["as_of"]
    from enishi.analytics.build import parse_time

    key = keys.analytics_segments_key(parse_time(as_of), "customers.jsonl")
    s3 = boto3.session.Session(region_name=stack.region).client("s3")
    body = s3.get_object(Bucket=stack.analytics_bucket_name, Key=key)["Body"].read().decode()
    return [json.loads(line) for line in body.splitlines() if line]


def test_the_machine_succeeds_and_writes_a_valid_result(run):
    assert run["first"]["status"] == "SUCCEEDED", run["first"].get("error")
    result = AnalyticsResult.model_validate(run["first"]["result"])
    assert result.source == "dynamodb-export+duckdb"
    assert result.run["bytes_scanned"] > 0 and result.run["export_items"] == len(run["items"])


def test_the_export_is_of_the_stacks_own_time(run):
    """The export's point in time is the local stack's virtual clock, as it is AWS's clock on AWS: with real time
    every buyer of a simulated half-year was 'dormant' by the day the demo ran."""
    from enishi.analytics.build import parse_time

    as_of = parse_time(run["first"]["result"]["as_of"])
    assert abs((as_of - run["exported_at"]).total_seconds()) < 3600
    stages = run["first"]["result"]["stages"]
    assert stages.get("first_time", 0) + stages.get("repeat", 0) + stages.get("loyal", 0) > 0


def test_totals_agree_with_the_table(run):
    result = AnalyticsResult.model_validate(run["first"]["result"])
    shop = run["shop"].shop_id
    profiles = oracle._live_profiles(run["items"], shop)
    assert result.totals.customers == len(profiles) > 0
    buyers = [p for p in profiles if int(p.get("order_count") or 0) > 0]
    assert result.totals.buyers == len(buyers)
    assert result.totals.orders == sum(int(p["order_count"]) for p in buyers)
    assert Decimal(str(result.totals.revenue_jpy)) == sum(
        (Decimal(str(p.get("total_spent") or 0)) for p in profiles), Decimal(0)
    )
    assert sum(result.stages.values()) == len(profiles)
    assert sum(result.fn_distribution.values()) == len(buyers)
    assert sum(s.customers for s in result.segments) == len(profiles)


def test_f2_and_cohorts_agree_with_the_order_items(run):
    result = AnalyticsResult.model_validate(run["first"]["result"])
    expected = oracle.cohorts(run["items"], run["shop"].shop_id)
    assert {c.month for c in result.cohorts} == set(expected)
    for c in result.cohorts:
        e = expected[c.month]
        assert c.customers == e["customers"]
        assert [w.converted for w in c.f2] == [e["f2_30"], e["f2_60"], e["f2_90"]]
        assert [Decimal(str(w.revenue_jpy)) for w in c.ltv] == [
            e["revenue_90"],
            e["revenue_180"],
            e["revenue_365"],
        ]
    assert sum(c.customers for c in result.cohorts) > 0


def test_sequences_agree_with_the_message_records(run):
    result = AnalyticsResult.model_validate(run["first"]["result"])
    shop = run["shop"].shop_id
    sent = [
        m
        for m in run["items"]
        if str(m.get("sk", "")).startswith("MSG#") and m.get("shop") == shop and m.get("status") == "sent"
    ]
    totals = {s.sequence: s for s in result.sequences if s.step is None}
    by_seq = Counter(m["sequence"] for m in sent)
    assert {k: v.sent for k, v in totals.items() if v.sent} == dict(by_seq)
    for seq, row in totals.items():
        own = [m for m in sent if m["sequence"] == seq]
        assert row.converted == sum(1 for m in own if m.get("converted_at"))
        assert Decimal(str(row.revenue_jpy)) == sum(
            (Decimal(str(m.get("revenue") or 0)) for m in own), Decimal(0)
        )
        assert row.cost_usd > 0
    assert result.totals.messages == len(sent) > 0


def test_profiles_carry_their_segment_and_only_changes_are_written_back(run):
    shop = run["shop"].shop_id
    rows = {r["customer_id"]: r for r in run["segments"]}
    profiles = {p["customer_id"]: p for p in oracle._live_profiles(run["after_first"], shop)}
    assert set(rows) == set(profiles)
    for cid, row in rows.items():
        p = profiles[cid]
        assert p["segment"] == row["segment"]
        if row["r"] is not None:
            assert {k: int(v) for k, v in p["rfm"].items()} == {"r": row["r"], "f": row["f"], "m": row["m"]}
    assert run["first"]["output"]["result"]["changed"] == len(rows)
    assert run["first"]["output"]["result"]["written"] == len(rows)
    assert run["second"]["status"] == "SUCCEEDED"
    assert run["second"]["output"]["result"]["changed"] == 0
    assert run["second"]["result"]["totals"] == run["first"]["result"]["totals"]
