"""moto patches: Lambda invokes run real Python in-process; Step Functions Waits and Retries follow the virtual
clock."""

from __future__ import annotations

import io
import json
import time
import zipfile
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from enishi_local.moto_patches import install_lambda_dispatch, install_virtual_waits
from enishi_local.vclock import VirtualClock

START = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
ROLE = "arn:aws:iam::123456789012:role/sfn"


@pytest.fixture
def vclock():
    vc = VirtualClock(start=START)
    undo = install_virtual_waits(vc)
    yield vc
    undo()


@pytest.fixture
def handlers():
    """Python functions that stand in for handlers, looked up by function name."""
    registry: dict = {}
    undo = install_lambda_dispatch(lambda name: registry[name])
    yield registry
    undo()


def _role() -> str:
    iam = boto3.client("iam")
    try:
        return iam.get_role(RoleName="fn")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "sts:AssumeRole",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                }
            ],
        }
        return iam.create_role(RoleName="fn", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]


def _create_function(name: str, env: dict[str, str] | None = None) -> str:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("handler.py", "def handler(e, c):\n    return e\n")
    resp = boto3.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=_role(),
        Handler="handler.handler",
        Code={"ZipFile": buf.getvalue()},
        Environment={"Variables": env or {}},
    )
    return resp["FunctionArn"]


def _machine(definition: dict) -> str:
    return boto3.client("stepfunctions").create_state_machine(
        name=f"m{time.monotonic_ns()}", definition=json.dumps(definition), roleArn=ROLE
    )["stateMachineArn"]


def _wait_status(arn: str, want: set[str], timeout: float = 10.0) -> dict:
    sfn = boto3.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while True:
        desc = sfn.describe_execution(executionArn=arn)
        if desc["status"] in want:
            return desc
        assert time.monotonic() < deadline, f"execution still {desc['status']}"
        time.sleep(0.02)


def test_invoke_runs_the_python_handler_with_the_function_environment(aws, handlers):
    # Given a function whose handler reads its environment
    import os

    handlers["greeter"] = lambda event, ctx: {
        "hello": event["name"],
        "env": os.environ["GREETING"],
        "fn": ctx.function_name,
    }
    _create_function("greeter", {"GREETING": "konnichiwa"})
    # When it is invoked through boto3
    resp = boto3.client("lambda").invoke(FunctionName="greeter", Payload=json.dumps({"name": "taro"}))
    # Then the real handler ran and its return value came back
    assert "FunctionError" not in resp
    assert json.loads(resp["Payload"].read()) == {"hello": "taro", "env": "konnichiwa", "fn": "greeter"}
    assert "GREETING" not in os.environ  # the function's environment does not leak into the process


def test_an_exception_is_reported_as_a_function_error(aws, handlers):
    def broken(event, ctx):
        raise KeyError("missing")

    handlers["broken"] = broken
    _create_function("broken")
    resp = boto3.client("lambda").invoke(FunctionName="broken", Payload="{}")
    assert resp["FunctionError"] == "Unhandled"
    assert json.loads(resp["Payload"].read())["errorType"] == "KeyError"


