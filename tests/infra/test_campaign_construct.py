"""The Campaigns construct (infra/constructs/campaigns.py) as synthesized (cdk-nag clean: the session fixture
raises on an unacknowledged finding): plan → quiet-hours Wait → Distributed Map (ItemReader S3 JSONL, ItemBatcher,
MaxConcurrencyPath) → send λ; least-privilege roles; the schedule tick."""

from __future__ import annotations

import json

import pytest

from enishi import constants as c
from enishi_local.cfn import Template

PLAN = "enishi.campaigns.handler.plan_handler"
SEND = "enishi.campaigns.handler.send_handler"
TICK = "enishi.campaigns.handler.tick_handler"


@pytest.fixture(scope="module")
def machine(template_path):
    [m] = [m for m in Template.load(template_path).state_machines().values() if "Campaign" in m.logical_id]
    return m.definition


def states(definition):
    return definition["States"]


def test_plan_then_the_quiet_hours_wait_then_a_distributed_map(machine):
    s = states(machine)
    assert machine["StartAt"] == "Plan"
    assert s["Plan"]["Next"] == "Anyone to send to?"
    [wait] = [st for st in s.values() if st["Type"] == "Wait"]
    assert wait["TimestampPath"] == "$.plan.wait_until"
    [fan_out] = [st for st in s.values() if st["Type"] == "Map"]
    assert wait["Next"] == "Send to every recipient"
    processor = fan_out["ItemProcessor"]
    assert processor["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    reader = fan_out["ItemReader"]
    assert reader["Resource"] == "arn:aws:states:::s3:getObject"
    assert reader["ReaderConfig"]["InputType"] == "JSONL"
    assert reader["Parameters"]["Key.$"] == "$.plan.key"
    assert fan_out["MaxConcurrencyPath"] == "$.plan.max_concurrency"
    assert fan_out["ItemBatcher"]["MaxItemsPerBatchPath"] == "$.plan.batch_size"
    assert fan_out["ItemBatcher"]["BatchInput"] == {"batch.$": "$.plan.batch"}
    child = processor["States"][processor["StartAt"]]
    assert child["Type"] == "Task" and child["End"] is True
    assert any("RetryableSendError" in r["ErrorEquals"] for r in child["Retry"])


def test_the_send_role_has_named_item_actions_only(cfn):
    actions = cfn.actions(SEND)
    assert {a for a in actions if a.startswith("dynamodb:")} == {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    }
    assert not {a for a in actions if a.startswith("s3:")}
    assert "ses:SendEmail" in actions
    _, fn = cfn.function(SEND)
    env = fn["Properties"]["Environment"]["Variables"]
    assert {
        c.ENV_TABLE_NAME,
        c.ENV_UNSUBSCRIBE_SECRET_ARN,
        c.ENV_PUBLIC_BASE_URL,
        c.ENV_LINE_SECRET_ARN,
    } <= set(env)


def test_the_plan_reads_segments_and_writes_recipient_lists_only(cfn):
    actions = cfn.actions(PLAN)
    assert not {a for a in actions if a.startswith(("dynamodb:", "ses:"))}
    gets = json.dumps(cfn.resources_for(PLAN, "s3:GetObject"))
    puts = json.dumps(cfn.resources_for(PLAN, "s3:PutObject"))
    assert "/segments/*" in gets and "/campaigns/" not in gets
    assert "/campaigns/*" in puts and "/segments/" not in puts


def test_the_tick_may_only_start_the_campaign_machine(cfn):
    assert {a for a in cfn.actions(TICK) if not a.startswith(("logs:", "xray:"))} == {"states:StartExecution"}
    rules = [r for r in cfn.of_type("AWS::Events::Rule").values() if "ScheduleExpression" in r["Properties"]]
    tick_id, _ = cfn.function(TICK)
    assert any(tick_id in json.dumps(r["Properties"]["Targets"]) for r in rules)
