"""Pure profile logic: (state, canonical event) → new state. No boto3, no environment, no clock reads.

Two rules hold for every function here:

- **idempotent**: applying the same event again returns an equal state (order.placed is remembered in the bounded
  ``recent_order_ids`` and, beyond it, by the recorded order item; consent and identity changes compare values);
- **order-safe**: every field group keeps the event time it was last changed at, and an event older than that
  never overwrites it (identity: ``customer_fields_updated_at``; consent: the fold of ``enishi.consent``, which
  does not depend on arrival order at all; suppression:
  ``email_suppression_updated_at``; LINE: ``line.updated_at`` / ``line_unlinked_at``; items: ``updated_at``).
  Orders commute: F(n) = placed − cancelled whatever the arrival order; a completed checkout never reopens.

``planners.py`` calls these on the state the service read, and plans writes of only what changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from enishi import clock, keys
from enishi import consent as rule
from enishi import constants as c
from enishi import events as ev
from enishi.attribution import AttributionWindows, MessageTouches, credit
from enishi.profiles.items import (
    ORDER_ITEMS_MAX,
    TITLE_MAX,
    Attribution,
    CheckoutItem,
    FulfillmentItem,
    OrderItem,
    OrderLine,
)
from enishi.profiles.model import (
    RECENT_ORDER_IDS,
    LineIdentity,
    Profile,
    StageThresholds,
    Suppression,
    stored_stage,
)

_IDENTITY_FIELDS = ("email", "phone", "first_name", "last_name")
# Orders remembered on the profile. The recorded order item is the durable duplicate guard; this short list covers
# the window between the profile write and the order item write, cancellations and guest merges. Shopify order ids
# are 13 digits: 5 of them cost ~80 B of the 1 KB write unit (model.RECENT_ORDER_IDS, 20, is the upper bound).
RECENT_ORDERS_KEPT = min(5, RECENT_ORDER_IDS)
WORDING_REF_PREFIX = "sha256:"
# transactional messages earn no attribution: a shipping notice did not sell the next order
_UNATTRIBUTED_SEQUENCES = frozenset({c.SEQUENCE_SHIPPING})


def wording_ref(text: str) -> str:
    """Content address of a consent wording: profiles keep this (23 B) instead of the text (~200 B in Japanese)."""
    return WORDING_REF_PREFIX + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def externalize_wording(event: Any) -> tuple[Any, dict[str, str]]:
    """Replace the consent wording an event carries by its reference. Returns the event and {ref: text} for the
    store to keep once (the wording is evidence under 特定電子メール法 §3(2); it is the same text for everyone)."""
    texts: dict[str, str] = {}
    for name in ("email_consent", "consent"):
        consent = getattr(event, name, None)
        if (
            isinstance(consent, ev.Consent)
            and consent.wording
            and not consent.wording.startswith(WORDING_REF_PREFIX)
        ):
            ref = wording_ref(consent.wording)
            texts[ref] = consent.wording
            event = event.model_copy(update={name: consent.model_copy(update={"wording": ref})})
    return event, texts


def thresholds(stages: Any | None) -> StageThresholds:
    """``shop_config.Stages`` (or anything with the same fields) → ``StageThresholds``."""
    if stages is None:
        return StageThresholds()
    if isinstance(stages, StageThresholds):
        return stages
    return StageThresholds.model_validate(stages.model_dump() if hasattr(stages, "model_dump") else stages)


def _utc(value: datetime) -> datetime:
    return clock.to_utc(value)


def _bounded(values: Iterable[str], limit: int) -> list[str]:
    out: list[str] = []
    for v in values:
        if v in out:
            out.remove(v)
        out.append(v)
    return out[-limit:]


# ---------------------------------------------------------------- profile


def new_profile(shop: str, customer_id: str, at: datetime, *, guest: bool = False) -> Profile:
    at = _utc(at)
    return Profile(shop=shop, customer_id=customer_id, created_at=at, updated_at=at, guest=guest)


def apply(
    profile: Profile | None,
    event: Any,
    now: datetime,
    *,
    stages: Any | None = None,
    order: OrderItem | None = None,
    customer_id: str | None = None,
) -> Profile | None:
    """Apply one canonical event to a customer's profile.

    ``profile`` is the stored profile (None: not seen yet); ``order`` the stored order item of the event's order
    (order.placed / order.cancelled), ``customer_id`` the resolved customer when it differs from the event's
    (a guest event attached to a known customer). Returns the new profile, or ``None`` when the event concerns
    no profile (a fulfillment, a shop redaction, an event for a customer not seen yet that creates nothing).
    ``now`` is accepted for symmetry with the stage derivation; state changes use event times only.
    """
    del now  # event times decide; "now" never makes a state change non-idempotent
    t = thresholds(stages)
    before = profile
    after = _apply(profile, event, order=order, customer_id=customer_id)
    if after is None:
        return before
    after = after.model_copy(update={"stage": stored_stage(after.order_count, after.total_spent, t)})
    if before is not None and _same(before, after):
        return before
    at = _utc(event.occurred_at)
    if before is not None and after.updated_at < at:
        after = after.model_copy(update={"updated_at": at})
    return after


def _same(a: Profile, b: Profile) -> bool:
    return a.model_dump(exclude={"updated_at"}) == b.model_dump(exclude={"updated_at"})


def _apply(
    profile: Profile | None,
    event: Any,
    *,
    order: OrderItem | None,
    customer_id: str | None,
) -> Profile | None:
    """The event applied to the profile (the stage is derived by ``apply`` afterwards)."""
    if event.type in _PROFILE_UNCHANGED:
        return profile  # recorded as items by the store; the profile does not change
    by_type = _APPLY_BY_TYPE.get(event.type, _apply_customer_event)
    return by_type(profile, event, order, customer_id)


def _apply_redaction(
    profile: Profile | None,
    event: ev.CustomerRedactRequested,
    order: OrderItem | None,
    customer_id: str | None,
) -> Profile | None:
    # a customer enishi has not seen yet still gets a tombstone: a webhook from before the request that arrives
    # after it (carts deliver late and out of order) must not bring the erased data back
    at = _utc(event.occurred_at)
    target = profile or new_profile(event.shop, customer_id or event.customer.customer_id, at)
    return redact(target, redaction_at(event))


def _apply_line_event(
    profile: Profile | None, event: ev.LineIdentityChanged, order: OrderItem | None, customer_id: str | None
) -> Profile | None:
    ref = event.customer
    if profile is None and ref is not None and event.change == "linked":
        profile = new_profile(
            event.shop, customer_id or ref.customer_id, _utc(event.occurred_at), guest=ref.guest
        )
    return apply_line(profile, event) if profile is not None else None


def _apply_customer_event(
    profile: Profile | None, event: Any, order: OrderItem | None, customer_id: str | None
) -> Profile | None:
    """Every other event: identity and consent from the customer it names, then its own effect (orders,
    suppression). An event naming no customer only cancels an order of a known profile."""
    ref: ev.CustomerRef | None = getattr(event, "customer", None)
    if ref is None:
        if isinstance(event, ev.OrderCancelled) and profile is not None:
            return apply_order_cancelled(profile, event, order)
        return profile
    at = _utc(event.occurred_at)
    created = _created_at(event, at)
    p = profile or new_profile(event.shop, customer_id or ref.customer_id, created, guest=ref.guest)
    if p.created_at > created:
        p = p.model_copy(update={"created_at": created})
    p = merge_identity(p, ref, at, authoritative=isinstance(event, ev.CustomerUpserted))
    consent = event_consent(event)
    if consent is not None:
        p = apply_consent(p, consent)
    effect = _EFFECT_BY_TYPE.get(event.type)
    return effect(p, event, order, ref) if effect is not None else p


def _placed_effect(
    p: Profile, event: ev.OrderPlaced, order: OrderItem | None, ref: ev.CustomerRef
) -> Profile:
    return apply_order_count_floor(p, apply_order_placed(p, event, order), ref)


def _cancelled_effect(
    p: Profile, event: ev.OrderCancelled, order: OrderItem | None, ref: ev.CustomerRef
) -> Profile:
    return apply_order_cancelled(p, event, order)


def _suppression_effect(
    p: Profile, event: ev.SuppressionChanged, order: OrderItem | None, ref: ev.CustomerRef
) -> Profile:
    return apply_suppression(p, event)


# events that the store records as items (or not at all): the profile does not change
_PROFILE_UNCHANGED = frozenset(
    {c.SHOP_REDACT_REQUESTED, c.ORDER_RECORDED, c.FULFILLMENT_UPDATED, c.CUSTOMER_DATA_REQUESTED}
)
_APPLY_BY_TYPE: dict[str, Callable[[Profile | None, Any, OrderItem | None, str | None], Profile | None]] = {
    c.CUSTOMER_REDACT_REQUESTED: _apply_redaction,
    c.LINE_IDENTITY_CHANGED: _apply_line_event,
}
# what an event naming a customer does besides identity and consent
_EFFECT_BY_TYPE: dict[str, Callable[[Profile, Any, OrderItem | None, ev.CustomerRef], Profile]] = {
    c.ORDER_PLACED: _placed_effect,
    c.ORDER_CANCELLED: _cancelled_effect,
    c.SUPPRESSION_CHANGED: _suppression_effect,
}


def apply_order_count_floor(before: Profile, after: Profile, ref: ev.CustomerRef) -> Profile:
    """A repeat buyer enishi meets for the first time is not F1: on the first order enishi counts for a customer
    with no history (none imported, none seen), the cart's own count of the customer's orders (Shopify
    ``customer.orders_count``, this order included) is the floor for F(n). Applied at first sight only: a later
    customer or order payload's count may include orders still on their way to enishi (counted twice) or
    cancelled ones, so it never raises F(n) again. Idempotent (a redelivery adds no order, so is no first sight)."""
    first_sight = before.order_count == 0 and not before.recent_order_ids and not before.cancelled_order_ids
    if (
        ref.orders_count is None
        or before.history_imported
        or not first_sight
        or after.order_count != 1
        or ref.orders_count <= 1
    ):
        return after
    return after.model_copy(
        update={"order_count": ref.orders_count, "cart_floor_added": ref.orders_count - after.order_count}
    )


def _created_at(event: Any, at: datetime) -> datetime:
    created = getattr(event, "created_at", None)
    return _utc(created) if isinstance(created, datetime) else at


def merge_identity(p: Profile, ref: ev.CustomerRef, at: datetime, *, authoritative: bool = False) -> Profile:
    """Names, email, phone from an event: newer values win, older ones only fill gaps; nothing before a redaction."""
    if p.redacted_at is not None and at <= p.redacted_at:
        return p
    newer = p.customer_fields_updated_at is None or at >= p.customer_fields_updated_at
    updates: dict[str, Any] = {}
    for name in _IDENTITY_FIELDS:
        value = getattr(ref, name)
        if value is None:
            continue
        if name == "email":
            value = value.strip()
        current = getattr(p, name)
        if current is None or (newer and current != value):
            updates[name] = value
    if "email" in updates:
        updates["email_hash"] = keys.email_hash(updates["email"])
    if newer and (updates or authoritative) and p.customer_fields_updated_at != at:
        updates["customer_fields_updated_at"] = at
    if p.guest and not ref.guest and ref.customer_id == p.customer_id:
        updates["guest"] = False
    return p.model_copy(update=updates) if updates else p


def event_consent(event: Any) -> ev.Consent | None:
    """The consent record an event carries, held to the consent time rule against the event's receipt (adapters
    already did; this also covers replayed and foreign events)."""
    consent = getattr(event, "email_consent", None) or getattr(event, "consent", None)
    if not isinstance(consent, ev.Consent):
        return None
    return rule.normalize(consent, event.received_at)


def redaction_at(event: ev.CustomerRedactRequested) -> datetime:
    """When a redaction took effect: the sender's time, trusted up to the receipt (a restrictive record)."""
    return rule.effective_at("redacted", "act", sender_at=event.occurred_at, received_at=event.received_at)[0]


