"""Per-event planners: (canonical event, what the service read, policy) → ``WritePlan``. Pure: no boto3, no clock.

Each planner computes the new state with ``apply.py`` and lists the writes in an order that makes a crash at any
point safe to retry: consent ledger records (append-only: the evidence is written before the state derived from
it) → profile (conditional on ``version``) → guest twin → derived event (order.recorded) → attribution (the message
record's credit, before the order item whose presence makes a redelivery plan nothing) → items (conditional on
their ``updated_at``) → lookups. Nothing is planned when nothing changed, so a redelivered event costs reads only.

The service (``service.py``) reads the ``Reads`` a planner needs and picks the planner by event type
(``service.ROUTES``); the DynamoDB adapter (``dynamo.py``) executes the plan.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from enishi import clock, keys
from enishi import consent as rule
from enishi import events as ev
from enishi.attribution import AttributionWindows
from enishi.profiles import apply as logic
from enishi.profiles.items import Attribution, CheckoutItem, FulfillmentItem, OrderItem, PrivacyRequest
from enishi.profiles.layout import Item, item_condition, order_to_item, profile_from_item, profile_put
from enishi.profiles.model import Profile, StageThresholds
from enishi.profiles.plan import (
    PROFILE_LABEL,
    Delete,
    Publish,
    Put,
    Remove,
    Step,
    Update,
    WritePlan,
    overlay,
    put_once,
)
from enishi.profiles.serialize import iso, to_item

# ---------------------------------------------------------------- what planners receive


@dataclass(frozen=True)
class Policy:
    """The shop's settings a plan depends on, and the time the plan is made (``order.recorded``'s receipt)."""

    stages: StageThresholds
    attribution: AttributionWindows
    now: datetime


@dataclass(frozen=True)
class Target:
    """The profile an event applies to, as resolved by the service (``merged_into`` followed once)."""

    customer_id: str | None
    raw: Item | None = None
    guest_raw: Item | None = None  # an unmerged guest twin with the customer's email: merged by this event
    guest_ledger: tuple[Item, ...] = ()  # the guest twin's consent records (carried over with the merge)
    email_lookup: tuple[str, str] | None = None  # (email hash, customer id) to write


@dataclass(frozen=True)
class Erasure:
    """What a customers/redact reaches without a scan, read before the plan is made."""

    partition: tuple[Item, ...] = ()  # the customer's partition (profile, consent ledger, message records)
    orders: tuple[Item, ...] = ()  # the named orders' partitions, each order item followed by its checkout
    email_lookups: tuple[tuple[str, Item | None], ...] = ()  # (email hash, its lookup item)
    line_lookup: Item | None = None
    guest_id: str | None = None  # the guest twin of the redacted email (a tombstone when it does not exist)
    guest_raw: Item | None = None
    guest_ledger: tuple[Item, ...] = ()


@dataclass(frozen=True)
class Reads:
    target: Target = field(default_factory=lambda: Target(None))
    order_raw: Item | None = None  # the order item of the event's order
    item_raw: Item | None = None  # the item the event is about: checkout, fulfillment, LINE lookup
    fulfillments: tuple[Item, ...] = ()  # the order's fulfillments (order.placed, first recorded)
    customer_id: str | None = None  # fulfillment: its customer (from the event or the order item)
    profile: Profile | None = None  # checkout without a customer: the profile credited with its completion
    # (owner customer id, message record) in reach of an order's attribution windows (order.placed recording
    # an order, a checkout's completion): the customer's and its merged guests' (``apply.MESSAGE_FIELDS`` only)
    messages: tuple[tuple[str, Item], ...] = ()
    erasure: Erasure | None = None


# ---------------------------------------------------------------- the profile (every planner that applies one)


@dataclass(frozen=True)
class Applied:
    old: Profile | None  # as stored
    base: Profile | None  # after merging the guest twin (what the event was applied to)
    new: Profile | None
    guest: Profile | None = None  # the guest twin marked ``merged_into``
    guest_old: Profile | None = None


def applied(event: Any, target: Target, policy: Policy, order: OrderItem | None = None) -> Applied:
    """The event applied to the target's profile, merging its guest twin first."""
    old = profile_from_item(target.raw) if target.raw else None
    base = old
    guest = guest_old = profile_from_item(target.guest_raw) if target.guest_raw else None
    if guest is not None and target.customer_id is not None:
        base, guest = logic.merge_guest(old, guest, target.customer_id, stages=policy.stages)
    new = logic.apply(
        base, event, policy.now, stages=policy.stages, order=order, customer_id=target.customer_id
    )
    return Applied(old, base, new, guest, guest_old)


