"""The SQS poller: batch events to the handler, partial failures retried after the visibility timeout on the
virtual clock, poison messages redriven to the DLQ."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import boto3

from enishi_local.dispatch import SqsPoller
from enishi_local.vclock import VirtualClock

T0 = datetime(2025, 5, 6, 3, 0, tzinfo=UTC)


def _queues():
    sqs = boto3.client("sqs")
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    q = sqs.create_queue(
        QueueName="work",
        Attributes={
            "VisibilityTimeout": "60",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3}),
        },
    )["QueueUrl"]
    q_arn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return sqs, q, q_arn, dlq


def _count(sqs, url):
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def test_partial_batch_failures_are_retried_and_a_poison_message_ends_in_the_dlq(aws):
    sqs, q, q_arn, dlq = _queues()
    seen: list[str] = []

    def handler(event):
        assert all(r["eventSource"] == "aws:sqs" and r["eventSourceARN"] == q_arn for r in event["Records"])
        failures = []
        for r in event["Records"]:
            seen.append(r["body"])
            if r["body"] == "poison":
                failures.append({"itemIdentifier": r["messageId"]})
        return {"batchItemFailures": failures}

    for body in ("a", "poison", "b"):
        sqs.send_message(QueueUrl=q, MessageBody=body)
    clock = VirtualClock(start=T0)
    poller = SqsPoller(sqs, q, q_arn, handler, batch_size=10, clock=clock, idle_seconds=0.02).start()
    try:
        deadline = time.monotonic() + 5
        while _count(sqs, q) or poller.busy():
            assert time.monotonic() < deadline, "queue never drained"
            if poller.held() and clock.next_wakeup() is not None:
                clock.advance_to(clock.next_wakeup())  # each retry waits out the queue's 60 s, virtually
            time.sleep(0.02)
    finally:
        poller.stop()
    assert seen.count("a") == 1 and seen.count("b") == 1
    assert seen.count("poison") == 3  # maxReceiveCount
    dead = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in dead] == ["poison"]


def test_a_handler_exception_fails_the_whole_batch(aws):
    sqs, q, q_arn, _ = _queues()
    calls = []

    def handler(event):
        calls.append(len(event["Records"]))
        if len(calls) == 1:
            raise RuntimeError("cold start failed")
        return None

    sqs.send_message(QueueUrl=q, MessageBody="x")
    clock = VirtualClock(start=T0)
    poller = SqsPoller(sqs, q, q_arn, handler, clock=clock)
    try:
        assert poller.poll_once() is True
        assert poller.poll_once() is False  # not visible again at once: the visibility timeout is 60 s
        assert poller.held() == 1 and clock.next_wakeup() == T0 + timedelta(seconds=60)
        clock.advance_to(T0 + timedelta(seconds=60))
        _until(lambda: poller.held() == 0 and not poller.busy())
        assert poller.poll_once() is True  # processed the second time
        assert poller.poll_once() is False
        assert calls == [1, 1]
    finally:
        poller.stop()


def _until(condition, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.01)


def test_a_visibility_timeout_set_by_the_handler_is_honoured_on_the_virtual_clock(aws):
    """The starter delays a parked event with ChangeMessageVisibility: the poller waits that long, virtually."""
    sqs, q, q_arn, _ = _queues()
    calls: list[datetime] = []
    clock = VirtualClock(start=T0)

    def handler(event):
        calls.append(clock.now())
        for r in event["Records"]:
            if len(calls) == 1:
                sqs.change_message_visibility(
                    QueueUrl=q, ReceiptHandle=r["receiptHandle"], VisibilityTimeout=1800
                )
                return {"batchItemFailures": [{"itemIdentifier": r["messageId"]}]}
        return {"batchItemFailures": []}

    sqs.send_message(QueueUrl=q, MessageBody="parked")
    poller = SqsPoller(sqs, q, q_arn, handler, clock=clock)
    try:
        assert poller.poll_once() is True
        assert clock.next_wakeup() == T0 + timedelta(minutes=30)
        clock.advance_to(T0 + timedelta(minutes=29))
        assert poller.poll_once() is False  # still invisible 29 virtual minutes later
        clock.advance_to(T0 + timedelta(minutes=30))
        _until(lambda: poller.held() == 0 and not poller.busy())
        assert poller.poll_once() is True
        assert calls == [T0, T0 + timedelta(minutes=30)]
        assert _count(sqs, q) == 0
    finally:
        poller.stop()
