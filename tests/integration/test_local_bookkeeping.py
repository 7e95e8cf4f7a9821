"""The local stack's bookkeeping without boto3 round trips answers exactly what the round trip answered: transitions
counted as they happen = the execution history's; direct SQS and DynamoDB reads = boto3's (issue 14)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from decimal import Decimal

import boto3
from boto3.dynamodb.conditions import Attr, Key
from hypothesis import given, settings
from hypothesis import strategies as st

from enishi_local import moto_patches
from enishi_local.direct import DirectSqs, DirectTable
from enishi_local.report.collect import executions_from_tally, read_executions
from enishi_local.vclock import VirtualClock

START = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
MACHINE = {
    "StartAt": "Check",
    "States": {
        "Check": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.ok", "BooleanEquals": False, "Next": "Nope"}],
            "Default": "Shape",
        },
        "Shape": {"Type": "Pass", "Result": {"n": 1}, "ResultPath": "$.shaped", "Next": "Sleep"},
        "Sleep": {"Type": "Wait", "Seconds": 0, "Next": "Again"},
        "Again": {"Type": "Pass", "Next": "Done"},
        "Done": {"Type": "Succeed"},
        "Nope": {"Type": "Fail", "Error": "No", "Cause": "ok was false"},
    },
}


def test_transitions_counted_as_they_happen_equal_the_execution_histories(aws):
    clock = VirtualClock(start=START)
    tally = moto_patches.ExecutionTally()
    undo = [moto_patches.install_virtual_waits(clock), moto_patches.install_execution_tally(tally)]
    try:
        sfn = boto3.client("stepfunctions")
        role = "arn:aws:iam::123456789012:role/sfn"
        arns = [
            sfn.create_state_machine(
                name=f"Enishi-{name}-Machine", roleArn=role, definition=json.dumps(MACHINE)
            )["stateMachineArn"]
            for name in ("Welcome", "CartRecovery")
        ]
        started = [
            sfn.start_execution(stateMachineArn=arn, name=f"e{i}", input=json.dumps({"ok": i % 3 != 0}))[
                "executionArn"
            ]
            for arn in arns
            for i in range(4)
        ]
        deadline = time.monotonic() + 20
        while any(sfn.describe_execution(executionArn=a)["status"] == "RUNNING" for a in started):
            assert time.monotonic() < deadline, "executions did not finish"
            time.sleep(0.02)
        counted = sorted(executions_from_tally(tally.rows()), key=lambda e: e.name)
        read = sorted(read_executions(sfn), key=lambda e: e.name)
        assert counted == read
        assert {e.sequence for e in counted} == {"welcome", "cart_recovery"}
        assert sorted({e.transitions for e in counted}) == [
            2,
            5,
        ]  # Check+Nope; Check, Shape, Sleep, Again, Done
    finally:
        for u in reversed(undo):
            u()


def test_the_pollers_direct_sqs_calls_answer_like_boto3(aws):
    sqs = boto3.client("sqs")
    urls = [
        sqs.create_queue(QueueName=f"q{i}", Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
        for i in (1, 2)
    ]
    for url in urls:
        sqs.send_message(
            QueueUrl=url,
            MessageBody='{"a": "日本語"}',
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "x"}},
        )
        sqs.send_message(QueueUrl=url, MessageBody="plain")
    direct = DirectSqs(sqs)
    kwargs = {
        "MaxNumberOfMessages": 10,
        "WaitTimeSeconds": 0,
        "AttributeNames": ["All"],
        "MessageAttributeNames": ["All"],
    }
    via_boto3 = sqs.receive_message(QueueUrl=urls[0], **kwargs)["Messages"]
    via_moto = direct.receive_message(QueueUrl=urls[1], **kwargs)["Messages"]

    def comparable(m: dict) -> dict:
        attrs = {k: v for k, v in m["Attributes"].items() if "Timestamp" not in k}
        return {
            **{k: v for k, v in m.items() if k not in ("MessageId", "ReceiptHandle", "Attributes")},
            "Attributes": attrs,
        }

    assert [comparable(m) for m in via_moto] == [comparable(m) for m in via_boto3]
    assert [sorted(m) for m in via_moto] == [sorted(m) for m in via_boto3]
    assert direct.receive_message(QueueUrl=urls[1], **kwargs) == {}  # in flight: nothing visible
    # a failed message made visible again, the rest deleted
    direct.change_message_visibility(
        QueueUrl=urls[1], ReceiptHandle=via_moto[1]["ReceiptHandle"], VisibilityTimeout=0
    )
    answer = direct.delete_message_batch(
        QueueUrl=urls[1], Entries=[{"Id": "0", "ReceiptHandle": via_moto[0]["ReceiptHandle"]}]
    )
    assert answer == {"Successful": [{"Id": "0"}], "Failed": []}
    again = direct.receive_message(QueueUrl=urls[1], **kwargs)["Messages"]
    assert [m["Body"] for m in again] == ["plain"] and again[0]["Attributes"][
        "ApproximateReceiveCount"
    ] == "2"
    assert direct.get_queue_url(QueueName="q2")["QueueUrl"] == urls[1]  # anything else: the boto3 client


def test_direct_table_reads_answer_like_boto3(aws):
    ddb = boto3.resource("dynamodb")
    table = ddb.create_table(
        TableName="t",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk")],
    )
    for i in (7, 3, 9, 1):
        for sk in ("PROFILE", "MSG#b", "MSG#a", "ORDER"):
            table.put_item(
                Item={
                    "pk": f"C#{i}",
                    "sk": sk,
                    "n": i,
                    "f": Decimal("1.5"),
                    "tags": {"x", "y"},
                    "nested": {"l": [1, "二", {"m": True}], "none": None},
                    "s": "日本語",
                }
            )
    scanned, kwargs = [], {"Limit": 3}
    while True:
        page = table.scan(**kwargs)
        scanned += page["Items"]
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    direct = DirectTable("t")
    assert list(direct.scan()) == scanned
    key = {"pk": "C#3", "sk": "PROFILE"}
    projected = table.get_item(
        Key=key,
        ProjectionExpression="#a, #b, #c",
        ExpressionAttributeNames={"#a": "n", "#b": "nested", "#c": "absent"},
    )["Item"]
    assert direct.get(key, ("n", "nested", "absent")) == projected
    assert direct.get(key) == table.get_item(Key=key)["Item"]
    assert direct.get({"pk": "C#3", "sk": "nope"}) is None and direct.get({"pk": "nobody", "sk": "x"}) is None
    queried = table.query(KeyConditionExpression=Key("pk").eq("C#9") & Key("sk").begins_with("MSG#"))["Items"]
    assert direct.partition("C#9", "MSG#") == queried and [i["sk"] for i in queried] == ["MSG#a", "MSG#b"]
    assert direct.partition("nobody") == []
    assert table.scan(FilterExpression=Attr("n").eq(9))["Count"] == 4


# ---- moto's DynamoDB item results serialised with json.dumps: boto3 reads the same answers

_scalars = st.one_of(
    st.text(max_size=20),
    st.booleans(),
    st.none(),
    st.binary(min_size=1, max_size=12),
    st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-(10**9), max_value=10**9),
)
_values = st.recursive(
    _scalars
    | st.frozensets(st.text(min_size=1, max_size=8), min_size=1, max_size=4)
    | st.frozensets(st.integers(-1000, 1000).map(Decimal), min_size=1, max_size=4),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_items = st.dictionaries(st.text(alphabet="abcdefgh", min_size=1, max_size=6), _values, max_size=6)


def _normalise(value):
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items() if k not in ("ResponseMetadata", "TableName")}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


def _calls(table, items):
    from boto3.dynamodb.conditions import Key

    out = []
    for i, item in enumerate(items):
        table.put_item(Item={**item, "pk": "P", "sk": f"S{i}"})
    out.append(table.get_item(Key={"pk": "P", "sk": "S0"}))
    out.append(table.get_item(Key={"pk": "P", "sk": "nope"}))
    out.append(table.query(KeyConditionExpression=Key("pk").eq("P"), Limit=2))
    out.append(table.scan())
    out.append(
        table.update_item(
            Key={"pk": "P", "sk": "S0"},
            UpdateExpression="SET #z = :z",
            ExpressionAttributeNames={"#z": "z"},
            ExpressionAttributeValues={":z": 1},
            ReturnValues="ALL_OLD",
            ReturnConsumedCapacity="TOTAL",
        )
    )
    out.append(
        table.meta.client.batch_get_item(
            RequestItems={table.name: {"Keys": [{"pk": "P", "sk": f"S{i}"} for i in range(len(items))]}}
        )["Responses"][table.name]
    )
    out.append(table.delete_item(Key={"pk": "P", "sk": "S0"}, ReturnValues="ALL_OLD"))
    return _normalise(out)


@settings(max_examples=20, deadline=None)
@given(items=st.lists(_items, min_size=1, max_size=3))
def test_dynamodb_item_results_read_the_same_through_the_fast_serializer(items):
    from moto import mock_aws

    answers = []
    with mock_aws():
        ddb = boto3.resource("dynamodb", region_name="ap-northeast-1")
        for fast in (False, True):
            table = ddb.create_table(
                TableName=f"t{int(fast)}",
                BillingMode="PAY_PER_REQUEST",
                KeySchema=[
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk")],
            )
            undo = moto_patches.install_dynamodb_fast_serializer() if fast else (lambda: None)
            try:
                answers.append(_calls(table, items))
            finally:
                undo()
    assert answers[0] == answers[1]