def profile_plan(event: Any, target: Target, a: Applied) -> WritePlan:
    """The evidence first (a crash after it re-derives the same state on retry), then the profile, then the guest
    twin marked merged."""
    new = a.new
    plan = WritePlan(customer_id=new.customer_id if new is not None else target.customer_id)
    if new is not None:
        if a.guest is not None:
            plan.add(carried_ledger(target.guest_ledger, new.shop, a.guest.customer_id, new.customer_id))
        plan.add(
            ledger_puts(new.shop, new.customer_id, event, logic.consent_ledger_entries(a.base, event, new))
        )
    if new is not None and (a.old is None or new != a.old):
        plan.add([Put(*profile_put(new, a.old, target.raw), label=PROFILE_LABEL)])
    if a.guest is not None and a.guest_old is not None and a.guest != a.guest_old:
        plan.add([Put(*profile_put(a.guest, a.guest_old, target.guest_raw), label="guest_profile")])
        plan.merged_guest = a.guest.customer_id
    return plan


def ledger_puts(shop: str, customer_id: str, event: Any, entries: Iterable[logic.LedgerEntry]) -> list[Step]:
    """Consent records appended: one item per distinct record (its digest is in the key), never overwritten."""
    steps: list[Step] = []
    for entry in entries:
        consent = entry.consent
        key = keys.consent_ledger_key(
            shop, customer_id, iso(consent.collected_at), consent.channel, rule.digest(consent)
        )
        extra = {
            "shop": shop,
            "customer_id": customer_id,
            "event_id": event.event_id,
            "recorded_at": iso(event.received_at),
        }
        steps.append(put_once(to_item(consent, key, extra), "consent_ledger", read_first=entry.check_first))
    return steps


def carried_ledger(ledger: Iterable[Item], shop: str, guest_id: str, customer_id: str) -> list[Step]:
    """A guest merged into its customer: its consent records are copied under the customer (the guest's stay)."""
    pk = keys.customer_pk(shop, customer_id)
    return [
        put_once({**item, "pk": pk, "customer_id": customer_id, "carried_from": guest_id}, "consent_ledger")
        for item in ledger
    ]


def lookup_steps(event: Any, target: Target, new: Profile | None) -> list[Step]:
    """The email lookup pointing at the customer, unless the profile was redacted after the event."""
    if target.email_lookup is None or new is None:
        return []
    if new.redacted_at is not None and clock.to_utc(event.occurred_at) <= new.redacted_at:
        return []
    email_hash, customer_id = target.email_lookup
    return [
        Put(
            {**keys.email_lookup_key(event.shop, email_hash), "customer_id": customer_id},
            label="email_lookup",
        )
    ]


def item_put(item: Item, old_raw: Item | None, label: str) -> list[Step]:
    """A derived item, if it changed, conditional on the ``updated_at`` it was read with."""
    if old_raw is not None and item == old_raw:
        return []
    return [Put(item, item_condition(old_raw), label)]


def order_of(raw: Item | None) -> OrderItem | None:
    return OrderItem.model_validate(raw) if raw else None


def checkout_of(raw: Item | None) -> CheckoutItem | None:
    return CheckoutItem.model_validate(raw) if raw else None


# ---------------------------------------------------------------- planners by event type


def plan_nothing(event: Any, reads: Reads, policy: Policy) -> WritePlan:
    """order.recorded is our own derived event: nothing to apply."""
    return WritePlan()


def plan_profile(event: Any, reads: Reads, policy: Policy) -> WritePlan:
    """Events that only change the profile (customer, consent, suppression): profile, then the email lookup."""
    a = applied(event, reads.target, policy)
    return profile_plan(event, reads.target, a).add(lookup_steps(event, reads.target, a.new))


