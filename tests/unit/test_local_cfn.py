"""Reading a synthesized template: intrinsics resolved with the local account/region, typed views of resources."""

from __future__ import annotations

import json

import pytest

from enishi_local.cfn import Template, TemplateError

A, R = "123456789012", "ap-northeast-1"


def _template() -> dict:
    """A miniature of what CDK synthesizes for enishi (the shapes, not the whole thing)."""
    step_definition = {
        "Fn::Join": [
            "",
            [
                '{"StartAt":"Wait","States":{"Wait":{"Type":"Wait","TimestampPath":"$.wait_until","Next":"Send"},'
                '"Send":{"Type":"Task","Resource":"arn:',
                {"Ref": "AWS::Partition"},
                ':states:::lambda:invoke","Parameters":{"FunctionName":"',
                {"Fn::GetAtt": ["StepFn", "Arn"]},
                '","Payload.$":"$"},"End":true}}}',
            ],
        ]
    }
    return {
        "Parameters": {"BootstrapVersion": {"Type": "AWS::SSM::Parameter::Value<String>", "Default": "/cdk"}},
        "Resources": {
            "Table": {
                "Type": "AWS::DynamoDB::GlobalTable",
                "Properties": {
                    "KeySchema": [
                        {"AttributeName": "pk", "KeyType": "HASH"},
                        {"AttributeName": "sk", "KeyType": "RANGE"},
                    ],
                    "AttributeDefinitions": [
                        {"AttributeName": "pk", "AttributeType": "S"},
                        {"AttributeName": "sk", "AttributeType": "S"},
                    ],
                    "GlobalSecondaryIndexes": [
                        {
                            "IndexName": "orders_by_day",
                            "KeySchema": [{"AttributeName": "gsi1pk", "KeyType": "HASH"}],
                            "Projection": {"ProjectionType": "KEYS_ONLY"},
                        }
                    ],
                    "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
                    "Replicas": [{"Region": R}],
                },
            },
            "Bus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": "enishi"}},
            "ProfilesDlq": {"Type": "AWS::SQS::Queue", "Properties": {}},
            "ProfilesQueue": {
                "Type": "AWS::SQS::Queue",
                "Properties": {
                    "VisibilityTimeout": 60,
                    "RedrivePolicy": {
                        "deadLetterTargetArn": {"Fn::GetAtt": ["ProfilesDlq", "Arn"]},
                        "maxReceiveCount": 5,
                    },
                },
            },
            "ShopifySecret": {
                "Type": "AWS::SecretsManager::Secret",
                "Properties": {"Name": "enishi/shopify", "GenerateSecretString": {"PasswordLength": 32}},
            },
            "ProfilesFn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Handler": "enishi.profiles.handler.handler",
                    "Runtime": "python3.13",
                    "Timeout": 30,
                    "Environment": {
                        "Variables": {
                            "ENISHI_TABLE_NAME": {"Ref": "Table"},
                            "ENISHI_EVENT_BUS_NAME": {"Ref": "Bus"},
                            "ENISHI_SHOPIFY_SECRET_ARN": {"Ref": "ShopifySecret"},
                            "ENISHI_STATE_MACHINE_ARNS": {
                                "Fn::Join": ["", ['{"cart_recovery":"', {"Ref": "CartMachine"}, '"}']]
                            },
                            "QUEUE": {"Fn::Sub": "${ProfilesQueue.QueueName} in ${AWS::Region}"},
                        }
                    },
                },
            },
            "StepFn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "FunctionName": "enishi-step",
                    "Handler": "enishi.sequences.step.handler.handler",
                    "Runtime": "python3.13",
                },
            },
            "CartMachine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "StateMachineName": "enishi-cart_recovery",
                    "DefinitionString": step_definition,
                },
            },
            "ProfilesMapping": {
                "Type": "AWS::Lambda::EventSourceMapping",
                "Properties": {
                    "EventSourceArn": {"Fn::GetAtt": ["ProfilesQueue", "Arn"]},
                    "FunctionName": {"Ref": "ProfilesFn"},
                    "BatchSize": 10,
                    "FunctionResponseTypes": ["ReportBatchItemFailures"],
                },
            },
            "ProfilesRule": {
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "EventBusName": {"Ref": "Bus"},
                    "EventPattern": {"source": ["enishi.intake", "enishi.messaging"]},
                    "State": "ENABLED",
                    "Targets": [{"Arn": {"Fn::GetAtt": ["ProfilesQueue", "Arn"]}, "Id": "Target0"}],
                },
            },
            "DailyRule": {
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "ScheduleExpression": "cron(0 1 * * ? *)",
                    "State": "ENABLED",
                    "Targets": [{"Arn": {"Fn::GetAtt": ["StepFn", "Arn"]}, "Id": "Target0"}],
                },
            },
            "Api": {
                "Type": "AWS::ApiGatewayV2::Api",
                "Properties": {"Name": "enishi", "ProtocolType": "HTTP"},
            },
            "ShopifyIntegration": {
                "Type": "AWS::ApiGatewayV2::Integration",
                "Properties": {
                    "ApiId": {"Ref": "Api"},
                    "IntegrationType": "AWS_PROXY",
                    "PayloadFormatVersion": "2.0",
                    "IntegrationUri": {"Fn::GetAtt": ["ProfilesFn", "Arn"]},
                },
            },
            "ShopifyRoute": {
                "Type": "AWS::ApiGatewayV2::Route",
                "Properties": {
                    "ApiId": {"Ref": "Api"},
                    "RouteKey": "POST /webhooks/shopify",
                    "Target": {"Fn::Join": ["", ["integrations/", {"Ref": "ShopifyIntegration"}]]},
                },
            },
            "UnsubIntegration": {
                "Type": "AWS::ApiGatewayV2::Integration",
                "Properties": {
                    "ApiId": {"Ref": "Api"},
                    "IntegrationType": "AWS_PROXY",
                    "IntegrationUri": {
                        "Fn::Join": [
                            "",
                            [
                                "arn:aws:apigateway:",
                                {"Ref": "AWS::Region"},
                                ":lambda:path/2015-03-31/functions/",
                                {"Fn::GetAtt": ["StepFn", "Arn"]},
                                "/invocations",
                            ],
                        ]
                    },
                },
            },
            "UnsubRoute": {
                "Type": "AWS::ApiGatewayV2::Route",
                "Properties": {
                    "ApiId": {"Ref": "Api"},
                    "RouteKey": "GET /u/{token}",
                    "Target": {"Fn::Join": ["", ["integrations/", {"Ref": "UnsubIntegration"}]]},
                },
            },
            "Raw": {"Type": "AWS::S3::Bucket", "Properties": {}},
            "ConfigSet": {"Type": "AWS::SES::ConfigurationSet", "Properties": {"Name": "enishi"}},
        },
    }


