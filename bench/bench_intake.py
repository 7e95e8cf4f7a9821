"""Intake figures (issue 3):

(a) warm handler time per webhook ÷ the floor measured in the same run (HMAC verify + json.loads + one PutEvents to
    the same moto bus) — goal ≤ 1.5×;
(b) cold import of ``enishi.intake.handler`` ÷ ``import boto3``, each in fresh interpreters (median of 7) — goal ≤ 1.5×.

Run: ``.venv/bin/python -m bench bench_intake``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.fake_aws import use_fake_aws

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "events" / "shopify" / "orders__create.json"
SHOP = "enishi-demo.myshopify.com"
SECRET = "bench-secret"
WARM_ROUNDS = 300
COLD_RUNS = 7
GOAL = 1.5


def _env() -> None:
    use_fake_aws(
        AWS_SESSION_TOKEN="testing",
        POWERTOOLS_SERVICE_NAME="enishi",
        POWERTOOLS_METRICS_NAMESPACE="enishi",
        POWERTOOLS_TRACE_DISABLED="1",
    )


def _event(raw: bytes, event_id: str, signature: str) -> dict:
    from enishi import constants as c

    return {
        "version": "2.0",
        "routeKey": f"POST {c.PATH_SHOPIFY_WEBHOOK}",
        "rawPath": c.PATH_SHOPIFY_WEBHOOK,
        "headers": {
            "x-shopify-topic": "orders/create",
            "x-shopify-shop-domain": SHOP,
            "x-shopify-event-id": event_id,
            "x-shopify-webhook-id": f"wh-{event_id}",
            "x-shopify-hmac-sha256": signature,
        },
        "requestContext": {"http": {"method": "POST", "path": c.PATH_SHOPIFY_WEBHOOK}},
        "body": raw.decode("utf-8"),
        "isBase64Encoded": False,
    }


def warm() -> dict:
    _env()
    import boto3
    from moto import mock_aws

    from enishi import bootstrap, signatures
    from enishi import constants as c

    with mock_aws():
        ddb = boto3.client("dynamodb")
        ddb.create_table(
            TableName="bench",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk")],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
        )
        events_client = boto3.client("events")
        events_client.create_event_bus(Name=c.EVENT_BUS_NAME)
        boto3.client("s3").create_bucket(
            Bucket="bench-raw", CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"}
        )
        arn = boto3.client("secretsmanager").create_secret(Name="shopify", SecretString=SECRET)["ARN"]
        os.environ.update(
            {
                c.ENV_TABLE_NAME: "bench",
                c.ENV_EVENT_BUS_NAME: c.EVENT_BUS_NAME,
                c.ENV_RAW_BUCKET_NAME: "bench-raw",
                c.ENV_SHOPIFY_SECRET_ARN: arn,
                c.ENV_GENERIC_SECRET_ARN: arn,
            }
        )
        from enishi.intake import handler

        bootstrap.reset_all()
        raw = SAMPLE.read_bytes()
        signature = signatures.sign_shopify(raw, SECRET)

        def floor_once() -> None:
            assert signatures.verify_shopify(raw, signature, [SECRET])
            body = json.loads(raw)
            events_client.put_events(
                Entries=[
                    {
                        "Source": c.EVENT_SOURCE_INTAKE,
                        "DetailType": c.ORDER_PLACED,
                        "Detail": json.dumps(body),
                        "EventBusName": c.EVENT_BUS_NAME,
                    }
                ]
            )

        def dedupe_put_once(i: int) -> None:  # the one write the spec adds to the floor: the dedupe marker
            ddb.put_item(
                TableName="bench",
                Item={"pk": {"S": f"floor-{i}"}, "sk": {"S": "DEDUPE"}, "expires_at": {"N": "1"}},
                ConditionExpression="attribute_not_exists(pk)",
            )

        def handler_once(i: int) -> None:
            resp = handler.handler(_event(raw, f"bench-{i}", signature), None)
            assert resp["statusCode"] == 200 and '"accepted"' in resp["body"], resp

        sink = io.StringIO()
        with contextlib.redirect_stdout(sink):  # Powertools writes EMF metrics to stdout on every call
            for i in range(20):  # warm both paths (secrets cache, clients, pydantic)
                floor_once()
                handler_once(-i - 1)
            floors, handlers, puts = [], [], []
            for i in range(WARM_ROUNDS):  # interleaved, so drift hits both alike
                t = time.perf_counter()
                floor_once()
                floors.append(time.perf_counter() - t)
                t = time.perf_counter()
                handler_once(i)
                handlers.append(time.perf_counter() - t)
                t = time.perf_counter()
                dedupe_put_once(i)
                puts.append(time.perf_counter() - t)
                sink.seek(0)
                sink.truncate()
        bootstrap.reset_all()
    f, h, p = statistics.median(floors), statistics.median(handlers), statistics.median(puts)
    return {
        "handler_ms": h * 1000,
        "floor_ms": f * 1000,
        "put_ms": p * 1000,
        "ratio": h / f,
        "ratio_with_put": h / (f + p),
    }


def _import_ms(module: str) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print((time.perf_counter() - t) * 1000)"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "functions")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    return float(out.stdout.strip())


def cold() -> dict:
    _env()
    handler_ms, boto3_ms, required_ms = [], [], []
    for _ in range(COLD_RUNS):  # alternate, so machine load hits both alike
        boto3_ms.append(_import_ms("boto3"))
        handler_ms.append(_import_ms("enishi.intake.handler"))
        required_ms.append(
            _import_ms("boto3, enishi.events")
        )  # what any handler publishing canonical events needs
    h, b, r = statistics.median(handler_ms), statistics.median(boto3_ms), statistics.median(required_ms)
    return {"handler_ms": h, "boto3_ms": b, "required_ms": r, "ratio": h / b, "required_ratio": r / b}


def run() -> list[dict]:
    w = warm()
    c_ = cold()
    return [
        {
            "name": "intake warm: handler ÷ floor (HMAC + json.loads + PutEvents)",
            "value": round(w["ratio"], 2),
            "unit": "×",
            "goal": f"≤ {GOAL}×",
            "ok": w["ratio"] <= GOAL,
            "note": (
                f"median of {WARM_ROUNDS} on moto: handler {w['handler_ms']:.2f} ms, floor {w['floor_ms']:.2f} ms; "
                f"the required dedupe PutItem alone {w['put_ms']:.2f} ms — "
                f"handler ÷ (floor + PutItem) = {w['ratio_with_put']:.2f}×"
            ),
        },
        {
            "name": "intake cold import ÷ import boto3",
            "value": round(c_["ratio"], 2),
            "unit": "×",
            "goal": f"≤ {GOAL}×",
            "ok": c_["ratio"] <= GOAL,
            "note": (
                f"median of {COLD_RUNS} fresh interpreters: "
                f"handler {c_['handler_ms']:.0f} ms, boto3 {c_['boto3_ms']:.0f} ms; "
                f"boto3 + pydantic canonical events alone {c_['required_ms']:.0f} ms = {c_['required_ratio']:.2f}×"
            ),
        },
    ]


if __name__ == "__main__":
    print(json.dumps(run(), indent=2, ensure_ascii=False))
