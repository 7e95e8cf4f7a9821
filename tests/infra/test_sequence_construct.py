"""The Sequences construct in the synthesized stack: machines compiled from sequences.yaml, logged and traced,
triggers wired, least-privilege grants."""

from __future__ import annotations

import json
from typing import Any

import pytest

from enishi import constants as c
from enishi.sequences.domain.spec import load_spec
from enishi.shop_config import REPO_DIR
from infra.constructs.sequences import STARTER_DETAIL_TYPES, WINBACK_SCHEDULE

pytestmark = pytest.mark.slow

STEP = "enishi.sequences.step.handler.handler"
STARTER = "enishi.sequences.starter.handler.handler"
WINBACK = "enishi.sequences.winback.handler.handler"
SPEC = load_spec(REPO_DIR / "sequences.yaml")


@pytest.fixture(scope="module")
def machines(template_path) -> dict[str, Any]:
    from enishi_local.cfn import Template

    t = Template.load(template_path)
    starter = next(f for f in t.functions().values() if f.handler == STARTER)
    arns = json.loads(starter.environment[c.ENV_STATE_MACHINE_ARNS])
    by_arn = {sm.arn: sm for sm in t.state_machines().values()}
    return {key: by_arn[arn] for key, arn in arns.items()}


def test_one_standard_machine_per_sequence_plus_the_delivery_follow_up(machines):
    assert set(machines) == {*c.SEQUENCES, "shipping_notice.follow_up"}
    assert {m.type for m in machines.values()} == {"STANDARD"}


@pytest.mark.parametrize("sequence", c.SEQUENCES)
def test_every_step_is_wait_send_choose_with_retries(machines, sequence):
    states = machines[sequence].definition["States"]
    for index, step in enumerate(SPEC.sequences[sequence].steps):
        wait, send, after = states[f"Wait {step.id}"], states[f"Send {step.id}"], states[f"After {step.id}"]
        assert wait == {**wait, "Type": "Wait", "TimestampPath": "$.wait_until", "Next": f"Send {step.id}"}
        assert send["Type"] == "Task" and send["Resource"].startswith("arn:aws:lambda:")
        assert send["Parameters"]["step"]["step"]["template"] == step.template
        assert (
            send["Parameters"]["state.$"] == "$" and send["Parameters"]["execution.$"] == "$$.Execution.Name"
        )
        retried = {e for r in send["Retry"] for e in r["ErrorEquals"]}
        assert {"RetryableSendError", "Lambda.ServiceException", "Lambda.TooManyRequestsException"} <= retried
        choices = {ch["StringEquals"]: ch["Next"] for ch in after["Choices"]}
        assert choices["defer"] == f"Wait {step.id}"
        assert states[choices["stop"]]["Type"] == "Succeed"
        nxt = (
            SPEC.sequences[sequence].steps[index + 1].id
            if index + 1 < len(SPEC.sequences[sequence].steps)
            else None
        )
        assert after["Default"] == (f"Wait {nxt}" if nxt else choices["stop"])


def test_a_first_step_due_at_once_skips_its_wait(machines):
    assert machines["welcome"].definition["StartAt"] == "Send thanks"
    assert machines["cart_recovery"].definition["StartAt"] == "Wait reminder_1"
    assert machines["shipping_notice.follow_up"].definition["StartAt"] == "Wait follow_up"
    assert "Send notice" not in machines["shipping_notice.follow_up"].definition["States"]


def test_machines_are_traced_and_log_everything_but_execution_data(cfn):
    for machine in cfn.of_type("AWS::StepFunctions::StateMachine").values():
        props = machine["Properties"]
        assert props["TracingConfiguration"] == {"Enabled": True}
        assert props["LoggingConfiguration"]["Level"] == "ALL"
        assert props["LoggingConfiguration"]["IncludeExecutionData"] is False


