"""``enishi report``: the lifecycle report (HTML with charts, PNG, JSON, a terminal summary) of any enishi.

    enishi report (--stack NAME | --local URL) [--out DIR] [--refresh] [--json] [--timeout MINUTES]

What it renders is the analytics result document (``enishi.analytics.result``) the daily ``Analytics`` job writes to
``results/latest.json`` in the analytics bucket.

``--stack NAME``: a deployed stack, through the usual AWS credential chain. Read-only: ``DescribeStacks`` (and
``ListStackResources`` when an output is missing) find the analytics bucket and the ``Analytics`` state machine,
``GetObject`` reads the document. ``--refresh`` starts an ``Analytics`` run and waits for it
(``StartExecution`` / ``DescribeExecution``): the one action that writes, and the command says so before it acts.

``--local URL``: a running ``enishi local``; the document is read inside it (``POST /_local/operator``, like
``enishi import --local``). When its analytics bucket holds no result yet (or it has no ``Analytics`` machine), the
document is computed from its table by ``standin.build_result`` and the report says so (``analytics.source``).

``make demo`` writes its report through ``write_report`` too, with the run's own sections (``metrics.run_sections``)
in place of ``view.result_only``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from enishi import constants as c
from enishi import keys
from enishi.analytics.result import AnalyticsResult

DEFAULT_OUT = Path("out/report")
WAIT_SECONDS = 10.0  # between DescribeExecution calls while --refresh waits
ANALYTICS = "analytics"  # what the analytics bucket's and machine's names hold (local stack, stack resources)


class NoResult(Exception):
    """No result document where it should be (the job has not run yet)."""


# ---------------------------------------------------------------- rendering (the demo's path too)


def write_report(
    result: AnalyticsResult,
    out_dir: Path,
    *,
    extra: dict[str, Any] | None = None,
    generator: str = "enishi report",
    outbox: list[Any] | None = None,
) -> dict[str, Any]:
    """``report.html``, ``charts/``, ``summary.json`` and ``result.json`` of a result under ``out_dir``.

    ``extra``: what the caller knows besides the result (the demo's run and simulation sections); without it, the
    parts of the report a result alone supports (``view.result_only``)."""
    from . import render
    from .outbox_files import write_outbox
    from .view import from_result, merge, result_only

    known = from_result(result)
    rest = extra if extra is not None else result_only(result)
    summary = merge(known, rest)
    summary["sources"] = sources(known, rest)
    out_dir.mkdir(parents=True, exist_ok=True)
    if outbox is not None:
        summary["outbox_files"] = write_outbox(outbox, out_dir / "outbox")
    (out_dir / "result.json").write_text(result.model_dump_json(indent=2), encoding="utf-8")
    return render(summary, out_dir, generator=generator)


SIMULATED = {  # keys whose numbers (some or all) only the simulated shop knows
    "funnel": "simulation (cart, contact) + analytics (first, second order)",
    "carts": "run (attribution) + simulation (abandoned, came back on their own)",
    "line_funnel": "run + simulation (friends)",
    "sim": "simulation",
}


def sources(known: dict[str, Any], rest: dict[str, Any]) -> dict[str, str]:
    """Where each top-level key of the summary comes from: the analytics result, the run, the simulation."""
    out = dict.fromkeys(known, "analytics")
    for k in rest:
        if k in known:
            out[k] = "analytics + run" if isinstance(rest[k], dict) else "analytics"
        else:
            out[k] = SIMULATED.get(k, "run")
    return out


# ---------------------------------------------------------------- where the result document comes from


def read_latest(s3: Any, bucket: str) -> AnalyticsResult:
    """``results/latest.json`` of an analytics bucket; ``NoResult`` when it is not there."""
    try:
        body = s3.get_object(Bucket=bucket, Key=keys.ANALYTICS_LATEST_KEY)["Body"].read()
    except s3.exceptions.NoSuchKey as exc:
        raise NoResult(f"s3://{bucket}/{keys.ANALYTICS_LATEST_KEY} does not exist yet") from exc
    return AnalyticsResult.model_validate_json(body)


def stack_resources(session: Any, stack_name: str) -> tuple[str, str | None]:
    """The analytics bucket and the ``Analytics`` state machine of a deployed stack (outputs, else resources)."""
    cfn = session.client("cloudformation")
    stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    bucket = outputs.get(c.OUTPUT_ANALYTICS_BUCKET_NAME)
    machine = outputs.get(c.OUTPUT_ANALYTICS_STATE_MACHINE_ARN)
    if bucket is None or machine is None:
        found = _by_logical_id(cfn, stack_name)
        bucket = bucket or found.get("AWS::S3::Bucket")
        machine = machine or found.get("AWS::StepFunctions::StateMachine")
    if bucket is None:
        raise SystemExit(f"stack {stack_name} has no analytics bucket: is it an enishi stack with analytics?")
    return bucket, machine


def _by_logical_id(cfn: Any, stack_name: str) -> dict[str, str]:
    """Resource type → physical id of the stack's resources whose logical id names analytics."""
    found: dict[str, str] = {}
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack_name):
        for r in page.get("StackResourceSummaries", []):
            if ANALYTICS in r["LogicalResourceId"].lower():
                found.setdefault(r["ResourceType"], r["PhysicalResourceId"])
    return found