def test_a_one_day_wait_completes_as_soon_as_the_clock_passes_it(aws, vclock):
    # Given a machine that waits a day (Seconds) and then until a timestamp from its input (TimestampPath)
    arn = _machine(
        {
            "StartAt": "Day",
            "States": {
                "Day": {"Type": "Wait", "Seconds": 86_400, "Next": "Until"},
                "Until": {"Type": "Wait", "TimestampPath": "$.until", "End": True},
            },
        }
    )
    until = (START + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ex = boto3.client("stepfunctions").start_execution(
        stateMachineArn=arn, input=json.dumps({"until": until})
    )
    # When the clock has not moved, the execution is parked in the first Wait
    _until(lambda: vclock.sleepers() == [START + timedelta(days=1)])
    assert _wait_status(ex["executionArn"], {"RUNNING"})["status"] == "RUNNING"
    # When the clock passes the first wait it parks in the second one, at the timestamp (read as UTC)
    vclock.advance(timedelta(days=1, seconds=1))
    _until(lambda: vclock.sleepers() == [START + timedelta(days=2)])
    # Then passing the timestamp ends the execution immediately
    t0 = time.monotonic()
    vclock.advance_to(START + timedelta(days=2))
    assert _wait_status(ex["executionArn"], {"SUCCEEDED", "FAILED"})["status"] == "SUCCEEDED"
    assert time.monotonic() - t0 < 2


def test_a_timestamp_in_the_past_does_not_wait(aws, vclock):
    arn = _machine(
        {"StartAt": "W", "States": {"W": {"Type": "Wait", "Timestamp": "2026-02-01T00:00:00Z", "End": True}}}
    )
    ex = boto3.client("stepfunctions").start_execution(stateMachineArn=arn)
    assert _wait_status(ex["executionArn"], {"SUCCEEDED", "FAILED"})["status"] == "SUCCEEDED"


def test_stopping_an_execution_releases_its_wait(aws, vclock):
    arn = _machine({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 90 * 86_400, "End": True}}})
    sfn = boto3.client("stepfunctions")
    ex = sfn.start_execution(stateMachineArn=arn)
    _until(lambda: len(vclock.sleepers()) == 1)
    sfn.stop_execution(executionArn=ex["executionArn"])
    _until(lambda: vclock.sleepers() == [])
    assert _wait_status(ex["executionArn"], {"ABORTED"})["status"] == "ABORTED"


def test_a_lambda_task_error_triggers_the_machines_retry(aws, handlers):
    # Given a handler that fails twice with a retryable error, then succeeds
    calls: list[dict] = []

    def flaky(event, ctx):
        calls.append(event)
        if len(calls) < 3:
            raise TimeoutError("provider timed out")
        return {**event, "sent": True}

    handlers["flaky"] = flaky
    fn_arn = _create_function("flaky")
    # And a machine that invokes it the way CDK's LambdaInvoke does, retrying TimeoutError every 1 s (virtual)
    vc = VirtualClock(start=START, time_scale=3600)  # 1 virtual second ≈ 0.3 ms
    undo = install_virtual_waits(vc)
    try:
        arn = _machine(
            {
                "StartAt": "Send",
                "States": {
                    "Send": {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::lambda:invoke",
                        "Parameters": {"FunctionName": fn_arn, "Payload.$": "$"},
                        "OutputPath": "$.Payload",
                        "Retry": [
                            {
                                "ErrorEquals": ["TimeoutError"],
                                "IntervalSeconds": 1,
                                "MaxAttempts": 3,
                                "BackoffRate": 2,
                            }
                        ],
                        "End": True,
                    }
                },
            }
        )
        sfn = boto3.client("stepfunctions")
        ex = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"customer": "c1"}))
        desc = _wait_status(ex["executionArn"], {"SUCCEEDED", "FAILED"})
    finally:
        undo()
    # Then the handler ran three times and the execution succeeded with its output
    assert desc["status"] == "SUCCEEDED", desc
    assert len(calls) == 3
    assert json.loads(desc["output"]) == {"customer": "c1", "sent": True}


def test_an_error_not_listed_in_retry_is_caught_by_name(aws, handlers):
    def rejected(event, ctx):
        raise ValueError("bad request")

    handlers["rejected"] = rejected
    fn_arn = _create_function("rejected")
    arn = _machine(
        {
            "StartAt": "Send",
            "States": {
                "Send": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": fn_arn, "Payload.$": "$"},
                    "Retry": [{"ErrorEquals": ["TimeoutError"], "MaxAttempts": 5}],
                    "Catch": [{"ErrorEquals": ["ValueError"], "ResultPath": "$.error", "Next": "Failed"}],
                    "End": True,
                },
                "Failed": {"Type": "Pass", "End": True},
            },
        }
    )
    ex = boto3.client("stepfunctions").start_execution(stateMachineArn=arn, input="{}")
    desc = _wait_status(ex["executionArn"], {"SUCCEEDED", "FAILED"})
    assert desc["status"] == "SUCCEEDED"
    assert json.loads(desc["output"])["error"]["Error"] == "ValueError"


