"""What makes the local stack fast must not change what moto answers: the Query partition shortcut, the JSONPath
cache, one Step Functions Lambda client, SQS arrival notices (pollers woken at once), execution counting (settle)."""

from __future__ import annotations

import functools
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import boto3
import pytest
from boto3.dynamodb.conditions import Key
from hypothesis import given, settings
from hypothesis import strategies as st

from enishi_local import activity, moto_fastpaths, moto_patches
from enishi_local.dispatch import SqsPoller
from enishi_local.stack import _line_entry, _record_for_push
from enishi_local.vclock import VirtualClock

START = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)


def _table():
    ddb = boto3.resource("dynamodb")
    table = ddb.create_table(
        TableName="t",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "g", "gs")],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_g",
                "Projection": {"ProjectionType": "ALL"},
                "KeySchema": [
                    {"AttributeName": "g", "KeyType": "HASH"},
                    {"AttributeName": "gs", "KeyType": "RANGE"},
                ],
            }
        ],
    )
    # several partitions, written out of order; some items in the index, with ties on the index range key
    for i in (7, 3, 9, 1, 5):
        for j in (4, 0, 2):
            item = {"pk": f"P{i}", "sk": f"S{j}", "n": i * 10 + j}
            if j != 2:
                item |= {"g": "day", "gs": f"{j % 2}"}
            table.put_item(Item=item)
    return table


QUERIES = [
    {"KeyConditionExpression": Key("pk").eq("P3")},
    {"KeyConditionExpression": Key("pk").eq("P9") & Key("sk").begins_with("S"), "ScanIndexForward": False},
    {"KeyConditionExpression": Key("pk").eq("P5") & Key("sk").gt("S0")},
    {"KeyConditionExpression": Key("pk").eq("nobody")},
    {"IndexName": "by_g", "KeyConditionExpression": Key("g").eq("day")},
    {
        "IndexName": "by_g",
        "KeyConditionExpression": Key("g").eq("day") & Key("gs").eq("0"),
        "ScanIndexForward": False,
    },
]


def _pages(table, query: dict) -> list[list[dict]]:
    """Every page of a paginated (Limit 2) query, so the order and the LastEvaluatedKeys are compared too."""
    pages, kwargs = [], {**query, "Limit": 2}
    while True:
        page = table.query(**kwargs)
        pages.append(page["Items"])
        if "LastEvaluatedKey" not in page:
            return pages
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_queries_answer_the_same_with_the_partition_shortcut(aws):
    # Given a table with several partitions and an index
    table = _table()
    before = [_pages(table, q) for q in QUERIES]
    # When queries run with the shortcut installed
    undo = moto_patches.install_query_partition()
    try:
        after = [_pages(table, q) for q in QUERIES]
        scan = table.scan()["Items"]
    finally:
        undo()
    # Then every page is the same, in the same order; a scan still sees every item
    assert after == before
    assert [i["n"] for i in after[0][0]] == [30, 32]
    assert len(scan) == 15


def test_index_queries_answer_the_same_when_only_the_hash_key_matches_are_read(aws):
    # Given a table whose index holds two hash key values (and items outside the index)
    table = _table()
    for i in (8, 2, 6):
        table.put_item(Item={"pk": f"P{i}", "sk": "S1", "n": i, "g": "night", "gs": f"{i % 3}"})
    queries = [
        {"IndexName": "by_g", "KeyConditionExpression": Key("g").eq(g) & Key("gs").gte("0"), **order}
        for g in ("day", "night", "noon")
        for order in ({}, {"ScanIndexForward": False})
    ]
    before = [_pages(table, q) for q in queries]
    # When they run with the shortcut (only the items with that hash key value reach moto's loop)
    undo = moto_patches.install_query_partition()
    try:
        after = [_pages(table, q) for q in queries]
    finally:
        undo()
    # Then every page is the same, in the same order
    assert after == before
    assert sorted(i["n"] for page in after[2] for i in page) == [2, 6, 8]
    assert after[4] == [[]]


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="aAbBzZ _-1\t", max_size=12))
def test_camelcase_names_converted_once_are_converted_the_same(name):
    import moto.core.utils
    import moto.sqs.models

    original = moto.core.utils.camelcase_to_underscores
    undo = moto_fastpaths.install_camelcase_cache()
    try:
        # the first call and the remembered one give moto's own answer; SQS's models call the remembered one
        assert moto.core.utils.camelcase_to_underscores(name) == original(name)
        assert moto.core.utils.camelcase_to_underscores(name) == original(name)
        assert moto.sqs.models.camelcase_to_underscores is moto.core.utils.camelcase_to_underscores
    finally:
        undo()
    assert moto.sqs.models.camelcase_to_underscores is original


