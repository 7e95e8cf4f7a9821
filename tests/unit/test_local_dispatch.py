"""The local dispatcher's pure parts: schedules, target input, retries and dead letters, the scheduler thread."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from enishi_local.dispatch import Scheduler, TargetDispatcher, next_fire, target_input
from enishi_local.vclock import VirtualClock

T0 = datetime(2026, 5, 1, 0, 30, tzinfo=UTC)


def test_daily_cron_fires_at_the_next_0100_utc():
    assert next_fire("cron(0 1 * * ? *)", T0) == datetime(2026, 5, 1, 1, 0, tzinfo=UTC)
    assert next_fire("cron(0 1 * * ? *)", datetime(2026, 5, 1, 1, 0, tzinfo=UTC)) == datetime(
        2026, 5, 2, 1, 0, tzinfo=UTC
    )
    # a schedule in Tokyo time: 10:00 JST is 01:00 UTC
    assert next_fire("cron(0 10 * * ? *)", T0, "Asia/Tokyo") == datetime(2026, 5, 1, 1, 0, tzinfo=UTC)
    assert next_fire("rate(6 hours)", T0) == T0 + timedelta(hours=6)


def test_unsupported_schedules_are_refused():
    with pytest.raises(ValueError):
        next_fire("cron(0 1 ? * MON *)", T0)
    with pytest.raises(ValueError):
        next_fire("at(2026-05-01T00:00:00)", T0)


def test_target_input_constant_path_or_event():
    event = {"detail": {"a": 1}}
    assert target_input({"Input": '{"k": 2}'}, event) == {"k": 2}
    assert target_input({"InputPath": "$.detail"}, event) == {"a": 1}
    assert target_input({}, event) is event


def _wait(predicate, timeout=3.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.005)


def test_a_failing_lambda_target_is_retried_then_dead_lettered():
    calls, dead = [], []

    def invoke(arn, event):
        calls.append(arn)
        raise RuntimeError("down")

    d = TargetDispatcher(
        invoke, lambda arn, inp: None, lambda q, body: dead.append((q, body)), retry_attempts=2
    ).start()
    try:
        d.submit(
            {"Arn": "arn:aws:lambda:r:1:function:f", "DeadLetterConfig": {"Arn": "arn:aws:sqs:r:1:dlq"}},
            {"id": "e1"},
        )
        _wait(lambda: not d.busy())
    finally:
        d.stop()
    assert len(calls) == 3
    assert dead == [("arn:aws:sqs:r:1:dlq", '{"id": "e1"}')]


def test_state_machine_targets_start_an_execution_in_order():
    started = []
    d = TargetDispatcher(
        lambda a, e: None, lambda arn, inp: started.append((arn, inp["n"])), lambda q, b: None
    )
    d.start()
    try:
        for n in range(3):
            d.submit({"Arn": "arn:aws:states:r:1:stateMachine:m"}, {"n": n})
        _wait(lambda: not d.busy())
    finally:
        d.stop()
    assert started == [("arn:aws:states:r:1:stateMachine:m", n) for n in range(3)]


def test_the_scheduler_fires_each_time_the_clock_passes_0100_utc():
    clock = VirtualClock(start=T0)
    fired: list[dict] = []
    s = Scheduler(clock, "cron(0 1 * * ? *)", fired.append, rule_arn="arn:aws:events:r:1:rule/daily").start()
    try:
        _wait(lambda: clock.sleepers() == [datetime(2026, 5, 1, 1, 0, tzinfo=UTC)])
        assert fired == []
        clock.advance_to(datetime(2026, 5, 1, 1, 0, tzinfo=UTC))
        _wait(lambda: len(fired) == 1 and not s.busy())
        clock.advance_to(datetime(2026, 5, 2, 1, 0, 1, tzinfo=UTC))
        _wait(lambda: len(fired) == 2)
    finally:
        s.stop()
    assert [e["time"] for e in fired] == ["2026-05-01T01:00:00Z", "2026-05-02T01:00:00Z"]
    assert fired[0]["detail-type"] == "Scheduled Event" and fired[0]["source"] == "aws.events"