def _until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_parked_executions_name_the_execution_and_its_wake_up_time(aws, vclock):
    from enishi_local.moto_patches import parked_executions

    arn = _machine({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": True}}})
    ex = boto3.client("stepfunctions").start_execution(stateMachineArn=arn, name="parked-1")
    _until(lambda: len(parked_executions()) == 1)
    assert parked_executions() == [(ex["executionArn"], START + timedelta(hours=1))]
    vclock.advance(timedelta(hours=1))
    _wait_status(ex["executionArn"], {"SUCCEEDED"})
    assert parked_executions() == []


def test_rules_hand_lambda_and_state_machine_targets_to_the_dispatcher(aws):
    from enishi_local.moto_patches import install_event_target_dispatch

    submitted: list[tuple[dict, dict]] = []
    undo = install_event_target_dispatch(lambda target, event: submitted.append((target, event)))
    try:
        events = boto3.client("events")
        sqs = boto3.client("sqs")
        events.create_event_bus(Name="enishi")
        q = sqs.create_queue(QueueName="q")["QueueUrl"]
        q_arn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(
            Name="r", EventBusName="enishi", EventPattern=json.dumps({"detail-type": ["order.placed"]})
        )
        fn_arn = "arn:aws:lambda:ap-northeast-1:123456789012:function:Profiles"
        events.put_targets(
            Rule="r", EventBusName="enishi", Targets=[{"Id": "fn", "Arn": fn_arn}, {"Id": "q", "Arn": q_arn}]
        )
        # When a matching and a non-matching event are published
        events.put_events(
            Entries=[
                {
                    "Source": "enishi.intake",
                    "DetailType": "order.placed",
                    "Detail": '{"a": 1}',
                    "EventBusName": "enishi",
                },
                {
                    "Source": "enishi.intake",
                    "DetailType": "order.cancelled",
                    "Detail": "{}",
                    "EventBusName": "enishi",
                },
            ]
        )
    finally:
        undo()
    # Then the Lambda target was handed over once with the event, and moto still delivered to the queue
    assert [(t["Arn"], e["detail"]) for t, e in submitted] == [(fn_arn, {"a": 1})]
    assert len(sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=10).get("Messages", [])) == 1


def test_rules_with_only_ours_or_only_moto_targets_deliver_each_matching_event_once(aws):
    from enishi_local.moto_patches import install_event_target_dispatch

    submitted: list[tuple[str, dict]] = []
    undo = install_event_target_dispatch(
        lambda target, event: submitted.append((target["Id"], event["detail"]))
    )
    try:
        events, sqs = boto3.client("events"), boto3.client("sqs")
        q = sqs.create_queue(QueueName="q")["QueueUrl"]
        q_arn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        # Given a rule whose targets are only ours (a function, a state machine) and one with only a queue
        events.put_rule(Name="ours", EventPattern=json.dumps({"detail-type": ["order.placed"]}))
        events.put_targets(
            Rule="ours",
            Targets=[
                {"Id": "fn", "Arn": "arn:aws:lambda:ap-northeast-1:123456789012:function:Profiles"},
                {"Id": "sm", "Arn": "arn:aws:states:ap-northeast-1:123456789012:stateMachine:Welcome"},
            ],
        )
        events.put_rule(Name="moto", EventPattern=json.dumps({"detail-type": ["order.cancelled"]}))
        events.put_targets(Rule="moto", Targets=[{"Id": "q", "Arn": q_arn}])
        # When events matching each rule, and one matching none, are published
        events.put_events(
            Entries=[
                {"Source": "s", "DetailType": kind, "Detail": json.dumps({"n": n})}
                for n, kind in enumerate(("order.placed", "order.cancelled", "order.paid", "order.placed"))
            ]
        )
    finally:
        undo()
    # Then ours got each matching event once per target, in order, and the queue only the cancelled one
    assert submitted == [("fn", {"n": 0}), ("sm", {"n": 0}), ("fn", {"n": 3}), ("sm", {"n": 3})]
    bodies = [
        json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=10)["Messages"]
    ]
    assert [b["detail"] for b in bodies] == [{"n": 1}]


def test_ses_capture_records_the_whole_request(aws):
    from enishi_local.moto_patches import install_ses_capture

    records: list[dict] = []
    undo = install_ses_capture(records.append)
    try:
        ses = boto3.client("sesv2")
        ses.create_email_identity(EmailIdentity="shop.example")
        resp = ses.send_email(
            FromEmailAddress="news@shop.example",
            Destination={"ToAddresses": ["taro@example.jp"]},
            Content={"Simple": {"Subject": {"Data": "件名"}, "Body": {"Text": {"Data": "本文"}}}},
            EmailTags=[{"Name": "sequence", "Value": "welcome"}],
        )
    finally:
        undo()
    assert records[0]["message_id"] == resp["MessageId"]
    assert records[0]["request"]["EmailTags"] == [{"Name": "sequence", "Value": "welcome"}]