def apply_consent(p: Profile, consent: ev.Consent) -> Profile:
    """Fold a consent record into the channel's fold (``enishi.consent``) and set the channel's current consent from
    it. Arrival order and duplicates do not matter; a record from before a redaction is ignored (never recorded)."""
    if p.redacted_at is not None and _utc(consent.collected_at) <= p.redacted_at:
        return p
    fold = p.consent_folds.get(consent.channel)
    new = rule.fold_in(fold, consent)
    if new == fold:
        return p
    attr = "email_consent" if consent.channel == "email" else "line_consent"
    return p.model_copy(
        update={"consent_folds": {**p.consent_folds, consent.channel: new}, attr: rule.current(new)}
    )


@dataclass(frozen=True)
class LedgerEntry:
    """A consent record to append to the ledger. ``check_first``: it may well be there already (an act the fold
    already passed, a record another event brought): read before the conditional put, which is billed even when
    it fails."""

    consent: ev.Consent
    check_first: bool = False


def consent_ledger_entries(before: Profile | None, event: Any, after: Profile | None) -> list[LedgerEntry]:
    """What applying ``event`` to ``before`` (giving ``after``) appends to the consent ledger: the event's record when
    it changed the fold, or when it is an act (late, older acts are evidence too); and any record that became part
    of a fold without being the event's (the ``redacted`` record of a redaction)."""
    if after is None:
        return []
    entries: list[LedgerEntry] = []
    consent = event_consent(event)
    seen: set[str] = set()
    if consent is not None and not (
        after.redacted_at is not None and _utc(consent.collected_at) <= after.redacted_at
    ):
        fold = before.consent_folds.get(consent.channel) if before is not None else None
        if rule.changes_fold(fold, consent):
            entries.append(LedgerEntry(consent))
        elif consent.kind == "act" and not rule.known(fold, consent):
            entries.append(LedgerEntry(consent, check_first=True))
        seen.add(rule.digest(consent))
    for channel, fold in after.consent_folds.items():
        old = before.consent_folds.get(channel) if before is not None else None
        for record in (fold.latest, fold.snapshot):
            if record is not None and rule.digest(record) not in seen and not rule.known(old, record):
                entries.append(LedgerEntry(record, check_first=True))
                seen.add(rule.digest(record))
    return entries


