"""The privacy service with fake ports: an erase that loses a version race to the profile consumer (which redacts
the same profile at the same time) re-reads and erases again instead of failing the slice; other errors fail it."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from enishi.privacy.jobs import Job
from enishi.privacy.service import ERASE_ATTEMPTS, PrivacyService

JOB = Job(kind="erase", shop="s", event_id="e", received_at="2026-06-01T02:00:00+00:00", customer_id="c1")


class FakeStore:
    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.reads = 0

    def profile_exists(self, shop: str, customer_id: str) -> bool:
        return True

    def holdings(self, shop: str, customer_id: str) -> Any:
        self.reads += 1
        return object()

    def erase(self, holdings: Any, at: Any) -> dict[str, int]:
        if self.failures:
            raise self.failures.pop(0)
        return {"profiles": 1}


def _conflict() -> ClientError:
    return ClientError({"Error": {"Code": "ConditionalCheckFailedException", "Message": "x"}}, "PutItem")


def _service(store: FakeStore) -> PrivacyService:
    return PrivacyService(store=store, eraser=None, exports=None, notify=lambda m: None)  # type: ignore[arg-type]


def test_an_erase_that_lost_a_race_reads_again_and_finishes():
    store = FakeStore([_conflict()])
    assert _service(store).run(JOB).counts == {"profiles": 1}
    assert store.reads == 2


def test_an_erase_that_keeps_losing_fails_the_slice_for_a_retry():
    store = FakeStore([_conflict() for _ in range(ERASE_ATTEMPTS)])
    with pytest.raises(ClientError):
        _service(store).run(JOB)
    assert store.reads == ERASE_ATTEMPTS


def test_other_errors_are_not_retried_here():
    store = FakeStore([ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "Scan")])
    with pytest.raises(ClientError):
        _service(store).run(JOB)
    assert store.reads == 1
