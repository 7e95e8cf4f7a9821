"""Cursor arithmetic for a sweep, pure.

A stream's cursor holds the **watermark** (every change before it has been published) and, while a sweep runs, the
sweep's fixed lower bound ``since``, its start time and the next page. The cursor is saved after every published
page, so a crash resumes at that page with the same bounds. Paging runs over ``updated at/after since`` only (no
upper bound): a row updated during the sweep stays inside the window (it moves to the front, or nowhere), so offset
paging can re-read a row but never skip one. When the last page is done the watermark becomes the sweep's start
time; the next sweep begins ``overlap`` earlier (clock skew between cart and enishi). Re-read rows yield the same
event ids, which are claimed once.
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
    return StreamCursor(watermark=cursor.watermark, since=base - timedelta(seconds=connection.overlap_seconds),
                        started_at=now, next_page=1)


def after_page(cursor: StreamCursor, has_more: bool) -> StreamCursor:
    """The cursor once a page's events are published: the next page, or the sweep finished."""
    if not cursor.in_progress:
        raise ValueError("no sweep in progress")
    if has_more:
        return cursor.model_copy(update={"next_page": cursor.next_page + 1})
    return StreamCursor(watermark=cursor.started_at)


def events_of_page(
    rows: Iterable[Mapping[str, Any]],
    to_events: Callable[[Mapping[str, Any]], list[Any]],
    updated_at: Callable[[Mapping[str, Any]], datetime],
    on_unprocessable: Callable[[Mapping[str, Any], Exception], None],
) -> list[Any]:
    """A page's rows → their events, oldest change first. A row that does not fit is handed to
    ``on_unprocessable`` (kept for replay) and the sweep goes on: one bad row never blocks a stream."""
    from enishi.carts import Unprocessable

    timed: list[tuple[datetime, int, list[Any]]] = []
    for n, row in enumerate(rows):
        try:
            timed.append((updated_at(row), n, to_events(row)))
        except (Unprocessable, ValueError, TypeError, KeyError) as exc:
            on_unprocessable(row, exc)
    timed.sort(key=lambda t: (t[0], t[1]))
    return [event for _, _, events in timed for event in events]