def apply_suppression(p: Profile, event: ev.SuppressionChanged) -> Profile:
    if event.channel != "email":
        return p  # LINE has no bounces: blocking is an unfollow (line.identity_changed)
    at = _utc(event.occurred_at)
    last = p.email_suppression_updated_at or (p.email_suppression.at if p.email_suppression else None)
    if last is not None and at < last:
        return p
    if event.reason == "cleared":
        if last == at and p.email_suppression is not None:
            return p  # same instant: the suppression (the safe side) stays
        new = None
    else:
        new = Suppression(reason=event.reason, at=at)
        if last == at and p.email_suppression is not None and p.email_suppression.reason == "complaint":
            new = p.email_suppression  # a complaint outranks a bounce at the same instant
    return p.model_copy(update={"email_suppression": new, "email_suppression_updated_at": at})


def apply_line(p: Profile, event: ev.LineIdentityChanged) -> Profile:
    at = _utc(event.occurred_at)
    current = p.line
    last = current.updated_at if current is not None else p.line_unlinked_at
    if last is not None and at < last:
        return p
    uid = event.line_user_id
    same_user = current is not None and current.user_id == uid
    if event.change == "unlinked":
        if current is not None and not same_user:
            return p
        return p.model_copy(update={"line": None, "line_unlinked_at": at})
    if event.change == "linked":
        linked_at = current.linked_at if current is not None and same_user and current.linked_at else at
        line = LineIdentity(user_id=uid, following=True, linked_at=linked_at, updated_at=at)
    elif current is not None and not same_user:
        return p  # a follow/unfollow of another LINE user than the linked one
    else:
        following = event.change == "followed"
        kept_link = current.linked_at if current is not None else None
        line = LineIdentity(user_id=uid, following=following, linked_at=kept_link, updated_at=at)
    return p.model_copy(update={"line": line})