def test_eventbridge_input_paths_are_compiled_once_and_still_deliver_the_event(aws):
    import jsonpath_ng.ext
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path as sfn_json_path

    undo = moto_patches.install_jsonpath_cache()
    try:
        assert jsonpath_ng.ext.parse("$.detail") is jsonpath_ng.ext.parse("$.detail")
        # Step Functions' own binding of parse is cached too, and still reads the same values
        assert sfn_json_path.parse("$.a.b") is sfn_json_path.parse("$.a.b")
        assert sfn_json_path.extract_json("$.a.b", {"a": {"b": [1, 2]}}) == [1, 2]
        assert result_path.parse("$.result") is result_path.parse("$.result")
        sqs, events = boto3.client("sqs"), boto3.client("events")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="r", EventPattern=json.dumps({"source": ["s"]}))
        events.put_targets(Rule="r", Targets=[{"Id": "q", "Arn": arn}])
        for n in (1, 2):
            events.put_events(Entries=[{"Source": "s", "DetailType": "t", "Detail": json.dumps({"n": n})}])
        bodies = [
            json.loads(m["Body"])
            for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        ]
    finally:
        undo()
    assert sorted(b["detail"]["n"] for b in bodies) == [1, 2]
    assert jsonpath_ng.ext.parse("$.detail") is not jsonpath_ng.ext.parse("$.detail")  # undone


def test_a_message_arriving_wakes_its_poller_at_once(aws):
    # Given a poller that would otherwise look at its queue only every 30 s, woken by arrival notices
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="work")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    handled = threading.Event()
    poller = SqsPoller(sqs, url, arn, lambda event: handled.set(), idle_seconds=30)
    notified: list[str] = []

    def notify(queue_arn: str) -> None:
        notified.append(queue_arn)
        if queue_arn == arn:
            poller.notify()

    undo = moto_patches.install_sqs_notify(notify)
    poller.start()
    try:
        time.sleep(0.2)  # the first (empty) poll is done: the poller sleeps
        generation = activity.generation()
        # When a message is sent
        sqs.send_message(QueueUrl=url, MessageBody="x")
        # Then the poller handles it at once (not after 30 s) and the arrival counted as activity
        assert handled.wait(5), "the poller was not woken"
        assert notified == [arn] and activity.generation() != generation
    finally:
        poller.stop()
        undo()


def test_parked_executions_are_not_active_and_finished_ones_are_gone(aws):
    clock = VirtualClock(start=START)
    undo_waits = moto_patches.install_virtual_waits(clock)
    try:
        sfn = boto3.client("stepfunctions")
        arn = sfn.create_state_machine(
            name="wait",
            roleArn="arn:aws:iam::123456789012:role/sfn",
            definition=json.dumps(
                {
                    "StartAt": "W",
                    "States": {
                        "W": {"Type": "Wait", "Seconds": 86400, "Next": "Done"},
                        "Done": {"Type": "Succeed"},
                    },
                }
            ),
        )["stateMachineArn"]
        # Given a started execution: counted from StartExecution on, before its thread runs
        execution = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
        deadline = time.monotonic() + 10
        # When it parks in its one-day Wait, Then it is no longer active
        while moto_patches.active_executions(clock):
            assert time.monotonic() < deadline, "the execution never parked"
            time.sleep(0.01)
        assert [a for a, _ in moto_patches.parked_executions()] == [execution]
        # (another stack's clock, past this Wait, does not see it as busy)
        assert moto_patches.active_executions(VirtualClock(start=START + timedelta(days=400))) == 0
        # When the day passes, Then it finishes and nothing is active
        clock.advance(timedelta(days=1, seconds=1))
        while sfn.describe_execution(executionArn=execution)[
            "status"
        ] == "RUNNING" or moto_patches.active_executions(clock):
            assert time.monotonic() < deadline, "the execution never finished"
            time.sleep(0.01)
        assert moto_patches.parked_executions() == []
    finally:
        undo_waits()


