"""The polled-cart construct: per connection a secret, a scheduled poller (reserved concurrency 1), DLQs that
Monitoring alarms on, and for EC-CUBE a webhook route and fetch queue. cdk-nag passes (synthesize raises if not)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from enishi import constants as c
from tests.infra.conftest import Cfn

CONNECTIONS = [
    {
        "id": "eccube-main",
        "cart": "eccube",
        "shopId": "enishi-demo.myshopify.com",
        "baseUrl": "https://shop.example.jp",
        "sweepMinutes": 15,
    },
    {
        "id": "colorme-main",
        "cart": "colorme",
        "shopId": "enishi-demo.myshopify.com",
        "baseUrl": "https://api.shop-pro.jp",
        "sweepMinutes": 10,
        "defaultCarrier": "ヤマト運輸",
    },
]
CONTEXT = {"enishi:cartConnections": json.dumps(CONNECTIONS, ensure_ascii=False)}


@pytest.fixture(scope="module")
def cfn() -> Cfn:
    from infra.synth import synthesize

    path: Path = synthesize(CONTEXT)
    return Cfn(json.loads(path.read_text()))


def _by_connection(cfn: Cfn, handler: str) -> dict[str, dict[str, Any]]:
    out = {}
    for fn in cfn.of_type("AWS::Lambda::Function").values():
        if fn["Properties"]["Handler"] == handler:
            conn = json.loads(fn["Properties"]["Environment"]["Variables"][c.ENV_CART_CONNECTION])
            out[conn["id"]] = fn
    return out


def test_one_poller_per_connection_with_reserved_concurrency_one(cfn: Cfn) -> None:
    pollers = _by_connection(cfn, "enishi.polling.handler.handler")
    assert set(pollers) == {"eccube-main", "colorme-main"}
    for fn in pollers.values():
        assert fn["Properties"]["ReservedConcurrentExecutions"] == 1


def test_each_connection_is_swept_on_its_own_schedule(cfn: Cfn) -> None:
    schedules = sorted(
        r["Properties"]["ScheduleExpression"]
        for r in cfn.of_type("AWS::Events::Rule").values()
        if "sweep" in r["Properties"].get("Description", "")
    )
    assert schedules == ["rate(10 minutes)", "rate(15 minutes)"]


def test_only_the_pushing_cart_gets_a_webhook_route(cfn: Cfn) -> None:
    routes = [r["Properties"]["RouteKey"] for r in cfn.of_type("AWS::ApiGatewayV2::Route").values()]
    assert "POST /webhooks/eccube/eccube-main" in routes
    assert not [r for r in routes if "colorme" in r]
    assert set(_by_connection(cfn, "enishi.polling.webhook.handler")) == {"eccube-main"}


def test_a_poller_may_touch_only_its_own_secret(cfn: Cfn) -> None:
    pollers = _by_connection(cfn, "enishi.polling.handler.handler")
    secrets = {
        fn["Properties"]["Environment"]["Variables"][c.ENV_CART_SECRET_ARN]["Ref"] for fn in pollers.values()
    }
    assert len(secrets) == 2
    for conn_id, fn in pollers.items():
        own = fn["Properties"]["Environment"]["Variables"][c.ENV_CART_SECRET_ARN]
        handler_statements = []
        role_id = fn["Properties"]["Role"]["Fn::GetAtt"][0]
        for policy in cfn.of_type("AWS::IAM::Policy").values():
            if {"Ref": role_id} in policy["Properties"]["Roles"]:
                handler_statements += policy["Properties"]["PolicyDocument"]["Statement"]
        secret_resources = [
            s["Resource"]
            for s in handler_statements
            if any(str(a).startswith("secretsmanager:") for a in _list(s["Action"]))
        ]
        assert secret_resources and all(r == own for r in secret_resources), conn_id
        actions = {a for s in handler_statements for a in _list(s["Action"])}
        assert "secretsmanager:PutSecretValue" in actions  # rotated refresh tokens are saved back
        assert not any(a.endswith("*") and a.startswith("secretsmanager") for a in actions)


def test_failures_land_in_alarmed_queues(cfn: Cfn) -> None:
    configs = [k for k in cfn.of_type("AWS::Lambda::EventInvokeConfig") if k.startswith("CartPolling")]
    assert len(configs) == 2
    alarms = cfn.of_type("AWS::CloudWatch::Alarm")
    watched = json.dumps(alarms)
    queues = [
        k for k in cfn.of_type("AWS::SQS::Queue") if "CartPolling" in k and ("Failures" in k or "Dlq" in k)
    ]
    assert len(queues) == 3  # two sweep-failure queues, one fetch DLQ
    for q in queues:
        assert q in watched


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_a_connection_for_a_shop_the_deployment_does_not_serve_fails_the_synth() -> None:
    import aws_cdk as cdk

    from enishi.polling.contract import CartConnection
    from infra.constructs.polling import CartPolling

    stack = cdk.Stack(cdk.App())
    with pytest.raises(ValueError, match="does not serve"):
        CartPolling(
            stack,
            "P",
            connections=[
                CartConnection(
                    id="x", cart="colorme", shop_id="other-shop", base_url="https://api.shop-pro.jp"
                )
            ],
            functions=None,
            table=None,
            bus=None,
            raw=None,
            api=None,  # type: ignore[arg-type]
            removal_policy=cdk.RemovalPolicy.DESTROY,
            served_shops=["enishi-demo.myshopify.com"],
        )