def redact(p: Profile, at: datetime) -> Profile:
    """Erase PII (names, email and its hash, phone, LINE id); keep anonymous counts. Marketing consent becomes
    ``redacted`` (an opt-out record folded in, on every channel the profile has) so nothing is ever sent on old
    consent. The profile's consent records carry no evidence; the store strips it from the ledger items."""
    at = _utc(at)
    if p.redacted_at is not None and at <= p.redacted_at:
        return p
    folds = dict(p.consent_folds)
    for channel in {"email", *folds}:
        record = ev.Consent(channel=channel, state="redacted", source="customer_redact", collected_at=at)  # type: ignore[arg-type]
        folds[channel] = rule.fold_in(folds.get(channel), record)
    return p.model_copy(
        update={
            "email": None,
            "email_hash": None,
            "phone": None,
            "first_name": None,
            "last_name": None,
            "line": None,
            "email_consent": rule.current(folds["email"]),
            "line_consent": rule.current(folds.get("line")),
            "consent_folds": folds,
            "consent_history": [],
            "redacted": True,
            "redacted_at": at,
        }
    )


# ---------------------------------------------------------------- orders on the profile


def order_applied(p: Profile, order_id: str, order: OrderItem | None) -> bool:
    return order_id in p.recent_order_ids or (order is not None and order.recorded)


def apply_order_placed(p: Profile, event: ev.OrderPlaced, order: OrderItem | None = None) -> Profile:
    oid = event.order_id
    if order_applied(p, oid, order):
        return p
    recent = _bounded([*p.recent_order_ids, oid], RECENT_ORDERS_KEPT)
    if oid in p.cancelled_order_ids or (order is not None and order.status == "cancelled"):
        # the cancellation came first: remember the order, never count it
        cancelled = _bounded([*p.cancelled_order_ids, oid], RECENT_ORDERS_KEPT)
        return p.model_copy(update={"recent_order_ids": recent, "cancelled_order_ids": cancelled})
    placed = _utc(event.placed_at)
    updates: dict[str, Any] = {
        "recent_order_ids": recent,
        "order_count": p.order_count + 1,
        "total_spent": p.total_spent + event.total,
        "first_order_at": placed if p.first_order_at is None else min(p.first_order_at, placed),
    }
    if p.order_count == 0:
        updates["currency"] = event.currency
    if p.last_order_at is None or placed >= p.last_order_at:
        updates.update(
            last_order_at=placed,
            last_order_id=oid,
            prev_order_at=p.last_order_at,
            prev_order_id=p.last_order_id,
        )
    elif p.prev_order_at is None or placed > p.prev_order_at:
        updates.update(prev_order_at=placed, prev_order_id=oid)
    return p.model_copy(update=updates)


def apply_order_cancelled(p: Profile, event: ev.OrderCancelled, order: OrderItem | None = None) -> Profile:
    oid = event.order_id
    if oid in p.cancelled_order_ids:
        return p
    updates: dict[str, Any] = {
        "cancelled_order_ids": _bounded([*p.cancelled_order_ids, oid], RECENT_ORDERS_KEPT)
    }
    counted = oid in p.recent_order_ids or (order is not None and order.recorded and order.status == "placed")
    if counted:
        count = max(0, p.order_count - 1)
        updates["order_count"] = count
        if order is not None and order.total is not None:
            updates["total_spent"] = max(Decimal(0), p.total_spent - order.total)
        if count == 0:
            updates.update(
                first_order_at=None,
                last_order_at=None,
                last_order_id=None,
                prev_order_at=None,
                prev_order_id=None,
                total_spent=Decimal(0),
            )
        elif oid == p.last_order_id:
            if p.prev_order_id is not None:
                updates.update(
                    last_order_at=p.prev_order_at,
                    last_order_id=p.prev_order_id,
                    prev_order_at=None,
                    prev_order_id=None,
                )
            else:  # two latest orders cancelled: the recency stays approximate, the id is unknown
                updates["last_order_id"] = None
        elif oid == p.prev_order_id:
            updates.update(prev_order_at=None, prev_order_id=None)
    return p.model_copy(update=updates)


