"""Winback: the daily job (EventBridge schedule ``cron(0 1 * * ? *)``, 10:00 JST) that starts win-back sequences.

No scan: it Queries the ``orders_by_day`` GSI for the orders placed exactly ``winback_threshold_days`` days ago
(JST day), batch-reads those orders and their customers' profiles, and keeps an order only while it is still the
customer's ``last_order_id`` (a customer who ordered since is not dormant). Cost ∝ that day's orders.
One execution per due customer, named by (customer, that order): a re-run of the job starts nothing twice.

Catch-up (issue 9 defect 9): a failed or skipped day is never silently missed. The job keeps a cursor item
(``keys.winback_cursor_key``: the last JST run-day it completed) and each run processes every run-day from the
cursor + 1 through today, oldest first, moving the cursor forward after each completed day (conditional: it never
moves back). A run that fails raises: EventBridge retries it (2 attempts), then its DLQ (alarmed); the next day's
run catches the missed days up. Starting is idempotent by execution name, so re-processing a day is harmless.
At most ``MAX_CATCH_UP_DAYS`` days per run (a cursor older than that is a stopped deployment; the metric
``WinbackCatchUpTruncated`` says so).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from enishi import bootstrap, clock, keys
from enishi import constants as c
from enishi.profiles.items import OrderItem
from enishi.profiles.model import Profile
from enishi.sequences.settings import StarterSettings
from enishi.sequences.spec import SequencesSpec, load_shop_spec
from enishi.sequences.starting import Executions, Start, start_for

logger = Logger()
metrics = Metrics()

BATCH_GET_MAX = 100
MAX_CATCH_UP_DAYS = 31


def jst_today(now: datetime) -> date:
    return clock.to_utc(now).astimezone(clock.JST).date()


def run_days(cursor: date | None, today: date, limit: int = MAX_CATCH_UP_DAYS) -> list[date]:
    """The JST run-days a run at ``today`` processes: every day after the cursor through today (just today when
    there is no cursor yet: a fresh deployment does not reach into the past), at most the latest ``limit``."""
    first = today if cursor is None else cursor + timedelta(days=1)
    days = [first + timedelta(days=i) for i in range((today - first).days + 1)]
    return days[-limit:]


def due_day(now: datetime, threshold_days: int) -> date:
    """The JST calendar day whose orders are ``threshold_days`` old today (JST)."""
    return clock.to_utc(now).astimezone(clock.JST).date() - timedelta(days=threshold_days)


class WinbackReader:
    """Query the day's order keys on the GSI, then batch-get orders and profiles (adapter)."""

    def __init__(self, table: Any) -> None:
        self._table = table
        self._dynamodb = boto3.resource("dynamodb")

    def order_ids(self, shop: str, day: date) -> Iterator[str]:
        from boto3.dynamodb.conditions import Key

        kwargs: dict[str, Any] = {
            "IndexName": c.GSI_ORDERS_BY_DAY,
            "KeyConditionExpression": Key(c.ATTR_GSI1_PK).eq(keys.orders_by_day_pk(shop, day)),
        }
        while True:
            page = self._table.query(**kwargs)
            for item in page.get("Items", []):
                yield keys.order_id_from_orders_by_day_sk(str(item[c.ATTR_GSI1_SK]))
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def batch_get(self, key_list: list[dict[str, str]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        name = self._table.name
        for i in range(0, len(key_list), BATCH_GET_MAX):
            request: dict[str, Any] = {name: {"Keys": key_list[i : i + BATCH_GET_MAX]}}
            while request:
                resp = self._dynamodb.batch_get_item(RequestItems=request)
                out.extend(resp.get("Responses", {}).get(name, []))
                request = resp.get("UnprocessedKeys") or {}
        return out


class WinbackCursor:
    """The cursor item (adapter)."""

    def __init__(self, table: Any, shop: str) -> None:
        self._table, self._key = table, keys.winback_cursor_key(shop)

    def get(self) -> date | None:
        item = self._table.get_item(Key=self._key, ConsistentRead=True).get("Item")
        return date.fromisoformat(str(item["last_day"])) if item and item.get("last_day") else None

    def advance(self, day: date, now: datetime) -> None:
        try:
            self._table.put_item(
                Item={**self._key, "last_day": day.isoformat(), "updated_at": clock.iso_z(now)},
                ConditionExpression="attribute_not_exists(last_day) OR last_day < :d",
                ExpressionAttributeValues={":d": day.isoformat()},
            )
        except self._table.meta.client.exceptions.ConditionalCheckFailedException:
            pass  # a concurrent run got further: the cursor never moves back


def catch_up(
    shop: str,
    spec: SequencesSpec,
    reader: WinbackReader,
    cursor: WinbackCursor,
    start: Any,
    now: datetime,
) -> dict[str, Any]:
    """Process every run-day since the cursor; ``start(Start) -> bool`` starts one execution (raises on failure)."""
    today = jst_today(now)
    last = cursor.get()
    if (
        last is None
    ):  # the first run ever: anchor the cursor first, so that if this run fails the next catches up
        last = today - timedelta(days=1)
        cursor.advance(last, now)
    days = run_days(last, today)
    truncated = last is not None and (today - last).days > len(days)
    due = started = 0
    for day in days:
        starts = plan_winbacks(shop, spec, reader, now, day - timedelta(days=spec.winback_threshold_days))
        due += len(starts)
        started += sum(1 for s in starts if start(s))
        cursor.advance(day, now)
    return {"days": [d.isoformat() for d in days], "due": due, "started": started, "truncated": truncated}


def plan_winbacks(
    shop: str, spec: SequencesSpec, reader: WinbackReader, now: datetime, day: date | None = None
) -> list[Start]:
    day = day or due_day(now, spec.winback_threshold_days)
    order_ids = list(dict.fromkeys(reader.order_ids(shop, day)))
    if not order_ids:
        return []
    orders = [
        OrderItem.model_validate(i) for i in reader.batch_get([keys.order_key(shop, o) for o in order_ids])
    ]
    orders = [o for o in orders if o.status == "placed" and o.customer_id and o.placed_at]
    customer_ids = list(dict.fromkeys(o.customer_id for o in orders if o.customer_id))
    profiles = {
        p.customer_id: p
        for p in (
            Profile.model_validate(i)
            for i in reader.batch_get([keys.profile_key(shop, x) for x in customer_ids])
        )
    }
    starts: list[Start] = []
    for order in orders:
        profile = profiles.get(order.customer_id or "")
        if (
            profile is None
            or profile.redacted
            or profile.merged_into
            or profile.last_order_id != order.order_id
        ):
            continue  # ordered again since (not dormant), merged, or erased
        assert order.placed_at is not None and order.customer_id is not None
        trigger = {
            "order_id": order.order_id,
            "order_name": order.order_name,
            "last_order_at": clock.iso_z(order.placed_at),
            "line_items": [i.model_dump(mode="json") for i in order.items],
            "currency": order.currency,
        }
        start = start_for(
            spec,
            c.SEQUENCE_WINBACK,
            shop,
            order.customer_id,
            order.order_id,
            trigger,
            now,
            now,
            trigger_at=order.placed_at,
        )
        if start is not None:
            starts.append(start)
    return starts


@bootstrap.container
def _deps() -> tuple[str, SequencesSpec, WinbackReader, Executions, WinbackCursor]:
    from enishi.shop_config import load_shop_config

    settings = StarterSettings.model_validate(dict(os.environ))
    shop = load_shop_config(settings.shop_config_dir).shop_id
    table = boto3.resource("dynamodb").Table(settings.table_name)
    return (
        shop,
        load_shop_spec(settings.shop_config_dir),
        WinbackReader(table),
        Executions(boto3.client("stepfunctions"), settings.state_machine_arns),
        WinbackCursor(table, shop),
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Scheduled event: catch up every day since the last completed run. ``{"day": "YYYY-MM-DD"}`` re-runs the
    orders of that day (a manual backfill; the cursor does not move)."""
    shop, spec, reader, executions, cursor = _deps()
    if event.get("day"):
        starts = plan_winbacks(shop, spec, reader, clock.now(), date.fromisoformat(event["day"]))
        result: dict[str, Any] = {
            "due": len(starts),
            "started": sum(1 for s in starts if executions.start(s)),
        }
    else:
        result = catch_up(shop, spec, reader, cursor, executions.start, clock.now())
        metrics.add_metric(name="WinbackDaysProcessed", unit=MetricUnit.Count, value=len(result["days"]))
        metrics.add_metric(name="WinbackRunCompleted", unit=MetricUnit.Count, value=1)
        if result["truncated"]:
            metrics.add_metric(name="WinbackCatchUpTruncated", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="WinbackDue", unit=MetricUnit.Count, value=result["due"])
    metrics.add_metric(name="WinbackStarted", unit=MetricUnit.Count, value=result["started"])
    logger.info("winback", extra=result)
    return result
