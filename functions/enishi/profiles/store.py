"""``ProfileStore``: the profile service over the DynamoDB adapter, assembled in one call.

``ProfileStore(table, publisher, stages=, attribution=, max_attempts=, now=)`` is
``service.ProfileService(dynamo.DynamoProfileRepository(table, publisher), ...)``: what the local stack, the tests
and the benches build (the handler assembles the same from ``enishi.bootstrap``). A composition root, like the
handler: nothing below imports it. The item layout helpers are re-exported for their older import path.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from enishi import clock
from enishi.attribution import AttributionWindows
from enishi.profiles.dynamo import DynamoProfileRepository
from enishi.profiles.layout import (
    PROFILE_ALWAYS_STORED,
    PROFILE_DERIVED,
    compact_folds,
    order_to_item,
    profile_from_item,
    profile_put,
)
from enishi.profiles.plan import Outcome, WriteConflict
from enishi.profiles.service import MAX_ATTEMPTS, ProfileService, TooManyConflicts
from enishi.publish import EventPublisher

__all__ = [
    "MAX_ATTEMPTS",
    "PROFILE_ALWAYS_STORED",
    "PROFILE_DERIVED",
    "DynamoProfileRepository",
    "Outcome",
    "ProfileStore",
    "TooManyConflicts",
    "WriteConflict",
    "compact_folds",
    "order_to_item",
    "profile_from_item",
    "profile_put",
]


class ProfileStore(ProfileService):
    """The profile service over a DynamoDB table: ``ProfileStore(table, publisher, stages=..., ...)``."""

    def __init__(
        self,
        table: Any,
        publisher: EventPublisher,
        *,
        stages: Any | None = None,
        attribution: AttributionWindows | None = None,
        max_attempts: int = MAX_ATTEMPTS,
        now: Callable[[], datetime] = clock.now,
    ) -> None:
        super().__init__(
            DynamoProfileRepository(table, publisher),
            stages=stages,
            attribution=attribution,
            max_attempts=max_attempts,
            now=now,
        )
