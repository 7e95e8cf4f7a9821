"""One sequence step's decisions that need no I/O: the result it returns, when the execution waits next, what a
send error means, and the views of the cart and order a message renders.

The step's story (read → decide → claim → compose → send → record) is ``step/service.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from enishi import clock, keys
from enishi.aws_errors import error_code
from enishi.profiles.model import Profile
from enishi.sequences.domain import eligibility
from enishi.sequences.domain.messages import SendErrorKind

EMAIL_COST_USD = Decimal("0.0001")  # SES outbound, per message
PROFILE_WAIT_FIRST = timedelta(minutes=1)
PROFILE_WAIT_MAX = timedelta(hours=6)
PROFILE_WAIT_LIMIT = timedelta(
    days=3
)  # from started_at; then the sequence stops, recorded skipped "no_profile"
PROFILE_WAITS_KEY = "profile_waits"  # in the execution state: how often this execution waited for its profile
DEFER_NO_PROFILE = "profile_not_yet"
SKIP_NO_PROFILE = "no_profile"

# DynamoDB error codes that mean "try again later" (after boto3's own retries): the step is retried by the machine
THROTTLING_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
    }
)

# the state machine's Choice reads it; "held" only in a campaign's batch (a LINE multicast sends it after the step)
Action = Literal["sent", "skipped", "defer", "stop", "held"]


@dataclass(frozen=True)
class Verdict:
    """How a step ended, before its ``wait_until`` is known. ``wait_until`` None: the next step's due time
    (``StepClock.next_wait``); a deferral carries its own time."""

    action: Action
    reason: str | None = None
    channel: str | None = None
    wait_until: datetime | None = None
    profile_waits: int | None = None  # a wait for the profile: how many so far (kept in the execution state)


@dataclass(frozen=True)
class StepResult:
    """``result`` of the execution state: ``{action, reason, message_key, channel}``."""

    action: Action
    reason: str | None
    message_key: str
    channel: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "reason": self.reason,
            "message_key": self.message_key,
            "channel": self.channel,
        }

    def log_fields(self) -> dict[str, Any]:
        """What the step logs (the message key stays out of the logs: it names the customer)."""
        return {"action": self.action, "reason": self.reason, "channel": self.channel}


@dataclass(frozen=True)
class StepOutcome:
    """What ``run_step`` returns: the typed result and the new execution state the state machine continues with
    (the input state + ``wait_until`` (UTC ``Z``) + ``result`` [+ ``profile_waits``])."""

    result: StepResult
    wait_until: datetime
    state: dict[str, Any]


def outcome(
    state: dict[str, Any], result: StepResult, wait_until: datetime, profile_waits: int | None
) -> StepOutcome:
    new_state = {**state, "wait_until": clock.iso_z(wait_until), "result": result.to_json()}
    if profile_waits is not None:
        new_state[PROFILE_WAITS_KEY] = profile_waits
    return StepOutcome(result, wait_until, new_state)


def ceil_second(value: datetime) -> datetime:
    value = clock.to_utc(value)
    if value.microsecond:
        value = value.replace(microsecond=0) + timedelta(seconds=1)
    return value


def deferred(reason: str | None, channel: str | None, not_before: datetime | None, now: datetime) -> Verdict:
    return Verdict("defer", reason, channel, wait_until=ceil_second(not_before or now))


def profile_wait(waits: int) -> timedelta:
    """How long a step waits for a profile not written yet, after ``waits`` earlier waits: 1 min → 6 h."""
    return min(PROFILE_WAIT_FIRST * (4**waits), PROFILE_WAIT_MAX)


def wait_for_profile(state: dict[str, Any], now: datetime) -> Verdict:
    """Defer with a backoff (the profile consumer may be behind, or its event still on the way); give up — with a
    recorded reason and the ``StepStop`` metric — only after ``PROFILE_WAIT_LIMIT``."""
    waits = int(state.get(PROFILE_WAITS_KEY) or 0)
    started = clock.parse_iso(state["started_at"])  # not trigger_at: a win-back's trigger is 90 days old
    if clock.to_utc(now) - clock.to_utc(started) > PROFILE_WAIT_LIMIT:
        return Verdict("stop", SKIP_NO_PROFILE, wait_until=now)
    until = ceil_second(clock.to_utc(now) + profile_wait(waits))
    return Verdict("defer", DEFER_NO_PROFILE, wait_until=until, profile_waits=waits + 1)


def after_decision(decision: eligibility.Decision, now: datetime) -> Verdict | None:
    """The verdict of an eligibility decision that sends nothing (None: send)."""
    if decision.action == "defer":
        return deferred(decision.reason, decision.channel, decision.not_before, now)
    if decision.action == "stop":
        return Verdict("stop", decision.reason)
    if decision.action == "skip":
        return Verdict("skipped", decision.reason)
    return None


def already_claimed(existing: dict[str, Any] | None) -> Verdict:
    """The ledger claim was lost to a record of this message: skipped as ``already_<status>``."""
    status = (existing or {}).get("status")
    reason = "already_sent" if status == "sent" else f"already_{status}"
    return Verdict("skipped", reason, (existing or {}).get("channel"))


# what a send error leads to (QUOTA also depends on the step's fallback: see step/service.py)
SendErrorAction = Literal["release_and_retry", "retry", "skip_ambiguous", "quota", "failed"]


def send_error_action(kind: SendErrorKind, channel: str) -> SendErrorAction:
    """``release_and_retry``: certainly not sent — give the claim (and cap) back, the machine retries; ``retry``:
    LINE may have sent — keep ``sending``, resend with the same retry key; ``skip_ambiguous``: an email that may
    have gone out is never sent again (at most once); ``quota``: LINE's monthly limit; ``failed``: rejected."""
    if kind is SendErrorKind.NOT_SENT_RETRY:
        return "release_and_retry"
    if kind is SendErrorKind.AMBIGUOUS_RETRY:
        return "retry" if channel == "line" else "skip_ambiguous"
    if kind is SendErrorKind.QUOTA:
        return "quota"
    return "failed"


