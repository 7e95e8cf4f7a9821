"""Environment of the two functions that start executions (the event-driven starter and the daily win-back job),
validated once per cold start by each."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, Json

from enishi import constants as c


class StarterSettings(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    table_name: str = Field(alias=c.ENV_TABLE_NAME)
    state_machine_arns: Json[dict[str, str]] = Field(alias=c.ENV_STATE_MACHINE_ARNS)
    shop_config_dir: str | None = Field(default=None, alias=c.ENV_SHOP_CONFIG_DIR)
    # the starter queue's redrive maxReceiveCount: a parked event is acknowledged on its last receive (never DLQ'd)
    max_receive_count: int = Field(default=5, alias=c.ENV_MAX_RECEIVE_COUNT)
