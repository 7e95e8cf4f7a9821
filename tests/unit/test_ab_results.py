"""A/B results: the analytics SQL groups by variant, the result's ``ab_tests`` add the variants up per step, the
winner test names a variant only when significant, and the report shows the table."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enishi import stats
from enishi.analytics import abtests, build
from enishi.analytics.result import AnalyticsResult

AS_OF = datetime(2025, 6, 1, tzinfo=UTC)


def row(
    step: str, channel: str, variant: str | None, sent: int, clicked: int, converted: int, revenue: str
) -> dict:
    return {
        "sequence": "welcome",
        "step": step,
        "channel": channel,
        "variant": variant,
        "records": str(sent),
        "sent": str(sent),
        "clicked": str(clicked),
        "converted": str(converted),
        "revenue": revenue,
        # as if each conversion earned the same: Σ revenue² = revenue² / converted
        "revenue_sq": str(Decimal(revenue) ** 2 / converted) if converted else "0",
    }


# ---------------------------------------------------------------- the winner test


def test_no_winner_below_significance_and_too_small_said_plainly():
    small = abtests.metric({"a": (3, 20), "b": (9, 20)})
    assert (small.winner, small.verdict) == (None, "too_small")
    few_events = abtests.metric({"a": (2, 500), "b": (5, 500)})
    assert few_events.verdict == "too_small"  # 7 conversions in all: too soon to tell
    close = abtests.metric({"a": (50, 1000), "b": (55, 1000)})
    assert (close.winner, close.verdict) == (None, "no_winner") and close.p_value and close.p_value > 0.05
    clear = abtests.metric({"a": (50, 1000), "b": (120, 1000)})
    assert (
        (clear.winner, clear.verdict) == ("b", "winner")
        and clear.p_value is not None
        and clear.p_value < 0.001
    )


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["a", "b", "c"]),
        st.integers(0, 3000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
        min_size=2,
    )
)
def test_a_winner_is_only_ever_named_when_it_beats_every_other_variant_significantly(events):
    m = abtests.metric(events)
    assert (m.winner is not None) == (m.verdict == "winner")
    if m.winner is None:
        return
    xb, nb = events[m.winner]
    for name, (x, n) in events.items():
        if name != m.winner:
            assert min(nb, n) >= stats.MIN_GROUP and xb / nb > x / n
            assert stats.two_proportion_p_value(xb, nb, x, n) * (len(events) - 1) < 0.05


def _arm(variant: str, sent: int, converted: int, each: float) -> abtests.VariantRow:
    """``sent`` messages of which ``converted`` earned ``each`` yen apiece (the rest earned nothing)."""
    return abtests.VariantRow(
        "welcome", "f2_nudge", variant, sent, 0, converted, converted * each, converted * each**2
    )


def test_revenue_per_sent_names_a_winner_only_when_significant_and_says_too_small_plainly():
    clear = abtests.revenue_metric([_arm("a", 500, 20, 3000.0), _arm("b", 500, 45, 5000.0)])
    assert (
        (clear.winner, clear.verdict) == ("b", "winner")
        and clear.p_value is not None
        and clear.p_value < 0.001
    )
    same = abtests.revenue_metric([_arm("a", 500, 30, 4000.0), _arm("b", 500, 31, 4000.0)])
    assert (same.winner, same.verdict) == (None, "no_winner") and same.p_value and same.p_value > 0.05
    few = abtests.revenue_metric([_arm("a", 500, 2, 3000.0), _arm("b", 500, 6, 90000.0)])
    assert (few.winner, few.verdict) == (None, "too_small")  # 8 conversions: a few big orders prove nothing
    small = abtests.revenue_metric([_arm("a", 20, 5, 3000.0), _arm("b", 500, 60, 5000.0)])
    assert small.verdict == "too_small"


_MOMENTS = st.integers(0, 600).flatmap(
    lambda n: st.tuples(st.just(n), st.integers(0, n), st.floats(100, 50_000, allow_nan=False))
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(["a", "b", "c"]), _MOMENTS, min_size=2))
def test_a_revenue_winner_beats_every_other_variant_significantly(arms):
    m = abtests.revenue_metric([_arm(k, n, x, each) for k, (n, x, each) in arms.items()])
    assert (m.winner is not None) == (m.verdict == "winner")
    if m.winner is None:
        return
    moments = {k: stats.Moments(n, x * each, x * each**2) for k, (n, x, each) in arms.items()}
    best = moments[m.winner]
    for name, other in moments.items():
        if name != m.winner:
            assert min(best.n, other.n) >= stats.MIN_GROUP and best.mean > other.mean
            assert stats.mean_p_value(best, other) * (len(arms) - 1) < 0.05


@settings(max_examples=200, deadline=None)
@given(_MOMENTS, _MOMENTS)
def test_the_revenue_p_value_agrees_with_the_interval_the_holdouts_use(t, c):
    mt = stats.Moments(t[0], t[1] * t[2], t[1] * t[2] ** 2)
    mc = stats.Moments(c[0], c[1] * c[2], c[1] * c[2] ** 2)
    if mt.n < 2 or mc.n < 2:
        return
    interval, p = stats.mean_difference(mt, mc), stats.mean_p_value(mt, mc)
    if abs(p - 0.05) < 1e-6:
        return  # on the boundary either answer is rounding
    assert (p < 0.05) == (interval.low > 0 or interval.high < 0)


# ---------------------------------------------------------------- the job's result


def test_the_result_has_a_row_per_variant_added_up_over_channels_and_the_step_rows_are_unchanged():
    rows = [
        row("f2_nudge", "email", "a", 300, 30, 12, "36000"),
        row("f2_nudge", "line", "a", 200, 40, 10, "30000"),
        row("f2_nudge", "email", "b", 310, 31, 20, "61000.50"),
        row("f2_nudge", "line", "b", 190, 38, 14, "40000"),
        row("thanks", "email", None, 900, 90, 5, "15000"),
    ]
    settings_ = build.Settings(shop="s", as_of=AS_OF)
    result = build.result(build.CustomerSummary(), [], rows, settings_, generated_at=AS_OF, source="test")
    (test,) = result.ab_tests
    assert (test.sequence, test.step) == ("welcome", "f2_nudge")
    a, b = test.variants
    assert (a.variant, a.sent, a.clicked, a.converted, a.revenue_jpy) == ("a", 500, 70, 22, 66000.0)
    assert (b.variant, b.sent, b.clicked, b.converted, b.revenue_jpy) == ("b", 500, 69, 34, 101000.5)
    assert a.conversion_rate == pytest.approx(0.044) and b.revenue_per_sent_jpy == pytest.approx(202.0)
    assert test.conversion.verdict == "no_winner" and test.click.verdict == "no_winner"
    # the per-step rows add the variants up exactly as the rows without a variant column did
    without = build.sequence_stats(_merge(rows), settings_)
    assert [s.model_dump() for s in result.sequences] == [s.model_dump() for s in without]
    # the document round-trips, and an older document without the list still reads
    assert AnalyticsResult.model_validate(result.model_dump(mode="json")) == result
    old = result.model_dump(mode="json")
    del old["ab_tests"]
    assert AnalyticsResult.model_validate(old).ab_tests == []
    before_revenue = result.model_dump(mode="json")  # written before the revenue test existed
    del before_revenue["ab_tests"][0]["revenue"]
    assert AnalyticsResult.model_validate(before_revenue).ab_tests[0].revenue is None
    assert test.revenue is not None and test.revenue.verdict == "no_winner"  # ¥132 vs ¥202 per sent: p ≈ 0.12
    assert test.revenue.p_value == pytest.approx(0.1232, abs=0.0005)
    unknown = [{k: v for k, v in r.items() if k != "revenue_sq"} for r in rows]  # rows of an older query
    (old_test,) = build.result(
        build.CustomerSummary(), [], unknown, settings_, generated_at=AS_OF, source="t"
    ).ab_tests
    assert old_test.revenue is None  # no sum of squares: no revenue verdict, rather than a false certainty


def _merge(rows: list[dict]) -> list[dict]:
    """The rows as a query without the variant column returns them: one per (sequence, step, channel)."""
    cells: dict[tuple, dict[str, Any]] = {}
    for r in rows:
        key = (r["sequence"], r["step"], r["channel"])
        cell = cells.setdefault(
            key, {**{k: r[k] for k in ("sequence", "step", "channel")}, "num": defaultdict(Decimal)}
        )
        for k in ("records", "sent", "clicked", "converted", "revenue"):
            cell["num"][k] += Decimal(r[k])
    return [
        {**{k: v for k, v in c.items() if k != "num"}, **{k: str(v) for k, v in c["num"].items()}}
        for c in cells.values()
    ]


# ---------------------------------------------------------------- the SQL on an export (DuckDB stand-in)


def query(items: list[dict[str, Any]]) -> list[dict[str, str | None]]:
    """``sequences.sql`` over ``items`` written as a DynamoDB JSON export, run by the local Athena stand-in."""
    import gzip
    import json
    from types import SimpleNamespace

    from boto3.dynamodb.types import TypeSerializer

    from enishi.analytics import queries, schema
    from enishi_local.athena_duckdb import Engine

    ser = TypeSerializer()
    lines = "".join(json.dumps({"Item": {k: ser.serialize(v) for k, v in i.items()}}) + "\n" for i in items)
    keys = {"x/AWSDynamoDB/1/data/0.json.gz": SimpleNamespace(value=gzip.compress(lines.encode()))}
    engine = Engine(lambda: SimpleNamespace(get_bucket=lambda _name: SimpleNamespace(keys=keys)))
    table = schema.table_name("1")
    engine.run(schema.ddl(table, "s3://b/x/AWSDynamoDB/1/data/"), None)
    outcome = engine.run(queries.render("sequences", table=table, shop="shop-a.myshopify.com"), None)
    names = [c for c, _ in outcome.columns]
    return [dict(zip(names, r, strict=True)) for r in outcome.rows]


@st.composite
def messages(draw: st.DrawFn) -> list[dict[str, Any]]:
    items = []
    for i in range(draw(st.integers(0, 40))):
        status = draw(st.sampled_from(["sent", "sent", "skipped"]))
        item: dict[str, Any] = {
            "pk": f"SHOP#shop-a.myshopify.com#CUST#c{i}",
            "sk": f"MSG#{i}",
            "shop": "shop-a.myshopify.com",
            "customer_id": f"c{i}",
            "sequence": "welcome",
            "step": draw(st.sampled_from(["thanks", "f2_nudge"])),
            "status": status,
            "trigger_id": f"t{i}",
        }
        if item["step"] == "f2_nudge" and draw(st.integers(0, 5)):
            item["variant"] = draw(st.sampled_from(["a", "b"]))
        if status == "sent":
            item["channel"] = draw(st.sampled_from(["email", "line"]))
            if draw(st.booleans()):
                item["clicked_at"] = "2025-05-01T00:00:00Z"
            if draw(st.booleans()):
                item["converted_at"] = "2025-05-02T00:00:00Z"
                item["revenue"] = Decimal(draw(st.integers(0, 10_000_00))) / 100
        items.append(item)
    return items


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages())
def test_the_sequences_query_gives_each_variants_sent_clicked_converted_and_revenue(items):
    rows = query(items)
    got = {(t.step, v.variant): v for t in abtests.ab_tests(build.variant_rows(rows)) for v in t.variants}
    expected: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 4)
    squares: dict[tuple[str, str], float] = defaultdict(float)
    for m in items:
        if m["status"] == "sent" and m.get("variant"):
            e = expected[(m["step"], m["variant"])]
            e[0] += 1
            e[1] += "clicked_at" in m
            e[2] += "converted_at" in m
            e[3] += Decimal(str(m.get("revenue", 0)))
            squares[(m["step"], m["variant"])] += float(m.get("revenue", 0)) ** 2
    assert set(got) == set(expected)
    for key, (sent, clicked, converted, revenue) in expected.items():
        v = got[key]
        assert (v.sent, v.clicked, v.converted) == (sent, clicked, converted)
        assert Decimal(str(v.revenue_jpy)) == revenue.quantize(Decimal("0.01"))
    summed: dict[tuple[str, str], float] = defaultdict(float)
    for r in build.variant_rows(rows):
        summed[(r.step, r.variant)] += r.revenue_sq  # the query's sum of squares, over the channels
    assert set(summed) == set(squares)
    for key, total in squares.items():
        assert summed[key] == pytest.approx(total, rel=1e-9)


# ---------------------------------------------------------------- the report


def test_the_report_shows_the_variant_table_in_japanese_and_english(tmp_path):
    from enishi_local.report import terminal

    rows = [
        row("f2_nudge", "email", "a", 1000, 100, 50, "150000"),
        row("f2_nudge", "email", "b", 1000, 104, 120, "360000"),
    ]
    settings_ = build.Settings(shop="s", as_of=AS_OF)
    result = build.result(build.CustomerSummary(), [], rows, settings_, generated_at=AS_OF, source="test")
    summary = {"analytics": result.model_dump(mode="json")}
    text = "\n".join(f"{k} {v}" for k, v in terminal._ab_tests(summary))
    assert "A/B welcome.f2_nudge" in text and "conversion 転換: winner b" in text
    assert "CTR: no significant difference 有意差なし" in text
    assert "¥/sent 売上/通: " in text  # revenue per message sent, tested like the rates
    assert "variant a" in text and "variant b" in text and "¥360,000" in text
    # the HTML card says the same words (one wording: report.experiments.ab_verdict), the winner in bold
    from enishi_local.report import render, view

    render(view.merge(view.from_result(result), view.result_only(result)), tmp_path)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    card = page[page.index("A/Bテスト A/B tests") :]
    assert "<b>勝ち winner b</b>" in card and "有意差なし no significant difference (p=" in card
