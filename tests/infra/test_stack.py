"""Properties of the synthesized stack (not counts): data protection, wiring, least privilege, alarms."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match

from enishi import constants as c

pytestmark = pytest.mark.slow

INTAKE = "enishi.intake.handler.handler"
PROFILES = "enishi.profiles.handler.handler"
FEEDBACK = "enishi.feedback.handler.handler"
LINE_WEBHOOK = "enishi.line_webhook.handler.handler"
PREFERENCES = "enishi.preferences.handler.handler"
STEP = "enishi.sequences.step.handler.handler"
CLICK = "enishi.tracking.handler.handler"
ALL_HANDLERS = [INTAKE, PROFILES, FEEDBACK, LINE_WEBHOOK, PREFERENCES, STEP, CLICK]


# ---- data at rest
def test_table_is_encrypted_recoverable_expiring_and_indexed(template):
    template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "DeletionPolicy": "Retain",
            "Properties": Match.object_like(
                {
                    "KeySchema": [
                        {"AttributeName": c.ATTR_PK, "KeyType": "HASH"},
                        {"AttributeName": c.ATTR_SK, "KeyType": "RANGE"},
                    ],
                    "BillingMode": "PAY_PER_REQUEST",
                    "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                    "SSESpecification": {
                        "SSEEnabled": True,
                        "SSEType": "KMS",
                        "KMSMasterKeyId": Match.object_like({"Fn::GetAtt": Match.any_value()}),
                    },
                    "TimeToLiveSpecification": {"AttributeName": c.ATTR_TTL, "Enabled": True},
                    "DeletionProtectionEnabled": True,
                    "GlobalSecondaryIndexes": [
                        {
                            "IndexName": c.GSI_ORDERS_BY_DAY,
                            "KeySchema": [
                                {"AttributeName": c.ATTR_GSI1_PK, "KeyType": "HASH"},
                                {"AttributeName": c.ATTR_GSI1_SK, "KeyType": "RANGE"},
                            ],
                            "Projection": {"ProjectionType": "KEYS_ONLY"},
                        }
                    ],
                }
            ),
        },
    )


def test_data_key_rotates(template):
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_raw_payload_bucket_is_private_encrypted_tls_only_and_expires(template):
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    Match.object_like(
                        {"ServerSideEncryptionByDefault": Match.object_like({"SSEAlgorithm": "aws:kms"})}
                    )
                ]
            },
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "LifecycleConfiguration": {
                "Rules": Match.array_with([Match.object_like({"ExpirationInDays": 30, "Status": "Enabled"})])
            },
            "VersioningConfiguration": Match.absent(),
        },
    )
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
                        )
                    ]
                )
            }
        },
    )


# ---- events
def test_bus_is_named_and_archived_for_replay(template, cfn):
    template.has_resource_properties("AWS::Events::EventBus", {"Name": c.EVENT_BUS_NAME})
    bus_id = cfn.logical_id("AWS::Events::EventBus")
    template.has_resource_properties(
        "AWS::Events::Archive",
        {
            "SourceArn": {"Fn::GetAtt": [bus_id, "Arn"]},
            # matches every event from this account: nothing on the bus escapes the archive
            "EventPattern": {"account": [{"Ref": "AWS::AccountId"}]},
        },
    )


def test_profiles_rule_routes_intake_and_messaging_to_an_encrypted_queue_with_a_dlq(template, cfn):
    rule = [
        r
        for r in cfn.of_type("AWS::Events::Rule").values()
        if r["Properties"].get("EventPattern", {}).get("source")
        == [c.EVENT_SOURCE_INTAKE, c.EVENT_SOURCE_MESSAGING]
    ]
    assert len(rule) == 1
    target = rule[0]["Properties"]["Targets"][0]
    queue_id = target["Arn"]["Fn::GetAtt"][0]
    queue = cfn.resources[queue_id]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 5
    dlq_id = queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    # the consumer's visibility is ≥ 6 × its timeout (AWS guidance for SQS event sources)
    _, fn = cfn.function(PROFILES)
    assert queue["VisibilityTimeout"] >= 6 * fn["Properties"]["Timeout"]
    # if EventBridge itself cannot deliver, the event lands in the same DLQ
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": [dlq_id, "Arn"]}
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": {"Fn::GetAtt": [queue_id, "Arn"]},
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
    )


def test_every_queue_is_encrypted_and_tls_only(cfn):
    queues = cfn.of_type("AWS::SQS::Queue")
    assert queues
    for queue_id, queue in queues.items():
        props = queue["Properties"]
        assert props.get("SqsManagedSseEnabled") or props.get("KmsMasterKeyId"), queue_id
        denies_plain_http = [
            p
            for p in cfn.of_type("AWS::SQS::QueuePolicy").values()
            if {"Ref": queue_id} in p["Properties"]["Queues"]
            and any(
                s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
                for s in p["Properties"]["PolicyDocument"]["Statement"]
            )
        ]
        assert denies_plain_http, f"{queue_id} accepts requests without TLS"


def test_ses_events_go_to_the_default_bus_and_feedback(template, cfn):
    template.has_resource_properties(
        "AWS::SES::ConfigurationSetEventDestination",
        {
            "EventDestination": Match.object_like(
                {
                    "Enabled": True,
                    "EventBridgeDestination": {
                        "EventBusArn": Match.object_like({"Fn::Join": Match.any_value()})
                    },
                    "MatchingEventTypes": Match.array_with(
                        [
                            "send",
                            "delivery",
                            "bounce",
                            "complaint",
                            "open",
                            "click",
                            "reject",
                            "deliveryDelay",
                        ]
                    ),
                }
            )
        },
    )
    destination = next(iter(cfn.of_type("AWS::SES::ConfigurationSetEventDestination").values()))
    assert json.dumps(destination["Properties"]["EventDestination"]["EventBridgeDestination"]).endswith(
        ':event-bus/default"]]}}'
    )
    feedback_id, _ = cfn.function(FEEDBACK)
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.ses"],
                "detail": {
                    "mail": {
                        "tags": {
                            "ses:configuration-set": [{"Ref": Match.string_like_regexp("ConfigurationSet")}]
                        }
                    }
                },
            },
            "Targets": Match.array_with(
                [
                    Match.object_like(
                        {"Arn": {"Fn::GetAtt": [feedback_id, "Arn"]}, "DeadLetterConfig": Match.any_value()}
                    )
                ]
            ),
        },
    )


# ---- API
@pytest.mark.parametrize(
    "route_key",
    [
        f"POST {c.PATH_SHOPIFY_WEBHOOK}",
        f"POST {c.PATH_GENERIC_WEBHOOK}",
        f"POST {c.PATH_LINE_WEBHOOK}",
        f"GET {c.PATH_UNSUBSCRIBE}",
        f"POST {c.PATH_UNSUBSCRIBE}",
        f"GET {c.PATH_CLICK}",
        f"HEAD {c.PATH_CLICK}",
    ],
)
def test_api_routes_exist(template, route_key):
    template.has_resource_properties("AWS::ApiGatewayV2::Route", {"RouteKey": route_key})


@pytest.mark.parametrize(
    ("route_key", "handler"),
    [
        (f"POST {c.PATH_SHOPIFY_WEBHOOK}", INTAKE),
        (f"POST {c.PATH_GENERIC_WEBHOOK}", INTAKE),
        (f"POST {c.PATH_LINE_WEBHOOK}", LINE_WEBHOOK),
        (f"GET {c.PATH_UNSUBSCRIBE}", PREFERENCES),
        (f"GET {c.PATH_CLICK}", CLICK),
    ],
)
def test_routes_reach_the_right_function(cfn, route_key, handler):
    route = next(
        r
        for r in cfn.of_type("AWS::ApiGatewayV2::Route").values()
        if r["Properties"]["RouteKey"] == route_key
    )
    integration_id = route["Properties"]["Target"]["Fn::Join"][1][1]["Ref"]
    integration = cfn.resources[integration_id]["Properties"]
    fn_id, _ = cfn.function(handler)
    assert integration["IntegrationUri"] == {"Fn::GetAtt": [fn_id, "Arn"]}
    assert integration["PayloadFormatVersion"] == "2.0"


def test_api_stage_logs_access_without_paths_and_throttles(template):
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Stage",
        {
            "StageName": "$default",
            "AccessLogSettings": {
                "DestinationArn": Match.any_value(),
                # /u/{token} paths carry unsubscribe tokens: log the route key, never the path
                "Format": Match.serialized_json(Match.object_like({"routeKey": "$context.routeKey"})),
            },
            "DefaultRouteSettings": {
                "ThrottlingBurstLimit": Match.any_value(),
                "ThrottlingRateLimit": Match.any_value(),
            },
        },
    )


def test_access_log_format_has_no_path(template_json):
    stage = next(r for r in template_json["Resources"].values() if r["Type"] == "AWS::ApiGatewayV2::Stage")
    assert "$context.path" not in stage["Properties"]["AccessLogSettings"]["Format"]


# ---- functions
@pytest.mark.parametrize("handler", ALL_HANDLERS)
def test_functions_share_the_defaults(template, cfn, handler):
    _fn_id, fn = cfn.function(handler)
    props = fn["Properties"]
    assert props["Runtime"] == "python3.13"
    assert props["Architectures"] == ["arm64"]
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["LoggingConfig"]["LogFormat"] == "JSON"
    env = props["Environment"]["Variables"]
    assert env[c.ENV_SHOP_CONFIG_DIR] == "/opt/shop"
    assert env[c.ENV_POWERTOOLS_METRICS_NAMESPACE] == c.METRICS_NAMESPACE
    assert {c.ENV_TABLE_NAME, c.ENV_EVENT_BUS_NAME} <= env.keys()
    assert len(props["Layers"]) == 3
    # its own log group, with retention
    log_group_id = props["LoggingConfig"]["LogGroup"]["Ref"]
    assert cfn.resources[log_group_id]["Properties"]["RetentionInDays"] > 0


def test_secrets_are_referenced_by_arn_never_by_value(cfn):
    for fn in cfn.of_type("AWS::Lambda::Function").values():
        for name, value in fn["Properties"]["Environment"]["Variables"].items():
            if name.endswith("_SECRET_ARN"):
                assert isinstance(value, dict) and "Ref" in value, name  # a Ref to the secret = its ARN


# ---- least privilege
def test_intake_cannot_touch_state_machines_and_only_puts_events_on_the_enishi_bus(cfn):
    actions = cfn.actions(INTAKE)
    assert not [a for a in actions if a.startswith("states:")]
    assert not [a for a in actions if a.startswith("ses:")]
    bus_id = cfn.logical_id("AWS::Events::EventBus")
    assert cfn.resources_for(INTAKE, "events:PutEvents") == [{"Fn::GetAtt": [bus_id, "Arn"]}]


def test_intake_can_only_put_raw_payloads(cfn):
    s3_actions = {a for a in cfn.actions(INTAKE) if a.startswith("s3:")}
    assert s3_actions == {"s3:PutObject"}


def test_intake_reads_only_the_webhook_secrets(cfn):
    secret_ids = {
        k for k, r in cfn.of_type("AWS::SecretsManager::Secret").items() if "Shopify" in k or "Generic" in k
    }
    readable = cfn.resources_for(INTAKE, "secretsmanager:GetSecretValue")
    assert {r["Ref"] for r in readable} == secret_ids


def test_profiles_cannot_send_email_or_start_sequences(cfn):
    actions = cfn.actions(PROFILES)
    assert not [a for a in actions if a.startswith(("ses:", "states:", "secretsmanager:", "s3:"))]
    assert "events:PutEvents" in actions


def test_the_click_function_cannot_send_publish_or_start_anything(cfn):
    actions = cfn.actions(CLICK)
    assert not {a for a in actions if a.startswith(("ses:", "events:", "states:", "s3:"))}


def test_preferences_reads_the_table_but_cannot_write_it(cfn):
    actions = cfn.actions(PREFERENCES)
    assert "dynamodb:GetItem" in actions
    assert not {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"} & actions


def test_only_the_send_step_may_send_email_and_only_through_the_configuration_set(cfn):
    for handler in ALL_HANDLERS:
        if handler != STEP:
            assert "ses:SendEmail" not in cfn.actions(handler), handler
    resources = json.dumps(cfn.resources_for(STEP, "ses:SendEmail"))
    assert ":configuration-set/" in resources and ":identity/" in resources
    env = cfn.function(STEP)[1]["Properties"]["Environment"]["Variables"]
    assert {c.ENV_SES_CONFIGURATION_SET, c.ENV_LINE_SECRET_ARN, c.ENV_UNSUBSCRIBE_SECRET_ARN} <= env.keys()


def test_the_deployed_sender_is_shop_yamls_from_address(cfn):
    # Given no -c enishi:sesFromAddress, the stack must not pin a sender of its own: the step then sends with
    # shop.yaml's from_address (display name included), the one a shop edits. (It used to pin noreply@/unconfigured@.)
    env = cfn.function(STEP)[1]["Properties"]["Environment"]["Variables"]
    assert c.ENV_SES_FROM_ADDRESS not in env


def test_no_function_role_allows_every_action(cfn):
    for handler in ALL_HANDLERS:
        assert not [a for a in cfn.actions(handler) if a == "*" or a.endswith(":*")], handler


# ---- alarms
def test_every_dead_letter_queue_has_an_alarm(cfn):
    dlq_ids = {
        q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for q in cfn.of_type("AWS::SQS::Queue").values()
        if "RedrivePolicy" in q["Properties"]
    }
    dlq_ids |= {k for k in cfn.of_type("AWS::SQS::Queue") if "FeedbackDlq" in k}
    watched = {
        d["Value"]["Fn::GetAtt"][0]
        for a in cfn.of_type("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
        for d in a["Properties"]["Dimensions"]
    }
    assert dlq_ids and dlq_ids <= watched


def test_unprocessable_payload_alarm_pages_the_topic(template, cfn):
    topic_id = cfn.logical_id("AWS::SNS::Topic")
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": c.METRICS_NAMESPACE,
            "MetricName": "UnprocessablePayload",
            "Dimensions": [{"Name": "service", "Value": "enishi"}],
            "Threshold": 0,
            "ComparisonOperator": "GreaterThanThreshold",
            "AlarmActions": [{"Ref": topic_id}],
        },
    )


def test_alarm_topic_is_encrypted_and_tls_only(template):
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
                        )
                    ]
                )
            }
        },
    )


@pytest.mark.parametrize("handler", ALL_HANDLERS)
def test_every_function_has_an_error_alarm(cfn, handler):
    fn_id, _ = cfn.function(handler)
    assert any(
        a["Properties"].get("MetricName") == "Errors"
        and a["Properties"]["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": fn_id}}]
        for a in cfn.of_type("AWS::CloudWatch::Alarm").values()
    )


def test_every_state_machine_has_a_failure_alarm(cfn):
    machines = set(cfn.of_type("AWS::StepFunctions::StateMachine"))
    alarmed = set()
    for alarm in cfn.of_type("AWS::CloudWatch::Alarm").values():
        for metric in alarm["Properties"].get("Metrics", []):
            stat = metric.get("MetricStat", {}).get("Metric", {})
            if stat.get("MetricName") == "ExecutionsFailed":
                alarmed |= {d["Value"]["Ref"] for d in stat["Dimensions"]}
    assert machines and machines <= alarmed


# ---- outputs
@pytest.mark.parametrize(
    "output",
    [
        c.OUTPUT_API_URL,
        c.OUTPUT_TABLE_NAME,
        c.OUTPUT_EVENT_BUS_NAME,
        c.OUTPUT_SHOPIFY_SECRET_ARN,
        c.OUTPUT_GENERIC_SECRET_ARN,
        c.OUTPUT_LINE_SECRET_ARN,
        c.OUTPUT_RAW_BUCKET_NAME,
    ],
)
def test_outputs(template, output):
    template.has_output(output, {"Value": Match.any_value()})


def test_the_daily_winback_schedule_keeps_failed_runs_in_a_dead_letter_queue(template):
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": "cron(0 1 * * ? *)",
            "Targets": [
                Match.object_like(
                    {
                        "RetryPolicy": {"MaximumRetryAttempts": 2},
                        "DeadLetterConfig": {"Arn": Match.any_value()},
                    }
                )
            ],
        },
    )
