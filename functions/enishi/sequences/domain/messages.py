"""What a step hands to its two message ports, and what they answer (no provider SDK here).

- ``Composer`` (``adapters/messages.MessageComposer``): the template context and, for marketing, the opt-out link of
  one message — checked to unsubscribe this very customer (``domain/opt_out.py``) or refused with
  ``OptOutLinkBroken`` (nothing is sent).
- ``Channels`` (``adapters/delivery.Delivery``): render and send; provider errors mapped onto ``SendErrorKind``:
  - ``NOT_SENT_RETRY``: certainly not sent, try again (SES throttling, LINE 429 rate limit) → release + retry;
  - ``AMBIGUOUS_RETRY``: may have been sent (LINE 5xx / timeout) → keep ``sending``, retry with the same retry key;
  - ``QUOTA``: LINE monthly limit → set the month's flag, fall back to email or wait for next month;
  - ``REJECTED``: certainly not sent, retrying won't help → record ``failed``, go on with the sequence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

from enishi.profiles.model import Profile
from enishi.sequences.domain.ledger import MessageRef, line_retry_key
from enishi.sequences.domain.spec import Step


class OptOutLinkBroken(Exception):
    """The opt-out link of a marketing message would not unsubscribe: the message is not sent (domain/opt_out.py)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SendErrorKind(Enum):
    NOT_SENT_RETRY = "not_sent_retry"
    AMBIGUOUS_RETRY = "ambiguous_retry"
    QUOTA = "quota"
    REJECTED = "rejected"


class SendError(Exception):
    def __init__(self, kind: SendErrorKind, detail: str = "", *, rejected: tuple[int, ...] = ()) -> None:
        super().__init__(f"{kind.value}: {detail}")
        self.kind = kind
        self.detail = detail
        self.rejected = rejected  # a multicast's 400: the indexes of the recipients LINE named


class SendHeld(Exception):
    """Raised by a channel that keeps the message for a batched send (a campaign's LINE multicast): nothing went
    out yet; the step keeps its ledger claim and cap and hands a ``HeldSend`` to ``Deps.on_held``."""


@dataclass(frozen=True)
class HeldSend:
    """A held message's ends, bound to its step (``step/service.py``): the holder calls exactly one of them."""

    ref: MessageRef
    resumed: bool  # the ledger claim was an earlier attempt's ``sending`` record (it may name a request)
    # sent: the ledger's ``sent``, the profile's last message, the metrics
    complete: Callable[[str | None], None]
    give_back: Callable[[], None]  # certainly not sent: the cap and the claim back (a retry claims again)
    fail: Callable[[str], None]  # rejected: the cap back, a ``failed`` record with the reason


@dataclass(frozen=True)
class Composed:
    """A message's template context and its opt-out link (None for a transactional message)."""

    context: dict[str, Any]
    unsubscribe_url: str | None


@dataclass(frozen=True)
class Outgoing:
    """One message ready for a channel adapter (already rendered by it from ``template`` + ``context``)."""

    channel: str
    to: str
    template: str
    context: dict[str, Any]
    message_key: str
    marketing: bool
    unsubscribe_url: str | None
    tags: dict[str, str]
    retry_key: str | None = None  # LINE
    subject: str | None = None  # email: a subject (Jinja) in place of the template's block (an A/B variant's)


class Composer(Protocol):
    def compose(
        self, ref: MessageRef, step: Step, profile: Profile, trigger: dict[str, Any], channel: str
    ) -> Composed:
        """Context + opt-out link; raises ``OptOutLinkBroken`` when a marketing link would not unsubscribe."""
        ...


class Channels(Protocol):
    def send(self, message: Outgoing) -> str | None:
        """Render and send; the provider's message id. Raises ``SendError``."""
        ...


def message_tags(ref: MessageRef) -> dict[str, str]:
    """The feedback function finds the message record from these (feedback/tags.py names)."""
    return {
        "shop": ref.shop,
        "customer": ref.customer_id,
        "sequence": ref.sequence,
        "step": ref.step,
        "message_key": ref.message_key,
    }


def outgoing(ref: MessageRef, step: Step, channel: str, to: str, composed: Composed) -> Outgoing:
    return Outgoing(
        channel=channel,
        to=to,
        template=step.template,
        context=composed.context,
        message_key=ref.message_key,
        marketing=step.marketing,
        unsubscribe_url=composed.unsubscribe_url,
        tags=message_tags(ref),
        retry_key=line_retry_key(ref.message_key) if channel == "line" else None,
        subject=step.subject,
    )