def test_starter_rule_routes_the_trigger_events_to_its_queue(cfn):
    patterns = [
        r["Properties"]["EventPattern"]
        for r in cfn.of_type("AWS::Events::Rule").values()
        if "EventPattern" in r["Properties"]
    ]
    assert {"detail-type": STARTER_DETAIL_TYPES} in patterns
    assert set(STARTER_DETAIL_TYPES) == {
        c.ORDER_RECORDED,
        c.ORDER_PLACED,
        c.ORDER_CANCELLED,
        c.CHECKOUT_UPDATED,
        c.FULFILLMENT_UPDATED,
        c.CUSTOMER_UPSERTED,
        c.CONSENT_CHANGED,
    }


def test_winback_runs_daily_at_10_jst(cfn):
    schedules = [
        r["Properties"]
        for r in cfn.of_type("AWS::Events::Rule").values()
        if r["Properties"].get("ScheduleExpression")
    ]
    assert any(s["ScheduleExpression"] == WINBACK_SCHEDULE == "cron(0 1 * * ? *)" for s in schedules)


def test_starter_may_only_start_and_stop_the_sequence_machines_and_park_events(cfn):
    assert {"states:StartExecution", "states:StopExecution"} <= cfn.actions(STARTER)
    assert {"dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query"} <= cfn.actions(STARTER)  # parks
    assert not any(a.startswith(("ses:", "sqs:Send")) for a in cfn.actions(STARTER))
    resources = json.dumps(cfn.resources_for(STARTER, "states:StartExecution"))
    assert "*" not in resources.replace("Fn::", "")
    # the sequence machines (the Analytics and Campaign machines are no sequences: the starter must not start them)
    others = ("Analytics", "Campaigns")
    machine_ids = {m for m in cfn.of_type("AWS::StepFunctions::StateMachine") if not m.startswith(others)}
    assert {m for m in machine_ids if m in resources} == machine_ids
    assert not any(
        m in resources for m in cfn.of_type("AWS::StepFunctions::StateMachine") if m.startswith(others)
    )


def test_winback_may_start_only_the_winback_machine(cfn):
    resources = json.dumps(cfn.resources_for(WINBACK, "states:StartExecution"))
    machine_ids = set(cfn.of_type("AWS::StepFunctions::StateMachine"))
    assert [m for m in machine_ids if m in resources] == [m for m in machine_ids if "Winback" in m]


def test_step_function_may_send_email_and_read_its_secrets(cfn):
    actions = cfn.actions(STEP)
    assert "ses:SendEmail" in actions
    assert "secretsmanager:GetSecretValue" in actions
    assert not any(a.startswith("states:") for a in actions)


def test_the_starter_knows_its_queues_max_receive_count_to_never_dead_letter_a_parked_event(cfn):
    _, fn = cfn.function(STARTER)
    told = int(fn["Properties"]["Environment"]["Variables"][c.ENV_MAX_RECEIVE_COUNT])
    mappings = [
        m["Properties"]
        for m in cfn.of_type("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": cfn.function(STARTER)[0]}
    ]
    [mapping] = mappings
    queue_id = mapping["EventSourceArn"]["Fn::GetAtt"][0]
    assert cfn.resources[queue_id]["Properties"]["RedrivePolicy"]["maxReceiveCount"] == told


def test_the_sequence_alarms_exist(cfn):
    names = {
        (a["Properties"].get("MetricName"), a["Properties"].get("ComparisonOperator"))
        for a in cfn.of_type("AWS::CloudWatch::Alarm").values()
    }
    assert ("ParkedEventUnresolved", "GreaterThanOrEqualToThreshold") in names
    assert ("MarketingOptOutLinkBroken", "GreaterThanOrEqualToThreshold") in names
    assert ("WinbackRunCompleted", "LessThanThreshold") in names


def test_the_winback_schedule_retries_and_keeps_a_failed_run(cfn):
    [rule] = [
        r["Properties"]
        for r in cfn.of_type("AWS::Events::Rule").values()
        if r["Properties"].get("ScheduleExpression") == WINBACK_SCHEDULE
    ]
    [target] = rule["Targets"]
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 2 and "Arn" in target["DeadLetterConfig"]