@pytest.fixture
def tpl() -> Template:
    return Template(_template())


def test_refs_and_attributes_use_the_local_account_region_and_deterministic_names(tpl):
    assert tpl.resolve({"Ref": "Bus"}) == "enishi"
    assert tpl.resolve({"Ref": "Table"}) == "Enishi-Table"
    assert (
        tpl.resolve({"Fn::GetAtt": ["ProfilesQueue", "Arn"]}) == f"arn:aws:sqs:{R}:{A}:Enishi-ProfilesQueue"
    )
    assert tpl.resolve({"Ref": "ProfilesQueue"}).endswith(f"/{A}/Enishi-ProfilesQueue")
    assert tpl.resolve({"Ref": "CartMachine"}) == f"arn:aws:states:{R}:{A}:stateMachine:enishi-cart_recovery"
    assert tpl.resolve({"Ref": "Raw"}) == "enishi-raw"
    assert (
        tpl.resolve({"Fn::Sub": ["${X}-${AWS::AccountId}-${!Literal}", {"X": {"Ref": "Bus"}}]})
        == f"enishi-{A}-${{Literal}}"
    )
    assert tpl.resolve({"Fn::Select": [1, {"Fn::Split": [",", "a,b,c"]}]}) == "b"
    assert tpl.resolve({"a": {"Ref": "AWS::NoValue"}, "b": 1}) == {"b": 1}


