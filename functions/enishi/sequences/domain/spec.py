"""The sequences' declaration (``shop/sequences.yaml``) as a validated model.

One model, three readers: CDK compiles it into state machines at synth, the starter reads the first step's delay,
tests read it. A step's full definition travels inside the compiled state machine (the task payload), so the step
Lambda never re-reads the YAML: what runs is what was deployed.

A/B tests: a step may declare ``variants`` (``StepVariant``: a name, a weight, and overrides of the subject, the
template, the channel policy and the send time — ``delay`` and/or ``send_hour``, a fixed JST hour). Which variant a
customer sees is ``enishi.experiments.variant`` over scope ``<sequence>/<step>`` (``variant_of``): a pure function,
so the step that computes the Wait (the starter for a first step, the previous step otherwise: ``next_due``) and
the step that sends agree without storing anything first. ``load_spec`` refuses a template that is not there.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from enishi import bootstrap, clock, experiments
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


def _valid_subject(value: str | None) -> str | None:
    """A subject is Jinja like a template's subject block: its syntax is checked when the file is loaded (jinja2 is
    imported only when a subject is given)."""
    if value is not None:
        import jinja2

        try:
            jinja2.Environment(autoescape=False).parse(value)
        except jinja2.TemplateSyntaxError as exc:
            raise ValueError(f"subject {value!r}: {exc.message}") from exc
    return value


class StepVariant(BaseModel):
    """One arm of a step's A/B test: what it changes (None: as the step says)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,20}$")
    weight: int = Field(1, ge=1, le=100)
    # the email subject (Jinja, like the block)
    subject: str | None = Field(None, min_length=1, max_length=200)
    template: str | None = Field(None, pattern=r"^[a-z0-9_]{1,80}$")
    channel: ChannelPolicy | None = None
    delay: str | None = None  # counted from the step's own anchor (``after``)
    send_hour: int | None = Field(None, ge=0, le=23)  # the first HH:00 JST at or after the due time

    @field_validator("delay")
    @classmethod
    def _valid_delay(cls, value: str | None) -> str | None:
        if value is not None:
            parse_delay(value)
        return value

    _subject = field_validator("subject")(_valid_subject)

    def overrides(self) -> dict[str, Any]:
        fields = ("subject", "template", "channel", "delay", "send_hour")
        return {f: getattr(self, f) for f in fields if getattr(self, f) is not None}


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
    # an A/B test (see the module's doc); subject and send_hour are usually set by a variant
    # None, not (): a compiled payload without a test is unchanged
    variants: tuple[StepVariant, ...] | None = None
    subject: str | None = Field(None, min_length=1, max_length=200)
    send_hour: int | None = Field(None, ge=0, le=23)
    # a coupon the message carries (ROI counts its value per attributed conversion)
    offer: Offer | None = None

    @field_validator("delay", "entry_delay")
    @classmethod
    def _valid_delay(cls, value: str) -> str:
        parse_delay(value)
        return value

    _subject = field_validator("subject")(_valid_subject)

    @model_validator(mode="after")
    def _valid_variants(self) -> Step:
        names = [v.name for v in self.variants or ()]
        if len(names) != len(set(names)):
            raise ValueError(f"step {self.id}: variant names must be unique: {names}")
        if len(names) == 1:
            raise ValueError(f"step {self.id}: an A/B test needs at least two variants")
        return self

    @property
    def timed_variants(self) -> bool:
        """A variant moves the send time (the machine must wait even for a first step due at once)."""
        return any(v.delay is not None or v.send_hour is not None for v in self.variants or ())

    def with_variant(self, name: str) -> Step:
        """The step as variant ``name`` sends it (its overrides applied; no variants left)."""
        chosen = next(v for v in self.variants or () if v.name == name)
        return self.model_copy(update={**chosen.overrides(), "variants": None})

    def templates(self) -> Iterator[tuple[str, ChannelPolicy]]:
        """Every template the step (or one of its variants) can send, with the channel policy it is sent under."""
        yield self.template, self.channel
        for v in self.variants or ():
            yield v.template or self.template, v.channel or self.channel

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
    # the variant the caller already assigned and applied to ``step`` (a campaign's recipient list); None: the
    # step service assigns one from ``step.variants`` (``as_sent``)
    variant: str | None = None
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