@pytest.mark.parametrize("provider_id", ["request-1", "sent-1"])
def test_a_line_push_is_labelled_by_its_request_id_or_a_sent_message_id(provider_id):
    push = {
        "to": "U1",
        "messages": [{"type": "text", "text": "こんにちは"}],
        "retry_key": "k",
        "request_id": "request-1",
        "sent_at": "2026-03-01T00:00:00+00:00",
        "sent_messages": [{"id": "sent-1", "quoteToken": "q"}],
    }
    record = {
        "sk": "MSG#m1",
        "message_key": "m1",
        "sequence": "welcome",
        "step": "thanks",
        "customer_id": "c1",
        "shop": "s",
        "provider_message_id": provider_id,
    }
    entry = _line_entry(push, _record_for_push(push, {provider_id: record}))
    assert (entry["sequence"], entry["step"], entry["message_key"], entry["customer_id"]) == (
        "welcome",
        "thanks",
        "m1",
        "c1",
    )
    assert entry["text"] == "こんにちは"
    unknown = _line_entry(push, _record_for_push(push, {"other": record}))
    assert unknown["sequence"] is None and unknown["message_key"] is None


def test_unsigned_signatures_still_name_the_account_and_region_and_reach_moto(aws):
    # Given the local stack's cheap signer
    undo = moto_patches.install_unsigned_signatures()
    try:
        ddb, sqs, s3 = boto3.client("dynamodb"), boto3.client("sqs"), boto3.client("s3")
        ddb.create_table(
            TableName="t",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        )
        ddb.put_item(TableName="t", Item={"pk": {"S": "a"}, "n": {"N": "1"}})
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        s3.create_bucket(
            Bucket="enishi-raw", CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"}
        )
        s3.put_object(Bucket="enishi-raw", Key="k", Body=b"x")
        # Then every service answers as with real signatures: same account, same region, same data
        assert ddb.get_item(TableName="t", Key={"pk": {"S": "a"}})["Item"]["n"] == {"N": "1"}
        assert arn == "arn:aws:sqs:ap-northeast-1:123456789012:q"
        assert s3.get_object(Bucket="enishi-raw", Key="k")["Body"].read() == b"x"
        table_arn = ddb.describe_table(TableName="t")["Table"]["TableArn"]
        assert table_arn == "arn:aws:dynamodb:ap-northeast-1:123456789012:table/t"
    finally:
        undo()


def test_a_tables_key_attributes_are_the_same_with_the_cache_and_follow_a_new_index(aws):
    from moto.dynamodb.models import dynamodb_backends

    # Given a table with an index, and its key attributes as moto lists them
    table = _table()
    model = dynamodb_backends["123456789012"]["ap-northeast-1"].get_table("t")
    before = model.attribute_keys
    undo = moto_patches.install_table_attribute_keys_cache()
    try:
        # When the cache is installed, Then the same list (a copy a caller may change)
        assert model.attribute_keys == before == ["pk", "sk", "g", "gs"]
        model.attribute_keys.append("x")
        assert model.attribute_keys == before
        # When an index is added, Then its keys are there too
        table.meta.client.update_table(
            TableName="t",
            AttributeDefinitions=[{"AttributeName": "h", "AttributeType": "S"}],
            GlobalSecondaryIndexUpdates=[
                {
                    "Create": {
                        "IndexName": "by_h",
                        "KeySchema": [{"AttributeName": "h", "KeyType": "HASH"}],
                        "Projection": {"ProjectionType": "KEYS_ONLY"},
                    }
                }
            ],
        )
        assert model.attribute_keys == [*before, "h"]
        # and an item with an empty set outside the keys is still refused
        with pytest.raises(Exception, match="set  may not be empty"):
            boto3.client("dynamodb").put_item(
                TableName="t", Item={"pk": {"S": "E"}, "sk": {"S": "1"}, "tags": {"SS": []}}
            )
    finally:
        undo()


def test_endpoint_data_is_parsed_once_per_process_and_still_resolves(aws):
    from botocore import loaders

    undo = moto_patches.install_botocore_data_cache()
    try:
        # Given two sessions (each used to parse endpoints.json again)
        first, second = (boto3.session.Session(region_name="ap-northeast-1") for _ in range(2))
        loaded = [s._session.get_component("data_loader").load_data("endpoints") for s in (first, second)]
        # Then they share one parse, and clients of either session reach their endpoints as before
        assert loaded[0] is loaded[1]
        assert second.client("dynamodb").meta.endpoint_url == "https://dynamodb.ap-northeast-1.amazonaws.com"
        assert "ap-northeast-1" in second.get_available_regions("sqs")
        # (a service model is not shared: botocore merges its extras into it)
        models = [loaders.create_loader().load_service_model("sqs", "service-2") for _ in range(2)]
        assert models[0] is not models[1] and models[0] == models[1]
    finally:
        undo()


_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.text(max_size=20)
    | st.integers(-(10**12), 10**12).map(Decimal)
    | st.binary(max_size=8)
    | st.sets(st.text(min_size=1, max_size=5), min_size=1, max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12,
)


