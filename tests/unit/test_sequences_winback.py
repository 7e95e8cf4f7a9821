"""The daily win-back job catches up every day since its last completed run (issue 9 defect 9)."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from enishi.sequences.domain.winback import MAX_CATCH_UP_DAYS, run_days

D0 = date(2025, 5, 6)


def test_a_fresh_deployment_processes_today_only():
    assert run_days(None, D0) == [D0]


def test_two_missed_days_are_processed_oldest_first_with_today():
    assert run_days(D0, D0 + timedelta(days=3)) == [D0 + timedelta(days=n) for n in (1, 2, 3)]


def test_a_run_on_the_day_already_completed_has_nothing_left():
    assert run_days(D0, D0) == []


def test_a_long_stopped_deployment_catches_up_a_bounded_window():
    assert len(run_days(D0, D0 + timedelta(days=400))) == MAX_CATCH_UP_DAYS


class Cursor:
    def __init__(self) -> None:
        self.day: date | None = None

    def get(self) -> date | None:
        return self.day

    def advance(self, day: date, now) -> None:
        self.day = max(self.day, day) if self.day else day


@settings(deadline=None)  # examples: the loaded profile (HYPOTHESIS_PROFILE)
@given(
    st.lists(st.tuples(st.sampled_from(["ok", "fail", "skip"]), st.integers(0, 3)), min_size=1, max_size=20)
)
def test_every_day_up_to_the_last_completed_run_is_processed_by_a_completed_run(runs):
    """Whatever runs fail (at any of their days) or never happen, every day from the first run through the last
    completed one is processed; a day is processed again only after a failure (execution names dedupe that)."""
    from datetime import UTC, datetime

    from enishi.sequences.domain.spec import load_shop_spec
    from enishi.sequences.winback import service as winback

    spec = load_shop_spec(None)
    processed: list[date] = []
    failing: list[bool] = [False]
    fail_at: list[int] = [0]

    def plan(shop, spec_, reader, now, due_day):
        run_day = due_day + timedelta(days=spec.winback_threshold_days)
        if failing[0] and fail_at[0] == 0:
            raise RuntimeError("StartExecution throttled")
        fail_at[0] -= 1
        processed.append(run_day)
        return []

    cursor = Cursor()
    original, winback.plan_winbacks = winback.plan_winbacks, plan
    first: date | None = None
    last_ok: date | None = None
    try:
        for offset, (outcome, at) in enumerate(runs):
            today = D0 + timedelta(days=offset)
            if outcome == "skip":
                continue
            first = first or today
            failing[0], fail_at[0] = outcome == "fail", at
            now = datetime(today.year, today.month, today.day, 1, 0, tzinfo=UTC)
            try:
                winback.catch_up("s", spec, None, cursor, lambda s: True, now)  # type: ignore[arg-type]
                last_ok = today
            except RuntimeError:
                pass
    finally:
        winback.plan_winbacks = original
    if last_ok is not None and first is not None:
        assert cursor.day is not None and cursor.day >= last_ok  # a failed run keeps the days it completed
        expected = {first + timedelta(days=n) for n in range((cursor.day - first).days + 1)}
        assert set(processed) >= expected