def plan_order_placed(event: ev.OrderPlaced, reads: Reads, policy: Policy) -> WritePlan:
    order = order_of(reads.order_raw)
    a = applied(event, reads.target, policy, order)
    new = a.new
    assert new is not None  # an order always has a customer
    counted = event.order_id in new.recent_order_ids and event.order_id not in new.cancelled_order_ids
    recording = records_order(order)
    attributed = (
        logic.attribution(reads.messages, event.placed_at, policy.attribution, new.customer_id)
        if recording
        else None
    )
    plan = profile_plan(event, reads.target, a)
    if recording and counted:
        # before the order item: a crash here re-publishes, never loses
        plan.add([Publish((logic.order_recorded(event, new, policy.now),))])
    if attributed is not None and counted:
        # before the order item too: once it is written a redelivery plans nothing, so a credit planned after it
        # would be lost by a crash in between (the update is idempotent for the same order)
        plan.add([attribution_update(event, new.customer_id, attributed)])
    item = logic.order_after_placed(order, event, new.customer_id, attributed)
    plan.add(item_put(order_to_item(item), reads.order_raw, "order"))
    if recording:
        plan.add(fulfillment_customers(reads.fulfillments, new.customer_id))
    plan.add(lookup_steps(event, reads.target, new))
    return plan


def records_order(order: OrderItem | None) -> bool:
    """order.placed records the order unless its order item already was (a cancellation stub is not)."""
    return order is None or not order.recorded


def fulfillment_customers(fulfillments: Iterable[Item], customer_id: str) -> list[Step]:
    """A fulfillment that arrived before its order gets the order's customer once the order is recorded."""
    steps: list[Step] = []
    for raw in fulfillments:
        if raw.get("customer_id"):
            continue
        item = FulfillmentItem.model_validate(raw).model_copy(update={"customer_id": customer_id})
        steps.extend(item_put(to_item(item, {"pk": raw["pk"], "sk": raw["sk"]}), raw, "fulfillment"))
    return steps


def attribution_update(event: ev.OrderPlaced, customer_id: str, attributed: Attribution) -> Update:
    """Credit the message record with the conversion and the touch that earned it (only if the record exists;
    the first order wins). The record is under the guest's partition when a merged guest received it."""
    return Update(
        key=keys.message_key(event.shop, attributed.customer_id or customer_id, attributed.message_key),
        expression="SET converted_at = :c, order_id = :o, revenue = :r, attribution_kind = :k",
        condition="attribute_exists(pk) AND (attribute_not_exists(converted_at) OR order_id = :o)",
        values={
            ":c": iso(event.placed_at),
            ":o": event.order_id,
            ":r": event.total,
            ":k": attributed.kind or "sent",
        },
        label="message_attribution",
        conversion=(attributed.sequence, float(event.total)),
    )


def plan_order_cancelled(event: ev.OrderCancelled, reads: Reads, policy: Policy) -> WritePlan:
    order = order_of(reads.order_raw)
    a = applied(event, reads.target, policy, order)
    plan = profile_plan(event, reads.target, a)
    customer_id = a.new.customer_id if a.new is not None else (order.customer_id if order else None)
    item = logic.order_after_cancelled(order, event, customer_id)
    plan.add(item_put(order_to_item(item), reads.order_raw, "order"))
    if event.customer is not None:
        plan.add(lookup_steps(event, reads.target, a.new))
    return plan


def plan_fulfillment(event: ev.FulfillmentUpdated, reads: Reads, policy: Policy) -> WritePlan:
    key = keys.fulfillment_key(event.shop, event.order_id, event.fulfillment_id)
    existing = FulfillmentItem.model_validate(reads.item_raw) if reads.item_raw else None
    item = logic.fulfillment_after_update(existing, event, reads.customer_id)
    return WritePlan(customer_id=reads.customer_id).add(
        item_put(to_item(item, key), reads.item_raw, "fulfillment")
    )