# ---------------------------------------------------------------- merging a guest into a customer


def merge_guest(
    customer: Profile | None, guest: Profile, customer_id: str, *, stages: Any | None = None
) -> tuple[Profile, Profile]:
    """Fold a guest profile (keyed by email hash) into the customer it turned out to be.

    Returns (customer, guest with ``merged_into``). Idempotent through ``merged_from``."""
    t = thresholds(stages)
    seen = max(guest.updated_at, customer.updated_at) if customer is not None else guest.updated_at
    marked = (
        guest
        if guest.merged_into == customer_id
        else guest.model_copy(update={"merged_into": customer_id, "updated_at": seen})
    )
    c_ = customer or new_profile(guest.shop, customer_id, guest.created_at)
    if guest.customer_id in c_.merged_from:
        return c_, marked
    updates: dict[str, Any] = {
        **_merged_orders(c_, guest),
        "merged_from": _bounded([*c_.merged_from, guest.customer_id], RECENT_ORDERS_KEPT),
        "created_at": min(c_.created_at, guest.created_at),
        "updated_at": max(c_.updated_at, guest.updated_at),
        **_merged_identity(c_, guest),
        **_merged_suppression(c_, guest),
        **_merged_messages(c_, guest),
        **_merged_consent(c_, guest),
    }
    merged = c_.model_copy(update=updates)
    merged = merged.model_copy(update={"stage": stored_stage(merged.order_count, merged.total_spent, t)})
    return merged, marked


def latest_orders(
    candidates: Iterable[tuple[datetime | None, str | None]],
) -> list[tuple[datetime, str | None]]:
    """The two latest (time, order id) pairs, newest first; one entry per known order id (unknown ids all stay)."""
    timed = [(at, oid) for at, oid in candidates if at is not None]
    ranked = sorted(timed, key=lambda x: (x[0], x[1] or ""), reverse=True)
    dedup: list[tuple[datetime, str | None]] = []
    for at, oid in ranked:
        if oid is None or all(oid != d[1] for d in dedup):
            dedup.append((at, oid))
    return dedup


def _merged_orders(c_: Profile, guest: Profile) -> dict[str, Any]:
    """F(n), spend, order times and the remembered order ids of a customer and its guest twin together (an order
    both remember counts once)."""
    overlap = [o for o in guest.recent_order_ids if o in c_.recent_order_ids]
    counted_overlap = [
        o for o in overlap if o not in guest.cancelled_order_ids and o not in c_.cancelled_order_ids
    ]
    dedup = latest_orders(
        (
            (c_.last_order_at, c_.last_order_id),
            (c_.prev_order_at, c_.prev_order_id),
            (guest.last_order_at, guest.last_order_id),
            (guest.prev_order_at, guest.prev_order_id),
        )
    )
    last = dedup[0] if dedup else (None, None)
    prev = dedup[1] if len(dedup) > 1 else (None, None)
    firsts = [x for x in (c_.first_order_at, guest.first_order_at) if x is not None]
    updates: dict[str, Any] = {
        "order_count": c_.order_count + guest.order_count - len(counted_overlap),
        "total_spent": c_.total_spent + guest.total_spent,
        "first_order_at": min(firsts) if firsts else None,
        "last_order_at": last[0],
        "last_order_id": last[1],
        "prev_order_at": prev[0],
        "prev_order_id": prev[1],
        "recent_order_ids": _bounded([*guest.recent_order_ids, *c_.recent_order_ids], RECENT_ORDERS_KEPT),
        "cancelled_order_ids": _bounded(
            [*guest.cancelled_order_ids, *c_.cancelled_order_ids], RECENT_ORDERS_KEPT
        ),
    }
    if c_.order_count == 0 and guest.order_count:
        updates["currency"] = guest.currency
    return updates


def _merged_identity(c_: Profile, guest: Profile) -> dict[str, Any]:
    """The guest's identity fills the customer's gaps (never overwrites them); so does its LINE identity."""
    updates = {
        name: getattr(guest, name)
        for name in (*_IDENTITY_FIELDS, "email_hash")
        if getattr(c_, name) is None and getattr(guest, name) is not None
    }
    if c_.line is None and guest.line is not None:
        updates["line"] = guest.line
    return updates


