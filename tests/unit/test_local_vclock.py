"""The virtual clock: manual and scaled time, sleepers woken by advancing, enishi.clock wiring."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enishi import clock as enishi_clock
from enishi_local.vclock import VirtualClock

START = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)


def test_manual_clock_stands_still_until_advanced():
    vc = VirtualClock(start=START)
    time.sleep(0.01)
    assert vc.now() == START
    assert vc.advance(timedelta(days=1)) == START + timedelta(days=1)
    assert vc.now().tzinfo is not None


def test_clock_never_moves_backwards():
    vc = VirtualClock(start=START)
    vc.advance_to(START - timedelta(hours=1))
    assert vc.now() == START
    with pytest.raises(ValueError):
        vc.advance(timedelta(seconds=-1))


def test_scaled_clock_runs_time_scale_virtual_seconds_per_real_second():
    vc = VirtualClock(start=START, time_scale=3600)
    time.sleep(0.05)
    elapsed = (vc.now() - START).total_seconds()
    assert 150 <= elapsed < 3600  # 0.05 s real ≈ 180 s virtual


def test_sleep_until_wakes_immediately_when_the_clock_is_advanced():
    vc = VirtualClock(start=START)
    woke: list[datetime] = []
    t = threading.Thread(target=lambda: (vc.sleep_until(START + timedelta(days=1)), woke.append(vc.now())))
    t.start()
    _wait_for(lambda: vc.sleepers() == [START + timedelta(days=1)])
    vc.advance(timedelta(hours=23))
    time.sleep(0.02)
    assert woke == []  # not yet: still an hour to go
    t0 = time.monotonic()
    vc.advance(timedelta(hours=2))
    t.join(timeout=2)
    assert woke == [START + timedelta(hours=25)]
    assert time.monotonic() - t0 < 0.5
    assert vc.sleepers() == []


def test_scaled_sleep_returns_after_the_virtual_time_passed():
    vc = VirtualClock(start=START, time_scale=86_400)  # one virtual day per real second
    t0 = time.monotonic()
    assert vc.sleep_until(START + timedelta(hours=2)) is True
    assert time.monotonic() - t0 < 1.0
    assert vc.now() >= START + timedelta(hours=2)


def test_a_cancelled_sleeper_leaves_when_woken():
    vc = VirtualClock(start=START)
    stop = threading.Event()
    result: list[bool] = []
    t = threading.Thread(
        target=lambda: result.append(vc.sleep_until(START + timedelta(days=90), stop.is_set))
    )
    t.start()
    _wait_for(lambda: len(vc.sleepers()) == 1)
    stop.set()
    vc.wake()
    t.join(timeout=2)
    assert result == [False]


def test_install_points_enishi_clock_at_the_virtual_clock():
    vc = VirtualClock(start=START)
    vc.install()
    try:
        assert enishi_clock.now() == START
        vc.advance(timedelta(minutes=5))
        assert enishi_clock.now() == START + timedelta(minutes=5)
    finally:
        vc.uninstall()
    assert abs((enishi_clock.now() - datetime.now(UTC)).total_seconds()) < 5


def test_naive_times_are_refused():
    with pytest.raises(ValueError):
        VirtualClock(start=datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        VirtualClock(start=START).advance_to(datetime(2026, 1, 2))


# ---- ordered release (issue 14: two executions due at one moment raced for the customer's frequency cap)
def _sleep_and_record(vc: VirtualClock, target: datetime, key: str, woke: list[str], claim: dict[str, str]):
    def run() -> None:
        if vc.sleep_until(target, key=key):
            claim.setdefault("cap", key)  # the first to run wins, like the conditional cap write
            woke.append(key)

    t = threading.Thread(target=run)
    t.start()
    return t


def _release_all(vc: VirtualClock, woke: list[str], threads: list[threading.Thread]) -> None:
    """What ``LocalStack.settle`` does: release one, wait until it is done, release the next."""
    while True:
        n = len(woke)
        if not vc.release_next():
            break
        _wait_for(lambda n=n: len(woke) > n and not vc.releasing())
    for t in threads:
        t.join(timeout=2)


def test_ordered_release_holds_due_sleepers_until_released_one_at_a_time():
    vc = VirtualClock(start=START, ordered=True)
    woke: list[str] = []
    claim: dict[str, str] = {}
    at = START + timedelta(hours=1)
    threads = [_sleep_and_record(vc, at, k, woke, claim) for k in ("b", "a")]
    _wait_for(lambda: len(vc.sleepers()) == 2)
    vc.advance_to(at)
    time.sleep(0.05)
    assert woke == [] and vc.held() == 2  # advancing woke nobody
    _release_all(vc, woke, threads)
    assert woke == ["a", "b"] and claim == {"cap": "a"}
    assert vc.held() == 0 and vc.sleepers() == []


def test_ordered_release_takes_the_earliest_due_first_then_the_key():
    vc = VirtualClock(start=START, ordered=True)
    woke: list[str] = []
    claim: dict[str, str] = {}
    threads = [
        _sleep_and_record(vc, START + timedelta(minutes=9), "z-late", woke, claim),
        _sleep_and_record(vc, START + timedelta(minutes=3), "y-early", woke, claim),
        _sleep_and_record(vc, START + timedelta(minutes=9), "a-late", woke, claim),
    ]
    _wait_for(lambda: len(vc.sleepers()) == 3)
    vc.advance_to(START + timedelta(minutes=10))
    _release_all(vc, woke, threads)
    assert woke == ["y-early", "a-late", "z-late"]


def test_a_sleeper_already_due_when_it_lies_down_goes_on_at_once():
    vc = VirtualClock(start=START, ordered=True)
    assert vc.sleep_until(START) is True
    assert vc.sleep_until(START - timedelta(days=1)) is True
    assert not vc.releasing() and vc.sleepers() == []


def test_a_scaled_clock_ignores_ordered_release():
    vc = VirtualClock(start=START, time_scale=86_400, ordered=True)
    assert not vc.ordered
    assert vc.sleep_until(START + timedelta(hours=1)) is True
    assert vc.release_next() is False


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.text("abc", min_size=1, max_size=3)),
        min_size=1,
        max_size=5,
        unique_by=lambda x: x[1],
    )
)
def test_release_order_is_due_time_then_key_whatever_order_they_lay_down(sleepers):
    vc = VirtualClock(start=START, ordered=True)
    woke: list[str] = []
    claim: dict[str, str] = {}
    threads = [
        _sleep_and_record(vc, START + timedelta(minutes=1 + m), key, woke, claim) for m, key in sleepers
    ]
    _wait_for(lambda: len(vc.sleepers()) == len(sleepers))
    vc.advance_to(START + timedelta(minutes=10))
    _release_all(vc, woke, threads)
    assert woke == [key for _, key in sorted(sleepers)]
    assert claim["cap"] == min(sleepers)[1]


def test_waking_a_key_wakes_only_its_sleepers_and_an_unknown_key_wakes_everyone():
    vc = VirtualClock(start=START, ordered=True)
    checks = {"a": 0, "b": 0}
    stop = {"a": False, "b": False}

    def cancelled(key: str):
        def check() -> bool:
            checks[key] += 1
            return stop[key]

        return check

    threads = [
        threading.Thread(
            target=vc.sleep_until, args=(START + timedelta(days=1), cancelled(k)), kwargs={"key": k}
        )
        for k in ("a", "b")
    ]
    for t in threads:
        t.start()
    _wait_for(lambda: len(vc.sleepers()) == 2 and checks == {"a": 1, "b": 1})
    # When one execution is stopped, Then only its sleeper looks again (and leaves)
    stop["a"] = True
    vc.wake("a")
    threads[0].join(timeout=2)
    time.sleep(0.05)
    assert checks == {"a": 2, "b": 1} and vc.sleepers() == [START + timedelta(days=1)]
    # When a key nobody sleeps under is woken, Then everyone looks again
    stop["b"] = True
    vc.wake("nobody")
    threads[1].join(timeout=2)
    assert checks["b"] == 2 and vc.sleepers() == []


def _wait_for(predicate, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)
