"""A seeded, reproducible sample shop: customers who sign up, browse, abandon carts, buy, come back, unsubscribe.

The simulation is an agent model on a virtual timeline. Every customer action becomes an outgoing request (a signed
Shopify webhook, a LINE webhook, a click on an unsubscribe link, an SES bounce) with its virtual time; the driver
(``driver.py``) advances the local stack's clock to that time, lets it settle and sends the request over HTTP.

Customers also *react to what enishi sends them*: the driver hands every message that left the local outbox to
``on_message`` at the virtual time it was seen, and the customer may then come back to an abandoned checkout
(cart-recovery reminders), place a second order sooner (the welcome F2 nudge), return after a win-back, or
unsubscribe through the link in the mail. So the report shows the sequences' effect against the customers' own
base behaviour, and two runs with the same seed give the same shop.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import json
import math
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal

from enishi import keys
from enishi.clock import JST

from . import webhooks as wh
from .people import BOUNCE_DOMAIN, Person, make_person


@dataclass(frozen=True)
class SimConfig:
    customers: int = 500
    days: int = 180
    seed: int = 7
    start: datetime = datetime(2026, 1, 5, 0, 0, tzinfo=JST)  # a Monday
    # who they are
    p_signup: float = 0.45  # creates an account first (customers/create)
    p_consent_signup: float = 0.65  # of sign-ups, ticks the newsletter box
    p_consent_checkout: float = 0.40  # of guest buyers, ticks it at checkout
    p_bounce_address: float = 0.02  # mistyped / dead address
    p_line: float = 0.25  # of buyers, follows the shop's LINE account and links it
    # first visit
    p_cart: float = 0.85
    p_contact: float = 0.70  # guests who get as far as entering an e-mail address
    p_complete_first: float = 0.45
    p_return_without_contact: float = 0.25
    p_natural_recover: float = 0.05  # come back to the abandoned checkout on their own
    # reactions to messages
    p_recover_after_reminder: tuple[float, float] = (0.13, 0.08)  # after the 1st / 2nd cart reminder
    p_f2_after_nudge: float = 0.10
    p_return_after_winback: float = 0.12
    p_order_after_campaign: float = 0.08  # a segment campaign (``enishi demo --campaign ID``)
    p_unsubscribe_per_marketing_mail: float = 0.012
    p_open: float = 0.42
    p_click_if_open: float = 0.22
    p_line_link_click: float = (
        0.15  # a LINE message's link tapped (own random stream: other draws stay as they were)
    )
    # a customer who acts on a message mostly does it through the message's link (the cart link, the product
    # link): a tap of its first tracked link a few minutes after reading, before the order (own random stream).
    # The rest come back on their own (typed the shop's address, searched): real, but no touch to credit.
    p_click_when_acting: float = 0.8
    # repeat purchase: probability of another order after the n-th, and the gap (log-normal, days)
    p_repeat: tuple[float, ...] = (0.24, 0.40, 0.55, 0.62)
    repeat_gap_median_days: float = 38.0
    repeat_gap_sigma: float = 0.55
    p_abandon_repeat: float = 0.22
    p_cancel: float = 0.03
    p_duplicate_delivery: float = 0.03
    sample_every_days: int = 7

    @classmethod
    def small(cls, seed: int = 7, **overrides: Any) -> SimConfig:
        """Tens of customers over a few weeks: for the end-to-end test (runs in well under a minute)."""
        base: dict[str, Any] = {
            "customers": 40,
            "days": 21,
            "seed": seed,
            "p_line": 0.35,
            "p_bounce_address": 0.06,
            "p_unsubscribe_per_marketing_mail": 0.06,
            "p_repeat": (0.45, 0.5, 0.6, 0.6),
            "repeat_gap_median_days": 6.0,
        }
        base.update(overrides)
        return cls(**base)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)


# ---- what leaves the simulation


@dataclass
class ShopifyPost:
    at: datetime
    delivery: wh.Delivery
    customer_id: int
    kind: Literal["shopify"] = "shopify"


@dataclass
class LinePost:
    at: datetime
    body: dict[str, Any]
    customer_id: int
    link_nonce: str | None = None  # accountLink: the nonce the shop's login page issued for this customer
    kind: Literal["line"] = "line"


@dataclass
class UnsubscribeClick:
    at: datetime
    url: str
    customer_id: int
    kind: Literal["unsubscribe"] = "unsubscribe"


@dataclass
class SesFeedback:
    """An SES event about one sent e-mail: Bounce / Delivery / Open / Click (through the stack's feedback path)."""

    at: datetime
    event_type: Literal["Bounce", "Delivery", "Open", "Click"]
    message: Any  # the outbox entry (SentMessage)
    customer_id: int
    kind: Literal["ses"] = "ses"


@dataclass
class LinkClick:
    """A customer taps a tracked link (``/r/{token}``) in a message (LINE reports no clicks: the redirect does)."""

    at: datetime
    url: str
    customer_id: int
    kind: Literal["link_click"] = "link_click"
    channel: str = "line"


Outgoing = ShopifyPost | LinePost | UnsubscribeClick | SesFeedback | LinkClick

_TRACKED_LINK = re.compile(r"https?://[^\s\"'<>]+/r/c1\.[A-Za-z0-9_\-.]+")


def tracked_links(raw: Any) -> list[str]:
    """The tracked links (``/r/{token}``) in a sent message's raw body, in order."""
    return _TRACKED_LINK.findall(json.dumps(raw, ensure_ascii=False, default=str))


@dataclass
class SentMessage:
    """One message that left enishi, normalised from the local outbox."""

    channel: str  # email | line
    recipient: str  # e-mail address or LINE userId
    sequence: str
    step: str
    sent_at: datetime
    message_key: str | None = None
    provider_message_id: str | None = None
    marketing: bool | None = None
    unsubscribe_url: str | None = None
    subject: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


# ---- the shop's people and things


@dataclass
class SimCustomer:
    id: int
    person: Person
    arrives_at: datetime
    bounce: bool
    signed_up: bool = False
    known: bool = False  # a Shopify customer record exists (sign-up or first order)
    created_at: datetime | None = None
    consent_state: str = "not_subscribed"
    consent_at: datetime | None = None
    orders: list[SimOrder] = field(default_factory=list)
    line_user_id: str | None = None
    line_linked_at: datetime | None = None
    unsubscribed_at: datetime | None = None
    bounced_at: datetime | None = None
    next_order_at: datetime | None = None
    nudged: bool = False  # placed an order because of the welcome F2 nudge
    won_back: bool = False
    open_checkout: SimCheckout | None = None

    @property
    def spent(self) -> Decimal:
        return sum((o.total for o in self.orders if not o.cancelled), Decimal(0))

    @property
    def order_count(self) -> int:
        return sum(1 for o in self.orders if not o.cancelled)


@dataclass
class SimCheckout:
    id: int
    token: str
    cart_token: str
    key: str
    customer: SimCustomer
    items: list[dict[str, Any]]
    created_at: datetime
    shop_numeric_id: int
    with_contact: bool
    completed: bool = False
    recovered_by: str | None = None  # "reminder" | "self" | None
    reminders_seen: int = 0


@dataclass
class SimOrder:
    id: int
    number: int
    token: str
    customer: SimCustomer
    items: list[dict[str, Any]]
    placed_at: datetime
    total: Decimal
    checkout_id: int | None
    checkout_token: str | None
    cart_token: str | None
    cause: str = "organic"  # organic | cart_reminder | cart_self | f2_nudge | winback
    cancelled: bool = False
    fulfillment_id: int = 0
    carrier: str = ""
    tracking_number: str = ""
    tracking_url: str = ""
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None


Action = Callable[[datetime], None]

# evening-heavy shopping hours (JST), weights per hour 0..23
SHOPPING_HOURS = (
    1,
    0.5,
    0.2,
    0.1,
    0.1,
    0.2,
    0.6,
    1.2,
    2,
    2.5,
    3,
    3.2,
    4.5,
    4,
    3,
    3,
    3.2,
    3.5,
    4,
    5,
    6.5,
    7,
    6,
    3.5,
)


class ShopSimulation:
    """The sample shop. ``pop_due`` / ``run`` drive it; ``on_message`` lets customers react to enishi's messages."""

    def __init__(
        self,
        cfg: SimConfig,
        catalog: list[dict[str, Any]],
        shop_domain: str,
        free_shipping_threshold: int = 5000,
        shipping_fee: int = 550,
    ) -> None:
        self.cfg = cfg
        self.catalog = catalog
        self.shop_domain = shop_domain
        self.free_threshold = free_shipping_threshold
        self.fee = shipping_fee
        self.rng = random.Random(cfg.seed)
        self.click_rng = random.Random(f"{cfg.seed}/line-clicks")
        self.act_rng = random.Random(f"{cfg.seed}/acting-clicks")
        self._heap: list[tuple[datetime, int, Action]] = []
        self._seq = itertools.count()
        self.outgoing: list[Outgoing] = []  # filled by actions, drained by the driver
        self.customers: list[SimCustomer] = []
        self.by_email: dict[str, SimCustomer] = {}
        self.by_line: dict[str, SimCustomer] = {}
        self.checkouts: list[SimCheckout] = []
        self.orders: list[SimOrder] = []
        self._ids = {
            "checkout": itertools.count(33_000_000_001),
            "order": itertools.count(5_100_000_001),
            "number": itertools.count(1001),
            "fulfillment": itertools.count(4_400_000_001),
        }
        self.deliveries = 0
        self.duplicates = 0
        self._populate()

    # ---- scheduling

    def at(self, t: datetime, action: Action) -> None:
        if t < self.cfg.end:
            heapq.heappush(self._heap, (t, next(self._seq), action))

    def next_time(self) -> datetime | None:
        return self._heap[0][0] if self._heap else None

    def pop_due(self, until: datetime) -> Iterator[tuple[datetime, Action]]:
        """Actions whose time is ≤ ``until``, in time order (actions may schedule new ones inside the window)."""
        while self._heap and self._heap[0][0] <= until:
            t, _, action = heapq.heappop(self._heap)
            yield t, action

    def drain_outgoing(self) -> list[Outgoing]:
        out, self.outgoing = self.outgoing, []
        return out

    # ---- population

    def _populate(self) -> None:
        cfg, rng = self.cfg, self.rng
        last_day = max(cfg.days - 3, 1)
        for i in range(cfg.customers):
            bounce = rng.random() < cfg.p_bounce_address
            person = make_person(rng, i + 1, bounce=bounce)
            day = int(last_day * (rng.random() ** 0.85))  # the shop grows: slightly more arrivals later
            arrives = self._time_on(cfg.start + timedelta(days=day))
            cust = SimCustomer(id=7_200_000_001 + i, person=person, arrives_at=arrives, bounce=bounce)
            self.customers.append(cust)
            self.by_email[person.email] = cust
            self.at(arrives, functools.partial(self._arrive, cust))

    def _time_on(self, day: datetime) -> datetime:
        hour = self.rng.choices(range(24), weights=SHOPPING_HOURS)[0]
        base = datetime.combine(day.astimezone(JST).date(), time(hour), tzinfo=JST)
        return base + timedelta(seconds=self.rng.randrange(3600))

    def _uuid(self) -> str:
        return wh.rand_uuid(self.rng)

    def _hex(self, n: int = 32) -> str:
        return f"{self.rng.getrandbits(n * 4):0{n}x}"

    # ---- sending

    def _post(self, at: datetime, topic: str, body: dict[str, Any], cust: SimCustomer) -> None:
        delivery = wh.Delivery(
            at=at,
            path="/webhooks/shopify",
            topic=topic,
            body=body,
            event_id=self._uuid(),
            webhook_id=self._uuid(),
        )
        self.outgoing.append(ShopifyPost(at=at, delivery=delivery, customer_id=cust.id))
        self.deliveries += 1
        if self.rng.random() < self.cfg.p_duplicate_delivery:  # Shopify delivers at least once
            again = wh.Delivery(
                at=at,
                path=delivery.path,
                topic=topic,
                body=body,
                event_id=delivery.event_id,
                webhook_id=self._uuid(),
                raw=delivery.encode(),
            )
            when = at + timedelta(seconds=self.rng.randint(5, 900))
            self.at(when, functools.partial(self._redeliver, again, cust))

    def _redeliver(self, delivery: wh.Delivery, cust: SimCustomer, now: datetime) -> None:
        self.outgoing.append(ShopifyPost(at=now, delivery=delivery, customer_id=cust.id))
        self.duplicates += 1

    # ---- behaviour

    def _pick_items(self) -> list[dict[str, Any]]:
        rng = self.rng
        n = rng.choices((1, 2, 3), weights=(55, 32, 13))[0]
        picks = rng.sample(self.catalog, k=min(n, len(self.catalog)))
        return [
            {
                "id": str(p["id"]),
                "title": p["title"],
                "price": int(p["price"]),
                "category": p.get("category"),
                "quantity": rng.choices((1, 2, 3), weights=(78, 17, 5))[0],
            }
            for p in picks
        ]

    def _sign_up(self, cust: SimCustomer, now: datetime, consent_p: float) -> None:
        cust.signed_up = True
        cust.known = True
        cust.created_at = now
        if self.rng.random() < consent_p:
            cust.consent_state, cust.consent_at = "subscribed", now
        self._post(now, "customers/create", wh.customer_resource(cust, now), cust)

    def _arrive(self, cust: SimCustomer, now: datetime) -> None:
        cfg, rng = self.cfg, self.rng
        if rng.random() < cfg.p_signup:
            self._sign_up(cust, now, cfg.p_consent_signup)
            now += timedelta(minutes=rng.randint(1, 10))
        if rng.random() >= cfg.p_cart:
            if rng.random() < 0.3:  # a lead who comes back to shop later
                self.at(
                    self._time_on(now + timedelta(days=rng.randint(3, 40))), lambda t: self._shop(cust, t)
                )
            return
        self._shop(cust, now)

    def _shop(self, cust: SimCustomer, now: datetime, cause: str = "organic") -> None:
        """One shopping session: a checkout, with or without contact, completed or abandoned."""
        cfg, rng = self.cfg, self.rng
        if cust.unsubscribed_at and rng.random() < 0.5:
            return
        with_contact = cust.known or rng.random() < cfg.p_contact
        co = SimCheckout(
            id=next(self._ids["checkout"]),
            token=self._hex(),
            cart_token=self._hex(),
            key=self._hex(),
            customer=cust,
            items=self._pick_items(),
            created_at=now,
            shop_numeric_id=61_000_001,
            with_contact=with_contact,
        )
        self.checkouts.append(co)
        self._post(now, "checkouts/create", self._checkout_body(co, now), cust)
        if not with_contact:  # a browsing cart: no address to remind, nothing to recover
            if rng.random() < cfg.p_return_without_contact:
                self.at(
                    self._time_on(now + timedelta(days=rng.randint(1, 20))), lambda t: self._shop(cust, t)
                )
            return
        upd = now + timedelta(minutes=rng.randint(2, 8))
        self.at(upd, lambda t: self._post(t, "checkouts/update", self._checkout_body(co, t), cust))
        first = cust.order_count == 0
        p_complete = cfg.p_complete_first if first else 1 - cfg.p_abandon_repeat
        if rng.random() < p_complete:
            self.at(upd + timedelta(minutes=rng.randint(3, 15)), lambda t: self._complete(co, t, cause))
            return
        cust.open_checkout = co  # abandoned: enishi should start cart recovery
        if rng.random() < cfg.p_natural_recover:
            back = now + timedelta(hours=rng.uniform(2, 96))
            self.at(back, lambda t: self._complete(co, t, "cart_self"))

    def _checkout_body(self, co: SimCheckout, now: datetime, completed: bool = False) -> dict[str, Any]:
        return wh.checkout_resource(
            self.shop_domain,
            co,
            now,
            with_contact=co.with_contact,
            completed_at=now if completed else None,
            free_threshold=self.free_threshold,
            fee=self.fee,
        )

    def _complete(self, co: SimCheckout, now: datetime, cause: str) -> None:
        if co.completed:
            return
        co.completed = True
        cust = co.customer
        if cust.open_checkout is co:
            cust.open_checkout = None
        if cause.startswith("cart_"):
            co.recovered_by = "reminder" if cause == "cart_reminder" else "self"
        if not cust.known:  # Shopify creates the customer record at checkout
            cust.known = True
            cust.created_at = now
            if self.rng.random() < self.cfg.p_consent_checkout:
                cust.consent_state, cust.consent_at = "subscribed", now
            self._post(now, "customers/create", wh.customer_resource(cust, now), cust)
        _, _, total, _ = wh.totals(co.items, self.free_threshold, self.fee)
        order = SimOrder(
            id=next(self._ids["order"]),
            number=next(self._ids["number"]),
            token=self._hex(),
            customer=cust,
            items=co.items,
            placed_at=now,
            total=total,
            checkout_id=co.id,
            checkout_token=co.token,
            cart_token=co.cart_token,
            cause=cause,
        )
        cust.orders.append(order)
        cust.next_order_at = None
        self.orders.append(order)
        self._post(
            now,
            "orders/create",
            wh.order_resource(self.shop_domain, order, now, self.free_threshold, self.fee),
            cust,
        )
        self.at(
            now + timedelta(seconds=self.rng.randint(5, 60)),
            lambda t: self._post(t, "checkouts/update", self._checkout_body(co, t, completed=True), cust),
        )
        rng = self.rng
        if rng.random() < self.cfg.p_cancel:
            self.at(now + timedelta(hours=rng.uniform(1, 10)), lambda t: self._cancel(order, t))
        else:
            day = (now + timedelta(days=rng.randint(1, 2))).astimezone(JST).date()
            ship = datetime.combine(day, time(rng.randint(10, 16), rng.randrange(60)), tzinfo=JST)
            self.at(ship, lambda t: self._ship(order, t))
        if cust.line_user_id is None and rng.random() < self.cfg.p_line:
            self.at(now + timedelta(hours=rng.uniform(0.2, 72)), lambda t: self._link_line(cust, t))
        self._plan_next_order(cust, now)

    def _plan_next_order(self, cust: SimCustomer, now: datetime) -> None:
        cfg, rng = self.cfg, self.rng
        n = cust.order_count
        p = cfg.p_repeat[min(n, len(cfg.p_repeat)) - 1] if n else 0
        if rng.random() >= p:
            return
        gap = rng.lognormvariate(math.log(cfg.repeat_gap_median_days), cfg.repeat_gap_sigma)
        when = self._time_on(now + timedelta(days=max(gap, 1.0)))
        self._plan_order_at(cust, when, "organic")

    def _plan_order_at(self, cust: SimCustomer, when: datetime, cause: str) -> None:
        cust.next_order_at = when

        def go(t: datetime) -> None:
            if cust.next_order_at == when:  # not overtaken by an earlier order
                self._shop(cust, t, cause)

        self.at(when, go)

    def _cancel(self, order: SimOrder, now: datetime) -> None:
        order.cancelled = True
        body = wh.order_resource(
            self.shop_domain, order, now, self.free_threshold, self.fee, cancelled_at=now
        )
        self._post(now, "orders/cancelled", body, order.customer)

    def _ship(self, order: SimOrder, now: datetime) -> None:
        rng = self.rng
        carrier, url = rng.choices(wh.CARRIERS, weights=(55, 25, 20))[0]
        number = f"{rng.randrange(10**11, 10**12)}"
        order.fulfillment_id = next(self._ids["fulfillment"])
        order.carrier, order.tracking_number, order.tracking_url = carrier, number, url.format(n=number)
        order.shipped_at = now
        self._post(
            now,
            "fulfillments/create",
            wh.fulfillment_resource(order, now, shipment_status="in_transit"),
            order.customer,
        )
        day = (now + timedelta(days=rng.randint(1, 3))).astimezone(JST).date()
        delivered = datetime.combine(day, time(rng.randint(9, 20), rng.randrange(60)), tzinfo=JST)
        self.at(delivered, lambda t: self._deliver(order, t))

    def _deliver(self, order: SimOrder, now: datetime) -> None:
        order.delivered_at = now
        self._post(
            now,
            "fulfillments/update",
            wh.fulfillment_resource(order, now, shipment_status="delivered"),
            order.customer,
        )

    def _link_line(self, cust: SimCustomer, now: datetime) -> None:
        """Follow the shop's LINE account, then link it to the shop account (LINE webhook follow + accountLink)."""
        cust.line_user_id = "U" + self._hex(32)
        cust.line_linked_at = now
        self.by_line[cust.line_user_id] = cust
        self.outgoing.append(LinePost(at=now, body=self._line_body(cust, now, "follow"), customer_id=cust.id))
        later = now + timedelta(seconds=self.rng.randint(20, 300))
        nonce = self._hex(43)

        def link(t: datetime) -> None:
            body = self._line_body(cust, t, "accountLink", nonce)
            self.outgoing.append(LinePost(at=t, body=body, customer_id=cust.id, link_nonce=nonce))

        self.at(later, link)

    def _line_body(self, cust: SimCustomer, now: datetime, kind: str, nonce: str = "") -> dict[str, Any]:
        event: dict[str, Any] = {
            "type": kind,
            "mode": "active",
            "timestamp": int(now.timestamp() * 1000),
            "source": {"type": "user", "userId": cust.line_user_id},
            "webhookEventId": "01" + self._hex(24).upper(),
            "deliveryContext": {"isRedelivery": False},
        }
        if kind == "follow":
            event["replyToken"] = self._hex(32)
            event["follow"] = {"isUnblocked": False}
        else:
            event["replyToken"] = self._hex(32)
            event["link"] = {"result": "ok", "nonce": nonce}
        return {"destination": "U" + "0" * 32, "events": [event]}

    # ---- reactions to what enishi sent

    def customer_for(self, msg: SentMessage) -> SimCustomer | None:
        if msg.channel == "line":
            return self.by_line.get(msg.recipient)
        return self.by_email.get(msg.recipient.strip().lower()) or self.by_email.get(msg.recipient)

    def on_message(self, msg: SentMessage, now: datetime, ses_feedback: bool = False) -> None:
        cust = self.customer_for(msg)
        if cust is None:
            return
        seen = max(now, msg.sent_at)
        if msg.channel == "email" and ses_feedback and self._ses_feedback(cust, msg, seen):
            return  # bounced
        if msg.channel == "line":
            self._maybe_tap_link(msg, seen, cust.id)
        if cust.bounce and msg.channel == "email":
            return  # never read
        reaction = _REACTIONS.get("campaign" if keys.campaign_of(msg.sequence) else msg.sequence)
        if reaction is not None:
            reaction(self, cust, msg, seen)
        self._maybe_unsubscribe(cust, msg, seen)

    def _ses_feedback(self, cust: SimCustomer, msg: SentMessage, seen: datetime) -> bool:
        """SES's events for one email (a bounce, or a delivery then perhaps an open and a click); True if it
        bounced."""
        if cust.bounce or cust.person.email.endswith("@" + BOUNCE_DOMAIN):
            cust.bounced_at = cust.bounced_at or msg.sent_at
            self.outgoing.append(SesFeedback(at=seen, event_type="Bounce", message=msg, customer_id=cust.id))
            return True
        self.outgoing.append(SesFeedback(at=seen, event_type="Delivery", message=msg, customer_id=cust.id))
        if self.rng.random() < self.cfg.p_open:
            self.outgoing.append(SesFeedback(at=seen, event_type="Open", message=msg, customer_id=cust.id))
            if self.rng.random() < self.cfg.p_click_if_open:
                self.outgoing.append(
                    SesFeedback(at=seen, event_type="Click", message=msg, customer_id=cust.id)
                )
        return False

    def _react_to_cart_reminder(self, cust: SimCustomer, msg: SentMessage, seen: datetime) -> None:
        co = cust.open_checkout
        if co is None or co.completed:
            return
        co.reminders_seen += 1
        p = self.cfg.p_recover_after_reminder[min(co.reminders_seen, 2) - 1]
        if self.rng.random() < p:
            self._tap_to_act(msg, seen, cust.id)
            self.at(
                seen + timedelta(minutes=self.rng.expovariate(1 / 180) + 5),
                lambda t: self._complete(co, t, "cart_reminder"),
            )

    def _react_to_welcome(self, cust: SimCustomer, msg: SentMessage, seen: datetime) -> None:
        if not is_f2_nudge(msg.step):
            return
        soon = seen + timedelta(days=14)
        if (
            cust.next_order_at is None or cust.next_order_at > soon
        ) and self.rng.random() < self.cfg.p_f2_after_nudge:
            cust.nudged = True
            self._tap_to_act(msg, seen, cust.id)
            self._plan_order_at(
                cust, self._time_on(seen + timedelta(days=self.rng.uniform(0.5, 6))), "f2_nudge"
            )

    def _react_to_winback(self, cust: SimCustomer, msg: SentMessage, seen: datetime) -> None:
        soon = seen + timedelta(days=14)
        if (
            cust.next_order_at is None or cust.next_order_at > soon
        ) and self.rng.random() < self.cfg.p_return_after_winback:
            cust.won_back = True
            self._tap_to_act(msg, seen, cust.id)
            self._plan_order_at(
                cust, self._time_on(seen + timedelta(days=self.rng.uniform(1, 10))), "winback"
            )

    def _react_to_campaign(self, cust: SimCustomer, msg: SentMessage, seen: datetime) -> None:
        soon = seen + timedelta(days=14)
        free = cust.next_order_at is None or cust.next_order_at > soon
        if free and self.rng.random() < self.cfg.p_order_after_campaign:
            self._tap_to_act(msg, seen, cust.id)
            self._plan_order_at(
                cust, self._time_on(seen + timedelta(days=self.rng.uniform(0.5, 7))), "campaign"
            )

    def _maybe_unsubscribe(self, cust: SimCustomer, msg: SentMessage, seen: datetime) -> None:
        """A marketing email's reader may click its unsubscribe link, a little later."""
        if (
            msg.marketing is not False
            and msg.sequence != "shipping_notice"
            and msg.channel == "email"
            and msg.unsubscribe_url
            and cust.unsubscribed_at is None
            and self.rng.random() < self.cfg.p_unsubscribe_per_marketing_mail
        ):
            click = seen + timedelta(minutes=self.rng.randint(2, 90))
            url = msg.unsubscribe_url

            def unsubscribe(t: datetime) -> None:
                cust.unsubscribed_at = t
                self.outgoing.append(UnsubscribeClick(at=t, url=url, customer_id=cust.id))

            self.at(click, unsubscribe)

    def _tap_to_act(self, msg: SentMessage, seen: datetime, customer_id: int) -> None:
        """The customer decided to act on ``msg``: most tap its link first (1–4 minutes after reading; every
        reaction's order or checkout comes at least 5 minutes after), so the click is there to credit the order."""
        found = tracked_links(msg.raw)
        if found and self.act_rng.random() < self.cfg.p_click_when_acting:
            self._tap(
                found[0], msg.channel, seen + timedelta(minutes=self.act_rng.randint(1, 4)), customer_id
            )

    def _maybe_tap_link(self, msg: SentMessage, seen: datetime, customer_id: int) -> None:
        found = tracked_links(msg.raw)
        if found and self.click_rng.random() < self.cfg.p_line_link_click:
            self._tap(
                found[0], msg.channel, seen + timedelta(minutes=self.click_rng.randint(1, 120)), customer_id
            )

    def _tap(self, url: str, channel: str, at: datetime, customer_id: int) -> None:
        """A tap of a tracked link at ``at``, from the app of the message's channel (its user agent)."""
        self.at(at, lambda t: self.outgoing.append(LinkClick(t, url, customer_id, channel=channel)))


# how a customer may answer a message of each sequence (the shop's side of the funnel)
_REACTIONS: dict[str, Callable[[ShopSimulation, SimCustomer, SentMessage, datetime], None]] = {
    "cart_recovery": ShopSimulation._react_to_cart_reminder,
    "welcome": ShopSimulation._react_to_welcome,
    "winback": ShopSimulation._react_to_winback,
    "campaign": ShopSimulation._react_to_campaign,  # a segment campaign (sequence "campaign-<id>")
}


def is_f2_nudge(step: str) -> bool:
    s = step.lower()
    return any(k in s for k in ("f2", "nudge", "second", "recommend"))
