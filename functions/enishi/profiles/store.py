"""The profile consumer's DynamoDB adapter: read → pure ``apply`` → write only what changed.

One event is handled as:

1. **resolve** the customer: the event's customer (a guest event goes to the real customer its email already points
   to); an event without one (fulfillment, cancellation) through its order item; a LINE event through the LINE
   lookup. A profile with ``merged_into`` is followed once.
2. **read** the profile and the items the event touches (order, checkout, fulfillment), consistently.
3. **compute** with ``apply.py`` (merging a guest profile first when a real customer id arrives with its email).
4. **write** in an order that makes a crash at any point safe to retry: consent ledger records (append-only,
   conditional puts: the evidence is written before the state derived from it) → profile (conditional on
   ``version``) → derived event (order.recorded) → items (conditional on their ``updated_at``) → lookups →
   attribution.
   A conflict on any conditional write re-reads and re-applies everything (bounded attempts).

Nothing is written when nothing changed, so a redelivered event costs reads only.
Logs and errors carry ids, never PII.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from enishi import clock, keys
from enishi import consent as rule
from enishi import constants as c
from enishi import events as ev
from enishi.profiles import apply as logic
from enishi.profiles.items import (
    Attribution,
    CheckoutItem,
    FulfillmentItem,
    OrderItem,
    PrivacyRequest,
)
from enishi.profiles.model import Profile, StageThresholds
from enishi.profiles.serialize import iso, to_item
from enishi.publish import EventPublisher

CONDITIONAL_CHECK_FAILED = "ConditionalCheckFailedException"
MAX_ATTEMPTS = 5
# written even when equal to the model default: others update ``version`` in place and read these at a glance
PROFILE_ALWAYS_STORED = frozenset({"version", "order_count", "stage"})
# derivable from other attributes, so not stored (readers: ``profile.email_hash or keys.email_hash(profile.email)``)
PROFILE_DERIVED = ("email_hash",)


class WriteConflict(Exception):
    """A conditional write lost a race; the whole event is re-read and re-applied."""


class TooManyConflicts(Exception):
    """Still conflicting after MAX_ATTEMPTS: raised so the message is retried (and ends in the DLQ)."""


def profile_put(
    new: Profile, old: Profile | None, old_raw: dict[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The stored PROFILE item of ``new`` as the next version after ``old``, and the condition of its put
    (optimistic lock on ``version``). Attributes other writers added that the model does not know are kept. The one
    layout of a profile item: the consumer and the history import both write through it."""
    key = keys.profile_key(new.shop, new.customer_id)
    version = (old.version if old is not None else 0) + 1
    item = to_item(new.model_copy(update={"version": version}), key, keep_defaults=PROFILE_ALWAYS_STORED)
    for name in PROFILE_DERIVED:
        item.pop(name, None)
    item = compact_folds(item)
    if old_raw:
        known = set(Profile.model_fields) | set(key)
        item = {**{k: v for k, v in old_raw.items() if k not in known}, **item}
    if old is None:
        return item, {"ConditionExpression": "attribute_not_exists(pk)"}
    return item, {
        "ConditionExpression": "#v = :v",
        "ExpressionAttributeNames": {"#v": "version"},
        "ExpressionAttributeValues": {":v": old.version},
    }


def order_to_item(item: OrderItem) -> dict[str, Any]:
    """The order item as stored: a placed order is in the ``orders_by_day`` index (its JST day), which the daily
    win-back job reads; a cancelled one is not. The one place that knows this layout."""
    extra: dict[str, Any] = {}
    if item.status == "placed" and item.placed_at is not None:
        extra = {
            c.ATTR_GSI1_PK: keys.orders_by_day_pk(item.shop, item.placed_at.astimezone(clock.JST).date()),
            c.ATTR_GSI1_SK: keys.orders_by_day_sk(item.order_id),
        }
    return to_item(item, keys.order_key(item.shop, item.order_id), extra)


