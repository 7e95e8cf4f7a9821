"""Cursor arithmetic for a sweep, pure.

A stream's cursor holds the **watermark** (every change before it has been published) and, while a sweep runs, the
sweep's fixed lower bound ``since``, its start time and the next page. The cursor is saved after every published
page, so a crash resumes at that page with the same bounds. Paging runs over ``updated at/after since`` only (no
upper bound): a row updated during the sweep stays inside the window. Offset paging then may re-read a row (rows
shift back when another moves to the front) or miss one — but only a row that moved, i.e. one updated after the
sweep began, which the next sweep lists (it starts at this sweep's start minus ``overlap``, which also covers
clock skew between cart and enishi). Re-read rows yield the same event ids, published once. The property is tested
for all interleavings in tests/unit/test_polling_planner.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict

from enishi.polling.contract import CartConnection


class StreamCursor(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    watermark: AwareDatetime | None = None
    floor: AwareDatetime | None = (
        None  # where the first sweep began: order-time carts never look back past it
    )
    since: AwareDatetime | None = None  # lower bound of the sweep in progress
    started_at: AwareDatetime | None = None
    next_page: int = 1

    @property
    def in_progress(self) -> bool:
        return self.since is not None and self.started_at is not None


def begin(cursor: StreamCursor, now: datetime, connection: CartConnection) -> StreamCursor:
    """Resume the sweep in progress, or start one from the watermark (first run: the initial look-back)."""
    if cursor.in_progress:
        return cursor
    base = cursor.watermark or now - timedelta(hours=connection.initial_lookback_hours)
    since = base - timedelta(seconds=connection.overlap_seconds)
    return StreamCursor(
        watermark=cursor.watermark, floor=cursor.floor or since, since=since, started_at=now, next_page=1
    )


def after_page(cursor: StreamCursor, has_more: bool) -> StreamCursor:
    """The cursor once a page's events are published: the next page, or the sweep finished."""
    if not cursor.in_progress:
        raise ValueError("no sweep in progress")
    if has_more:
        return cursor.model_copy(update={"next_page": cursor.next_page + 1})
    return StreamCursor(watermark=cursor.started_at, floor=cursor.floor)


def order_window_start(cursor: StreamCursor, lookback: timedelta) -> datetime:
    """Carts that list by order time (BASE, STORES, makeshop): the sweep lists orders placed from here, the
    look-back window before ``since`` — but never before the first sweep's start, so connecting a shop does not
    replay a month of old orders as new ones (history import is a separate, explicit job)."""
    assert cursor.since is not None
    start = cursor.since - lookback
    return max(start, cursor.floor) if cursor.floor is not None else start


def events_of_page(
    rows: Iterable[Mapping[str, Any]],
    to_events: Callable[[Mapping[str, Any]], list[Any]],
    updated_at: Callable[[Mapping[str, Any]], datetime],
    on_unprocessable: Callable[[Mapping[str, Any], Exception], None],
) -> list[Any]:
    """A page's rows → their events, oldest change first. A row that does not fit — whatever the mapping raises
    on it — is handed to ``on_unprocessable`` (kept for replay) and the sweep goes on: a row would be re-read and
    fail on every run, so one bad row must never block its stream (property test:
    tests/unit/test_polled_rows_never_block.py)."""
    timed: list[tuple[datetime, int, list[Any]]] = []
    for n, row in enumerate(rows):
        try:
            timed.append((updated_at(row), n, to_events(row)))
        except Exception as exc:  # noqa: BLE001 - any failure is this row's, not the sweep's
            on_unprocessable(row, exc)
    timed.sort(key=lambda t: (t[0], t[1]))
    return [event for _, _, events in timed for event in events]