def test_unsupported_intrinsics_fail_loudly(tpl):
    with pytest.raises(TemplateError):
        tpl.resolve({"Fn::ImportValue": "x"})
    with pytest.raises(TemplateError):
        tpl.resolve({"Fn::GetAtt": ["Bus", "Nonsense"]})


def test_functions_have_resolved_environment_and_timeout(tpl):
    fns = tpl.functions()
    profiles = fns["ProfilesFn"]
    assert profiles.handler == "enishi.profiles.handler.handler"
    assert profiles.timeout == 30
    assert profiles.environment["ENISHI_TABLE_NAME"] == "Enishi-Table"
    assert profiles.environment["ENISHI_EVENT_BUS_NAME"] == "enishi"
    assert json.loads(profiles.environment["ENISHI_STATE_MACHINE_ARNS"]) == {
        "cart_recovery": f"arn:aws:states:{R}:{A}:stateMachine:enishi-cart_recovery"
    }
    assert profiles.environment["QUEUE"] == f"Enishi-ProfilesQueue in {R}"
    assert fns["StepFn"].name == "enishi-step"
    assert fns["StepFn"].timeout == 3  # CloudFormation's default


def test_an_override_replaces_what_moto_assigned(tpl):
    actual = f"arn:aws:secretsmanager:{R}:{A}:secret:enishi/shopify-AbCdEf"
    tpl.override("ShopifySecret", ref=actual, Arn=actual)
    assert tpl.functions()["ProfilesFn"].environment["ENISHI_SHOPIFY_SECRET_ARN"] == actual


def test_state_machine_definitions_carry_the_step_function_arn(tpl):
    machines = tpl.state_machines()
    cart = machines["enishi-cart_recovery"]
    send = cart.definition["States"]["Send"]
    assert send["Resource"] == "arn:aws:states:::lambda:invoke"
    assert send["Parameters"]["FunctionName"] == f"arn:aws:lambda:{R}:{A}:function:enishi-step"
    assert cart.type == "STANDARD"


def test_rules_queues_and_mappings(tpl):
    rules = tpl.rules()
    profiles = rules["ProfilesRule"]
    assert profiles.bus_name == "enishi"
    assert profiles.pattern == {"source": ["enishi.intake", "enishi.messaging"]}
    assert [t.service for t in profiles.targets] == ["sqs"]
    daily = rules["DailyRule"]
    assert daily.bus_name == "default" and daily.schedule == "cron(0 1 * * ? *)"
    assert daily.targets[0].service == "lambda"

    queues = tpl.queues()
    q = queues[f"arn:aws:sqs:{R}:{A}:Enishi-ProfilesQueue"]
    assert q.dead_letter_arn == f"arn:aws:sqs:{R}:{A}:Enishi-ProfilesDlq" and q.max_receive_count == 5
    assert q.visibility_timeout == 60

    (mapping,) = tpl.event_source_mappings()
    assert mapping.queue_arn == q.arn
    assert mapping.function_name == "Enishi-ProfilesFn"
    assert mapping.report_batch_item_failures is True


def test_table_secrets_buckets_and_ses(tpl):
    (table,) = tpl.tables()
    assert table.name == "Enishi-Table"
    assert table.ttl_attribute == "expires_at"
    assert table.global_secondary_indexes[0]["IndexName"] == "orders_by_day"
    (secret,) = tpl.secrets()
    assert secret.name == "enishi/shopify" and secret.generate == {"PasswordLength": 32}
    assert tpl.buckets() == ["enishi-raw"]
    assert tpl.ses_configuration_sets() == ["enishi"]
    assert tpl.buses() == ["enishi"]


def test_routes_map_route_keys_to_functions_and_match_paths(tpl):
    routes = {r.route_key: r for r in tpl.routes()}
    assert routes["POST /webhooks/shopify"].function_name == "Enishi-ProfilesFn"
    unsub = routes["GET /u/{token}"]
    assert unsub.function_name == "enishi-step"
    assert unsub.match("GET", "/u/abc.def") == {"token": "abc.def"}
    assert unsub.match("POST", "/u/abc") is None
    assert unsub.match("GET", "/u/a/b") is None
    assert routes["POST /webhooks/shopify"].match("POST", "/webhooks/shopify") == {}
