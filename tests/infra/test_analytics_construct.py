"""The Analytics construct (infra/constructs/analytics.py) as synthesized, and the cost model's machine shapes
checked against the compiled sequence machines."""

from __future__ import annotations

import json

from enishi import constants as c
from enishi.analytics import cost
from enishi.analytics.handler import machine_shapes
from enishi_local.cfn import Template
from enishi_local.report.collect import sequence_of

JOB = "enishi.analytics.handler.handler"


def test_the_cost_model_shape_is_the_compiled_machines_shape(template_path):
    shapes = machine_shapes(None)
    main = {
        sequence_of(m.name): m
        for m in Template.load(template_path).state_machines().values()
        if sequence_of(m.name) and "Entry" not in m.logical_id
    }
    assert set(main) == set(shapes)
    for sequence, machine in main.items():
        assert cost.asl_shape(machine.definition) == shapes[sequence], sequence


def test_the_table_keeps_point_in_time_recovery_for_exports(cfn):
    [table] = cfn.of_type("AWS::DynamoDB::Table").values()
    assert table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_the_analytics_bucket_is_encrypted_private_and_expires_every_prefix(cfn):
    [bucket] = [b for lid, b in cfn.of_type("AWS::S3::Bucket").items() if lid.startswith("Analytics")]
    p = bucket["Properties"]
    assert (
        p["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"][
            "SSEAlgorithm"
        ]
        == "aws:kms"
    )
    assert all(p["PublicAccessBlockConfiguration"].values())
    expiry = {r["Prefix"]: r["ExpirationInDays"] for r in p["LifecycleConfiguration"]["Rules"]}
    assert expiry["exports/"] <= 7 and set(expiry) == {"exports/", "athena-results/", "segments/", "results/"}


def test_the_workgroup_limits_bytes_scanned_and_encrypts_results(cfn):
    [wg] = cfn.of_type("AWS::Athena::WorkGroup").values()
    config = wg["Properties"]["WorkGroupConfiguration"]
    assert 0 < config["BytesScannedCutoffPerQuery"] <= 100 * 1024**3
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"] == "SSE_KMS"


def test_the_machine_exports_from_pitr_and_runs_daily(cfn):
    [(lid, machine)] = [
        (k, m)
        for k, m in cfn.of_type("AWS::StepFunctions::StateMachine").items()
        if k.startswith("Analytics")
    ]
    definition = json.dumps(machine["Properties"]["DefinitionString"])
    assert "aws-sdk:dynamodb:exportTableToPointInTime" in definition and "FULL_EXPORT" in definition
    assert "DYNAMODB_JSON" in definition and "describeExport" in definition
    rules = [r for r in cfn.of_type("AWS::Events::Rule").values() if "ScheduleExpression" in r["Properties"]]
    assert any(lid in json.dumps(r["Properties"]["Targets"]) for r in rules)


def test_the_job_may_only_update_profiles_never_read_or_scan_the_table(cfn):
    actions = {
        a
        for s in cfn.statements(JOB)
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert {a for a in actions if a.startswith("dynamodb:")} == {
        "dynamodb:UpdateItem",
        "dynamodb:DescribeExport",
    }
    assert {"athena:StartQueryExecution", "athena:GetQueryResults"} <= actions
    _, fn = cfn.function(JOB)
    env = fn["Properties"]["Environment"]["Variables"]
    assert {c.ENV_ANALYTICS_BUCKET_NAME, c.ENV_ANALYTICS_WORKGROUP, c.ENV_ANALYTICS_DATABASE} <= set(env)
