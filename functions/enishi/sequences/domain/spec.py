"""The sequences' declaration (``shop/sequences.yaml``) as a validated model.

One model, three readers: CDK compiles it into state machines at synth, the starter reads the first step's delay,
tests read it. A step's full definition travels inside the compiled state machine (the task payload), so the step
Lambda never re-reads the YAML: what runs is what was deployed.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from enishi import bootstrap
from enishi import constants as c
from enishi.digits import ascii_int

SEQUENCES_FILE = "sequences.yaml"
_DELAY = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_delay(value: str | int) -> timedelta:
    """``"0"``, ``"90s"``, ``"30m"``, ``"1h"``, ``"3d"`` → timedelta (an int means seconds)."""
    seconds = ascii_int(value, 9)
    if seconds is not None:
        return timedelta(seconds=seconds)
    match = _DELAY.match(str(value))
    if not match:
        raise ValueError(f"delay {value!r}: use a number and a unit, like 30m, 1h, 3d")
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


class ChannelPolicy(StrEnum):
    EMAIL = "email"
    LINE = "line"
    PREFER_LINE = "prefer_line"


class QuotaPolicy(StrEnum):
    FALLBACK_EMAIL = "fallback_email"  # LINE's monthly quota is used up: send by email instead
    WAIT = "wait"  # …or wait for the next month (deferred, not dropped)


class StopCondition(StrEnum):
    ORDERED_AGAIN = "ordered_again"  # the customer placed an order after the trigger
    CHECKOUT_COMPLETED = "checkout_completed"  # the triggering checkout completed (or was emptied)
    ORDER_CANCELLED = "order_cancelled"  # the triggering order was cancelled


class Anchor(StrEnum):
    TRIGGER = "trigger"  # delay counted from the trigger time (execution input started_at)
    PREVIOUS = "previous"  # delay counted from when the previous step ran


class Offer(BaseModel):
    """What a message offers (issue 12 item 6): its value is counted as cost once per attributed conversion."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    coupon_value_jpy: int = Field(0, ge=0)


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,30}$")
    delay: str = "0"
    after: Anchor = Anchor.PREVIOUS
    template: str
    channel: ChannelPolicy = ChannelPolicy.PREFER_LINE
    marketing: bool = True
    on_line_quota_exhausted: QuotaPolicy = QuotaPolicy.FALLBACK_EMAIL
    # quiet hours hold marketing messages; a transactional notice (shipping) goes out at once unless set true
    quiet_hours: bool | None = None
    # an event that starts the sequence directly at this step (shipping follow-up on "delivered")
    entry_on: str | None = None
    entry_delay: str = "0"
    offer: Offer | None = (
        None  # a coupon the message carries (ROI counts its value per attributed conversion)
    )

    @field_validator("delay", "entry_delay")
    @classmethod
    def _valid_delay(cls, value: str) -> str:
        parse_delay(value)
        return value

    @property
    def delay_td(self) -> timedelta:
        return parse_delay(self.delay)

    @property
    def respects_quiet_hours(self) -> bool:
        return self.marketing if self.quiet_hours is None else self.quiet_hours


class Sequence(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    trigger: str
    enabled: bool = True
    stop_when: list[StopCondition] = Field(default_factory=list)
    steps: list[Step] = Field(min_length=1, max_length=10)
    # the control group kept from this sequence's marketing steps (deterministic per customer: enishi.experiments);
    # None: the shop's default (shop.yaml messaging.holdout_percent)
    holdout_percent: float | None = Field(None, ge=0, le=50)

    @model_validator(mode="after")
    def _unique_steps(self) -> Sequence:
        ids = [s.id for s in self.steps]
        if len(ids) != len(set(ids)):
            raise ValueError(f"step ids must be unique: {ids}")
        return self

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    def entry_step(self, entry_on: str) -> Step | None:
        return next((s for s in self.steps if s.entry_on == entry_on), None)


class SequencesSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    winback_threshold_days: int = Field(default=90, ge=7, le=730)
    # also start the welcome sequence on a sign-up with marketing consent (before any order)
    welcome_on_signup: bool = False
    # LINE promotions: "recorded" = only with a recorded marketing opt-in (a LINE consent, else the email consent);
    # "follow" = being a LINE friend is the opt-in (blocking or a LINE opt-out ends it)
    line_marketing_consent: Literal["recorded", "follow"] = "recorded"
    sequences: dict[str, Sequence]

    @field_validator("sequences")
    @classmethod
    def _known(cls, value: dict[str, Sequence]) -> dict[str, Sequence]:
        unknown = set(value) - set(c.SEQUENCES)
        if unknown:
            raise ValueError(f"unknown sequences {sorted(unknown)}; known: {list(c.SEQUENCES)}")
        return value


class StepPayload(BaseModel):
    """What the compiled state machine hands the step Lambda about the step (a literal in the definition)."""

    model_config = ConfigDict(extra="ignore")

    sequence: str
    index: int
    stop_when: list[StopCondition] = Field(default_factory=list)
    step: Step
    next: Step | None = None
    holdout_percent: float | None = None  # the sequence's own; None: the shop's default
    # the recipient's control-group membership decided upstream (a campaign's recipient list); None: drawn by the
    # step from holdout_percent (eligibility.decide holds out only a message that would be sent now)
    holdout: bool | None = None

    @classmethod
    def build(cls, name: str, sequence: Sequence, index: int) -> StepPayload:
        steps = sequence.steps
        return cls(
            sequence=name,
            index=index,
            stop_when=sequence.stop_when,
            holdout_percent=sequence.holdout_percent,
            step=steps[index],
            next=steps[index + 1] if index + 1 < len(steps) else None,
        )

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


def entry_machine_key(sequence: str, step_id: str) -> str:
    """Key (in ``ENISHI_STATE_MACHINE_ARNS``) of the machine that starts ``sequence`` directly at ``step_id``."""
    return f"{sequence}.{step_id}"


def next_due(step: Step, *, trigger_at: datetime, now: datetime) -> datetime:
    """When ``step`` is due: its delay from the trigger, or from now (= when the previous step ran)."""
    base = trigger_at if step.after is Anchor.TRIGGER else now
    due = base + step.delay_td
    return max(due, now) if step.after is Anchor.TRIGGER else due


def load_spec(path: Path) -> SequencesSpec:
    from enishi.shop_config import read_yaml

    return SequencesSpec.model_validate(read_yaml(path))


@functools.cache
def load_shop_spec(directory: str | None = None) -> SequencesSpec:
    from enishi.shop_config import config_dir

    base = Path(directory) if directory else config_dir()
    return load_spec(base / SEQUENCES_FILE)


bootstrap.on_reset(load_shop_spec.cache_clear)