def _merged_suppression(c_: Profile, guest: Profile) -> dict[str, Any]:
    """The guest's suppression wins when it is newer than the customer's last suppression change."""
    suppression = guest.email_suppression
    if suppression is None:
        return {}
    last = c_.email_suppression_updated_at
    if last is not None and suppression.at <= last:
        return {}
    return {"email_suppression": suppression, "email_suppression_updated_at": suppression.at}


def _merged_messages(c_: Profile, guest: Profile) -> dict[str, Any]:
    """The later last message and the later marketing send of the two."""
    updates: dict[str, Any] = {}
    g_msg, c_msg = guest.last_message, c_.last_message
    if g_msg is not None and (c_msg is None or g_msg.sent_at > c_msg.sent_at):
        updates["last_message"] = g_msg
    sent = [x for x in (c_.last_marketing_sent_at, guest.last_marketing_sent_at) if x is not None]
    if sent:
        updates["last_marketing_sent_at"] = max(sent)
    return updates


def _merged_consent(c_: Profile, guest: Profile) -> dict[str, Any]:
    """Each channel's consent folds merged (``enishi.consent.merge``); the current consents follow from them."""
    folds = dict(c_.consent_folds)
    for channel, fold in guest.consent_folds.items():
        folds[channel] = rule.merge(folds.get(channel), fold)
    return {
        "consent_folds": folds,
        "email_consent": rule.current(folds.get("email")),
        "line_consent": rule.current(folds.get("line")),
    }


# ---------------------------------------------------------------- attribution


# what the profile consumer reads of a message record to attribute an order (the rest is not fetched)
MESSAGE_TOUCH_TIMES = ("sent_at", "opened_at", "clicked_at")
MESSAGE_FIELDS = ("message_key", "sequence", "step", "channel", "marketing", "variant", *MESSAGE_TOUCH_TIMES)


def attribution_since(at: datetime, windows: AttributionWindows) -> datetime:
    """The earliest touch that can still earn an order at ``at``: message records with no touch since are not
    read (``MESSAGE_TOUCH_TIMES``)."""
    return _utc(at) - windows.reach()


def message_touches(record: Mapping[str, Any]) -> MessageTouches | None:
    """A message record (``keys.message_key``) as the attribution rule sees it; None when it names no message."""
    key, sequence, channel = record.get("message_key"), record.get("sequence"), record.get("channel")
    if not key or not sequence or not channel:
        return None
    sequence = str(sequence)
    marketing = record.get("marketing", True) is not False and sequence not in _UNATTRIBUTED_SEQUENCES
    return MessageTouches(
        message_key=str(key),
        sequence=sequence,
        channel=str(channel),
        marketing=marketing,
        sent_at=_record_time(record.get("sent_at")),
        opened_at=_record_time(record.get("opened_at")),
        clicked_at=_record_time(record.get("clicked_at")),
        step=str(record["step"]) if record.get("step") else None,
        variant=str(record["variant"]) if record.get("variant") else None,
        campaign=keys.campaign_of(sequence),
    )


def _record_time(value: Any) -> datetime | None:
    """A stored ISO 8601 time; an unreadable one is no touch (never an error: the order is recorded anyway)."""
    if isinstance(value, datetime):
        return _utc(value)
    if not isinstance(value, str) or not value:
        return None
    try:
        return _utc(clock.parse_iso(value))
    except ValueError:
        return None


def attribution(
    records: Iterable[tuple[str, Mapping[str, Any]]],
    at: datetime,
    windows: AttributionWindows,
    customer_id: str | None,
) -> Attribution | None:
    """The message an order (or a completed checkout) at ``at`` is credited to: last touch within the shop's
    windows (``enishi.attribution.credit``) among ``records``, (owner customer id, message record) pairs — the
    customer's and those of guests merged into it. Transactional messages never earn credit."""
    owners: dict[str, str] = {}
    touches: list[MessageTouches] = []
    for owner, record in records:
        touch = message_touches(record)
        if touch is not None:
            touches.append(touch)
            owners[touch.message_key] = owner
    won = credit(touches, _utc(at), windows)
    if won is None:
        return None
    owner = owners[won.message_key]
    return Attribution(
        message_key=won.message_key,
        sequence=won.sequence,
        step=won.step,
        variant=won.variant,
        campaign=won.campaign,
        kind=won.kind,
        customer_id=owner if owner != customer_id else None,
    )


# ---------------------------------------------------------------- order / checkout / fulfillment items


def compact_lines(lines: Iterable[ev.LineItem]) -> list[OrderLine]:
    return [
        OrderLine(
            product_id=li.product_id,
            variant_id=li.variant_id,
            title=li.title[:TITLE_MAX],
            quantity=li.quantity,
            price=li.price,
        )
        for li in list(lines)[:ORDER_ITEMS_MAX]
    ]


