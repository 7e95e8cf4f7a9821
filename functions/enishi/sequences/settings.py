"""Environment of the two functions that start executions (the event-driven starter and the daily win-back job),
composed from ``enishi.bootstrap``'s pieces and validated once per cold start by each handler's container."""

from __future__ import annotations

from pydantic import Field, Json

from enishi import bootstrap
from enishi import constants as c


class StarterSettings(bootstrap.TableSettings, bootstrap.ShopConfigSettings):
    state_machine_arns: Json[dict[str, str]] = Field(alias=c.ENV_STATE_MACHINE_ARNS)
    # the starter queue's redrive maxReceiveCount: a parked event is acknowledged on its last receive (never DLQ'd)
    max_receive_count: int = Field(default=5, alias=c.ENV_MAX_RECEIVE_COUNT)
