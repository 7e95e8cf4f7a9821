"""The SQS poller: batch events to the handler, partial failures retried, poison messages redriven to the DLQ."""

from __future__ import annotations

import json
import time

import boto3

from enishi_local.dispatch import SqsPoller


def _queues():
    sqs = boto3.client("sqs")
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    q = sqs.create_queue(QueueName="work", Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})})["QueueUrl"]
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
    poller = SqsPoller(sqs, q, q_arn, handler, batch_size=10).start()
    try:
        deadline = time.monotonic() + 5
        while _count(sqs, q) or poller.busy():
            assert time.monotonic() < deadline, "queue never drained"
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
    poller = SqsPoller(sqs, q, q_arn, handler)
    assert poller.poll_once() is True
    assert poller.poll_once() is True  # visible again at once, processed the second time
    assert poller.poll_once() is False
    assert calls == [1, 1]
