"""Quiet hours: a send due inside 21:00–09:00 JST waits for 09:00 JST; nothing is dropped."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from enishi import clock
from enishi.sequences.domain.quiet_hours import QuietWindow, next_allowed
from enishi.shop_config import QuietHours

JST = clock.JST


def test_due_at_23_jst_goes_out_at_09_jst_next_day_as_utc_z():
    # Given a message due at 23:00 JST on 5 May
    due = datetime(2025, 5, 5, 23, 0, tzinfo=JST)
    # When quiet hours are applied
    allowed = next_allowed(due)
    # Then it goes out at 09:00 JST on 6 May == 00:00 UTC, written with a Z for the Wait state
    assert allowed == datetime(2025, 5, 6, 0, 0, tzinfo=UTC)
    assert clock.iso_z(allowed) == "2025-05-06T00:00:00Z"


def test_due_after_midnight_goes_out_the_same_morning():
    assert next_allowed(datetime(2025, 5, 6, 3, 30, tzinfo=JST)) == datetime(2025, 5, 6, 9, 0, tzinfo=JST)


@pytest.mark.parametrize(
    ("hour", "minute", "quiet"),
    [(20, 59, False), (21, 0, True), (8, 59, True), (9, 0, False), (12, 0, False), (0, 0, True)],
)
def test_window_edges(hour, minute, quiet):
    window = QuietWindow.from_config(QuietHours())
    assert window.is_quiet(datetime(2025, 5, 6, hour, minute, tzinfo=JST)) is quiet


def test_outside_the_window_the_time_is_unchanged():
    due = datetime(2025, 5, 6, 14, 15, 7, tzinfo=JST)
    assert next_allowed(due) == due


def test_a_window_that_does_not_wrap_midnight():
    window = QuietWindow.from_config(QuietHours(start="12:00", end="13:00"))
    assert window.next_allowed(datetime(2025, 5, 6, 12, 30, tzinfo=JST)) == datetime(
        2025, 5, 6, 13, 0, tzinfo=JST
    )
    assert not window.is_quiet(datetime(2025, 5, 6, 23, 0, tzinfo=JST))


def test_equal_start_and_end_means_no_quiet_hours():
    window = QuietWindow.from_config(QuietHours(start="00:00", end="00:00"))
    due = datetime(2025, 5, 6, 23, 0, tzinfo=JST)
    assert window.next_allowed(due) == due