def plan_checkout(event: ev.CheckoutUpdated, reads: Reads, policy: Policy) -> WritePlan:
    key = keys.checkout_key(event.shop, event.checkout_token)
    existing = checkout_of(reads.item_raw)
    target = reads.target
    plan, new = WritePlan(), None
    if event.customer is not None:
        a = applied(event, target, policy)
        plan, new = profile_plan(event, target, a), a.new
    recovered: Attribution | None = None
    if completes(event, existing):
        completed = event.completed_at or event.occurred_at
        owner = new.customer_id if new is not None else target.customer_id
        recovered = logic.attribution(reads.messages, completed, policy.attribution, owner)
    item = logic.checkout_after_update(existing, event, target.customer_id, recovered)
    plan.add(item_put(to_item(item, key), reads.item_raw, "checkout"))
    if event.customer is not None:
        plan.add(lookup_steps(event, target, new))
    return plan


def completes(event: ev.CheckoutUpdated, existing: CheckoutItem | None) -> bool:
    """The event completes the checkout (the first completion seen: the one a recovery is credited on)."""
    return event.status == "completed" and (existing is None or existing.status != "completed")


def plan_line(event: ev.LineIdentityChanged, reads: Reads, policy: Policy) -> WritePlan:
    target, lookup = reads.target, reads.item_raw
    if target.customer_id is None or (event.customer is None and target.raw is None):
        return WritePlan()  # a LINE user not linked to any customer: nothing to keep
    a = applied(event, target, policy)
    new = a.new
    plan = profile_plan(event, target, a)
    lookup_key = keys.line_lookup_key(event.shop, event.line_user_id)
    linked_to = lookup.get("customer_id") if lookup else None
    if new is not None and new.line is not None and new.line.user_id == event.line_user_id:
        if linked_to != new.customer_id:
            plan.add([Put({**lookup_key, "customer_id": new.customer_id}, label="line_lookup")])
    elif event.change == "unlinked" and new is not None and lookup and linked_to == new.customer_id:
        plan.add([Delete(lookup_key, "line_lookup_deleted")])
    if event.customer is not None:
        plan.add(lookup_steps(event, target, new))
    return plan


# ---------------------------------------------------------------- privacy webhooks


def privacy_request(event: Any) -> Put:
    """The privacy webhook recorded for the job that acts on it (ids only), once."""
    customer = getattr(event, "customer", None)
    request = PrivacyRequest(
        shop=event.shop,
        type=event.type,
        event_id=event.event_id,
        customer_id=customer.customer_id if customer is not None else None,
        order_ids=list(getattr(event, "order_ids", ())),
        request_id=getattr(event, "request_id", None),
        requested_at=event.occurred_at,
    )
    return put_once(to_item(request, keys.privacy_request_key(event.shop, event.event_id)), "privacy_request")


def plan_shop_redaction(event: ev.ShopRedactRequested, reads: Reads, policy: Policy) -> WritePlan:
    """shop/redact: nothing here — the privacy job deletes every item of the shop, and a record written now could
    outlive its scan."""
    return WritePlan()


def plan_data_request(event: ev.CustomerDataRequested, reads: Reads, policy: Policy) -> WritePlan:
    plan = plan_profile(event, reads, policy)
    plan.steps.insert(0, privacy_request(event))
    return plan


def plan_redaction(event: ev.CustomerRedactRequested, reads: Reads, policy: Policy) -> WritePlan:
    """customers/redact: the profile redacted (a tombstone when unseen), then what points at the customer."""
    target = reads.target
    a = applied(event, target, policy)
    plan = WritePlan(steps=[privacy_request(event)])
    profile = profile_plan(event, target, a)
    plan.customer_id, plan.merged_guest = profile.customer_id, profile.merged_guest
    plan.add(profile.steps)
    return plan.add(erasure_steps(event, target, a.old, reads.erasure or Erasure(), plan.steps))


def erasure_order_ids(event: ev.CustomerRedactRequested, old: Profile | None) -> list[str]:
    """The orders a redaction reaches: those Shopify names and those the profile remembers."""
    if old is None:
        return sorted(set(event.order_ids))
    latest = (x for x in (old.last_order_id, old.prev_order_id) if x)
    return sorted({*event.order_ids, *old.recent_order_ids, *latest})


def erasure_email_hashes(event: ev.CustomerRedactRequested, old: Profile | None) -> list[str]:
    """The email lookups that may point at the redacted customer."""
    hashes = {
        old.email_hash if old is not None else None,
        keys.email_hash(event.customer.email) if event.customer.email else None,
    }
    return sorted(h for h in hashes if h)