@dataclass
class Outcome:
    """What handling one event did (ids only: safe to log)."""

    event_type: str
    customer_id: str | None = None
    profile_written: bool = False
    written: list[str] = field(default_factory=list)  # item kinds written besides the profile
    published: list[str] = field(default_factory=list)
    merged_guest: str | None = None
    attempts: int = 1
    conversion: tuple[str, float] | None = None  # (sequence, revenue): an order first credited to a message


@dataclass
class _Target:
    customer_id: str | None
    raw: dict[str, Any] | None = None
    guest: Profile | None = None
    guest_raw: dict[str, Any] | None = None
    email_lookup: tuple[str, str] | None = None  # (email hash, customer id) to write
    base: Profile | None = None  # the profile the event was applied to (after a guest merge)


def _profile(raw: Mapping[str, Any]) -> Profile:
    """A stored profile item → ``Profile`` (``email_hash`` is derived, not stored: 74 B of every write saved)."""
    profile = Profile.model_validate(raw)
    if profile.email and not profile.email_hash:
        profile = profile.model_copy(update={"email_hash": keys.email_hash(profile.email)})
    return profile


def compact_folds(item: dict[str, Any]) -> dict[str, Any]:
    """Leave out of each stored consent fold the record that is also the channel's current consent (``"current"``
    names it; ``Profile`` puts it back on read): one copy of it per profile item, not two."""
    folds = item.get("consent_folds")
    if not isinstance(folds, dict):
        return item
    out = {}
    for channel, fold in folds.items():
        current = item.get(f"{channel}_consent")
        fold = dict(fold)
        for name in ("latest", "snapshot"):
            if current is not None and fold.get(name) == current:
                del fold[name]
                fold["current"] = name
                break
        out[channel] = fold
    return {**item, "consent_folds": out}


def _is_conflict(exc: Exception) -> bool:
    response = getattr(exc, "response", None)
    return isinstance(response, Mapping) and response.get("Error", {}).get("Code") == CONDITIONAL_CHECK_FAILED


