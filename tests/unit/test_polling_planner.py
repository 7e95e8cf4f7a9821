"""Cursor arithmetic of a sweep, and the rule it rests on: paging over "updated at/after since" (no upper bound)
while rows keep changing may re-read a row, and a row it misses has changed since the sweep began — so the next
sweep lists it. Nothing is lost between two sweeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from enishi.polling import planner
from enishi.polling.contract import CartConnection
from enishi.polling.planner import StreamCursor

T0 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
CONN = CartConnection(
    id="c",
    cart="eccube",
    shop_id="s",
    base_url="https://x.example",
    initial_lookback_hours=24,
    overlap_seconds=300,
)


def test_first_sweep_starts_at_the_initial_lookback_and_finishing_sets_the_watermark() -> None:
    c = planner.begin(StreamCursor(), T0, CONN)
    assert c.since == T0 - timedelta(hours=24, seconds=300) and c.started_at == T0 and c.next_page == 1
    c = planner.after_page(c, has_more=True)
    assert c.next_page == 2 and planner.begin(c, T0 + timedelta(hours=1), CONN) == c  # resumed as saved
    done = planner.after_page(c, has_more=False)
    assert done.watermark == T0 and not done.in_progress
    nxt = planner.begin(done, T0 + timedelta(minutes=15), CONN)
    assert nxt.since == T0 - timedelta(seconds=300)


@given(st.lists(st.booleans(), max_size=30), st.integers(min_value=0, max_value=10_000))
@settings(max_examples=100, deadline=None)
def test_watermark_never_passes_the_sweep_start(pages: list[bool], minutes: int) -> None:
    cursor = StreamCursor()
    now = T0
    for more in [*pages, False]:
        cursor = planner.begin(cursor, now, CONN)
        assert cursor.since is not None and cursor.since < now
        started = cursor.started_at
        cursor = planner.after_page(cursor, more)
        if not cursor.in_progress:
            assert cursor.watermark == started
        now += timedelta(minutes=minutes % 60 + 1)


class Listing:
    """Rows sorted by update time descending (EC-CUBE), offset paging, filtered by ``>= since``."""

    def __init__(self, n: int) -> None:
        self.updated = {i: T0 - timedelta(minutes=n - i) for i in range(n)}
        self.tick = T0

    def page(self, since: datetime, page: int, size: int) -> tuple[list[int], bool]:
        rows = sorted(
            (i for i, t in self.updated.items() if t >= since),
            key=lambda i: (self.updated[i], i),
            reverse=True,
        )
        return rows[(page - 1) * size : page * size], page * size < len(rows)

    def touch(self, i: int) -> None:
        self.tick += timedelta(seconds=1)
        self.updated[i] = self.tick


@given(
    st.integers(min_value=1, max_value=60),
    st.integers(min_value=1, max_value=7),
    st.lists(st.integers(min_value=0, max_value=59), max_size=40),
)
@settings(max_examples=150, deadline=None)
def test_paging_while_rows_change_loses_no_row_between_two_sweeps(
    n: int, size: int, touches: list[int]
) -> None:
    listing = Listing(n)
    cursor = planner.begin(StreamCursor(), T0 + timedelta(seconds=1), CONN)
    before = dict(listing.updated)
    seen: set[int] = set()
    pending = list(touches)
    while True:
        assert cursor.since is not None
        rows, more = listing.page(cursor.since, cursor.next_page, size)
        seen.update(rows)
        if pending:  # between two pages, the shop changes a row (it moves to the front)
            listing.touch(pending.pop() % n)
        cursor = planner.after_page(cursor, more)
        if not cursor.in_progress:
            break
    # a row not seen in this sweep has changed since it began, so the next sweep (from the watermark minus the
    # overlap) lists it: nothing is ever lost between two sweeps
    assert cursor.watermark is not None
    next_since = planner.begin(cursor, cursor.watermark + timedelta(minutes=15), CONN).since
    assert next_since is not None
    for i, t in before.items():
        if t >= T0 - timedelta(hours=24):
            assert i in seen or listing.updated[i] >= next_since


def test_order_window_never_reaches_back_past_the_first_sweep() -> None:
    c = planner.begin(StreamCursor(), T0, CONN)
    assert planner.order_window_start(c, timedelta(days=30)) == c.floor
    done = planner.after_page(
        planner.begin(planner.after_page(c, False), T0 + timedelta(days=60), CONN), False
    )
    later = planner.begin(done, T0 + timedelta(days=60, minutes=15), CONN)
    assert later.floor == c.floor
    assert planner.order_window_start(later, timedelta(days=30)) == later.since - timedelta(days=30)


def test_connection_refuses_plain_http_to_another_host() -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        CartConnection(id="c", cart="eccube", shop_id="s", base_url="http://shop.example.jp")
    assert CartConnection(id="c", cart="eccube", shop_id="s", base_url="http://127.0.0.1:8080").base_url
