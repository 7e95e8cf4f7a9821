"""SES event feedback → message outcomes and suppression. Pure: the record store and the publisher are ports.

One SES event (EventBridge ``source: aws.ses``) is handled as follows:
- mail not tagged by enishi, or tagged for another shop → ignored (the account may send other mail);
- Delivery / Open / Click / Bounce / Complaint → the message record gets ``delivered_at`` / ``opened_at`` /
  ``clicked_at`` / ``bounced_at`` / ``complained_at`` the first time only, and only if the record exists;
- a **Permanent** bounce or any complaint → ``SuppressionChanged`` is published *before* the record is marked, with
  an event id derived from the SES message id, so a retry after a crash publishes the same event again and the
  profile consumer applies it once. Transient bounces are recorded but never suppress.
- Send / Reject / DeliveryDelay / Rendering Failure / Subscription → counted, nothing written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from enishi import clock
from enishi.events import CustomerRef, SuppressionChanged
from enishi.feedback.tags import read_email_tags

if TYPE_CHECKING:
    from enishi.publish import EventPublisher

EVENT_SOURCE = "enishi"

MarkResult = Literal["marked", "already", "missing"]

# SES eventType → (message record attribute, key of the sub-object that carries its timestamp)
OUTCOMES: dict[str, tuple[str, str]] = {
    "Delivery": ("delivered_at", "delivery"),
    "Open": ("opened_at", "open"),
    "Click": ("clicked_at", "click"),
    "Bounce": ("bounced_at", "bounce"),
    "Complaint": ("complained_at", "complaint"),
}

# EventBridge detail-type → SES eventType, for a detail that lacks ``eventType``
DETAIL_TYPES: dict[str, str] = {
    "Email Sent": "Send",
    "Email Delivered": "Delivery",
    "Email Bounced": "Bounce",
    "Email Complaint Received": "Complaint",
    "Email Rejected": "Reject",
    "Email Opened": "Open",
    "Email Clicked": "Click",
    "Email Delivery Delayed": "DeliveryDelay",
    "Email Rendering Failed": "Rendering Failure",
    "Email Subscribed": "Subscription",
}


class MessageOutcomes(Protocol):
    def mark(
        self,
        shop: str,
        customer_id: str,
        message_key: str,
        attribute: str,
        at: datetime,
        extra: Mapping[str, str],
    ) -> MarkResult: ...


@dataclass(frozen=True)
class FeedbackResult:
    """What one SES event did (for metrics and tests)."""

    event_type: str
    action: Literal["ignored", "counted", "recorded"]
    reason: str = ""
    mark: MarkResult | None = None
    suppression: str | None = None  # "bounce" / "complaint" when published
    published: tuple[Any, ...] = field(default=(), repr=False)


def _event_type(event: Mapping[str, Any]) -> str:
    detail = event.get("detail") or {}
    return str(
        detail.get("eventType")
        or detail.get("notificationType")
        or DETAIL_TYPES.get(event.get("detail-type", ""), "")
    )


def _timestamp(event: Mapping[str, Any], sub: str) -> datetime:
    detail = event.get("detail") or {}
    for raw in (
        (detail.get(sub) or {}).get("timestamp"),
        event.get("time"),
        (detail.get("mail") or {}).get("timestamp"),
    ):
        if isinstance(raw, str) and raw:
            try:
                return clock.parse_iso(raw)
            except ValueError:
                continue
    return clock.now()


def suppression_reason(event_type: str, detail: Mapping[str, Any]) -> Literal["bounce", "complaint"] | None:
    if event_type == "Complaint":
        return "complaint"
    if event_type == "Bounce" and (detail.get("bounce") or {}).get("bounceType") == "Permanent":
        return "bounce"
    return None


def _extra(event_type: str, detail: Mapping[str, Any]) -> dict[str, str]:
    if event_type == "Bounce":
        bounce = detail.get("bounce") or {}
        return {
            k: str(bounce[src])
            for k, src in (("bounce_type", "bounceType"), ("bounce_sub_type", "bounceSubType"))
            if bounce.get(src)
        }
    if event_type == "Complaint":
        kind = (detail.get("complaint") or {}).get("complaintFeedbackType")
        return {"complaint_feedback_type": str(kind)} if kind else {}
    return {}


def handle_ses_event(
    event: Mapping[str, Any], *, shop_id: str, outcomes: MessageOutcomes, publisher: EventPublisher
) -> FeedbackResult:
    event_type = _event_type(event)
    detail = event.get("detail") or {}
    mail = detail.get("mail") or {}
    tags = read_email_tags(mail.get("tags"))
    if tags is None:
        return FeedbackResult(event_type, "ignored", "not_ours")
    if tags.shop != shop_id:
        return FeedbackResult(event_type, "ignored", "other_shop")
    if event_type not in OUTCOMES:
        return FeedbackResult(event_type, "counted", "no_outcome")

    attribute, sub = OUTCOMES[event_type]
    at = _timestamp(event, sub)
    published: tuple[Any, ...] = ()
    reason = suppression_reason(event_type, detail)
    if reason is not None:
        ses_id = mail.get("messageId") or tags.message_key
        suppression = SuppressionChanged(
            event_id=f"ses:{ses_id}:{event_type.lower()}",
            shop=tags.shop,
            source=EVENT_SOURCE,
            occurred_at=at,
            received_at=clock.now(),
            customer=CustomerRef(customer_id=tags.customer_id, guest=tags.customer_id.startswith("guest-")),
            channel="email",
            reason=reason,
        )
        publisher.publish([suppression])
        published = (suppression,)
    mark = outcomes.mark(
        tags.shop, tags.customer_id, tags.message_key, attribute, at, _extra(event_type, detail)
    )
    return FeedbackResult(event_type, "recorded", mark=mark, suppression=reason, published=published)
