"""`enishi report` against a deployed stack found by its CloudFormation name (moto) and against a running
`enishi local`: it reads the analytics result document (results/latest.json), writes report.html, charts,
summary.json and result.json, prints the terminal summary; read-only unless --refresh, which says so."""

from __future__ import annotations

import json
from datetime import datetime

import boto3
import pytest

from enishi import constants as c
from enishi import keys
from enishi.analytics.result import (
    AnalyticsResult,
    Cohort,
    F2Window,
    LtvWindow,
    RfmGrid,
    SegmentCount,
    StepStats,
    Totals,
)
from enishi.clock import JST
from enishi_local.report import command

STACK = "EnishiShop"
BUCKET = "enishi-analytics-test"
READS = {"DescribeStacks", "ListStackResources", "GetObject"}


def document(customers: int = 1200) -> AnalyticsResult:
    """A result document as the Analytics job writes it (built from the contract, not by the stand-in)."""

    def step(seq: str, step: str | None, channel: str | None, sent: int, revenue: float) -> StepStats:
        cost = sent * 0.003
        return StepStats(
            sequence=seq,
            step=step,
            channel=channel,
            sent=sent,
            delivered=sent - 1,
            opened=sent // 2,
            clicked=sent // 5,
            bounced=1,
            complained=0,
            converted=sent // 10,
            revenue_jpy=revenue,
            gross_profit_jpy=revenue * 0.4,
            cost_usd=cost,
            cost_jpy=cost * 150,
            roi=(revenue * 0.4 - cost * 150) / (cost * 150),
        )

    return AnalyticsResult(
        shop="real-shop.myshopify.com",
        as_of="2026-06-30T18:00:00Z",
        generated_at="2026-06-30T18:04:12Z",
        source="dynamodb-export+athena",
        usd_jpy=150.0,
        totals=Totals(
            customers=customers,
            buyers=800,
            orders=1900,
            revenue_jpy=9_500_000.0,
            gross_profit_jpy=3_800_000.0,
            messages=300,
            cost_usd=0.9,
        ),
        stages={"lead": 400, "first_time": 500, "repeat": 200, "loyal": 60, "at_risk": 30, "dormant": 10},
        fn_distribution={"1": 500, "2": 180, "3": 70, "10+": 50},
        segments=[
            SegmentCount(
                segment="champions", label_ja="優良", label_en="Champions", customers=90, revenue_jpy=3e6
            ),
            SegmentCount(
                segment="hibernating", label_ja="休眠", label_en="Hibernating", customers=300, revenue_jpy=1e6
            ),
        ],
        rfm=RfmGrid(customers=[[i + j for j in range(5)] for i in range(5)], monetary_jpy=[[1000.0] * 5] * 5),
        cohorts=[
            Cohort(
                month=month,
                customers=100,
                ltv=[
                    LtvWindow(
                        days=d,
                        complete=month < "2026-01",
                        revenue_jpy=d * 1000.0,
                        gross_profit_jpy=d * 400.0,
                        per_customer_jpy=d * 10.0,
                        gross_profit_per_customer_jpy=d * 4.0,
                    )
                    for d in (90, 180, 365)
                ],
                f2=[F2Window(days=d, complete=True, converted=d // 3, rate=d / 300) for d in (30, 60, 90)],
                repeat_rate=0.31,
            )
            for month in ("2025-11", "2025-12", "2026-01")
        ],
        sequences=[
            step("welcome", None, None, 200, 120000.0),
            step("welcome", None, "email", 150, 100000.0),
            step("welcome", None, "line", 50, 20000.0),
            step("welcome", "thanks", None, 120, 80000.0),
            step("welcome", "f2_nudge", None, 80, 40000.0),
            step("winback", None, None, 100, 30000.0),
            step("winback", None, "email", 100, 30000.0),
            step("winback", "first", None, 100, 30000.0),
        ],
        run={"export_bytes": 123456, "query_seconds": 4.2},
    )


def _bucket(s3, name: str = BUCKET) -> None:
    region = s3.meta.region_name
    if region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})


@pytest.fixture
def stack(aws):
    s3 = boto3.client("s3")
    _bucket(s3)
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {
            c.OUTPUT_ANALYTICS_BUCKET_NAME: {"Value": BUCKET},
            c.OUTPUT_ANALYTICS_STATE_MACHINE_ARN: {
                "Value": "arn:aws:states:ap-northeast-1:123:stateMachine:A"
            },
        },
    }
    boto3.client("cloudformation").create_stack(StackName=STACK, TemplateBody=json.dumps(template))
    return s3


def _put(s3, doc: AnalyticsResult, bucket: str = BUCKET) -> None:
    s3.put_object(Bucket=bucket, Key=keys.ANALYTICS_LATEST_KEY, Body=doc.model_dump_json().encode())


