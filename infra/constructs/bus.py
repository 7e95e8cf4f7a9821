"""The custom event bus ``enishi`` and an archive of everything on it, so any event can be replayed."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from constructs import Construct

from enishi import constants as c


class Bus(Construct):
    def __init__(self, scope: Construct, id: str, *, archive_retention: Duration) -> None:
        super().__init__(scope, id)
        self.bus = events.EventBus(
            self, "Bus", event_bus_name=c.EVENT_BUS_NAME, description="enishi canonical events"
        )
        # an archive needs a pattern: "from this account" matches every event on the bus
        self.archive = self.bus.archive(
            "Archive",
            archive_name=f"{c.EVENT_BUS_NAME}-all",
            description="every enishi event, for replay after a fix (invariant 1: nothing authentic is lost)",
            event_pattern=events.EventPattern(account=[Stack.of(self).account]),
            retention=archive_retention,
        )