def order_after_placed(
    existing: OrderItem | None, event: ev.OrderPlaced, customer_id: str, attributed_to: Attribution | None
) -> OrderItem:
    """The order item once ``order.placed`` is applied. A cancellation stub stays cancelled; a recorded order keeps
    its attribution and only takes newer mutable fields (financial status)."""
    at = _utc(event.occurred_at)
    if existing is not None and existing.recorded:
        if at > existing.updated_at and event.financial_status != existing.financial_status:
            return existing.model_copy(update={"financial_status": event.financial_status, "updated_at": at})
        return existing
    lines = list(event.line_items)
    return OrderItem(
        shop=event.shop,
        order_id=event.order_id,
        customer_id=customer_id,
        status="cancelled" if existing is not None and existing.status == "cancelled" else "placed",
        order_name=event.order_name,
        placed_at=_utc(event.placed_at),
        cancelled_at=existing.cancelled_at if existing is not None else None,
        total=event.total,
        currency=event.currency,
        financial_status=event.financial_status,
        checkout_token=event.checkout_token,
        items=compact_lines(lines),
        item_count=_cart_count(event.item_count, lines),
        attributed_to=attributed_to,
        updated_at=max(at, existing.updated_at) if existing is not None else at,
    )


def order_after_cancelled(
    existing: OrderItem | None, event: ev.OrderCancelled, customer_id: str | None
) -> OrderItem:
    at = _utc(event.occurred_at)
    if existing is not None and existing.status == "cancelled":
        if existing.customer_id is None and customer_id is not None:
            return existing.model_copy(update={"customer_id": customer_id})
        return existing
    if existing is None:
        return OrderItem(
            shop=event.shop,
            order_id=event.order_id,
            customer_id=customer_id,
            status="cancelled",
            cancelled_at=_utc(event.cancelled_at),
            updated_at=at,
        )
    return existing.model_copy(
        update={
            "status": "cancelled",
            "cancelled_at": _utc(event.cancelled_at),
            "customer_id": existing.customer_id or customer_id,
            "updated_at": max(at, existing.updated_at),
        }
    )


def checkout_after_update(
    existing: CheckoutItem | None,
    event: ev.CheckoutUpdated,
    customer_id: str | None,
    recovered_by: Attribution | None = None,
) -> CheckoutItem:
    """Checkout state: the newest event wins, except that ``completed`` is final (a late ``open`` never reopens
    it). ``recovered_by`` is kept when a cart_recovery message preceded the completion."""
    at = _utc(event.occurred_at)
    fresh = _checkout_fields(event, customer_id, at)
    if existing is None:
        item = CheckoutItem(created_at=at, **fresh)
    elif existing.status == "completed":
        item = _completed_checkout(existing, event, fresh, at)
    elif event.status == "completed" or at >= existing.updated_at:
        item = _newer_checkout(existing, event, fresh, at)
    else:
        item = existing.model_copy(
            update={
                "created_at": min(existing.created_at, at),
                "customer_id": existing.customer_id or customer_id,
            }
        )
    return _credit_recovery(item, recovered_by)


def _checkout_fields(event: ev.CheckoutUpdated, customer_id: str | None, at: datetime) -> dict[str, Any]:
    """The checkout as the event alone describes it (every field but ``created_at`` and the recovery outcome)."""
    lines = list(event.line_items)
    if event.completed_at:
        completed_at: datetime | None = _utc(event.completed_at)
    else:
        completed_at = at if event.status == "completed" else None
    return {
        "shop": event.shop,
        "checkout_token": event.checkout_token,
        "cart_token": event.cart_token,
        "customer_id": customer_id,
        "status": event.status,
        "updated_at": at,
        "completed_at": completed_at,
        "order_id": event.order_id,
        "recovery_url": event.recovery_url,
        "items": compact_lines(lines),
        "item_count": _cart_count(event.item_count, lines),
        "total": event.total,
        "currency": event.currency,
    }


def _cart_count(item_count: int | None, lines: list[ev.LineItem]) -> int | None:
    """The cart's count of line items, kept only when ``items`` holds fewer than the order had."""
    return (item_count or len(lines)) if len(lines) > ORDER_ITEMS_MAX else None


_COMPLETED_GAPS = ("order_id", "completed_at", "customer_id", "recovery_url", "cart_token")


def _completed_checkout(
    existing: CheckoutItem, event: ev.CheckoutUpdated, fresh: dict[str, Any], at: datetime
) -> CheckoutItem:
    """A completed checkout is final: a later event only fills its gaps (and an earlier completion time)."""
    fill = {
        k: v
        for k, v in fresh.items()
        if k in _COMPLETED_GAPS and getattr(existing, k) is None and v is not None
    }
    completed_at: datetime | None = fresh["completed_at"]
    if (
        event.status == "completed"
        and completed_at is not None
        and existing.completed_at is not None
        and completed_at < existing.completed_at
    ):
        fill["completed_at"] = completed_at
    return existing.model_copy(update=fill | {"created_at": min(existing.created_at, at)})


