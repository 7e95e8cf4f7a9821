"""``clock.peer_now()``: what a remote sender's signed timestamp is judged against."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from enishi import clock
from enishi_local.vclock import VirtualClock


def test_in_lambda_the_peer_clock_is_now():
    fixed = datetime(2025, 1, 20, 13, 30, tzinfo=UTC)
    clock.set_provider(lambda: fixed)
    try:
        assert clock.peer_now() == clock.now() == fixed
    finally:
        clock.reset()


def test_the_local_virtual_clock_leaves_the_peer_clock_on_the_wall():
    vc = VirtualClock(start=datetime(2020, 1, 1, tzinfo=UTC))
    vc.install()
    try:
        vc.advance(timedelta(days=400))
        assert clock.now() == datetime(2021, 2, 4, tzinfo=UTC)
        assert abs(clock.peer_now() - datetime.now(UTC)) < timedelta(seconds=5)
    finally:
        vc.uninstall()
    assert clock.peer_now() == clock.now() or abs(clock.peer_now() - clock.now()) < timedelta(seconds=1)