class ProfileStore:
    """``table`` is a boto3 DynamoDB ``Table`` resource (injected); ``publisher`` an ``EventPublisher``."""

    def __init__(
        self,
        table: Any,
        publisher: EventPublisher,
        *,
        stages: Any | None = None,
        attribution_window_days: int = 7,
        max_attempts: int = MAX_ATTEMPTS,
        now: Callable[[], datetime] = clock.now,
    ) -> None:
        self._table = table
        self._publisher = publisher
        self._t: StageThresholds = logic.thresholds(stages)
        self._window = attribution_window_days
        self._max_attempts = max_attempts
        self._now = now
        self._wordings: set[str] = set()

    # ------------------------------------------------------------ entry point

    def handle(self, event: Any) -> Outcome:
        for attempt in range(1, self._max_attempts + 1):
            try:
                outcome = self._handle_once(event)
            except WriteConflict:
                continue
            outcome.attempts = attempt
            return outcome
        raise TooManyConflicts(f"{event.type} {event.event_id}: {self._max_attempts} write conflicts")

    def _handle_once(self, event: Any) -> Outcome:
        out = Outcome(event_type=event.type)
        event, wordings = logic.externalize_wording(event)
        for ref, text in wordings.items():
            self._keep_wording(event.shop, ref, text, event.occurred_at)
        if isinstance(event, ev.OrderRecorded):
            return out  # our own derived event: nothing to apply
        if isinstance(event, ev.ShopRedactRequested):
            # the privacy job deletes every item of the shop: a record written now could outlive its scan
            return out
        if isinstance(event, (ev.CustomerRedactRequested, ev.CustomerDataRequested)):
            self._record_privacy_request(event, out)
        if isinstance(event, ev.OrderPlaced):
            return self._order_placed(event, out)
        if isinstance(event, ev.OrderCancelled):
            return self._order_cancelled(event, out)
        if isinstance(event, ev.FulfillmentUpdated):
            return self._fulfillment(event, out)
        if isinstance(event, ev.CheckoutUpdated):
            return self._checkout(event, out)
        if isinstance(event, ev.LineIdentityChanged):
            return self._line(event, out)
        return self._profile_only(event, out)

    # ------------------------------------------------------------ per event kind

    def _profile_only(self, event: Any, out: Outcome) -> Outcome:
        target = self._resolve(event.shop, event.customer)
        old, new = self._compute(event, target)
        self._write_profile(event, target, old, new, out)
        if isinstance(event, ev.CustomerRedactRequested):
            self._forget_identities(event, target, old, out)
        else:
            self._write_lookups(event.shop, target, new, event, out)
        return out

    def _order_placed(self, event: ev.OrderPlaced, out: Outcome) -> Outcome:
        order_raw = self._get(keys.order_key(event.shop, event.order_id))
        order = OrderItem.model_validate(order_raw) if order_raw else None
        target = self._resolve(event.shop, event.customer)
        old, new = self._compute(event, target, order=order)
        assert new is not None  # an order always has a customer
        counted = event.order_id in new.recent_order_ids and event.order_id not in new.cancelled_order_ids
        recording = order is None or not order.recorded
        attributed = logic.attribution(old, event.placed_at, self._window) if recording else None
        self._write_profile(event, target, old, new, out)
        if recording and counted:
            recorded = logic.order_recorded(event, new, self._now())
            self._publisher.publish(
                [recorded]
            )  # before the order item: a crash here re-publishes, never loses
            out.published.append(recorded.type)
        item = logic.order_after_placed(order, event, new.customer_id, attributed)
        if self._put_item(order_to_item(item), order_raw):
            out.written.append("order")
        if recording:
            self._fill_fulfillment_customers(event.shop, event.order_id, new.customer_id, out)
        self._write_lookups(event.shop, target, new, event, out)
        if attributed is not None and counted:
            self._attribute(event, new.customer_id, attributed, out)
        return out

    def _order_cancelled(self, event: ev.OrderCancelled, out: Outcome) -> Outcome:
        order_raw = self._get(keys.order_key(event.shop, event.order_id))
        order = OrderItem.model_validate(order_raw) if order_raw else None
        if event.customer is not None:
            target = self._resolve(event.shop, event.customer)
        else:
            target = self._follow(event.shop, order.customer_id if order else None)
        old, new = self._compute(event, target, order=order)
        self._write_profile(event, target, old, new, out)
        customer_id = new.customer_id if new is not None else (order.customer_id if order else None)
        item = logic.order_after_cancelled(order, event, customer_id)
        if self._put_item(order_to_item(item), order_raw):
            out.written.append("order")
        if event.customer is not None:
            self._write_lookups(event.shop, target, new, event, out)
        return out

    def _fulfillment(self, event: ev.FulfillmentUpdated, out: Outcome) -> Outcome:
        customer_id = event.customer.customer_id if event.customer is not None else None
        if customer_id is None:
            order_raw = self._get(keys.order_key(event.shop, event.order_id))
            customer_id = order_raw.get("customer_id") if order_raw else None
        out.customer_id = customer_id
        key = keys.fulfillment_key(event.shop, event.order_id, event.fulfillment_id)
        raw = self._get(key)
        existing = FulfillmentItem.model_validate(raw) if raw else None
        item = logic.fulfillment_after_update(existing, event, customer_id)
        if self._put_item(to_item(item, key), raw):
            out.written.append("fulfillment")
        return out

    def _checkout(self, event: ev.CheckoutUpdated, out: Outcome) -> Outcome:
        key = keys.checkout_key(event.shop, event.checkout_token)
        raw = self._get(key)
        existing = CheckoutItem.model_validate(raw) if raw else None
        old = new = None
        target = _Target(customer_id=existing.customer_id if existing else None)
        if event.customer is not None:
            target = self._resolve(event.shop, event.customer)
            old, new = self._compute(event, target)
            self._write_profile(event, target, old, new, out)
        recovered: Attribution | None = None
        if event.status == "completed" and (existing is None or existing.status != "completed"):
            profile = new or (
                self._profile_of(event.shop, target.customer_id) if target.customer_id else None
            )
            completed = event.completed_at or event.occurred_at
            recovered = logic.attribution(profile, completed, self._window)
        item = logic.checkout_after_update(existing, event, target.customer_id, recovered)
        if self._put_item(to_item(item, key), raw):
            out.written.append("checkout")
        if event.customer is not None:
            self._write_lookups(event.shop, target, new, event, out)
        return out

    def _line(self, event: ev.LineIdentityChanged, out: Outcome) -> Outcome:
        lookup_key = keys.line_lookup_key(event.shop, event.line_user_id)
        lookup = self._get(lookup_key)
        if event.customer is not None:
            target = self._resolve(event.shop, event.customer)
        else:
            target = self._follow(event.shop, lookup.get("customer_id") if lookup else None)
        if target.customer_id is None or (event.customer is None and target.raw is None):
            return out  # a LINE user not linked to any customer: nothing to keep
        old, new = self._compute(event, target)
        self._write_profile(event, target, old, new, out)
        if new is not None and new.line is not None and new.line.user_id == event.line_user_id:
            if not lookup or lookup.get("customer_id") != new.customer_id:
                self._table.put_item(Item={**lookup_key, "customer_id": new.customer_id})
                out.written.append("line_lookup")
        elif (
            event.change == "unlinked"
            and lookup
            and new is not None
            and lookup.get("customer_id") == new.customer_id
        ):
            self._table.delete_item(Key=lookup_key)
            out.written.append("line_lookup_deleted")
        if event.customer is not None:
            self._write_lookups(event.shop, target, new, event, out)
        return out

    # ------------------------------------------------------------ resolution and computation

    def _resolve(self, shop: str, ref: ev.CustomerRef) -> _Target:
        email_hash = keys.email_hash(ref.email) if ref.email else None
        lookup = self._get(keys.email_lookup_key(shop, email_hash)) if email_hash else None
        looked_up = lookup.get("customer_id") if lookup else None
        guest = ref.guest or (ref.email is not None and ref.customer_id == keys.guest_customer_id(ref.email))
        if guest:
            # a guest whose email already belongs to a customer is that customer
            return self._follow(shop, looked_up or ref.customer_id)
        target = self._follow(shop, ref.customer_id)
        if email_hash is None or looked_up == target.customer_id:
            return target
        target.email_lookup = (email_hash, target.customer_id or ref.customer_id)
        guest_id = keys.guest_customer_id(ref.email or "")
        guest_raw = self._get(keys.profile_key(shop, guest_id)) if guest_id != target.customer_id else None
        if guest_raw and not guest_raw.get("merged_into"):
            target.guest = _profile(guest_raw)
            target.guest_raw = guest_raw
        return target

    def _follow(self, shop: str, customer_id: str | None) -> _Target:
        """Read a profile, following ``merged_into`` once."""
        if customer_id is None:
            return _Target(customer_id=None)
        raw = self._get(keys.profile_key(shop, customer_id))
        if raw and raw.get("merged_into"):
            customer_id = str(raw["merged_into"])
            raw = self._get(keys.profile_key(shop, customer_id))
        return _Target(customer_id=customer_id, raw=raw)

    def _profile_of(self, shop: str, customer_id: str) -> Profile | None:
        target = self._follow(shop, customer_id)
        return _profile(target.raw) if target.raw else None

    def _compute(
        self, event: Any, target: _Target, *, order: OrderItem | None = None
    ) -> tuple[Profile | None, Profile | None]:
        old = _profile(target.raw) if target.raw else None
        base = old
        if target.guest is not None and target.customer_id is not None:
            base, marked = logic.merge_guest(old, target.guest, target.customer_id, stages=self._t)
            target.guest = marked
        new = logic.apply(
            base, event, self._now(), stages=self._t, order=order, customer_id=target.customer_id
        )
        target.base = base
        return old, new

    # ------------------------------------------------------------ writes

    def _write_profile(
        self, event: Any, target: _Target, old: Profile | None, new: Profile | None, out: Outcome
    ) -> None:
        out.customer_id = new.customer_id if new is not None else target.customer_id
        if new is not None:  # the evidence first: a crash after it re-derives the same state on retry
            if (
                target.guest is not None
                and target.guest_raw is not None
                and not target.guest_raw.get("merged_into")
            ):
                self._carry_ledger(new.shop, target.guest.customer_id, new.customer_id, out)
            self._append_ledger(
                new.shop, new.customer_id, event, logic.consent_ledger_entries(target.base, event, new), out
            )
        if new is not None and (old is None or new != old):
            self._put_profile(new, old, target.raw)
            out.profile_written = True
        if target.guest is not None and target.guest_raw is not None:
            guest_old = _profile(target.guest_raw)
            if target.guest != guest_old:
                self._put_profile(target.guest, guest_old, target.guest_raw)
                out.merged_guest = target.guest.customer_id
                out.written.append("guest_profile")

    def _put_profile(self, new: Profile, old: Profile | None, old_raw: dict[str, Any] | None) -> None:
        self._conditional_put(*profile_put(new, old, old_raw))

    def _put_item(self, item: dict[str, Any], old_raw: dict[str, Any] | None) -> bool:
        """Put a derived item if it changed, conditional on the ``updated_at`` it was read with."""
        if old_raw is not None and item == old_raw:
            return False
        if old_raw is None:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        elif "updated_at" in old_raw:
            condition = {
                "ConditionExpression": "#u = :u",
                "ExpressionAttributeNames": {"#u": "updated_at"},
                "ExpressionAttributeValues": {":u": old_raw["updated_at"]},
            }
        else:
            condition = {"ConditionExpression": "attribute_not_exists(updated_at)"}
        self._conditional_put(item, condition)
        return True

    def _conditional_put(self, item: dict[str, Any], condition: dict[str, Any]) -> None:
        try:
            self._table.put_item(Item=item, **condition)
        except Exception as exc:
            if _is_conflict(exc):
                raise WriteConflict(item.get("sk", "")) from exc
            raise

    # ------------------------------------------------------------ the consent ledger

    def _append_ledger(
        self, shop: str, customer_id: str, event: Any, entries: list[logic.LedgerEntry], out: Outcome
    ) -> None:
        """Append consent records: one item per distinct record (its digest is in the key), never overwritten."""
        for entry in entries:
            consent = entry.consent
            key = keys.consent_ledger_key(
                shop, customer_id, iso(consent.collected_at), consent.channel, rule.digest(consent)
            )
            if entry.check_first and self._get(key) is not None:
                continue
            item = to_item(
                consent,
                key,
                {
                    "shop": shop,
                    "customer_id": customer_id,
                    "event_id": event.event_id,
                    "recorded_at": iso(event.received_at),
                },
            )
            if self._put_once(item):
                out.written.append("consent_ledger")

    def consent_ledger(self, shop: str, customer_id: str) -> list[dict[str, Any]]:
        """A customer's consent records, oldest first (disclosure requests, audits; the profile's state derives from
        them: ``enishi.consent.derive``)."""
        return self._query_prefix(keys.customer_pk(shop, customer_id), keys.CONSENT_SK_PREFIX)

    def _carry_ledger(self, shop: str, guest_id: str, customer_id: str, out: Outcome) -> None:
        """A guest merged into its customer: its consent records are copied under the customer (the guest's stay)."""
        for item in self.consent_ledger(shop, guest_id):
            copy = {
                **item,
                "pk": keys.customer_pk(shop, customer_id),
                "customer_id": customer_id,
                "carried_from": guest_id,
            }
            if self._put_once(copy):
                out.written.append("consent_ledger")

    def _redact_ledger(self, shop: str, customer_id: str, out: Outcome) -> None:
        """customers/redact: the records keep state, time, kind and source (the proof that marketing stopped); the
        evidence and the sender's time go. The wording is the shop's text, the same for everyone: it stays."""
        for item in self.consent_ledger(shop, customer_id):
            if "evidence" in item or "sender_at" in item:
                self._table.update_item(
                    Key={"pk": item["pk"], "sk": item["sk"]}, UpdateExpression="REMOVE evidence, sender_at"
                )
                out.written.append("consent_ledger_redacted")

    def _put_once(self, item: dict[str, Any]) -> bool:
        try:
            self._table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")
            return True
        except Exception as exc:
            if not _is_conflict(exc):
                raise
            return False

    def _query_prefix(self, pk: str, prefix: str) -> list[dict[str, Any]]:
        from boto3.dynamodb.conditions import Key  # deferred: redaction, merges and audits only

        items: list[dict[str, Any]] = []
        condition = Key("pk").eq(pk) & Key("sk").begins_with(prefix) if prefix else Key("pk").eq(pk)
        kwargs: dict[str, Any] = {"KeyConditionExpression": condition, "ConsistentRead": True}
        while True:
            resp = self._table.query(**kwargs)
            items.extend(resp.get("Items", []))
            if not resp.get("LastEvaluatedKey"):
                return items
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def _write_lookups(
        self, shop: str, target: _Target, new: Profile | None, event: Any, out: Outcome
    ) -> None:
        if target.email_lookup is None or new is None:
            return
        if new.redacted_at is not None and clock.to_utc(event.occurred_at) <= new.redacted_at:
            return
        email_hash, customer_id = target.email_lookup
        self._table.put_item(Item={**keys.email_lookup_key(shop, email_hash), "customer_id": customer_id})
        out.written.append("email_lookup")

    def _forget_identities(
        self, event: ev.CustomerRedactRequested, target: _Target, old: Profile | None, out: Outcome
    ) -> None:
        """After a redaction: delete the lookups that point at the customer; redact an unmerged guest twin too."""
        customer_id = target.customer_id
        if customer_id is not None:
            self._redact_ledger(event.shop, customer_id, out)
            self._strip_reachable(event, customer_id, old, out)
        hashes = {
            h
            for h in (
                old.email_hash if old else None,
                keys.email_hash(event.customer.email) if event.customer.email else None,
            )
            if h
        }
        for h in hashes:
            key = keys.email_lookup_key(event.shop, h)
            lookup = self._get(key)
            if lookup and lookup.get("customer_id") == customer_id:
                self._table.delete_item(Key=key)
                out.written.append("email_lookup_deleted")
        if old is not None and old.line is not None:
            key = keys.line_lookup_key(event.shop, old.line.user_id)
            lookup = self._get(key)
            if lookup and lookup.get("customer_id") == customer_id:
                self._table.delete_item(Key=key)
                out.written.append("line_lookup_deleted")
        if event.customer.email:
            guest_id = keys.guest_customer_id(event.customer.email)
            if guest_id != customer_id:
                raw = self._get(keys.profile_key(event.shop, guest_id))
                # no guest twin yet: a tombstone, so a late guest checkout of that address stays erased
                guest = (
                    _profile(raw)
                    if raw
                    else logic.new_profile(event.shop, guest_id, event.occurred_at, guest=True)
                )
                redacted = logic.redact(guest, logic.redaction_at(event))
                if redacted != guest or not raw:
                    self._put_profile(redacted, guest if raw else None, raw)
                    out.written.append("guest_profile")
                if raw:
                    self._redact_ledger(event.shop, guest_id, out)

    def _strip_reachable(
        self, event: ev.CustomerRedactRequested, customer_id: str, old: Profile | None, out: Outcome
    ) -> None:
        """customers/redact: personal attributes (``enishi.privacy.logic``) off the items reachable without a scan —
        the customer's partition (message records), the orders Shopify names and the profile remembers, their
        fulfillments and checkouts (recovery URLs). ``enishi customer erase`` covers the rest (a scan, raw payloads)."""
        from enishi.privacy.logic import personal_attributes

        shop = event.shop
        items = [
            i
            for i in self._query_prefix(keys.customer_pk(shop, customer_id), "")
            if i.get("sk") != keys.PROFILE_SK
        ]
        order_ids = {
            *event.order_ids,
            *(old.recent_order_ids if old else []),
            *(x for x in ((old.last_order_id, old.prev_order_id) if old else ()) if x),
        }
        for order_id in sorted(order_ids):
            for item in self._query_prefix(keys.order_pk(shop, order_id), ""):
                items.append(item)
                token = item.get("checkout_token")
                if item.get("sk") == keys.ORDER_SK and token:
                    checkout = self._get(keys.checkout_key(shop, str(token)))
                    if checkout:
                        items.append(checkout)
        for item in items:
            names = personal_attributes(item)
            if names:
                self._table.update_item(
                    Key={"pk": item["pk"], "sk": item["sk"]},
                    UpdateExpression="REMOVE " + ", ".join(f"#a{n}" for n in range(len(names))),
                    ExpressionAttributeNames={f"#a{n}": name for n, name in enumerate(names)},
                )
                out.written.append("personal_attributes_removed")

    def _record_privacy_request(self, event: Any, out: Outcome) -> None:
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
        try:
            self._table.put_item(
                Item=to_item(request, keys.privacy_request_key(event.shop, event.event_id)),
                ConditionExpression="attribute_not_exists(pk)",
            )
            out.written.append("privacy_request")
        except Exception as exc:
            if not _is_conflict(exc):
                raise

    def _fill_fulfillment_customers(self, shop: str, order_id: str, customer_id: str, out: Outcome) -> None:
        """A fulfillment that arrived before its order gets the order's customer once the order is recorded."""
        from boto3.dynamodb.conditions import Key  # deferred: only needed on a newly recorded order

        resp = self._table.query(
            KeyConditionExpression=Key("pk").eq(keys.order_pk(shop, order_id))
            & Key("sk").begins_with(keys.FULFILLMENT_SK_PREFIX),
            ConsistentRead=True,
        )
        for raw in resp.get("Items", []):
            if raw.get("customer_id"):
                continue
            item = FulfillmentItem.model_validate(raw).model_copy(update={"customer_id": customer_id})
            if self._put_item(to_item(item, {"pk": raw["pk"], "sk": raw["sk"]}), raw):
                out.written.append("fulfillment")

    def _attribute(
        self, event: ev.OrderPlaced, customer_id: str, attributed: Attribution, out: Outcome
    ) -> None:
        """Credit the message record with the conversion (only if the record exists; the first order wins)."""
        try:
            resp = self._table.update_item(
                Key=keys.message_key(event.shop, customer_id, attributed.message_key),
                UpdateExpression="SET converted_at = :c, order_id = :o, revenue = :r",
                ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(converted_at) OR order_id = :o)",
                ExpressionAttributeValues={
                    ":c": iso(event.placed_at),
                    ":o": event.order_id,
                    ":r": event.total,
                },
                ReturnValues="UPDATED_OLD",
            )
            out.written.append("message_attribution")
            if "converted_at" not in (resp.get("Attributes") or {}):  # a redelivery credits nothing twice
                out.conversion = (attributed.sequence, float(event.total))
        except Exception as exc:
            if not _is_conflict(exc):
                raise

    def _keep_wording(self, shop: str, ref: str, text: str, at: datetime) -> None:
        """Store a consent wording once (content-addressed); remembered per container so it is read once."""
        if ref in self._wordings:
            return
        key = keys.consent_wording_key(shop, ref)
        if self._get(key) is None:
            try:
                self._table.put_item(
                    Item={**key, "text": text, "first_seen_at": iso(at)},
                    ConditionExpression="attribute_not_exists(pk)",
                )
            except Exception as exc:
                if not _is_conflict(exc):
                    raise
        self._wordings.add(ref)

    def wording(self, shop: str, ref: str) -> str | None:
        """The text behind a consent's wording reference (for disclosure requests)."""
        item = self._get(keys.consent_wording_key(shop, ref))
        return str(item["text"]) if item else None

    # ------------------------------------------------------------ reads

    def _get(self, key: Mapping[str, str]) -> dict[str, Any] | None:
        resp = self._table.get_item(Key=dict(key), ConsistentRead=True)
        return resp.get("Item")