def run_analytics(
    sfn: Any,
    machine_arn: str,
    *,
    timeout: float,
    say: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Start an ``Analytics`` execution and wait for it to end; returns its status (raises unless SUCCEEDED)."""
    name = "report-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    say(f"starting an Analytics run ({machine_arn}, execution {name}): the one write `enishi report` makes")
    arn = sfn.start_execution(stateMachineArn=machine_arn, name=name, input="{}")["executionArn"]
    deadline = time.monotonic() + timeout
    while True:
        status = str(sfn.describe_execution(executionArn=arn)["status"])
        if status != "RUNNING":
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"the Analytics run is still running after {timeout:.0f} s: {arn}")
        sleep(WAIT_SECONDS)
    if status != "SUCCEEDED":
        raise SystemExit(f"the Analytics run ended {status}: {arn}")
    say(f"Analytics run {name} succeeded")
    return status


def deployed_result(
    stack_name: str, *, refresh: bool, timeout: float, session: Any = None, say: Callable[[str], None] = print
) -> tuple[AnalyticsResult, str]:
    import boto3

    session = session or boto3.session.Session()
    bucket, machine = stack_resources(session, stack_name)
    if refresh:
        if machine is None:
            raise SystemExit(f"stack {stack_name} has no Analytics state machine to run")
        run_analytics(session.client("stepfunctions"), machine, timeout=timeout, say=say)
    try:
        return read_latest(session.client("s3"), bucket), f"s3://{bucket}/{keys.ANALYTICS_LATEST_KEY}"
    except NoResult as exc:
        raise SystemExit(
            f"{exc}: run `enishi report --stack {stack_name} --refresh`, or wait for the daily job"
        ) from exc


# ---------------------------------------------------------------- a running `enishi local` (inside its process)


def local_result(
    stack: Any, *, refresh: bool, as_of: datetime | None = None, data: Any = None
) -> tuple[AnalyticsResult, str]:
    """The result document of the in-process ``LocalStack``: ``results/latest.json`` of its analytics bucket (after
    running its ``Analytics`` machine when ``refresh``), else computed from its table by the stand-in."""
    import boto3

    s3 = boto3.client("s3", region_name=stack.region)
    bucket = getattr(stack, "analytics_bucket_name", None)
    if refresh and getattr(stack, "analytics_state_machine_arn", None):
        run = stack.run_analytics()  # the deployed machine, its Waits on the virtual clock (LocalStack)
        if run["status"] != "SUCCEEDED":
            raise SystemExit(f"the local Analytics run ended {run['status']}: {run.get('error')}")
        if bucket is not None:  # the run already read the document it wrote
            return AnalyticsResult.model_validate(run["result"]), f"s3://{bucket}/{keys.ANALYTICS_LATEST_KEY}"
    if bucket is not None:
        try:
            return read_latest(s3, bucket), f"s3://{bucket}/{keys.ANALYTICS_LATEST_KEY}"
        except NoResult:
            pass
    from .standin import build_result

    data = data if data is not None else data_from_stack(stack, as_of or stack.clock.now())
    return build_result(data, as_of), "stand-in (computed from the local table: no results/latest.json)"


def data_from_stack(stack: Any, as_of: datetime) -> Any:
    """The stand-in's input, read from the local stack's table and execution tally."""
    from enishi.profiles.model import StageThresholds
    from enishi.shop_config import load_shop_config

    from .collect import executions_from_tally, split_items
    from .metrics import ReportData, line_plan_for

    shop = load_shop_config()
    parts = split_items(stack.direct_table().scan())
    return ReportData(
        shop=stack.shop_id or shop.shop_id,
        start=as_of,
        end=as_of,
        profiles=parts["profiles"],
        messages=parts["messages"],
        outbox=[],
        executions=executions_from_tally(stack.tally.rows()),
        thresholds=StageThresholds(**shop.stages.model_dump()),
        line_plan=line_plan_for(shop.messaging.line_monthly_quota),
        order_items=parts["orders"],
        margin_rate=float(shop.analytics.margin_rate),
    )


def serve_local(stack: Any, argv: list[str]) -> dict[str, Any]:
    """``POST /_local/operator`` with ``{"command": "report"}``: the document, read (or computed) in the stack."""
    opts = _parser().parse_args(argv)
    result, source = local_result(stack, refresh=opts.refresh)
    return {"rc": 0, "output": json.dumps({"source": source, "result": result.model_dump(mode="json")})}


def _remote(url: str, argv: list[str]) -> tuple[AnalyticsResult, str]:
    from enishi_local.operator import post_operator

    answer = post_operator(url, "report", argv)
    if int(answer.get("rc", 1)) != 0:
        raise SystemExit(str(answer.get("output")))
    doc = json.loads(answer["output"])
    return AnalyticsResult.model_validate(doc["result"]), str(doc["source"])


# ---------------------------------------------------------------- the command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="enishi report",
        description="the lifecycle report of a deployed stack or a running `enishi local`",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--stack", help="a deployed enishi stack (CloudFormation stack name); read-only")
    where.add_argument("--local", metavar="URL", help="a running `enishi local` (e.g. http://127.0.0.1:8787)")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"where to write (default {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--refresh", action="store_true", help="start an Analytics run and wait for it first (the one write)"
    )
    parser.add_argument("--json", action="store_true", help="print summary.json instead of the table")
    parser.add_argument("--timeout", type=float, default=30.0, help="minutes --refresh waits (default 30)")
    return parser


def main(argv: list[str]) -> int:
    opts = _parser().parse_args(argv)
    say: Callable[[str], None] = lambda line: print(line, file=sys.stderr)  # noqa: E731 - a one-line sink
    if opts.local:
        result, source = _remote(opts.local, ["--refresh"] if opts.refresh else [])
    elif opts.stack:
        result, source = deployed_result(opts.stack, refresh=opts.refresh, timeout=opts.timeout * 60, say=say)
    else:
        print("say where: --stack NAME (deployed) or --local URL (a running `enishi local`)", file=sys.stderr)
        return 2
    summary = write_report(result, opts.out)
    if opts.json:
        print(json.dumps(summary, ensure_ascii=False, indent=2, default=str))
    else:
        from .terminal import format_summary

        print(format_summary(summary))
    say(f"source: {source}")
    say(f"report: {opts.out / 'report.html'}   summary: {opts.out / 'summary.json'}")
    return 0