def _newer_checkout(
    existing: CheckoutItem, event: ev.CheckoutUpdated, fresh: dict[str, Any], at: datetime
) -> CheckoutItem:
    """A newer event (or the completion) replaces the open checkout; what it leaves out, the stored one keeps."""
    keep = {k: getattr(existing, k) for k in ("customer_id", "recovery_url", "cart_token", "order_id")}
    merged = {k: (v if v is not None else keep.get(k)) for k, v in fresh.items()}
    if not event.line_items and event.status == "completed":
        merged.update(items=existing.items, item_count=existing.item_count, total=existing.total)
    return CheckoutItem.model_validate(
        {
            "created_at": min(existing.created_at, at),
            "recovered_by": existing.recovered_by,
            "recovered_revenue": existing.recovered_revenue,
            **merged,
        }
    )


def _credit_recovery(item: CheckoutItem, recovered_by: Attribution | None) -> CheckoutItem:
    """A completed checkout a cart_recovery message preceded is credited to it (once)."""
    if (
        item.status == "completed"
        and item.recovered_by is None
        and recovered_by is not None
        and recovered_by.sequence == c.SEQUENCE_CART_RECOVERY
    ):
        return item.model_copy(
            update={"recovered_by": recovered_by.message_key, "recovered_revenue": item.total}
        )
    return item


def fulfillment_after_update(
    existing: FulfillmentItem | None, event: ev.FulfillmentUpdated, customer_id: str | None
) -> FulfillmentItem:
    """Newest event wins; a delivery, once seen, is never forgotten; the customer is filled when known."""
    at = _utc(event.occurred_at)
    delivered_at = _utc(event.delivered_at) if event.delivered_at else (at if event.delivered else None)
    if existing is None:
        return _fulfillment(event, customer_id, delivered_at, at)
    if at < existing.updated_at:
        return _late_fulfillment(existing, event, customer_id, delivered_at)
    if existing.delivered_at is not None:
        delivered_at = (
            existing.delivered_at if delivered_at is None else min(existing.delivered_at, delivered_at)
        )
    return _fulfillment(event, customer_id, delivered_at, at, existing)


def _late_fulfillment(
    existing: FulfillmentItem,
    event: ev.FulfillmentUpdated,
    customer_id: str | None,
    delivered_at: datetime | None,
) -> FulfillmentItem:
    """An event older than the stored state only fills its gaps: customer, delivery, tracking."""
    fill: dict[str, Any] = {}
    if existing.customer_id is None and customer_id is not None:
        fill["customer_id"] = customer_id
    if existing.delivered_at is None and delivered_at is not None:
        fill["delivered_at"] = delivered_at
    if not existing.tracking_numbers and event.tracking_numbers:
        fill.update(
            tracking_numbers=list(event.tracking_numbers),
            tracking_urls=list(event.tracking_urls),
            tracking_company=event.tracking_company,
        )
    return existing.model_copy(update=fill) if fill else existing


def _fulfillment(
    event: ev.FulfillmentUpdated,
    customer_id: str | None,
    delivered_at: datetime | None,
    at: datetime,
    existing: FulfillmentItem | None = None,
) -> FulfillmentItem:
    """The fulfillment as of ``event``: what the event leaves out, the stored one (if any) keeps."""
    kept = existing or _no_fulfillment(event, at)
    estimated = event.estimated_delivery_at
    return FulfillmentItem(
        shop=event.shop,
        order_id=event.order_id,
        fulfillment_id=event.fulfillment_id,
        customer_id=customer_id or kept.customer_id,
        status=event.status,
        shipment_status=event.shipment_status or kept.shipment_status,
        tracking_company=event.tracking_company or kept.tracking_company,
        tracking_numbers=list(event.tracking_numbers) or kept.tracking_numbers,
        tracking_urls=list(event.tracking_urls) or kept.tracking_urls,
        estimated_delivery_at=_utc(estimated) if estimated else kept.estimated_delivery_at,
        delivered_at=delivered_at,
        updated_at=at,
    )


def _no_fulfillment(event: ev.FulfillmentUpdated, at: datetime) -> FulfillmentItem:
    """What a fulfillment seen for the first time keeps from "the stored one": nothing."""
    return FulfillmentItem(
        shop=event.shop,
        order_id=event.order_id,
        fulfillment_id=event.fulfillment_id,
        status=event.status,
        updated_at=at,
    )


def order_recorded(event: ev.OrderPlaced, profile: Profile, received_at: datetime) -> ev.OrderRecorded:
    """The derived event published once an order counted: carries the customer's new F(n)."""
    return ev.OrderRecorded(
        event_id=f"enishi:order.recorded:{event.shop}:{event.order_id}",
        shop=event.shop,
        source="enishi",
        occurred_at=event.occurred_at,
        received_at=received_at,
        order_id=event.order_id,
        customer_id=profile.customer_id,
        order_count=profile.order_count,
        placed_at=event.placed_at,
        total=event.total,
        currency=event.currency,
        checkout_token=event.checkout_token,
    )