def test_report_of_a_deployed_stack_renders_its_latest_result(stack, tmp_path, capsys):
    # Given the Analytics job's latest result in the stack's analytics bucket
    _put(stack, document())
    # When the shop's engineer runs `enishi report --stack NAME`
    assert command.main(["--stack", STACK, "--out", str(tmp_path)]) == 0
    # Then the report, its charts, summary.json and the document itself are written
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["customers"] == 1200 and summary["orders"] == 1900
    assert summary["f2"] == {"buyers": 800, "repeaters": 300, "overall": 0.375}
    assert summary["messages"]["by_sequence"]["welcome"]["email"] == 150
    assert summary["messages"]["by_sequence"]["welcome"]["by_step"] == {"thanks": 120, "f2_nudge": 80}
    assert summary["cost"]["by_sequence"]["winback"]["total_usd"] == 0.3
    assert AnalyticsResult.model_validate_json((tmp_path / "result.json").read_text()) == document()
    charts = {p.stem for p in (tmp_path / "charts").iterdir()}
    assert {"ltv", "f2_cohorts", "fn", "segments", "rfm_scores", "roi", "messages", "cost"} <= charts
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "real-shop.myshopify.com" in html and "2025-12" in html and "dynamodb-export+athena" in html
    out = capsys.readouterr()
    assert "Customers 顧客" in out.out and "cohort 2026-01" in out.out
    assert f"s3://{BUCKET}/{keys.ANALYTICS_LATEST_KEY}" in out.err


def test_report_makes_only_read_calls_without_refresh(stack, tmp_path):
    # Given a session that records every AWS operation it calls
    _put(stack, document())
    session = boto3.session.Session()
    called: list[str] = []
    session.events.register("before-call", lambda model, **_: called.append(model.name))
    # When the result is read
    result, _ = command.deployed_result(STACK, refresh=False, timeout=1, session=session, say=lambda _: None)
    # Then it took only the read-only calls docs/deploy.md's IAM policy grants
    assert result.totals.customers == 1200
    assert set(called) <= READS and "GetObject" in called


def test_stack_without_outputs_is_found_by_its_resources_and_missing_result_says_what_to_do(aws, tmp_path):
    template = {"Resources": {"AnalyticsBucketF00D": {"Type": "AWS::S3::Bucket"}}}
    boto3.client("cloudformation").create_stack(StackName=STACK, TemplateBody=json.dumps(template))
    bucket, machine = command.stack_resources(boto3.session.Session(), STACK)
    assert bucket in {b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]} and machine is None
    with pytest.raises(SystemExit, match="--refresh"):
        command.main(["--stack", STACK, "--out", str(tmp_path)])


class FakeSfn:
    def __init__(self, statuses: list[str]) -> None:
        self.statuses = statuses
        self.started: list[dict] = []

    def start_execution(self, **kwargs):
        self.started.append(kwargs)
        return {"executionArn": "arn:exec"}

    def describe_execution(self, executionArn):
        return {"status": self.statuses.pop(0)}


def test_refresh_starts_one_analytics_run_says_so_and_waits_for_it():
    sfn = FakeSfn(["RUNNING", "RUNNING", "SUCCEEDED"])
    said: list[str] = []
    slept: list[float] = []
    assert (
        command.run_analytics(sfn, "arn:sm", timeout=60, say=said.append, sleep=slept.append) == "SUCCEEDED"
    )
    assert len(sfn.started) == 1 and sfn.started[0]["stateMachineArn"] == "arn:sm"
    assert "the one write" in said[0] and len(slept) == 2


def test_refresh_fails_loudly_when_the_run_fails():
    with pytest.raises(SystemExit, match="FAILED"):
        command.run_analytics(
            FakeSfn(["FAILED"]), "arn:sm", timeout=60, say=lambda _: None, sleep=lambda _: None
        )


def test_report_of_a_running_local_stack_reads_its_result_or_computes_one(tmp_path, capsys):
    from enishi_local.stack import LocalStack

    with LocalStack(port=0, start=datetime(2026, 3, 1, tzinfo=JST)) as local:
        # Given a running `enishi local` with no analytics result yet: the stand-in computes it from the table
        assert command.main(["--local", local.url, "--out", str(tmp_path / "a")]) == 0
        first = json.loads((tmp_path / "a" / "summary.json").read_text(encoding="utf-8"))
        assert first["customers"] == 0 and first["analytics"]["source"] == "table-items+python"
        assert "stand-in" in capsys.readouterr().err
        # When its analytics bucket holds a result document, Then that is what the report shows
        s3 = boto3.client("s3", region_name=local.region)
        _put(s3, document(customers=77), local.analytics_bucket_name)  # the stack's own analytics bucket
        assert command.main(["--local", local.url, "--out", str(tmp_path / "b")]) == 0
        second = json.loads((tmp_path / "b" / "summary.json").read_text(encoding="utf-8"))
        assert second["customers"] == 77
