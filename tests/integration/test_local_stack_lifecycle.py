"""LocalStack's lifecycle with a small hand-made template: resources built from it, clean failure and stop."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from enishi_local.stack import LocalStack

START = datetime(2026, 6, 1, 0, 30, tzinfo=UTC)
TABLE = {
    "Type": "AWS::DynamoDB::Table",
    "Properties": {
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
    },
}


def _template(tmp_path):
    """A table, a bus with a rule into a queue consumed by a function, a daily schedule, a one-step machine."""
    body = {
        "Resources": {
            "Table": TABLE,
            "Bus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": "enishi"}},
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {}},
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Handler": "enishi_local_test_handlers.record",
                    "Runtime": "python3.13",
                    "Environment": {"Variables": {"ENISHI_TABLE_NAME": {"Ref": "Table"}}},
                },
            },
            "Mapping": {
                "Type": "AWS::Lambda::EventSourceMapping",
                "Properties": {
                    "EventSourceArn": {"Fn::GetAtt": ["Queue", "Arn"]},
                    "FunctionName": {"Ref": "Fn"},
                    "FunctionResponseTypes": ["ReportBatchItemFailures"],
                },
            },
            "Rule": {
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "EventBusName": {"Ref": "Bus"},
                    "EventPattern": {"source": ["enishi.intake"]},
                    "Targets": [{"Id": "q", "Arn": {"Fn::GetAtt": ["Queue", "Arn"]}}],
                },
            },
            "Daily": {
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "ScheduleExpression": "cron(0 1 * * ? *)",
                    "Targets": [{"Id": "fn", "Arn": {"Fn::GetAtt": ["Fn", "Arn"]}}],
                },
            },
        }
    }
    path = tmp_path / "Enishi.template.json"
    path.write_text(json.dumps(body))
    return path


@pytest.fixture
def handlers(monkeypatch):
    """A handler module the template can name (enishi.* is the convention; tests register their own)."""
    import sys
    import types

    calls: list[dict] = []
    module = types.ModuleType("enishi_local_test_handlers")
    module.record = lambda event, context: calls.append(event)
    monkeypatch.setitem(sys.modules, "enishi_local_test_handlers", module)
    return calls


def test_events_flow_through_the_queue_and_the_schedule_fires_at_0100(tmp_path, handlers, monkeypatch):
    import enishi_local.stack as stack_module

    # the test handler module is not under enishi.: accept it for this template
    monkeypatch.setattr(stack_module, "_is_local_function", lambda spec: True)
    with LocalStack(port=0, start=START, template_path=_template(tmp_path)) as stack:
        boto3.client("events").put_events(
            Entries=[
                {
                    "Source": "enishi.intake",
                    "DetailType": "order.placed",
                    "Detail": "{}",
                    "EventBusName": "enishi",
                }
            ]
        )
        stack.settle(10)
        assert [len(e["Records"]) for e in handlers] == [1]
        stack.advance_to(START + timedelta(hours=1))
        assert handlers[-1]["detail-type"] == "Scheduled Event"
        assert handlers[-1]["time"] == "2026-06-01T01:00:00Z"


def test_a_failed_start_leaves_nothing_behind(tmp_path):
    with pytest.raises(FileNotFoundError):
        LocalStack(port=0, template_path=tmp_path / "missing.json").start()
    # a later stack starts normally (no half-started mock or patch)
    with LocalStack(port=0, start=START, template_path=_template(tmp_path)) as stack:
        stack.settle(5)


def _probe_template(tmp_path):
    """One function whose handler asks the real LINE-link handler for its dependencies (``probe`` below)."""
    body = {
        "Resources": {
            "Table": TABLE,
            "LineSecret": {"Type": "AWS::SecretsManager::Secret", "Properties": {"Name": "line"}},
            "LinkSecret": {"Type": "AWS::SecretsManager::Secret", "Properties": {"Name": "link"}},
            "Probe": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "FunctionName": "Probe",
                    "Handler": "enishi_local_test_handlers.probe",
                    "Runtime": "python3.13",
                    "Environment": {
                        "Variables": {
                            "ENISHI_TABLE_NAME": {"Ref": "Table"},
                            "ENISHI_LINE_SECRET_ARN": {"Ref": "LineSecret"},
                            "ENISHI_LINE_LINK_SECRET_ARN": {"Ref": "LinkSecret"},
                        }
                    },
                },
            },
        }
    }
    path = tmp_path / "Probe.template.json"
    path.write_text(json.dumps(body))
    return path


def test_two_stacks_in_one_process_do_not_share_clients_settings_or_secrets(tmp_path, monkeypatch):
    """Each stack is a cold start: a handler's container (``enishi.bootstrap``), its clients and the secrets it
    read belong to the stack that built them. Before ``LocalStack`` called ``bootstrap.reset_all()`` it reloaded
    only the modules named as handlers, so a module they use kept the first stack's LINE port and secret."""
    import sys
    import types

    import enishi_local.stack as stack_module
    from enishi import secrets
    from enishi.line_link import handler as line_link

    def probe(event, context):
        deps = line_link.deps()
        line = secrets.get_json_secret(deps.settings.line_secret_arn)
        return deps, deps.store._client, line["channel_access_token"]

    module = types.ModuleType("enishi_local_test_handlers")
    module.probe = probe
    monkeypatch.setitem(sys.modules, "enishi_local_test_handlers", module)
    monkeypatch.setattr(stack_module, "_is_local_function", lambda spec: True)
    seen = []
    for token in ("token-of-stack-a", "token-of-stack-b"):
        secrets_ = stack_module.LocalSecrets(line_access_token=token)
        with LocalStack(
            port=0, start=START, template_path=_probe_template(tmp_path), secrets=secrets_
        ) as stack:
            deps, client, access_token = stack.invoke("Probe", {})
            assert stack.invoke("Probe", {})[0] is deps  # built once per cold start
            seen.append((deps, client, access_token, deps.settings.line_api_base_url, stack.line.url))
    (deps_a, client_a, token_a, url_a, line_a), (deps_b, client_b, token_b, url_b, line_b) = seen
    assert deps_b is not deps_a and client_b is not client_a
    assert (token_a, token_b) == ("token-of-stack-a", "token-of-stack-b")
    assert (url_a, url_b) == (line_a, line_b) and url_a != url_b