def trigger_facts(state: dict[str, Any]) -> tuple[datetime, str | None, str | None]:
    """(trigger_at, order_id, checkout_token) of an execution state."""
    trigger = state.get("trigger") or {}
    trigger_at = clock.parse_iso(state.get("trigger_at") or state["started_at"])
    order_id = trigger.get("order_id")
    checkout_token = trigger.get("checkout_token")
    return (
        trigger_at,
        (str(order_id) if order_id else None),
        (str(checkout_token) if checkout_token else None),
    )


def throttled(err: BaseException) -> bool:
    """A DynamoDB throttle / transient error (botocore ``ClientError``, read without importing botocore)."""
    return error_code(err) in THROTTLING_CODES


def checkout_view(checkout: Any) -> dict[str, Any]:
    view: dict[str, Any] = {}
    if checkout.items:
        view["line_items"] = [i.model_dump(mode="json") for i in checkout.items]
    if checkout.total is not None:
        view["total"] = str(checkout.total)
    if checkout.recovery_url:
        view["recovery_url"] = checkout.recovery_url
    return view


def order_view(order: Any) -> dict[str, Any]:
    view: dict[str, Any] = {}
    if order.order_name:
        view["order_name"] = order.order_name
    if order.items:
        view["line_items"] = [i.model_dump(mode="json") for i in order.items]
    return view


def recipient(profile: Profile, channel: str) -> tuple[str, str | None]:
    """(address, recipient hash for the ledger) on ``channel``."""
    if channel == "line":
        assert profile.line is not None
        return profile.line.user_id, None
    assert profile.email is not None
    return profile.email, profile.email_hash or keys.email_hash(profile.email)
