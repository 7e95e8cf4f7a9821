"""The customer profile item (sk = PROFILE): the one shape every reader and writer of a profile agrees on.

Writers:
- the profile consumer (``enishi.profiles``) owns it: read → pure ``apply(profile, event)`` → conditional put on
  ``version`` (optimistic lock);
- anyone else updates named attributes only with ``UpdateItem`` and **always** ``SET version = version + 1``
  (the send step sets ``last_marketing_sent_at`` / ``last_message``), so a concurrent consumer put fails its
  condition, re-reads and keeps the change.

Consent, suppression and LINE state change only through canonical events applied by the consumer.
At-risk / dormant are not stored: they depend on "now" and are derived with ``derive_stage``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from enishi import consent as rule
from enishi.consent import ConsentFold
from enishi.events import Consent

StoredStage = Literal["lead", "first_time", "repeat", "loyal"]
STORED_STAGES: tuple[StoredStage, ...] = ("lead", "first_time", "repeat", "loyal")
Stage = Literal["lead", "first_time", "repeat", "loyal", "at_risk", "dormant"]

RECENT_ORDER_IDS = 20  # bounded memory of applied orders: makes order.placed idempotent without another read
CONSENT_HISTORY = 20


class ProfileModel(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Suppression(ProfileModel):
    reason: Literal["bounce", "complaint"]
    at: AwareDatetime


class LineIdentity(ProfileModel):
    user_id: str
    following: bool = True
    linked_at: AwareDatetime | None = None
    updated_at: AwareDatetime


class LastMessage(ProfileModel):
    message_key: str
    sequence: str
    step: str
    channel: Literal["email", "line"]
    sent_at: AwareDatetime


class Profile(ProfileModel):
    shop: str
    customer_id: str
    version: int = 0  # optimistic lock; every writer increments it
    created_at: AwareDatetime
    updated_at: AwareDatetime  # last time any event changed the profile (by event time)

    # identities
    guest: bool = False
    email: str | None = None
    email_hash: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    customer_fields_updated_at: AwareDatetime | None = None  # order-safety of the fields above
    merged_from: list[str] = Field(default_factory=list)  # guest ids merged into this customer
    merged_into: str | None = None  # set on a guest profile once merged: readers follow it
    line: LineIdentity | None = None

    # consent: per channel, the record that decides (``enishi.consent.current`` of the fold), without its evidence;
    # every record with its evidence is in the consent ledger (``keys.consent_ledger_key``), its own items
    email_consent: Consent | None = None
    line_consent: Consent | None = None
    consent_folds: dict[str, ConsentFold] = Field(default_factory=dict)  # channel → what its records fold to
    consent_history: list[Consent] = Field(
        default_factory=list
    )  # legacy (before the ledger): read, never written
    email_suppression: Suppression | None = None

    # orders: F(n), money, RFM inputs
    order_count: int = 0  # F(n): placed minus cancelled
    total_spent: Decimal = Decimal(0)
    currency: str = "JPY"
    first_order_at: AwareDatetime | None = None
    last_order_at: AwareDatetime | None = None
    last_order_id: str | None = None
    recent_order_ids: list[str] = Field(default_factory=list)  # applied order.placed, newest last, bounded
    cancelled_order_ids: list[str] = Field(default_factory=list)
    stage: StoredStage = "lead"
    history_imported: bool = False  # set by the history import (``enishi.history``): F(n) takes no cart floor
    cart_floor_added: int = (
        0  # orders F(n) took from the cart's own count at first sight (an import replaces them)
    )

    # messaging (written by the send step)
    last_marketing_sent_at: AwareDatetime | None = None
    # the marketing message holding the frequency cap (claimed before its send: sequences/store.claim_cap)
    marketing_cap_key: str | None = None
    last_message: LastMessage | None = None

    redacted: bool = False

    # added by the profile consumer (order-safety and redaction bookkeeping; readers may ignore them)
    prev_order_at: AwareDatetime | None = (
        None  # the order before last_order_*: restored when the last is cancelled
    )
    prev_order_id: str | None = None
    email_suppression_updated_at: AwareDatetime | None = (
        None  # last bounce/complaint/cleared applied (event time)
    )
    line_unlinked_at: AwareDatetime | None = None  # an older "linked" arriving late never re-links
    redacted_at: AwareDatetime | None = (
        None  # PII erased as of this event time; older events never restore it
    )

    @model_validator(mode="before")
    @classmethod
    def _expand_folds(cls, data: Any) -> Any:
        """A stored fold leaves out the record that is also the channel's current consent (``"current"`` names
        which): one copy per profile item (see ``layout.compact_folds``)."""
        if not isinstance(data, dict) or not isinstance(data.get("consent_folds"), dict):
            return data
        folds = {}
        for channel, fold in data["consent_folds"].items():
            if isinstance(fold, dict) and fold.get("current") in ("latest", "snapshot"):
                fold = {**fold, fold["current"]: data.get(f"{channel}_consent")}
                fold.pop("current")
            folds[channel] = fold
        return {**data, "consent_folds": folds}

    @model_validator(mode="after")
    def _fold_legacy_consents(self) -> Profile:
        """A profile stored before the consent folds: fold its current consents and legacy history once."""
        for channel in ("email", "line"):
            if channel in self.consent_folds:
                continue
            current = getattr(self, f"{channel}_consent")
            records = [c for c in self.consent_history if c.channel == channel] + (
                [current] if current else []
            )
            if not records:
                continue
            fold = rule.fold_in(None, records[0])
            for record in records[1:]:
                fold = rule.fold_in(fold, record)
            self.consent_folds = {**self.consent_folds, channel: fold}
            setattr(self, f"{channel}_consent", rule.current(fold))
        return self


class StageThresholds(BaseModel):
    loyal_min_orders: int = 5
    loyal_min_spent: Decimal = Decimal(50000)  # JPY
    at_risk_after_days: int = 60
    dormant_after_days: int = 90  # = the win-back threshold


def stored_stage(order_count: int, total_spent: Decimal, t: StageThresholds) -> StoredStage:
    if order_count <= 0:
        return "lead"
    if order_count >= t.loyal_min_orders or (order_count >= 2 and total_spent >= t.loyal_min_spent):
        return "loyal"
    if order_count >= 2:
        return "repeat"
    return "first_time"


def derive_stage(profile: Profile, now: datetime, t: StageThresholds | None = None) -> Stage:
    """The lifecycle stage as of ``now``: the stored stage, or at-risk / dormant past the repurchase windows."""
    return stage_at(profile.stage, profile.order_count, profile.last_order_at, now, t)


def stage_at(
    stored: StoredStage,
    order_count: int,
    last_order_at: datetime | None,
    now: datetime,
    t: StageThresholds | None,
) -> Stage:
    """``derive_stage`` from the attributes it reads (the analytics job has rows, not profiles)."""
    t = t or StageThresholds()
    if order_count > 0 and last_order_at is not None:
        idle = now - last_order_at
        if idle >= timedelta(days=t.dormant_after_days):
            return "dormant"
        if idle >= timedelta(days=t.at_risk_after_days):
            return "at_risk"
    return stored
