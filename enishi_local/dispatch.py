"""The local dispatcher: what AWS would deliver and moto does not (REFERENCE §8). Three small parts:

- ``TargetDispatcher``: EventBridge rule targets that are Lambda functions or state machines (handed over by
  ``moto_patches.install_event_target_dispatch``, or fired by the scheduler) are delivered asynchronously, in
  order, by one worker thread — like EventBridge, the publisher does not wait. A Lambda target that keeps failing
  is retried ``retry_attempts`` times and then sent to the target's dead-letter queue.
- ``SqsPoller``: one per SQS event-source mapping; receives up to ``batch_size`` messages, calls the handler with
  an SQS batch event, deletes what succeeded, honours ``batchItemFailures``. A failed message becomes visible again
  after its visibility timeout **on the virtual clock** — the queue's, or what the handler set with
  ``ChangeMessageVisibility`` (the starter's backoff of a parked event) — like Lambda's event source mapping, never
  at once (moto's redrive moves it to the DLQ after ``maxReceiveCount`` receives). It polls when ``notify()`` says
  a message arrived (``moto_patches.install_sqs_notify``), and every ``idle_seconds`` anyway.
- ``Scheduler``: fires a schedule rule (``cron(...)`` / ``rate(...)``) whenever the virtual clock passes its next
  time.

Each part reports ``busy()`` so ``LocalStack.settle`` knows when nothing is in flight.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from enishi_local import activity
from enishi_local.vclock import VirtualClock

LOG = logging.getLogger("enishi_local")
REGION = "ap-northeast-1"
ACCOUNT_ID = "123456789012"


def target_input(target: dict[str, Any], event: dict[str, Any]) -> Any:
    """What the target receives: the constant ``Input``, the ``InputPath`` selection, or the event itself."""
    if target.get("Input"):
        return json.loads(target["Input"])
    path = target.get("InputPath")
    if path and path != "$":
        value: Any = event
        for part in path.removeprefix("$.").split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return value
    return event


class TargetDispatcher:
    def __init__(
        self,
        invoke_function: Callable[[str, Any], Any],
        start_execution: Callable[[str, Any], None],
        send_to_queue: Callable[[str, str], None],
        *,
        retry_attempts: int = 2,
    ) -> None:
        self._invoke = invoke_function  # (function ARN, event) → result; raises on a function error
        self._start = start_execution  # (state machine ARN, input)
        self._send = send_to_queue  # (queue ARN, body) for dead letters
        self._retries = retry_attempts
        self._queue: queue.Queue[tuple[dict[str, Any], dict[str, Any]] | None] = queue.Queue()
        self._pending = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="enishi-dispatch", daemon=True)
        self.delivered = 0
        self.dead_lettered = 0

    def start(self) -> TargetDispatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.ident is None:  # never started
            return
        self._queue.put(None)
        self._thread.join(timeout=5)

    def submit(self, target: dict[str, Any], event: dict[str, Any]) -> None:
        with self._lock:
            self._pending += 1
        activity.enter()
        self._queue.put((target, event))

    def busy(self) -> bool:
        with self._lock:
            return self._pending > 0

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            target, event = item
            try:
                self._deliver(target, event)
            finally:
                with self._lock:
                    self._pending -= 1
                activity.bump()

    def _deliver(self, target: dict[str, Any], event: dict[str, Any]) -> None:
        arn = str(target["Arn"])
        payload = target_input(target, event)
        attempts = 1 + int((target.get("RetryPolicy") or {}).get("MaximumRetryAttempts", self._retries))
        error: Exception | None = None
        for _ in range(attempts):
            try:
                if ":states:" in arn:
                    self._start(arn, payload)
                else:
                    self._invoke(arn, payload)
                self.delivered += 1
                return
            except Exception as exc:  # the target failed: EventBridge retries, then dead-letters  # noqa: BLE001
                error = exc
        dlq = (target.get("DeadLetterConfig") or {}).get("Arn")
        LOG.warning(
            "target %s failed %d times (%s); %s",
            arn,
            attempts,
            type(error).__name__,
            f"sent to {dlq}" if dlq else "dropped (no dead-letter queue)",
        )
        if dlq:
            self._send(dlq, json.dumps(event, default=str))
            self.dead_lettered += 1


class SqsPoller:
    HIDE_REAL_SECONDS = (
        40_000  # while a failed message waits on the virtual clock, moto must not show it (≤ 12 h)
    )

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        handle: Callable[[dict[str, Any]], Any],
        *,
        batch_size: int = 10,
        report_batch_item_failures: bool = True,
        idle_seconds: float = 0.5,
        clock: VirtualClock | None = None,
    ) -> None:
        self._sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self._handle = handle
        self._batch = max(1, min(10, batch_size))
        self._partial = report_batch_item_failures
        self._idle = idle_seconds
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._in_flight = False
        self._clock = clock  # None: real time (moto's own visibility timeouts apply)
        self._held: dict[str, datetime] = {}  # failed message id → virtual time it becomes visible again
        self._releasing = 0
        self._holds = 0  # failed messages held so far (their release order at one moment)
        self._lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._run, name=f"sqs-{queue_arn.rsplit(':', 1)[-1]}", daemon=True
        )
        self.batches = 0
        self.failures = 0

    def start(self) -> SqsPoller:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._clock is not None:
            self._clock.wake()  # the held messages' sleepers see the stop
        if self._thread.ident is not None:
            self._thread.join(timeout=5)

    def held(self) -> int:
        """Failed messages waiting out their visibility timeout on the virtual clock (asleep, not in flight)."""
        with self._lock:
            return len(self._held)

    def notify(self) -> None:
        """A message arrived in the queue: poll now (instead of after ``idle_seconds``). Already woken: nothing to
        do (the poller clears the flag before it receives, so the message is seen either way; setting a set Event
        still takes its lock and notifies — 2 % of the demo, one per message)."""
        if not self._wake.is_set():
            self._wake.set()

    def busy(self) -> bool:
        """True while a received batch is being handled. (Before that the messages are still counted in the queue,
        which ``LocalStack.settle`` checks too.)"""
        return self._in_flight or self._releasing > 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # before the receive: a message sent after it sets it again
            try:
                worked = self.poll_once()
            except Exception:  # never let the poller die; the next poll retries
                LOG.exception("poller %s", self.queue_arn)
                worked = False
            if not worked:
                self._wake.wait(self._idle)

    def poll_once(self) -> bool:
        """Receive one batch and process it. False when the queue was empty."""
        messages = self._sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self._batch,
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return False
        self._in_flight = True
        try:
            self._process(messages)
        finally:
            self._in_flight = False
            activity.bump()
        return True

    def _process(self, messages: list[dict[str, Any]]) -> None:
        self.batches += 1
        event = {"Records": [self._record(m) for m in messages]}
        try:
            result = self._handle(event)
            failed = (
                {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
                if self._partial and isinstance(result, dict)
                else set()
            )
        except Exception:  # the whole batch failed  # noqa: BLE001
            failed = {m["MessageId"] for m in messages}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self._sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        for m in messages:
            if m["MessageId"] in failed:
                self.failures += 1
                self._hold(m)

    # ---- the visibility timeout of a failed message, on the virtual clock
    def _hold(self, m: dict[str, Any]) -> None:
        if self._clock is None:
            return  # real time: moto's visibility timeout applies as it is
        seconds = self._visibility_left(m["MessageId"])
        # SQS (and moto) cap a message's visibility at 12 h after it was sent
        sent_ms = int((m.get("Attributes") or {}).get("SentTimestamp") or time.time() * 1000)
        hide = min(self.HIDE_REAL_SECONDS, 43_200 - int(time.time() - sent_ms / 1000) - 5)
        if hide > 0:
            self._sqs.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=hide
            )
        due = self._clock.now() + timedelta(seconds=seconds)
        with self._lock:
            self._held[m["MessageId"]] = due
            self._holds += 1
            key = f"sqs {self.queue_arn} {self._holds:09d}"  # released in the order they failed (ids are random)
        threading.Thread(
            target=self._release_at,
            args=(m["MessageId"], m["ReceiptHandle"], due, key),
            name=f"sqs-visibility-{m['MessageId'][:8]}",
            daemon=True,
        ).start()

    def _visibility_left(self, message_id: str) -> int:
        """Seconds the message stays invisible, as moto counts them right after the batch: the queue's visibility
        timeout, or what the handler asked with ``ChangeMessageVisibility``. Read as virtual seconds."""
        try:
            from moto.core.utils import unix_time_millis
            from moto.sqs.models import sqs_backends

            _, _, _, region, account, name = self.queue_arn.split(":", 5)
            queue = sqs_backends[account][region].get_queue(name)
            message = next(x for x in list(queue._messages) if x.id == message_id)
            return max(0, round((message.visible_at - unix_time_millis()) / 1000))
        except Exception:  # not moto's in-process backend: fall back to the queue's setting  # noqa: BLE001
            attrs = self._sqs.get_queue_attributes(
                QueueUrl=self.queue_url, AttributeNames=["VisibilityTimeout"]
            )
            return int(attrs["Attributes"].get("VisibilityTimeout", 30))

    def _release_at(self, message_id: str, receipt_handle: str, due: datetime, key: str = "") -> None:
        assert self._clock is not None

        def waking() -> None:  # under the clock's lock: never seen neither asleep nor busy
            with self._lock:
                self._releasing += 1
            activity.bump()

        try:
            if not self._clock.sleep_until(due, cancelled=self._stop.is_set, on_wake=waking, key=key):
                return
            try:
                self._sqs.change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=0
                )
            except Exception:  # deleted or redriven meanwhile
                LOG.debug("release of %s failed", message_id, exc_info=True)
            with self._lock:
                self._held.pop(message_id, None)
            self._wake.set()
            with self._lock:
                self._releasing -= 1
        finally:
            with self._lock:
                self._held.pop(message_id, None)

    def _record(self, m: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": m.get("Attributes", {}),
            "messageAttributes": m.get("MessageAttributes", {}),
            "md5OfBody": m.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": REGION,
        }


_CRON = re.compile(r"^cron\((.+)\)$")
_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")


def next_fire(expression: str, after: datetime, timezone: str | None = None) -> datetime:
    """The first time strictly after ``after`` at which a ``cron(...)`` or ``rate(...)`` schedule fires (UTC).

    Supported: ``rate(N minutes|hours|days)``, and ``cron(M H * * ? *)``-style daily schedules (minutes and
    hours may be comma lists; day-of-month, month, day-of-week and year must be ``*`` or ``?``)."""
    rate = _RATE.match(expression)
    if rate:
        n, unit = int(rate.group(1)), rate.group(2).rstrip("s")
        return after + timedelta(**{f"{unit}s": n})
    cron = _CRON.match(expression)
    if not cron:
        raise ValueError(f"unsupported schedule expression {expression!r}")
    fields = cron.group(1).split()
    if len(fields) != 6 or any(f not in ("*", "?") for f in fields[2:]):
        raise ValueError(f"only daily cron schedules are supported locally, not {expression!r}")
    minutes = sorted(int(x) for x in fields[0].split(","))
    hours = sorted(int(x) for x in fields[1].split(","))
    tz = ZoneInfo(timezone) if timezone else UTC
    local = after.astimezone(tz)
    for day in range(3):
        date = (local + timedelta(days=day)).date()
        for h in hours:
            for m in minutes:
                candidate = datetime(date.year, date.month, date.day, h, m, tzinfo=tz)
                if candidate > local:
                    return candidate.astimezone(UTC)
    raise AssertionError("unreachable: a daily schedule fires within two days")


class Scheduler:
    """Fires ``fire(event)`` each time the virtual clock passes the schedule's next time."""

    def __init__(
        self,
        clock: VirtualClock,
        expression: str,
        fire: Callable[[dict[str, Any]], None],
        *,
        rule_arn: str,
        timezone: str | None = None,
    ) -> None:
        self._clock = clock
        self._expression = expression
        self._fire = fire
        self._rule_arn = rule_arn
        self._tz = timezone
        self._stop = False
        self._firing = False
        self.next_time = next_fire(expression, clock.now(), timezone)
        self.fired: list[datetime] = []
        self._thread = threading.Thread(
            target=self._run, name=f"schedule-{rule_arn.rsplit('/', 1)[-1]}", daemon=True
        )

    def start(self) -> Scheduler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop = True
        self._clock.wake()
        if self._thread.ident is not None:
            self._thread.join(timeout=5)

    def busy(self) -> bool:
        return self._firing

    def _mark_firing(self) -> None:
        self._firing = True
        activity.bump()

    def _run(self) -> None:
        while not self._stop:
            if not self._clock.sleep_until(
                self.next_time,
                cancelled=lambda: self._stop,
                on_wake=self._mark_firing,
                key=f"schedule {self._rule_arn}",
            ):
                return
            try:
                self._fire(self.scheduled_event(self.next_time))
                self.fired.append(self.next_time)
            finally:
                self.next_time = next_fire(self._expression, self.next_time, self._tz)
                self._firing = False
                activity.bump()

    def scheduled_event(self, when: datetime) -> dict[str, Any]:
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": ACCOUNT_ID,
            "time": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION,
            "resources": [self._rule_arn],
            "detail": {},
        }
