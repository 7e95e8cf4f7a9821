"""Synth assertions (issue 11): the privacy requests' function, bucket, topic and queue; the business dashboard;
the SES reputation and LINE quota alarms and the scheduled quota check."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match

from enishi import business_metrics as bm
from enishi import constants as c

pytestmark = pytest.mark.slow

PRIVACY = "enishi.privacy.handler.handler"
LINE_QUOTA = "enishi.line_quota.handler.handler"


def _privacy_bucket_id(cfn) -> str:
    _, fn = cfn.function(PRIVACY)
    return fn["Properties"]["Environment"]["Variables"][c.ENV_PRIVACY_BUCKET_NAME]["Ref"]


def test_privacy_exports_are_kms_encrypted_private_tls_only_and_expire(cfn):
    props = cfn.resources[_privacy_bucket_id(cfn)]["Properties"]
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert "Fn::GetAtt" in rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]  # the data key, not aws/s3
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert [r["ExpirationInDays"] for r in props["LifecycleConfiguration"]["Rules"]] == [30]
    assert "VersioningConfiguration" not in props
    policies = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in cfn.of_type("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": _privacy_bucket_id(cfn)}
    ]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in policies[0]
    )


def test_the_privacy_topic_is_encrypted_and_the_function_may_publish_to_it(cfn):
    _, fn = cfn.function(PRIVACY)
    topic_id = fn["Properties"]["Environment"]["Variables"][c.ENV_PRIVACY_TOPIC_ARN]["Ref"]
    assert cfn.resources[topic_id]["Properties"]["KmsMasterKeyId"]
    assert {"Ref": topic_id} in cfn.resources_for(PRIVACY, "sns:Publish")


def test_the_three_privacy_events_reach_the_privacy_queue_with_a_dlq(cfn):
    (rule,) = [
        r
        for r in cfn.of_type("AWS::Events::Rule").values()
        if r["Properties"].get("EventPattern", {}).get("detail-type")
        == [c.CUSTOMER_DATA_REQUESTED, c.CUSTOMER_REDACT_REQUESTED, c.SHOP_REDACT_REQUESTED]
    ]
    assert rule["Properties"]["EventPattern"]["source"] == [c.EVENT_SOURCE_INTAKE]
    (target,) = rule["Properties"]["Targets"]
    queue_id = target["Arn"]["Fn::GetAtt"][0]
    assert target["DeadLetterConfig"]
    mappings = [
        m["Properties"]
        for m in cfn.of_type("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    ]
    assert mappings and mappings[0]["BatchSize"] == 1
    assert mappings[0]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # the function continues a slice by sending the next one to its own queue
    _, fn = cfn.function(PRIVACY)
    assert fn["Properties"]["Environment"]["Variables"][c.ENV_PRIVACY_QUEUE_URL] == {"Ref": queue_id}
    assert {"Fn::GetAtt": [queue_id, "Arn"]} in cfn.resources_for(PRIVACY, "sqs:SendMessage")
    assert fn["Properties"]["Timeout"] == 900


def test_the_privacy_function_may_erase_raw_payloads_and_exports(cfn):
    actions = cfn.actions(PRIVACY)
    assert {"s3:GetObject", "s3:DeleteObject", "s3:ListBucket", "sns:Publish"} <= actions
    assert "dynamodb:BatchWriteItem" in actions and "dynamodb:Scan" in actions
    assert not any(a.startswith(("states:Start", "ses:")) for a in actions)


def test_ses_reputation_alarms_at_2_percent_bounces_and_0_1_percent_complaints(template, cfn):
    for metric, threshold in (("Reputation.BounceRate", 0.02), ("Reputation.ComplaintRate", 0.001)):
        template.has_resource_properties(
            "AWS::CloudWatch::Alarm",
            {
                "Namespace": "AWS/SES",
                "MetricName": metric,
                "Threshold": threshold,
                "ComparisonOperator": "GreaterThanThreshold",
                "AlarmActions": Match.any_value(),
            },
        )


def test_line_quota_alarm_at_80_percent_fed_by_a_scheduled_check(template, cfn):
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": c.METRICS_NAMESPACE,
            "MetricName": bm.LINE_QUOTA_USED_PERCENT,
            "Dimensions": [{"Name": "service", "Value": "enishi"}],
            "Threshold": 80,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        },
    )
    fn_id, fn = cfn.function(LINE_QUOTA)
    env = fn["Properties"]["Environment"]["Variables"]
    assert c.ENV_LINE_SECRET_ARN in env and c.ENV_LINE_API_BASE_URL in env
    schedules = [
        r["Properties"]
        for r in cfn.of_type("AWS::Events::Rule").values()
        if any(t["Arn"] == {"Fn::GetAtt": [fn_id, "Arn"]} for t in r["Properties"].get("Targets", []))
    ]
    assert [s["ScheduleExpression"] for s in schedules] == ["cron(0 1 ? * * *)"]
    assert "secretsmanager:GetSecretValue" in cfn.actions(LINE_QUOTA)
    assert not any(a.startswith("dynamodb:") for a in cfn.actions(LINE_QUOTA))


def _dashboard_bodies(template_json) -> list[str]:
    out = []
    for r in template_json["Resources"].values():
        if r["Type"] == "AWS::CloudWatch::Dashboard":
            body = r["Properties"]["DashboardBody"]
            out.append(json.dumps(body))
    return out


def test_the_business_dashboard_shows_messages_rates_conversions_and_revenue(template_json):
    business = [b for b in _dashboard_bodies(template_json) if bm.MESSAGE_SENT in b]
    assert len(business) == 1
    body = business[0]
    for needle in (
        "Messages sent by sequence and channel",
        bm.CONVERSIONS,
        bm.ATTRIBUTED_REVENUE,
        "SesEventDelivery",
        "SesEventBounce",
        "SesEventComplaint",
        "100 * bounce / send",
        "Reputation.BounceRate",
    ):
        assert needle in body, needle
    for sequence in c.SEQUENCES:
        for channel in bm.CHANNELS:
            assert f'\\"channel\\",\\"{channel}\\",\\"sequence\\",\\"{sequence}\\"' in body, (
                sequence,
                channel,
            )


def test_the_privacy_function_may_stop_the_sequences_but_never_start_one(cfn):
    _, fn = cfn.function(PRIVACY)
    assert c.ENV_STATE_MACHINE_ARNS in fn["Properties"]["Environment"]["Variables"]
    actions = cfn.actions(PRIVACY)
    assert {"states:ListExecutions", "states:DescribeExecution", "states:StopExecution"} <= actions
    assert "states:StartExecution" not in actions
