"""A handler's own waits (``enishi.clock.pause``): real time in Lambda; on the local stack's virtual clock a manual
clock pays nothing and a running one the scaled time, while ``clock.monotonic`` counts every pause in full — so a
cart client paces its requests as it would in Lambda, without the local stack sleeping through its pacing."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from enishi import clock
from enishi.polling.http import CartApi, HttpResponse
from enishi_local.vclock import VirtualClock

START = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def installed() -> Iterator[VirtualClock]:
    vclock = VirtualClock(START)
    vclock.install()
    try:
        yield vclock
    finally:
        vclock.uninstall()


def test_in_lambda_a_pause_is_real_time():
    clock.reset()
    t0, m0 = time.monotonic(), clock.monotonic()
    clock.pause(0.05)
    assert time.monotonic() - t0 >= 0.05
    assert clock.monotonic() - m0 >= 0.05


def test_a_manual_clock_pays_nothing_for_a_pause_and_counts_it_in_full(installed):
    t0, m0 = time.monotonic(), clock.monotonic()
    clock.pause(30)
    assert time.monotonic() - t0 < 1
    assert clock.monotonic() - m0 >= 30
    assert clock.now() == START  # the shared virtual clock does not move for one handler's pause


def test_a_running_clock_sleeps_the_scaled_time():
    vclock = VirtualClock(START, time_scale=100)
    vclock.install()
    try:
        t0, m0 = time.monotonic(), clock.monotonic()
        clock.pause(5)  # 5 virtual seconds: 0.05 s real
        real = time.monotonic() - t0
        counted = clock.monotonic() - m0
    finally:
        vclock.uninstall()
    assert 0.05 <= real < 1
    assert counted >= 5
    t0 = time.monotonic()
    clock.pause(0.02)  # uninstalled: real time again
    assert time.monotonic() - t0 >= 0.02


def test_a_cart_client_paces_its_requests_on_the_virtual_clock(installed):
    seen: list[float] = []

    def transport(method, url, headers, body, timeout):
        seen.append(clock.monotonic())
        return HttpResponse(200, {}, b"{}")

    api = CartApi("https://shop.example/api", tokens=None, min_interval=0.5, transport=transport)
    t0 = time.monotonic()
    for _ in range(20):
        api.get("/v1/sales.json", {"page": 1})
    assert time.monotonic() - t0 < 2  # 20 requests paced 0.5 s apart would take 9.5 s of real time
    gaps = [b - a for a, b in itertools.pairwise(seen)]
    assert min(gaps) >= 0.5  # and yet every one went out at least the cart's interval after the one before


def test_a_channel_back_off_waits_on_the_same_clock(installed):
    from enishi.channels.backoff import Backoff

    backoff = Backoff(
        max_attempts=3, base=10.0, cap=10.0, rng=lambda: 1.0
    )  # the sleep as LINE and SES get it
    t0, m0 = time.monotonic(), clock.monotonic()
    backoff.wait(1)
    assert time.monotonic() - t0 < 1  # 10 s of back-off before LINE's or SES's next try, paid in virtual time
    assert clock.monotonic() - m0 >= 10
