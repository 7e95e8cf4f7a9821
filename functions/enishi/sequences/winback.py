"""Winback: the daily job (EventBridge schedule ``cron(0 1 * * ? *)``, 10:00 JST) that starts win-back sequences.

No scan: it Queries the ``orders_by_day`` GSI for the orders placed exactly ``winback_threshold_days`` days ago
(JST day), batch-reads those orders and their customers' profiles, and keeps an order only while it is still the
customer's ``last_order_id`` (a customer who ordered since is not dormant). Cost ∝ that day's orders.
One execution per due customer, named by (customer, that order): a re-run of the job starts nothing twice.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from enishi import clock, keys
from enishi import constants as c
from enishi.profiles.items import OrderItem
from enishi.profiles.model import Profile
from enishi.sequences.settings import StarterSettings
from enishi.sequences.spec import SequencesSpec, load_shop_spec
from enishi.sequences.starting import Executions, Start, start_for

logger = Logger()
metrics = Metrics()

BATCH_GET_MAX = 100


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


@functools.cache
def _deps() -> tuple[str, SequencesSpec, WinbackReader, Executions]:
    from enishi.shop_config import load_shop_config

    settings = StarterSettings.model_validate(dict(os.environ))
    shop = load_shop_config(settings.shop_config_dir).shop_id
    table = boto3.resource("dynamodb").Table(settings.table_name)
    return (
        shop,
        load_shop_spec(settings.shop_config_dir),
        WinbackReader(table),
        Executions(boto3.client("stepfunctions"), settings.state_machine_arns),
    )


def reset() -> None:
    _deps.cache_clear()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Scheduled event; ``{"day": "YYYY-MM-DD"}`` re-runs a given day (backfill)."""
    shop, spec, reader, executions = _deps()
    day = date.fromisoformat(event["day"]) if event.get("day") else None
    starts = plan_winbacks(shop, spec, reader, clock.now(), day)
    started = sum(1 for s in starts if executions.start(s))
    metrics.add_metric(name="WinbackDue", unit=MetricUnit.Count, value=len(starts))
    metrics.add_metric(name="WinbackStarted", unit=MetricUnit.Count, value=started)
    logger.info("winback", extra={"due": len(starts), "started": started})
    return {"due": len(starts), "started": started}