@functools.cache
def _dynamodb_model():
    import botocore.session

    return botocore.session.get_session().get_service_model("dynamodb")


def _request_body(operation: str, params: dict) -> bytes:
    """The body boto3 sends (botocore's own serializer)."""
    import botocore.serialize

    model = _dynamodb_model().operation_model(operation)
    return botocore.serialize.create_serializer("json").serialize_to_request(params, model)["body"]


def _moto_parse(operation: str, body: bytes) -> dict:
    from moto.core.parse import JSONParser
    from moto.core.utils import get_service_model

    model = get_service_model("dynamodb").operation_model(operation)
    return JSONParser(model, map_type=dict).parse({"body": body, "headers": {}, "method": "POST"})


@settings(max_examples=50, deadline=None)
@given(item=st.dictionaries(st.text(min_size=1, max_size=8), _VALUES, max_size=6))
def test_dynamodb_item_requests_parse_the_same_without_moto_walking_the_shape(item):
    from boto3.dynamodb.types import TypeSerializer
    from moto.core.parse import JSONParser

    attributes = {k: TypeSerializer().serialize(v) for k, v in item.items()}
    requests = {
        "PutItem": {"TableName": "t", "Item": {"pk": {"S": "p"}, "sk": {"S": "s"}, **attributes}},
        "UpdateItem": {
            "TableName": "t",
            "Key": {"pk": {"S": "p"}, "sk": {"S": "s"}},
            "UpdateExpression": "SET #a = :a",
            "ExpressionAttributeNames": {"#a": "a"},
            "ExpressionAttributeValues": {":a": {"M": attributes}},
            "ConditionExpression": "attribute_not_exists(pk)",
            "ReturnValues": "ALL_NEW",
        },
        "Query": {
            "TableName": "t",
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": "p"}},
            "ExclusiveStartKey": {"pk": {"S": "p"}, "sk": {"S": "s"}},
            "Limit": 7,
            "ScanIndexForward": False,
        },
    }
    for operation, params in requests.items():
        body = _request_body(operation, params)
        walked = _moto_parse(operation, body)
        undo = moto_patches.install_dynamodb_plain_request_parse()
        try:
            if b'"B' not in body:  # no binary value: the shape is not walked at all
                with pytest.MonkeyPatch.context() as mp:
                    mp.setattr(JSONParser, "_parse_shape", _never)
                    plain = _moto_parse(operation, body)
            else:
                plain = _moto_parse(operation, body)
        finally:
            undo()
        assert plain == walked


def _never(*args, **kwargs):
    raise AssertionError("moto walked the shape")


def test_an_execution_is_never_counted_parked_before_its_sleeper_is_on_the_clock(aws, monkeypatch):
    """Before: the execution was marked parked (no longer active), then lay down on the clock. A settle that
    looked in between saw nothing active and no sleeper, returned, and the driver could move the clock past the
    Wait, which then ran late — a run-to-run difference under load. Here the thread is held in that gap."""
    clock = VirtualClock(start=START, ordered=True)
    entering, go_on = threading.Event(), threading.Event()
    original = VirtualClock.sleep_until

    def slow_to_lie_down(self, *args, **kwargs):
        entering.set()
        go_on.wait(5)  # a busy machine: the thread is descheduled right before it registers
        return original(self, *args, **kwargs)

    monkeypatch.setattr(VirtualClock, "sleep_until", slow_to_lie_down)
    undo_waits = moto_patches.install_virtual_waits(clock)
    try:
        sfn = boto3.client("stepfunctions")
        arn = sfn.create_state_machine(
            name="gap",
            roleArn="arn:aws:iam::123456789012:role/sfn",
            definition=json.dumps(
                {
                    "StartAt": "W",
                    "States": {"W": {"Type": "Wait", "Seconds": 3600, "Next": "D"}, "D": {"Type": "Succeed"}},
                }
            ),
        )["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
        assert entering.wait(5)
        # While it has not lain down, it is active (or asleep): never neither
        assert moto_patches.active_executions(clock) == 1 and clock.sleepers() == []
        go_on.set()
        deadline = time.monotonic() + 5
        while moto_patches.active_executions(clock):
            assert time.monotonic() < deadline, "the execution never parked"
            time.sleep(0.01)
        assert clock.sleepers() == [START + timedelta(hours=1)]
        # (and it finishes: nothing is left parked for the next test)
        clock.advance(timedelta(hours=1))
        assert clock.release_next()
        while (
            sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
            or moto_patches.parked_executions()
        ):
            assert time.monotonic() < deadline + 5, "the execution never finished"
            time.sleep(0.01)
    finally:
        go_on.set()
        undo_waits()