def test_the_parse_cache_parses_once_and_keeps_executions_apart(aws, vclock):
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    from enishi_local.moto_patches import install_parse_cache

    parses = []
    original = AmazonStateLanguageParser.parse
    AmazonStateLanguageParser.parse = staticmethod(lambda d: parses.append(1) or original(d))
    undo = install_parse_cache()
    try:
        arn = _machine(
            {
                "StartAt": "W",
                "States": {
                    "W": {"Type": "Wait", "SecondsPath": "$.s", "Next": "C"},
                    "C": {
                        "Type": "Choice",
                        "Choices": [{"Variable": "$.n", "NumericGreaterThan": 1, "Next": "Big"}],
                        "Default": "Small",
                    },
                    "Big": {"Type": "Pass", "Result": {"size": "big"}, "End": True},
                    "Small": {"Type": "Pass", "Result": {"size": "small"}, "End": True},
                },
            }
        )
        parses.clear()
        sfn = boto3.client("stepfunctions")
        arns = [
            sfn.start_execution(stateMachineArn=arn, name=f"e{n}", input=json.dumps({"n": n, "s": 60 * n}))[
                "executionArn"
            ]
            for n in range(4)
        ]
        # every execution has either finished (n = 0 waits 0 s) or parked in its Wait before the clock moves: on a
        # loaded machine a late thread would otherwise park after the advance, an hour ahead, and never wake
        done = lambda: sum(sfn.describe_execution(executionArn=a)["status"] == "SUCCEEDED" for a in arns)  # noqa: E731
        _until(lambda: len(vclock.sleepers()) + done() >= 4, timeout=30)
        vclock.advance(timedelta(hours=1))
        descs = [_wait_status(a, {"SUCCEEDED", "FAILED"}) for a in arns]
        assert all(d["status"] == "SUCCEEDED" for d in descs), descs
        outputs = [json.loads(d["output"])["size"] for d in descs]
    finally:
        undo()
        AmazonStateLanguageParser.parse = original
    assert outputs == ["small", "small", "big", "big"]
    assert len(parses) == 1


@pytest.mark.parametrize("returns", [{"ok": True, "n": 1}, "plain text", None])
def test_a_lambda_task_gets_the_same_response_when_step_functions_calls_the_backend_directly(
    aws, handlers, returns
):
    """``install_sfn_direct_lambda`` (issue 14): the task's whole result — StatusCode, Payload, and FunctionError
    caught by name — is what the boto3 round trip gave."""
    from enishi_local.moto_patches import install_sfn_direct_lambda

    def answer(event, ctx):
        if event.get("fail"):
            raise KeyError("boom")
        return returns

    handlers["answer"] = answer
    fn_arn = _create_function("answer")
    arn = _machine(
        {
            "StartAt": "Call",
            "States": {
                "Call": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": fn_arn, "Payload.$": "$"},
                    "ResultPath": "$.result",
                    "Catch": [{"ErrorEquals": ["KeyError"], "ResultPath": "$.error", "Next": "Caught"}],
                    "End": True,
                },
                "Caught": {"Type": "Pass", "End": True},
            },
        }
    )
    sfn = boto3.client("stepfunctions")
    outputs = []
    for direct in (False, True):
        undo = install_sfn_direct_lambda() if direct else (lambda: None)
        try:
            for fail in (False, True):
                ex = sfn.start_execution(
                    stateMachineArn=arn, name=f"x-{direct}-{fail}", input=json.dumps({"fail": fail})
                )
                desc = _wait_status(ex["executionArn"], {"SUCCEEDED", "FAILED"})
                outputs.append((desc["status"], json.loads(desc["output"])))
        finally:
            undo()
    assert outputs[:2] == outputs[2:]
    assert outputs[0][1]["result"]["Payload"] == returns and outputs[1][1]["error"]["Error"] == "KeyError"