def variant_scope(sequence: str, step_id: str) -> str:
    """The A/B assignment's scope of a step: ``welcome/f2_nudge``."""
    return f"{sequence}/{step_id}"


def variant_of(step: Step, shop: str, customer_id: str, sequence: str) -> str | None:
    """The variant this customer sees at ``step`` (None: the step has no A/B test). Pure and stable."""
    if not step.variants:
        return None
    arms = [experiments.Variant(v.name, v.weight) for v in step.variants]
    return experiments.variant(shop, customer_id, variant_scope(sequence, step.id), arms)


def as_sent(step: Step, shop: str, customer_id: str, sequence: str) -> tuple[Step, str | None]:
    """The step with this customer's variant applied, and the variant's name (the step as is without a test)."""
    name = variant_of(step, shop, customer_id, sequence)
    return (step, None) if name is None else (step.with_variant(name), name)


def at_hour(due: datetime, hour: int) -> datetime:
    """The first ``hour``:00 JST at or after ``due``."""
    local = clock.to_utc(due).astimezone(clock.JST)
    candidate = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    if candidate < local:
        candidate += timedelta(days=1)
    return clock.to_utc(candidate)


def next_due(step: Step, *, trigger_at: datetime, now: datetime) -> datetime:
    """When ``step`` is due: its delay from the trigger, or from now (= when the previous step ran), moved to the
    step's ``send_hour`` when it has one. Pass the step as sent (``as_sent``) when it has variants."""
    base = trigger_at if step.after is Anchor.TRIGGER else now
    due = base + step.delay_td
    if step.send_hour is not None:
        due = at_hour(due, step.send_hour)
    return max(due, now) if step.after is Anchor.TRIGGER else due


def missing_templates(spec: SequencesSpec, directories: tuple[Path, ...]) -> list[str]:
    """Template files a step or variant names that none of ``directories`` holds (email: .txt and .html; LINE:
    .json; ``prefer_line`` needs both channels)."""
    needs = {
        ChannelPolicy.EMAIL: ("email/{}.txt", "email/{}.html"),
        ChannelPolicy.LINE: ("line/{}.json",),
        ChannelPolicy.PREFER_LINE: ("email/{}.txt", "email/{}.html", "line/{}.json"),
    }
    missing: list[str] = []
    for name, sequence in spec.sequences.items():
        for step in sequence.steps:
            for template, channel in step.templates():
                for pattern in needs[channel]:
                    rel = pattern.format(template)
                    if not any((d / rel).is_file() for d in directories):
                        missing.append(f"{name}.{step.id}: {rel}")
    return sorted(set(missing))


def load_spec(path: Path) -> SequencesSpec:
    """The validated file; a template it names (a step's or a variant's) must exist — in the shop's
    ``templates/`` beside it or among the bundled ones — or loading fails, like any other mistake in the file."""
    from enishi.channels.render import BUNDLED_DIR
    from enishi.shop_config import read_yaml

    spec = SequencesSpec.model_validate(read_yaml(path))
    missing = missing_templates(spec, (path.parent / "templates", BUNDLED_DIR))
    if missing:
        raise ValueError(f"{path.name}: templates not found: {', '.join(missing)}")
    return spec


@functools.cache
def load_shop_spec(directory: str | None = None) -> SequencesSpec:
    from enishi.shop_config import config_dir

    base = Path(directory) if directory else config_dir()
    return load_spec(base / SEQUENCES_FILE)


bootstrap.on_reset(load_shop_spec.cache_clear)
