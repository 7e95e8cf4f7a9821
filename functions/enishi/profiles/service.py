"""The profile consumer's application service: read → plan (pure) → execute, for one canonical event.

``ProfileService.handle(event)``:

1. **read** through the ``ProfileRepository`` port what the event's planner needs (``ROUTES``: event type →
   (reader, planner)). The customer is resolved here: the event's customer (a guest event goes to the real
   customer its email already points to); an event without one (fulfillment, cancellation) through its order
   item; a LINE event through the LINE lookup. A profile with ``merged_into`` is followed once.
2. **plan** with the pure planner (``planners.py``): the new state and a ``WritePlan`` (items, conditions, events
   to publish, in a crash-safe order).
3. **execute** the plan through the port (the DynamoDB adapter, ``dynamo.py``). A conditional write that loses a
   race raises ``WriteConflict``: the event is read, planned and executed again (at most ``max_attempts`` times).

Nothing here imports boto3; logs and errors carry ids, never PII.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from enishi import clock, keys
from enishi import constants as c
from enishi import events as ev
from enishi.attribution import AttributionWindows
from enishi.profiles import apply as logic
from enishi.profiles import planners as p
from enishi.profiles.layout import Item, profile_from_item
from enishi.profiles.plan import Outcome, Step, Touched, WriteConflict, WritePlan, outcome, put_once
from enishi.profiles.serialize import iso

MAX_ATTEMPTS = 5
# the touch-time filter of the message records read for attribution is this much wider than the windows (stored
# times sort as text; an SES time with fractions of a second sorts a little off)
TOUCH_FILTER_MARGIN = timedelta(minutes=1)


class TooManyConflicts(Exception):
    """Still conflicting after MAX_ATTEMPTS: raised so the message is retried (and ends in the DLQ)."""


class ProfileRepository(Protocol):
    """The port: consistent reads of the table, and the execution of a plan's steps in order. ``execute`` returns
    the steps that took effect (a skipped put-once or conditional update is not among them) and raises
    ``WriteConflict`` when a put with ``on_conflict="retry"`` loses its race."""

    def get(self, key: Mapping[str, str]) -> Item | None: ...

    def query(self, pk: str, prefix: str = "", *, touched: Touched | None = None) -> list[Item]: ...

    def execute(self, steps: Sequence[Step]) -> list[Step]: ...


Reader = Callable[["ProfileService", Any], p.Reads]
Planner = Callable[[Any, p.Reads, p.Policy], WritePlan]


class ProfileService:
    def __init__(
        self,
        repository: ProfileRepository,
        *,
        stages: Any | None = None,
        attribution: AttributionWindows | None = None,
        max_attempts: int = MAX_ATTEMPTS,
        now: Callable[[], datetime] = clock.now,
    ) -> None:
        self._repo = repository
        self._stages = logic.thresholds(stages)
        self._attribution = attribution or AttributionWindows()
        self._max_attempts = max_attempts
        self._now = now
        self._wordings: set[str] = set()  # consent wordings known to be stored (read once per container)

    # ------------------------------------------------------------ entry point

    def handle(self, event: Any) -> Outcome:
        for attempt in range(1, self._max_attempts + 1):
            try:
                result = self._handle_once(event)
            except WriteConflict:
                continue
            result.attempts = attempt
            return result
        raise TooManyConflicts(f"{event.type} {event.event_id}: {self._max_attempts} write conflicts")

    def _handle_once(self, event: Any) -> Outcome:
        event, wordings = logic.externalize_wording(event)
        self._keep_wordings(event, wordings)
        plan = self.plan(event)
        return outcome(event.type, plan, self._repo.execute(plan.steps))

    def plan(self, event: Any) -> WritePlan:
        """The reads and the pure plan of one event; nothing is written (the wording steps are ``handle``'s)."""
        event, _ = logic.externalize_wording(event)  # a no-op when ``handle`` already did it
        read, planner = ROUTES.get(event.type, DEFAULT_ROUTE)
        policy = p.Policy(stages=self._stages, attribution=self._attribution, now=self._now())
        return planner(event, read(self, event), policy)

    def _keep_wordings(self, event: Any, wordings: Mapping[str, str]) -> None:
        """Store a consent wording once (content-addressed); remembered per container so it is read once."""
        fresh = {ref: text for ref, text in wordings.items() if ref not in self._wordings}
        if not fresh:
            return
        self._repo.execute(
            [
                put_once(
                    {
                        **keys.consent_wording_key(event.shop, ref),
                        "text": text,
                        "first_seen_at": iso(event.occurred_at),
                    },
                    read_first=True,
                )
                for ref, text in fresh.items()
            ]
        )
        self._wordings.update(fresh)

    # ------------------------------------------------------------ reads for callers

    def wording(self, shop: str, ref: str) -> str | None:
        """The text behind a consent's wording reference (for disclosure requests)."""
        item = self._repo.get(keys.consent_wording_key(shop, ref))
        return str(item["text"]) if item else None

    def consent_ledger(self, shop: str, customer_id: str) -> list[Item]:
        """A customer's consent records, oldest first (disclosure requests, audits; the profile's state derives from
        them: ``enishi.consent.derive``)."""
        return self._repo.query(keys.customer_pk(shop, customer_id), keys.CONSENT_SK_PREFIX)

    # ------------------------------------------------------------ resolution

    def resolve(self, shop: str, ref: ev.CustomerRef) -> p.Target:
        """The profile an event naming ``ref`` applies to: a guest whose email already belongs to a customer is that
        customer; a customer whose email has an unmerged guest twin merges it."""
        email_hash = keys.email_hash(ref.email) if ref.email else None
        lookup = self._repo.get(keys.email_lookup_key(shop, email_hash)) if email_hash else None
        looked_up = lookup.get("customer_id") if lookup else None
        if ref.guest or (ref.email is not None and ref.customer_id == keys.guest_customer_id(ref.email)):
            return self.follow(shop, looked_up or ref.customer_id)
        target = self.follow(shop, ref.customer_id)
        if email_hash is None or looked_up == target.customer_id:
            return target
        customer_id = target.customer_id or ref.customer_id
        guest_id = keys.guest_customer_id(ref.email or "")
        guest_raw = (
            self._repo.get(keys.profile_key(shop, guest_id)) if guest_id != target.customer_id else None
        )
        if not guest_raw or guest_raw.get("merged_into"):
            return p.Target(target.customer_id, target.raw, email_lookup=(email_hash, customer_id))
        return p.Target(
            target.customer_id,
            target.raw,
            guest_raw=guest_raw,
            guest_ledger=tuple(self.consent_ledger(shop, guest_id)),
            email_lookup=(email_hash, customer_id),
        )

    def follow(self, shop: str, customer_id: str | None) -> p.Target:
        """Read a profile, following ``merged_into`` once."""
        if customer_id is None:
            return p.Target(None)
        raw = self._repo.get(keys.profile_key(shop, customer_id))
        if raw and raw.get("merged_into"):
            customer_id = str(raw["merged_into"])
            raw = self._repo.get(keys.profile_key(shop, customer_id))
        return p.Target(customer_id, raw)

    def resolve_or_follow(self, shop: str, ref: ev.CustomerRef | None, customer_id: Any) -> p.Target:
        """The event's customer when it names one, else the customer an item it touches points at."""
        if ref is not None:
            return self.resolve(shop, ref)
        return self.follow(shop, str(customer_id) if customer_id else None)

    # ------------------------------------------------------------ reads per event kind

    def read_nothing(self, event: Any) -> p.Reads:
        return p.Reads()

    def read_customer(self, event: Any) -> p.Reads:
        return p.Reads(target=self.resolve(event.shop, event.customer))

    def read_order_placed(self, event: ev.OrderPlaced) -> p.Reads:
        order_raw = self._repo.get(keys.order_key(event.shop, event.order_id))
        order = p.order_of(order_raw)
        fulfillments: list[Item] = []
        if p.records_order(order):
            fulfillments = self._repo.query(
                keys.order_pk(event.shop, event.order_id), keys.FULFILLMENT_SK_PREFIX
            )
        target = self.resolve(event.shop, event.customer)
        return p.Reads(
            target=target,
            order_raw=order_raw,
            fulfillments=tuple(fulfillments),
            messages=self.messages(event.shop, target, event.placed_at) if p.records_order(order) else (),
        )

    def read_order_cancelled(self, event: ev.OrderCancelled) -> p.Reads:
        order_raw = self._repo.get(keys.order_key(event.shop, event.order_id))
        owner = order_raw.get("customer_id") if order_raw else None
        return p.Reads(target=self.resolve_or_follow(event.shop, event.customer, owner), order_raw=order_raw)

    def read_fulfillment(self, event: ev.FulfillmentUpdated) -> p.Reads:
        customer_id = event.customer.customer_id if event.customer is not None else None
        if customer_id is None:
            order_raw = self._repo.get(keys.order_key(event.shop, event.order_id))
            customer_id = order_raw.get("customer_id") if order_raw else None
        key = keys.fulfillment_key(event.shop, event.order_id, event.fulfillment_id)
        return p.Reads(item_raw=self._repo.get(key), customer_id=customer_id)

    def read_checkout(self, event: ev.CheckoutUpdated) -> p.Reads:
        raw = self._repo.get(keys.checkout_key(event.shop, event.checkout_token))
        completes = p.completes(event, p.checkout_of(raw))
        completed_at = event.completed_at or event.occurred_at
        if event.customer is not None:
            target = self.resolve(event.shop, event.customer)
            messages = self.messages(event.shop, target, completed_at) if completes else ()
            return p.Reads(target=target, item_raw=raw, messages=messages)
        owner = raw.get("customer_id") if raw else None
        profile = None
        messages = ()
        if owner and completes:
            followed = self.follow(event.shop, owner)
            profile = profile_from_item(followed.raw) if followed.raw else None
            messages = self.messages(event.shop, followed, completed_at)
        return p.Reads(target=p.Target(owner), item_raw=raw, profile=profile, messages=messages)

    def messages(self, shop: str, target: p.Target, at: datetime) -> tuple[tuple[str, Item], ...]:
        """The message records that can earn an order at ``at`` (``apply.attribution``): of the customer and of
        the guests merged into it (now or before), with a touch (sent, opened, clicked) within the longest
        window. Message keys do not sort by time (``keys.sequence_message_key``), so this is one Query of each
        partition's ``MSG#`` range, filtered by touch time and projected to ``apply.MESSAGE_FIELDS``."""
        since = logic.attribution_since(at, self._attribution) - TOUCH_FILTER_MARGIN
        touched = Touched(clock.iso_z(since), logic.MESSAGE_TOUCH_TIMES, logic.MESSAGE_FIELDS)
        return tuple(
            (owner, item)
            for owner in message_owners(target)
            for item in self._repo.query(keys.customer_pk(shop, owner), keys.MSG_SK_PREFIX, touched=touched)
        )

    def read_line(self, event: ev.LineIdentityChanged) -> p.Reads:
        lookup = self._repo.get(keys.line_lookup_key(event.shop, event.line_user_id))
        owner = lookup.get("customer_id") if lookup else None
        return p.Reads(target=self.resolve_or_follow(event.shop, event.customer, owner), item_raw=lookup)

    def read_redaction(self, event: ev.CustomerRedactRequested) -> p.Reads:
        target = self.resolve(event.shop, event.customer)
        return p.Reads(target=target, erasure=self._erasure(event, target))

    def _erasure(self, event: ev.CustomerRedactRequested, target: p.Target) -> p.Erasure:
        shop, customer_id = event.shop, target.customer_id
        old = profile_from_item(target.raw) if target.raw else None
        partition: list[Item] = []
        orders: list[Item] = []
        if customer_id is not None:
            partition = self._repo.query(keys.customer_pk(shop, customer_id))
            for order_id in p.erasure_order_ids(event, old):
                orders += self._order_partition(shop, order_id)
        line_lookup = None
        if old is not None and old.line is not None:
            line_lookup = self._repo.get(keys.line_lookup_key(shop, old.line.user_id))
        guest_id = p.guest_twin_id(event, customer_id)
        guest_raw = self._repo.get(keys.profile_key(shop, guest_id)) if guest_id else None
        return p.Erasure(
            partition=tuple(partition),
            orders=tuple(orders),
            email_lookups=tuple(
                (h, self._repo.get(keys.email_lookup_key(shop, h)))
                for h in p.erasure_email_hashes(event, old)
            ),
            line_lookup=line_lookup,
            guest_id=guest_id,
            guest_raw=guest_raw,
            guest_ledger=tuple(self.consent_ledger(shop, guest_id)) if guest_id and guest_raw else (),
        )

    def _order_partition(self, shop: str, order_id: str) -> list[Item]:
        """An order's items, each order item followed by its checkout (recovery URL)."""
        items: list[Item] = []
        for item in self._repo.query(keys.order_pk(shop, order_id)):
            items.append(item)
            token = item.get("checkout_token")
            if item.get("sk") == keys.ORDER_SK and token:
                checkout = self._repo.get(keys.checkout_key(shop, str(token)))
                if checkout:
                    items.append(checkout)
        return items


def message_owners(target: p.Target) -> list[str]:
    """Whose message records can earn the target's orders: the customer, the guest twin this event merges, the
    guests merged before (``Profile.merged_from``)."""
    owners: list[str] = []
    merged: Iterable[Any] = target.raw.get("merged_from") or () if target.raw else ()
    guest = target.guest_raw.get("customer_id") if target.guest_raw else None
    for owner in (target.customer_id, guest, *merged):
        if owner and str(owner) not in owners:
            owners.append(str(owner))
    return owners


# event type → (what to read, how to plan), as ``carts/shopify.TOPICS``; a type not listed changes the profile only
ROUTES: dict[str, tuple[Reader, Planner]] = {
    c.CUSTOMER_UPSERTED: (ProfileService.read_customer, p.plan_profile),
    c.CONSENT_CHANGED: (ProfileService.read_customer, p.plan_profile),
    c.SUPPRESSION_CHANGED: (ProfileService.read_customer, p.plan_profile),
    c.ORDER_PLACED: (ProfileService.read_order_placed, p.plan_order_placed),
    c.ORDER_CANCELLED: (ProfileService.read_order_cancelled, p.plan_order_cancelled),
    c.ORDER_RECORDED: (ProfileService.read_nothing, p.plan_nothing),  # our own derived event
    c.FULFILLMENT_UPDATED: (ProfileService.read_fulfillment, p.plan_fulfillment),
    c.CHECKOUT_UPDATED: (ProfileService.read_checkout, p.plan_checkout),
    c.LINE_IDENTITY_CHANGED: (ProfileService.read_line, p.plan_line),
    c.CUSTOMER_REDACT_REQUESTED: (ProfileService.read_redaction, p.plan_redaction),
    c.CUSTOMER_DATA_REQUESTED: (ProfileService.read_customer, p.plan_data_request),
    c.SHOP_REDACT_REQUESTED: (ProfileService.read_nothing, p.plan_shop_redaction),
}
DEFAULT_ROUTE: tuple[Reader, Planner] = (ProfileService.read_customer, p.plan_profile)
