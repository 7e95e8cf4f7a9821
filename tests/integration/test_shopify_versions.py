"""Shopify's own documented sample payloads, every topic enishi handles × every API version from 2023-07 on.

Each body in ``tests/events/shopify/versions/<version>/`` (sources in that folder's README) is signed with the test
secret and posted, byte for byte, through the real intake handler (moto: Secrets Manager, S3, DynamoDB, the bus);
what it publishes goes through the profile consumer's store. A sample counts as *processed* when intake answers
``200 accepted`` with at least one event, keeps nothing in the raw-payload bucket, and every event it published is
applied by the profile store without error. Goal: all of them (issue 9, suite item 2).

Known defects are ``xfail(strict=True)`` with the issue-9 defect number, so the test turns red the moment the fix
lands and the marker can be removed (see ``KNOWN``).

The state is one moto world per module (per xdist worker): samples are applied in whatever order a worker runs
them, which is itself the promise under test (any order, any repeats).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from enishi import bootstrap, clock, keys, signatures
from enishi import constants as c
from enishi import events as ev

VERSIONS_DIR = Path(__file__).resolve().parents[1] / "events" / "shopify" / "versions"
SHOP = "enishi-demo.myshopify.com"
SECRET = "shpss_samples"
BUCKET = "enishi-raw-samples"
NOW = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)

# (version, topic) → why it is expected to fail today. Remove an entry when its fix is merged (strict xfail
# turns the test red as soon as the sample passes).
KNOWN: dict[
    tuple[str, str], str
] = {}  # none: the null-state consent samples (issue 9 defect 10) are processed


def samples() -> list[tuple[str, str, Path]]:
    out = []
    for path in sorted(VERSIONS_DIR.glob("*/*.json")):
        version = path.parent.name
        out.append((version, path.stem.replace("__", "/"), path))
    return out


def _params() -> list[Any]:
    params = []
    for version, topic, path in samples():
        marks = (
            [pytest.mark.xfail(strict=True, reason=KNOWN[(version, topic)])]
            if (version, topic) in KNOWN
            else []
        )
        params.append(pytest.param(version, topic, path, id=f"{version}:{topic}", marks=marks))
    return params


@dataclass
class Outcome:
    status: int
    answer: dict[str, Any]
    kept: list[dict[str, Any]] = field(default_factory=list)
    published: list[Any] = field(default_factory=list)

    @property
    def processed(self) -> bool:
        return self.status == 200 and self.answer.get("status") == "accepted" and not self.kept


class Pipeline:
    """Intake handler → (bus → catch-all queue) → profile store, all under one moto world."""

    def __init__(
        self, intake_handler: Any, store: Any, sqs: Any, queue_url: str, s3: Any, table: Any
    ) -> None:
        self.table = table
        self._intake = intake_handler
        self._store = store
        self._sqs = sqs
        self._queue_url = queue_url
        self._s3 = s3
        self._n = 0

    def deliver(self, version: str, topic: str, raw: bytes) -> Outcome:
        self._n += 1
        headers = {
            "x-shopify-topic": topic,
            "x-shopify-shop-domain": SHOP,
            "x-shopify-api-version": version,
            "x-shopify-webhook-id": f"wh-{version}-{topic}-{self._n}",
            "x-shopify-event-id": f"evt-{version}-{topic}-{self._n}",
            "x-shopify-triggered-at": NOW.isoformat(),
            "x-shopify-hmac-sha256": signatures.sign_shopify(raw, SECRET),
            "content-type": "application/json",
        }
        event = {
            "version": "2.0",
            "routeKey": f"POST {c.PATH_SHOPIFY_WEBHOOK}",
            "rawPath": c.PATH_SHOPIFY_WEBHOOK,
            "rawQueryString": "",
            "headers": headers,
            "requestContext": {
                "http": {"method": "POST", "path": c.PATH_SHOPIFY_WEBHOOK, "sourceIp": "203.0.113.1"},
                "requestId": "req",
                "stage": "$default",
            },
            "body": base64.b64encode(raw).decode(),
            "isBase64Encoded": True,
        }
        resp = self._intake.handler(event, None)
        outcome = Outcome(resp["statusCode"], json.loads(resp["body"]), kept=self._take_kept())
        for body in self._drain():
            outcome.published.append(body["detail-type"])
            self._store.handle(
                ev.event_from_sqs_body(json.dumps(body))
            )  # raises if the consumer cannot apply it
        return outcome

    def _take_kept(self) -> list[dict[str, Any]]:
        kept = []
        for obj in self._s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
            kept.append(json.loads(self._s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()))
            self._s3.delete_object(Bucket=BUCKET, Key=obj["Key"])
        return kept

    def _drain(self) -> Iterator[dict[str, Any]]:
        while True:
            msgs = self._sqs.receive_message(QueueUrl=self._queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not msgs:
                return
            for m in msgs:
                self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=m["ReceiptHandle"])
                yield json.loads(m["Body"])


@pytest.fixture(scope="module")
def pipeline(single_table_factory) -> Iterator[Pipeline]:
    import boto3
    from aws_lambda_powertools.utilities import parameters
    from moto import mock_aws

    from enishi.intake import handler
    from enishi.profiles.store import ProfileStore
    from enishi.publish import InMemoryPublisher

    with mock_aws(), pytest.MonkeyPatch.context() as mp:
        table = single_table_factory("enishi-samples")
        events = boto3.client("events")
        sqs = boto3.client("sqs")
        s3 = boto3.client("s3")
        events.create_event_bus(Name=c.EVENT_BUS_NAME)
        queue_url = sqs.create_queue(QueueName="samples")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events.put_rule(
            Name="all", EventBusName=c.EVENT_BUS_NAME, EventPattern='{"source":[{"prefix":"enishi"}]}'
        )
        events.put_targets(Rule="all", EventBusName=c.EVENT_BUS_NAME, Targets=[{"Id": "q", "Arn": arn}])
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"})
        sm = boto3.client("secretsmanager")
        shopify_arn = sm.create_secret(Name="shopify-samples", SecretString=json.dumps({"current": SECRET}))[
            "ARN"
        ]
        generic_arn = sm.create_secret(Name="generic-samples", SecretString="unused")["ARN"]
        mp.setenv(c.ENV_TABLE_NAME, "enishi-samples")
        mp.setenv(c.ENV_EVENT_BUS_NAME, c.EVENT_BUS_NAME)
        mp.setenv(c.ENV_RAW_BUCKET_NAME, BUCKET)
        mp.setenv(c.ENV_SHOPIFY_SECRET_ARN, shopify_arn)
        mp.setenv(c.ENV_GENERIC_SECRET_ARN, generic_arn)
        parameters.clear_caches()
        bootstrap.reset_all()
        clock.set_provider(lambda: NOW)
        try:
            yield Pipeline(handler, ProfileStore(table, InMemoryPublisher()), sqs, queue_url, s3, table)
        finally:
            clock.reset()
            bootstrap.reset_all()
            parameters.clear_caches()


def test_every_handled_topic_has_a_sample_for_every_version():
    """The fixture set is complete: 13 topics from 2024-04 on; before that the versioned reference has no privacy
    topics (see the README), so 10."""
    from enishi.carts.shopify import TOPICS

    by_version: dict[str, set[str]] = {}
    for version, topic, _ in samples():
        by_version.setdefault(version, set()).add(topic)
    assert by_version, "no sample payloads found"
    privacy = {"customers/data_request", "customers/redact", "shop/redact"}
    for version, topics in by_version.items():
        expected = set(TOPICS) - privacy if version < "2024-04" else set(TOPICS)
        assert topics == expected, version


@pytest.mark.parametrize(("version", "topic", "path"), _params())
def test_shopify_documented_sample_is_processed_not_kept(pipeline, version, topic, path):
    # Given Shopify's documented sample body for this topic and API version, signed with the shop's secret
    raw = path.read_bytes()
    # When it is delivered to the intake endpoint and what it publishes is applied by the profile consumer
    outcome = pipeline.deliver(version, topic, raw)
    # Then it was accepted and turned into canonical events, and nothing was kept for replay
    assert outcome.kept == [], f"kept: {[k.get('details') for k in outcome.kept]}"
    assert outcome.processed, outcome.answer
    assert len(outcome.published) == outcome.answer["events"]
    # a consent whose state is null says "no change" (issue 9 defect 10): accepted with no event; every other
    # sample turns into at least one canonical event
    assert (outcome.answer["events"] == 0) is _null_consent_state(json.loads(raw)), outcome.answer


def _null_consent_state(body: dict[str, Any]) -> bool:
    consent = body.get("email_marketing_consent")
    return isinstance(consent, dict) and "email_address" in body and consent.get("state") is None


def _reflected_item(topic: str, body: dict[str, Any]) -> dict[str, str] | None:
    """The item the profile consumer writes for a sample of this topic (None where it writes none we can name)."""
    if topic in ("orders/create", "orders/paid"):
        return keys.order_key(SHOP, str(body["id"]))
    if topic in ("customers/create", "customers/update"):
        return keys.profile_key(SHOP, str(body["id"]))
    if topic in ("checkouts/create", "checkouts/update"):
        return keys.checkout_key(SHOP, str(body["token"]))
    return None


@pytest.mark.parametrize(
    ("version", "topic", "path"),
    [p for p in _params() if _reflected_item(p.values[1], {"id": 1, "token": "t"})],
)
def test_shopify_documented_sample_is_reflected_in_the_table(pipeline, version, topic, path):
    # Given the sample delivered through intake and the profile consumer
    raw = path.read_bytes()
    outcome = pipeline.deliver(version, topic, raw)
    assert outcome.processed, outcome.answer
    # Then the order / profile / checkout it describes is in the table
    key = _reflected_item(topic, json.loads(raw))
    assert "Item" in pipeline.table.get_item(Key=key), key
