"""sequences.yaml: the shipped file is valid and matches DESIGN's defaults; mistakes are refused at synth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from enishi.channels.render import TEMPLATE_NAMES
from enishi.sequences.domain.spec import (
    Anchor,
    SequencesSpec,
    Step,
    StepPayload,
    StopCondition,
    load_spec,
    next_due,
    parse_delay,
)
from enishi.shop_config import REPO_DIR

SPEC = load_spec(REPO_DIR / "sequences.yaml")


def timings(name: str) -> list[tuple[str, timedelta, str]]:
    return [(s.id, s.delay_td, s.after.value) for s in SPEC.sequences[name].steps]


def test_defaults_follow_the_design():
    assert SPEC.winback_threshold_days == 90
    assert timings("welcome") == [
        ("thanks", timedelta(0), "trigger"),
        ("story", timedelta(days=3), "trigger"),
        ("f2_nudge", timedelta(days=7), "trigger"),
    ]
    assert timings("cart_recovery") == [
        ("reminder_1", timedelta(hours=1), "trigger"),
        ("reminder_2", timedelta(hours=24), "trigger"),
    ]
    assert timings("winback") == [
        ("reminder", timedelta(0), "trigger"),
        ("recommend", timedelta(days=14), "previous"),
    ]
    shipping = SPEC.sequences["shipping_notice"]
    assert shipping.steps[0].marketing is False and shipping.steps[0].delay_td == timedelta(0)
    assert shipping.steps[1].entry_on == "delivered" and shipping.steps[1].delay_td == timedelta(days=3)
    assert SPEC.sequences["cart_recovery"].stop_when == [
        StopCondition.CHECKOUT_COMPLETED,
        StopCondition.ORDERED_AGAIN,
    ]


def test_every_template_named_in_the_yaml_is_bundled():
    used = {s.template for seq in SPEC.sequences.values() for s in seq.steps}
    assert used <= set(TEMPLATE_NAMES)


@pytest.mark.parametrize(
    ("text", "seconds"), [("0", 0), ("90s", 90), ("30m", 1800), ("1h", 3600), ("3d", 259200)]
)
def test_delays(text, seconds):
    assert parse_delay(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("bad", ["1w", "soon", "-1h", "1.5h"])
def test_bad_delays_are_refused(bad):
    with pytest.raises(ValidationError):
        Step(id="x", template="t", delay=bad)


def test_unknown_sequences_unknown_fields_and_duplicate_steps_are_refused():
    step = {"id": "a", "template": "t"}
    with pytest.raises(ValidationError, match="unknown sequences"):
        SequencesSpec.model_validate({"sequences": {"birthday": {"trigger": "x", "steps": [step]}}})
    with pytest.raises(ValidationError):
        SequencesSpec.model_validate(
            {"sequences": {"welcome": {"trigger": "x", "steps": [{**step, "chanel": "line"}]}}}
        )
    with pytest.raises(ValidationError, match="unique"):
        SequencesSpec.model_validate({"sequences": {"welcome": {"trigger": "x", "steps": [step, step]}}})


def test_quiet_hours_default_to_marketing():
    assert Step(id="a", template="t").respects_quiet_hours
    assert not Step(id="a", template="t", marketing=False).respects_quiet_hours
    assert Step(id="a", template="t", marketing=False, quiet_hours=True).respects_quiet_hours


def test_next_due_from_trigger_or_previous():
    trigger = datetime(2025, 5, 1, tzinfo=UTC)
    now = trigger + timedelta(hours=30)
    assert next_due(
        Step(id="a", template="t", delay="3d", after=Anchor.TRIGGER), trigger_at=trigger, now=now
    ) == trigger + timedelta(days=3)
    assert next_due(Step(id="a", template="t", delay="3d"), trigger_at=trigger, now=now) == now + timedelta(
        days=3
    )
    # a step whose time has passed (a long deferral) is due now, never in the past
    assert (
        next_due(Step(id="a", template="t", delay="1h", after=Anchor.TRIGGER), trigger_at=trigger, now=now)
        == now
    )


def test_step_payload_carries_the_step_and_the_next():
    payload = StepPayload.build("cart_recovery", SPEC.sequences["cart_recovery"], 0).to_json()
    assert payload["step"]["id"] == "reminder_1" and payload["next"]["id"] == "reminder_2"
    assert "next" not in StepPayload.build("cart_recovery", SPEC.sequences["cart_recovery"], 1).to_json()
