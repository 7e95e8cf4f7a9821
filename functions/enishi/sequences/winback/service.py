"""The win-back job's service: catch up every JST run-day since the cursor, each day's dormant customers planned by
the rules in ``domain/winback.py`` from what ``adapters/winback.WinbackReader`` reads.

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

from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from enishi import keys
from enishi.profiles.items import OrderItem
from enishi.profiles.model import Profile
from enishi.sequences.domain.spec import SequencesSpec
from enishi.sequences.domain.starting import Start
from enishi.sequences.domain.winback import dormant_starts, due_day, jst_today, placed_orders, run_days


class Reader(Protocol):
    def order_ids(self, shop: str, day: date) -> Iterable[str]: ...

    def batch_get(self, key_list: list[dict[str, str]]) -> list[dict[str, Any]]: ...


class Cursor(Protocol):
    def get(self) -> date | None: ...

    def advance(self, day: date, now: datetime) -> None: ...


def catch_up(
    shop: str,
    spec: SequencesSpec,
    reader: Reader,
    cursor: Cursor,
    start: Callable[[Start], bool],
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
    shop: str, spec: SequencesSpec, reader: Reader, now: datetime, day: date | None = None
) -> list[Start]:
    """The win-back starts for the orders placed on ``day`` (default: the day due today)."""
    day = day or due_day(now, spec.winback_threshold_days)
    order_ids = list(dict.fromkeys(reader.order_ids(shop, day)))
    if not order_ids:
        return []
    orders = placed_orders(
        OrderItem.model_validate(i) for i in reader.batch_get([keys.order_key(shop, o) for o in order_ids])
    )
    customer_ids = list(dict.fromkeys(o.customer_id for o in orders if o.customer_id))
    profiles = {
        p.customer_id: p
        for p in (
            Profile.model_validate(i)
            for i in reader.batch_get([keys.profile_key(shop, x) for x in customer_ids])
        )
    }
    return dormant_starts(shop, spec, orders, profiles, now)
