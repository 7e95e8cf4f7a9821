"""moto's per-request shortcuts (``enishi_local.moto_fastpaths``) must not change what moto answers or raises: the
same operations run with and without each shortcut, on fresh mocks, and every answer and the final table compare
equal (request ids and other generated values aside)."""

from __future__ import annotations

import string
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import example, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from enishi_local import moto_fastpaths

Undo = Callable[[], None]
UNCHANGED: Callable[[], Undo] = lambda: lambda: None  # noqa: E731


def _run(install: Callable[[], Undo], script: Callable[[Any], list[Any]]) -> list[Any]:
    """``script``'s answers on a fresh mock with ``install`` in place; each ClientError as (code, message)."""
    with mock_aws():
        undo = install()
        try:
            table = boto3.resource("dynamodb", region_name="ap-northeast-1").create_table(
                TableName="t",
                BillingMode="PAY_PER_REQUEST",
                KeySchema=[
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk")],
            )
            return [*script(table), sorted(table.scan()["Items"], key=lambda i: (i["pk"], i["sk"]))]
        finally:
            undo()


def _without_then_with(
    install: Callable[[], Undo], script: Callable[[Any], list[Any]], runs: int = 1
) -> tuple[list[Any], list[list[Any]]]:
    """``script``'s answers without the shortcut, then ``runs`` times with it installed (a later run reads what an
    earlier one left in its caches), each on a fresh mock."""
    before = _run(UNCHANGED, script)
    undo = install()
    try:
        return before, [_run(UNCHANGED, script) for _ in range(runs)]
    finally:
        undo()


def _answer(call: Callable[..., dict[str, Any]], **kwargs: Any) -> Any:
    try:
        resp = call(**kwargs)
    except ClientError as e:
        return ("error", e.response["Error"]["Code"], e.response["Error"]["Message"])
    except ValueError as e:  # moto raises some syntax errors as they are, not as an AWS error
        return ("error", type(e).__name__, str(e))
    return {k: v for k, v in resp.items() if k != "ResponseMetadata"}


def _updates(table: Any) -> list[Any]:
    """The shapes the handlers use: a cap claim (won, lost, retried), counters, list appends, removes, a put-once."""
    key = {"pk": "C#1", "sk": "PROFILE"}
    claim = {
        "Key": key,
        "UpdateExpression": "SET last_sent = :now, cap_key = :k, version = if_not_exists(version, :zero) + :one",
        "ConditionExpression": "attribute_not_exists(last_sent) OR last_sent <= :lapsed OR cap_key = :k",
        "ReturnValues": "UPDATED_OLD",
    }
    counters = "SET #n = if_not_exists(#n, :z) + :d, events = list_append(if_not_exists(events, :e), :ev)"
    counters += " REMOVE cap_key"
    once = {"pk": "C#1", "sk": "MSG#1", "status": "sent"}
    out = []
    for now, k, lapsed in (
        ("2026-03-01", "a", "2026-02-28"),
        ("2026-03-02", "b", "2026-02-01"),
        ("2026-03-02", "a", "x"),
    ):
        values = {":now": now, ":k": k, ":lapsed": lapsed, ":zero": 0, ":one": 1}
        out.append(_answer(table.update_item, **claim, ExpressionAttributeValues=values))
    for i in range(3):
        values = {":z": 0, ":d": Decimal(i + 1), ":e": [], ":ev": [f"e{i}"]}
        out.append(
            _answer(
                table.update_item,
                Key=key,
                UpdateExpression=counters,
                ExpressionAttributeNames={"#n": "count"},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        )
    for _ in range(2):  # the second is the duplicate: the condition fails
        condition = "attribute_not_exists(pk) AND attribute_not_exists(sk)"
        out.append(_answer(table.put_item, Item=once, ConditionExpression=condition))
    out.append(
        _answer(table.update_item, Key=key, UpdateExpression="SET = :x", ExpressionAttributeValues={":x": 1})
    )
    out.append(_answer(table.update_item, Key=key, UpdateExpression="SET a = :x", ConditionExpression="a =="))
    out.append(_answer(table.get_item, Key=key, ConsistentRead=True))
    return out


def test_updates_and_conditions_answer_the_same_with_the_parsed_expressions_remembered():
    # Given the handlers' update and condition shapes, run twice with the caches (the second run reads them)
    before, (first, second) = _without_then_with(moto_fastpaths.install_expression_caches, _updates, runs=2)
    # Then every answer — wins, lost conditions, syntax errors — and the final table are the same
    assert first == before
    assert second == before
    assert before[1][0] == "error" and before[1][1] == "ConditionalCheckFailedException"
    assert before[-3][0] == before[-4][0] == "error"  # the two malformed expressions


_SIZES = st.lists(st.integers(min_value=0, max_value=150_000), min_size=1, max_size=6)


@settings(max_examples=30, deadline=None)
@given(sizes=_SIZES)
@example(sizes=[405000 - 6 - 2])  # exactly moto's limit (pk, sk and "a0" included): accepted
@example(sizes=[405000 - 6 - 2 + 1])  # one byte over: refused
@example(sizes=[200_000, 204_990])  # the limit crossed at the second attribute
def test_items_near_the_size_limit_are_accepted_or_refused_the_same(sizes):
    # Given items of several large attributes, some together over DynamoDB's 400 KB
    def puts(table: Any) -> list[Any]:
        item = {"pk": "p", "sk": "s", **{f"a{i}": "x" * n for i, n in enumerate(sizes)}}
        return [_answer(table.put_item, Item=item)]

    # When each is put with and without the running total
    before = _run(UNCHANGED, puts)
    after = _run(moto_fastpaths.install_item_size_running_total, puts)
    # Then the same items are stored and the same ones refused, with the same error
    assert after == before
    refused = before[0] != {}
    assert refused == (sum(len(f"a{i}") + n for i, n in enumerate(sizes)) + 2 + 1 + 2 + 1 > 405000)


def _several_services(_: Any) -> list[Any]:
    region = "ap-northeast-1"
    sqs, events, sfn = (boto3.client(s, region_name=region) for s in ("sqs", "events", "stepfunctions"))
    s3 = boto3.client("s3", region_name=region)
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="hello")
    s3.create_bucket(Bucket="enishi-fastpaths", CreateBucketConfiguration={"LocationConstraint": region})
    s3.put_object(Bucket="enishi-fastpaths", Key="dir/k.json", Body=b"{}")
    return [
        sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"],
        events.put_events(Entries=[{"Source": "s", "DetailType": "d", "Detail": "{}"}])["FailedEntryCount"],
        sfn.list_state_machines()["stateMachines"],
        s3.get_object(Bucket="enishi-fastpaths", Key="dir/k.json")["Body"].read(),
        _answer(s3.get_object, Bucket="enishi-fastpaths", Key="nothing"),
        _answer(sqs.get_queue_url, QueueName="missing"),
    ]


def test_requests_reach_the_same_backends_with_their_routes_remembered():
    # Given calls to several services, errors included, each URL seen more than once
    before, after = _without_then_with(moto_fastpaths.install_route_cache, _several_services, runs=2)
    # Then every answer is the same, including where moto answers an error
    assert after == [before, before]
    assert before[0] == "hello" and before[3] == b"{}"
    assert before[4][1] == "NoSuchKey"


def test_random_strings_keep_their_length_and_alphabet():
    from moto.moto_api._internal import mock_random

    undo = moto_fastpaths.install_fast_random_strings()
    try:
        ids = [mock_random.get_random_string(length=52) for _ in range(200)]
        short = mock_random.get_random_string(length=8, include_digits=False, lower_case=True)
    finally:
        undo()
    assert all(len(i) == 52 and set(i) <= set(string.ascii_letters + string.digits) for i in ids)
    assert len(set(ids)) == 200
    assert len(short) == 8 and set(short) <= set(string.ascii_lowercase)


@pytest.mark.parametrize(
    "install", [moto_fastpaths.install_expression_caches, moto_fastpaths.install_route_cache]
)
def test_each_shortcut_is_undone(install):
    from moto.core.botocore_stubber import BotocoreStubber
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    before = (BotocoreStubber.process_request, UpdateExpressionParser.__dict__["make"])
    install()()
    assert (BotocoreStubber.process_request, UpdateExpressionParser.__dict__["make"]) == before


def test_clock_reads_give_moto_s_answers_where_moto_calls_them():
    import datetime as dt

    import moto.core.utils as utils
    import moto.sqs.models as sqs_models

    when = dt.datetime(2026, 3, 1, 12, 30, 15, 123456)
    expected = (utils.unix_time(when), utils.unix_time_millis(when), utils.utcfromtimestamp(1772368215.5))
    original = sqs_models.unix_time
    undo = moto_fastpaths.install_plain_clock_reads()
    try:
        assert sqs_models.unix_time is not original  # rebound where SQS imported it
        got = (
            sqs_models.unix_time(when),
            sqs_models.unix_time_millis(when),
            utils.utcfromtimestamp(1772368215.5),
        )
        now_fast, now_wall = utils.unix_time(), dt.datetime.now(dt.UTC).timestamp()
        naive = utils.utcnow()
    finally:
        undo()
    assert got == expected
    assert abs(now_fast - now_wall) < 1
    assert naive.tzinfo is None
    assert sqs_models.unix_time is original  # undone


def _receives(_: Any) -> list[Any]:
    sqs = boto3.client("sqs", region_name="ap-northeast-1")
    url = sqs.create_queue(QueueName="q", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    attributes = {
        "trace": {"DataType": "String", "StringValue": "t-1"},
        "shop": {"DataType": "String", "StringValue": "enishi-sabo"},
    }
    sqs.send_message(QueueUrl=url, MessageBody="注文", MessageAttributes=attributes)
    out = []
    for names in (["trace"], [], ["All"], ["sh.*"]):  # each receive filters the copy it is given
        (m,) = sqs.receive_message(QueueUrl=url, MessageAttributeNames=names, AttributeNames=["All"])[
            "Messages"
        ]
        out.append((m["Body"], m.get("MessageAttributes"), m["Attributes"]["ApproximateReceiveCount"]))
    return out


def test_received_messages_are_filtered_the_same_and_the_queue_keeps_every_attribute():
    before, (after,) = _without_then_with(moto_fastpaths.install_shallow_message_copies, _receives)
    assert after == before
    assert before[2][1] == {  # the third receive still sees both attributes: the first filtered only its copy
        "trace": {"DataType": "String", "StringValue": "t-1"},
        "shop": {"DataType": "String", "StringValue": "enishi-sabo"},
    }
    assert [r[2] for r in before[:4]] == ["1", "2", "3", "4"]


def _captured_requests() -> list[Any]:
    """Real requests boto3 prepares (DynamoDB, SQS, EventBridge, Step Functions, S3, SES v2), each twice."""
    captured: list[Any] = []
    session = boto3.session.Session(region_name="ap-northeast-1")
    with mock_aws():
        clients = {
            s: session.client(s) for s in ("dynamodb", "sqs", "events", "stepfunctions", "s3", "sesv2")
        }
        for client in clients.values():
            client.meta.events.register_first("before-send", lambda request, **_: captured.append(request))
        for _ in range(2):
            for call in (
                lambda: clients["dynamodb"].list_tables(),
                lambda: clients["dynamodb"].describe_limits(),
                lambda: clients["sqs"].list_queues(QueueNamePrefix="注文"),
                lambda: clients["events"].put_events(
                    Entries=[{"Source": "s", "DetailType": "d", "Detail": '{"a": "縁"}'}]
                ),
                lambda: clients["stepfunctions"].list_state_machines(),
                lambda: clients["s3"].list_buckets(),
                lambda: clients["sesv2"].list_email_identities(),
            ):
                call()
    return captured


def test_requests_built_from_a_template_carry_what_moto_builds():
    import moto.core.request as moto_request

    requests = _captured_requests()
    original = moto_request.normalize_request
    expected = [original(r) for r in requests]
    built_by_moto = []

    def counted(request: Any) -> Any:
        built_by_moto.append(request)
        return original(request)

    moto_request.normalize_request = counted  # what the shortcut falls back to
    undo = moto_fastpaths.install_request_templates()
    try:
        got = [moto_request.normalize_request(r) for r in requests]
    finally:
        undo()
        moto_request.normalize_request = original
    for want, have in zip(expected, got, strict=True):
        w, h = dict(want.environ), dict(have.environ)
        assert w.pop("wsgi.input").getvalue() == h.pop("wsgi.input").getvalue()
        assert w.pop("werkzeug.request") is want and h.pop("werkzeug.request") is have
        assert list(w.items()) == list(h.items())  # every key and value, in werkzeug's order
        seen = (have.method, have.url, have.raw_url, have.get_data(), list(have.headers.items()))
        assert seen == (want.method, want.url, want.raw_url, want.get_data(), list(want.headers.items()))
    with_body = [r for r in requests if r.body]
    assert len(with_body) >= 8
    first_to_each_url = len({(r.method, r.url) for r in with_body})  # DynamoDB's two operations share one
    assert len(requests) - len(built_by_moto) == len(with_body) - first_to_each_url