def guest_twin_id(event: ev.CustomerRedactRequested, customer_id: str | None) -> str | None:
    """The guest profile id of the redacted email, when it is not the customer itself."""
    if not event.customer.email:
        return None
    guest_id = keys.guest_customer_id(event.customer.email)
    return guest_id if guest_id != customer_id else None


def erasure_steps(
    event: ev.CustomerRedactRequested,
    target: Target,
    old: Profile | None,
    erasure: Erasure,
    earlier: Sequence[Step],
) -> list[Step]:
    """After the profile's redaction (``earlier``, whose writes reads here see): the ledger's evidence, personal
    attributes of reachable items, the lookups that point at the customer, and the guest twin of its email."""
    steps: list[Step] = []
    customer_id = target.customer_id
    if customer_id is not None:
        pk = keys.customer_pk(event.shop, customer_id)
        partition = _in_partition(overlay(erasure.partition, earlier), pk)
        steps += redacted_ledger(partition)
        partition = _in_partition(overlay(partition, steps), pk)
        reachable = [i for i in partition if i.get("sk") != keys.PROFILE_SK] + list(erasure.orders)
        steps += stripped(reachable)
    for _, lookup in erasure.email_lookups:
        if lookup and lookup.get("customer_id") == customer_id:
            steps.append(Delete(_key(lookup), "email_lookup_deleted"))
    lookup = erasure.line_lookup
    if old is not None and old.line is not None and lookup and lookup.get("customer_id") == customer_id:
        steps.append(Delete(_key(lookup), "line_lookup_deleted"))
    if erasure.guest_id is not None:
        steps += _guest_twin_erasure(event, erasure, [*earlier, *steps])
    return steps


def _in_partition(view: dict[tuple[str, str], Item], pk: str) -> list[Item]:
    """The items of one partition in a view, in sort key order (a Query's order)."""
    return [item for (p, _), item in sorted(view.items()) if p == pk]


def _key(item: Item) -> Item:
    return {"pk": item["pk"], "sk": item["sk"]}


def redacted_ledger(items: Iterable[Item]) -> list[Step]:
    """customers/redact: the consent records keep state, time, kind and source (the proof that marketing stopped);
    the evidence and the sender's time go. The wording is the shop's text, the same for everyone: it stays."""
    return [
        Remove(_key(item), ("evidence", "sender_at"), "consent_ledger_redacted")
        for item in items
        if str(item.get("sk", "")).startswith(keys.CONSENT_SK_PREFIX)
        and ("evidence" in item or "sender_at" in item)
    ]


def stripped(items: Iterable[Item]) -> list[Step]:
    """Personal attributes (``enishi.privacy.logic``) off the items reachable without a scan — the customer's
    partition (message records), the orders Shopify names and the profile remembers, their checkouts (recovery
    URLs). ``enishi customer erase`` covers the rest (a scan, raw payloads)."""
    from enishi.privacy.logic import personal_attributes

    steps: list[Step] = []
    for item in items:
        names = personal_attributes(item)
        if names:
            steps.append(Remove(_key(item), tuple(names), "personal_attributes_removed"))
    return steps


def _guest_twin_erasure(
    event: ev.CustomerRedactRequested, erasure: Erasure, earlier: Sequence[Step]
) -> list[Step]:
    """The guest twin of the redacted email is redacted too; with no guest twin yet, a tombstone, so a late guest
    checkout of that address stays erased."""
    guest_id = erasure.guest_id
    assert guest_id is not None
    key = keys.profile_key(event.shop, guest_id)
    raw = overlay([erasure.guest_raw] if erasure.guest_raw else [], earlier).get((key["pk"], key["sk"]))
    guest = (
        profile_from_item(raw)
        if raw
        else logic.new_profile(event.shop, guest_id, event.occurred_at, guest=True)
    )
    redacted = logic.redact(guest, logic.redaction_at(event))
    steps: list[Step] = []
    if redacted != guest or not raw:
        steps.append(Put(*profile_put(redacted, guest if raw else None, raw), label="guest_profile"))
    if raw:
        steps += redacted_ledger(erasure.guest_ledger)
    return steps
