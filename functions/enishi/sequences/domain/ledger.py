"""Exactly-once message records, the rules (docs/internals.md "Message records"); the DynamoDB side is
``adapters/ledger.py``.

Protocol of one send:
1. ``claim`` — conditional put ``attribute_not_exists(pk) OR status = failed_retryable`` → ``status = sending``.
   Lost the race / already done → ``Claim(won=False, existing=<record>)``: the caller does not send
   (except a LINE record still ``sending``: LINE's ``X-Line-Retry-Key`` makes that resend safe).
2. send.
3. ``mark_sent`` — ``status = sent`` with the provider's message id.
   A provider error that certainly did not send → ``release`` (delete while ``sending``) and raise, so the state
   machine's Retry claims and sends again. An ambiguous outcome leaves ``sending``: never sent again by email.
``record_skip`` writes a ``skipped`` record with its reason (only if no record exists) for the report.
Both the claim and the skip record carry the ref's ``variant`` (when it has one): the report's A/B groups.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

STATUS_SENDING = "sending"
STATUS_SENT = "sent"
STATUS_SKIPPED = "skipped"
STATUS_FAILED = "failed"
STATUS_FAILED_RETRYABLE = "failed_retryable"
# a held LINE message: the multicast request it goes out in (its retry key)
FIELD_REQUEST_KEY = "line_request_key"


def line_retry_key(message_key: str) -> str:
    """``X-Line-Retry-Key``: uuid5 of the message key — the same on every retry (``channels.line.retry_key``)."""
    from enishi.channels.line import retry_key

    return retry_key(message_key)


@dataclass(frozen=True)
class MessageRef:
    shop: str
    customer_id: str
    message_key: str
    sequence: str
    step: str
    trigger_id: str
    marketing: bool
    variant: str | None = None  # the A/B variant this message is (recorded on its claim and skip records)


@dataclass(frozen=True)
class Claim:
    won: bool
    existing: dict[str, Any] | None = None

    @property
    def existing_status(self) -> str | None:
        return None if self.existing is None else self.existing.get("status")

    @property
    def resumable_line(self) -> bool:
        """A LINE push whose outcome was ambiguous: resending with the same retry key is safe."""
        return (
            not self.won
            and self.existing is not None
            and self.existing.get("status") == STATUS_SENDING
            and self.existing.get("channel") == "line"
        )
