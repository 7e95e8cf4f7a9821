"""Random interleavings for the property tests of ``test_interleavings.py`` (issue 9, suite item 1).

Three parts, each usable alone:

- **the world** (``Scenario``): what a few customers truly did, at true (virtual) times — checkouts with or without
  the marketing box ticked, orders (some paid later, konbini-style), fulfillments and deliveries, consent changes in
  Shopify, one-click unsubscribes, bounces, complaints, LINE link / unfollow / follow — and how each webhook was
  *delivered*: duplicated, delayed (hence reordered), its timestamps skewed (a few minutes fast, JST written as
  ``Z``, a null ``consent_updated_at``). ``scenarios()`` is the hypothesis strategy.
- **the executor** (``Executor``): plays a scenario against a running ``LocalStack`` over HTTP (signed webhooks,
  the one-click POST, SES events on the default bus), moving the virtual clock step by step or in jumps, and writes
  a journal: every input it posted and every message the stack sent, in the order they happened.
- **the oracle** (``check``): from the scenario and the journal's inputs alone, what must not have been sent, and
  what must have been (the shipping notice of every shipped order); plus the reflection check (every authentic
  delivery answered 2xx and reflected in the table, or refused 4xx and kept in the raw bucket).

Consent truth (DESIGN invariant 7, the lead's consent time rule): each consent is an *act* of the customer at a
true time. An act is known to enishi from the first delivery that carries it. At a send, the latest known act by
true time decides (equal times: the restrictive one); a marketing message needs it to be ``subscribed``. Timestamps
the generator skews are only ever *later* than the truth (or absent), so a correct system, which dates an
untrusted affirmative at its earliest plausible moment and an untrusted restrictive one at receipt, is never
judged on a moment it could not know. Enishi-side acts (one-click, bounces) fall 5 minutes off the Shopify grid so
that a skew of 2 minutes never swaps two acts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from enishi import keys
from enishi.clock import JST
from enishi.signatures import sign_shopify

SHOP = "enishi-demo.myshopify.com"
FOREIGN_SHOP = "another-shop.myshopify.com"  # every file in docs/examples/generic/ names a shop like this
GRID = timedelta(minutes=10)
HORIZON_SLOTS = 6 * 48  # acts within 48 h of the example's start, on a 10-minute grid
ENISHI_OFFSET = timedelta(minutes=5)  # one-click / bounce / LINE acts fall between Shopify's grid points
CAP = timedelta(hours=16)
QUIET_START, QUIET_END = 21, 9  # JST hours
TAIL = timedelta(days=8, hours=2)  # after the last act: welcome's +7 d nudge, shipping's +3 d follow-up
DELAYS = (timedelta(0), timedelta(0), timedelta(minutes=10), timedelta(hours=3), timedelta(hours=20))
SKEWS = ("none", "none", "fast_2m", "jst_as_z", "null_consent")

_ids = itertools.count(1)


# ------------------------------------------------------------------------------------------------ the world


@dataclass(frozen=True)
class Perturb:
    """How one webhook reaches enishi: after ``delay``, again after each of ``duplicates`` (same event id, a new
    webhook id), with its timestamps written per ``skew``."""

    delay: timedelta = timedelta(0)
    duplicates: tuple[timedelta, ...] = ()
    skew: str = "none"
    foreign_shop: bool = False  # signed with our secret, for a shop this deployment does not serve


@dataclass(frozen=True)
class Act:
    """Something a customer (or their mailbox, or LINE) did at ``slot`` (a grid index from the example's start)."""

    kind: (
        str  # checkout | order | paid | fulfill | delivered | shopify_consent | customer_update | one_click |
    )
    #            bounce | complaint | line_link | line_unfollow | line_follow
    slot: int
    ref: int = 0  # checkout / order index the act is about
    state: str | None = None  # shopify_consent: subscribed | unsubscribed | null
    box: bool = False  # checkout: the marketing box ticked
    perturb: Perturb = Perturb()


@dataclass(frozen=True)
class CustomerPlan:
    index: int
    consent_in_orders: bool  # pre-2025-01 style: the order's customer carries email_marketing_consent
    acts: tuple[Act, ...]


@dataclass(frozen=True)
class Scenario:
    start_hour_jst: int  # the example starts at this JST hour (quiet hours or not)
    jumps: bool  # move the clock in jumps (every wait due meanwhile runs late) instead of wake-up by wake-up
    customers: tuple[CustomerPlan, ...]

    def describe(self) -> str:
        lines = [f"start {self.start_hour_jst:02d}:00 JST, {'jumps' if self.jumps else 'steps'}"]
        for c in self.customers:
            lines.append(f" customer {c.index} (consent in orders: {c.consent_in_orders})")
            for a in sorted(c.acts, key=lambda a: a.slot):
                lines.append(
                    f"   +{a.slot * 10:5d} min {a.kind} ref={a.ref} state={a.state} box={a.box} {a.perturb}"
                )
        return "\n".join(lines)


def perturbs(
    delays: tuple[timedelta, ...] = DELAYS, skews: tuple[str, ...] = SKEWS, foreign_shop: float = 0.0
) -> st.SearchStrategy[Perturb]:
    """Per-delivery perturbations. ``delays`` of the first delivery (a late one overtakes later acts: reordering);
    duplicates may come at any of ``DELAYS`` after it; ``skews`` of the sender's clock."""
    return st.builds(
        Perturb,
        delay=st.sampled_from(delays),
        duplicates=st.lists(st.sampled_from(DELAYS[1:]), max_size=2).map(tuple),
        skew=st.sampled_from(skews),
        foreign_shop=st.booleans() if foreign_shop else st.just(False),
    )


ENISHI_KINDS = (
    "one_click",
    "resubscribe",
    "bounce",
    "complaint",
    "line_link",
    "line_unfollow",
    "line_follow",
)
EXTRA_KINDS = (
    "shopify_consent",
    "customer_update",
    "customer_update",
    "one_click",
    "one_click",
    "one_click",
    "resubscribe",
    "bounce",
    "complaint",
    "line_link",
    "line_link",
    "line_unfollow",
    "line_follow",
    "redact",
)


@st.composite
def customer_plans(
    draw: st.DrawFn, index: int, perturb: st.SearchStrategy[Perturb], consent_in_orders: bool | None = None
) -> CustomerPlan:
    acts: list[Act] = []
    used: set[int] = set()

    def slot(lo: int, hi: int = HORIZON_SLOTS) -> int:
        # distinct Shopify act times per customer: two acts at one instant would leave the order to the skew
        s = draw(st.integers(lo, max(lo + 20, hi)).filter(lambda v: v not in used))
        used.add(s)
        return s

    n_checkouts = draw(st.integers(1, 2))
    for k in range(n_checkouts):
        c_slot = slot(0, HORIZON_SLOTS - 20)
        box = draw(st.integers(0, 3)) > 0  # most buyers tick the box: the interesting cases need consent
        acts.append(Act("checkout", c_slot, ref=k, box=box, perturb=draw(perturb)))
        if draw(st.integers(0, 9)) < 7:  # most checkouts become orders
            o_slot = slot(c_slot + 1, c_slot + 12)
            acts.append(Act("order", o_slot, ref=k, perturb=draw(perturb)))
            if draw(st.booleans()):  # konbini / bank transfer: orders/paid hours later
                acts.append(Act("paid", slot(o_slot + 1, o_slot + 30), ref=k, perturb=draw(perturb)))
            if draw(st.booleans()):
                f_slot = slot(o_slot + 1, o_slot + 40)
                acts.append(Act("fulfill", f_slot, ref=k, perturb=draw(perturb)))
                if draw(st.booleans()):
                    acts.append(Act("delivered", slot(f_slot + 1, f_slot + 40), ref=k, perturb=draw(perturb)))
            if draw(st.integers(0, 5)) == 0:  # the order is cancelled (before or after it ships)
                acts.append(Act("cancel", slot(o_slot + 1, o_slot + 60), ref=k, perturb=draw(perturb)))
    anchors = sorted(a.slot for a in acts)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(EXTRA_KINDS))
        # near something the customer did (where an opt-out races a message), or anywhere in the horizon
        near = draw(st.sampled_from(anchors))
        lo, hi = draw(st.sampled_from([(near, near + 12), (0, HORIZON_SLOTS)]))
        if kind in ENISHI_KINDS:
            acts.append(Act(kind, draw(st.integers(lo, max(lo, min(hi, HORIZON_SLOTS))))))
        else:
            state = (
                draw(st.sampled_from(["subscribed", "unsubscribed", "unsubscribed", "null"]))
                if kind == "shopify_consent"
                else None
            )
            acts.append(
                Act(kind, slot(lo, max(lo, min(hi, HORIZON_SLOTS))), state=state, perturb=draw(perturb))
            )
    in_orders = draw(st.booleans()) if consent_in_orders is None else consent_in_orders
    return CustomerPlan(index=index, consent_in_orders=in_orders, acts=tuple(acts))


@st.composite
def scenarios(
    draw: st.DrawFn,
    max_customers: int = 2,
    delays: tuple[timedelta, ...] = DELAYS,
    skews: tuple[str, ...] = SKEWS,
    jumps: bool | None = None,
    foreign_shop: bool = False,
    consent_in_orders: bool | None = None,
) -> Scenario:
    """``consent_in_orders``: True — orders carry the customer's consent (before API 2025-01); False — only the
    checkout-time snapshot ``buyer_accepts_marketing``; None — either, per customer."""
    n = draw(st.integers(1, max_customers))
    perturb = perturbs(delays, skews, foreign_shop)
    return Scenario(
        start_hour_jst=draw(st.integers(0, 23)),
        jumps=draw(st.booleans()) if jumps is None else jumps,
        customers=tuple(draw(customer_plans(i, perturb, consent_in_orders)) for i in range(n)),
    )


# ------------------------------------------------------------------------------------------------ identities


@dataclass
class Customer:
    """One customer of one example: fresh ids, so examples sharing a stack never meet."""

    plan: CustomerPlan
    serial: int
    created: datetime

    @property
    def id(self) -> str:
        return str(7_300_000_000_000 + self.serial)

    @property
    def email(self) -> str:
        return f"props.{self.serial}@example.jp"

    @property
    def line_user(self) -> str:
        return "U" + hashlib.md5(self.id.encode()).hexdigest()

    def checkout_token(self, k: int) -> str:
        return hashlib.sha256(f"co-{self.id}-{k}".encode()).hexdigest()[:32]

    def order_id(self, k: int) -> str:
        return str((7_300_000_000_000 + self.serial) * 10 + k)

    def fulfillment_id(self, k: int) -> str:
        return str((7_300_000_000_000 + self.serial) * 10 + 5 + k)


# ------------------------------------------------------------------------------------------------ consent truth


@dataclass(frozen=True)
class ConsentAct:
    """A consent act at its true time: ``subscribed`` or a restrictive state."""

    id: str
    at: datetime
    state: str  # subscribed | unsubscribed | redacted | suppressed (email bounce/complaint)

    @property
    def restrictive(self) -> bool:
        return self.state != "subscribed"


def shopify_acts(c: Customer, at: Any) -> list[ConsentAct]:
    """The consent acts Shopify knows of (box ticks at checkout, consent changes made in Shopify), oldest first."""
    out = []
    for a in c.plan.acts:
        if a.kind == "checkout" and a.box:
            out.append(ConsentAct(f"{c.id}:box:{a.ref}", at(a.slot), "subscribed"))
        elif a.kind == "shopify_consent" and a.state in ("subscribed", "unsubscribed"):
            out.append(ConsentAct(f"{c.id}:shopify:{a.slot}", at(a.slot), a.state))
    return sorted(out, key=lambda x: x.at)


SKEW_OFFSET = {"fast_2m": timedelta(minutes=2), "jst_as_z": timedelta(hours=9)}
TRUST = timedelta(minutes=5)  # the lead's rule: a sender time more than 5 min after receipt is untrusted


def visible(act: ConsentAct, skew: str, received: datetime) -> ConsentAct:
    """The act as a correct enishi can date it from this delivery. A skewed time that is no later than the receipt
    (+5 min) is indistinguishable from a true one (JST-as-Z in a webhook that arrives 9 h after the consent): an
    affirmative act is then taken at the written time — the oracle never asks for more than can be known. Restrictive
    acts keep their true time (a later date only makes a system stricter)."""
    offset = SKEW_OFFSET.get(skew)
    if act.restrictive or offset is None or act.at + offset > received + TRUST:
        return act
    return ConsentAct(act.id, act.at + offset, act.state)


def shopify_view(c: Customer, at: Any, t: datetime) -> ConsentAct | None:
    """Shopify's customer.email_marketing_consent at ``t``: its latest act (enishi's one-click is not synced)."""
    acts = [x for x in shopify_acts(c, at) if x.at <= t]
    return acts[-1] if acts else None


# ------------------------------------------------------------------------------------------------ payloads


def write_time(t: datetime, skew: str) -> str:
    """A sender's timestamp: Shopify writes JST with its offset; ``jst_as_z`` writes the JST wall clock with Z."""
    local = t.astimezone(JST).replace(microsecond=0)
    if skew == "fast_2m":
        return (local + timedelta(minutes=2)).isoformat()
    if skew == "jst_as_z":
        return local.replace(tzinfo=None).isoformat() + "Z"
    return local.isoformat()


def consent_block(view: ConsentAct | None, skew: str) -> dict[str, Any]:
    if view is None:
        return {"state": "not_subscribed", "opt_in_level": None, "consent_updated_at": None}
    return {
        "state": view.state,
        "opt_in_level": "single_opt_in" if view.state == "subscribed" else None,
        "consent_updated_at": None if skew == "null_consent" else write_time(view.at, skew),
    }


ITEM = {
    "id": 1,
    "product_id": 8001,
    "variant_id": 800101,
    "title": "八女茶 煎茶 100g",
    "quantity": 1,
    "price": "1620",
    "sku": "ENS-8001",
}


def customer_block(c: Customer, t: datetime, skew: str, consent: dict[str, Any] | None) -> dict[str, Any]:
    body = {
        "id": int(c.id),
        "email": c.email,
        "first_name": "花子",
        "last_name": "縁",
        "created_at": write_time(c.created, skew),
        "updated_at": write_time(t, skew),
        "currency": "JPY",
    }
    if consent is not None:
        body["email_marketing_consent"] = consent
    return body


# ------------------------------------------------------------------------------------------------ journal


@dataclass
class Delivery:
    """One HTTP request the executor makes (a webhook delivery, a one-click POST) and its answer."""

    kind: str
    customer: Customer
    act: Act
    topic: str | None = None
    event_id: str | None = None
    acts: tuple[ConsentAct, ...] = ()  # the consent acts it tells enishi of
    status: int | None = None
    answer: dict[str, Any] = field(default_factory=dict)
    at: datetime | None = None  # when it reached enishi


@dataclass
class Journal:
    """Inputs and outputs in the order they happened (the executor settles the stack after every input)."""

    entries: list[tuple[str, Any]] = field(default_factory=list)  # ("in", Delivery) | ("out", outbox entry)

    def inputs(self) -> list[Delivery]:
        return [e for k, e in self.entries if k == "in"]

    def outputs(self) -> list[dict[str, Any]]:
        return [e for k, e in self.entries if k == "out"]


# ------------------------------------------------------------------------------------------------ executor


def http(
    method: str, url: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    req = urllib.request.Request(
        url, data=body if method == "POST" else None, method=method, headers=headers or {}
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def unsubscribe_link(message: dict[str, Any]) -> str | None:
    for name, value in (message.get("headers") or {}).items():
        if name.lower() == "list-unsubscribe":
            m = re.search(r"<(https?://[^>]+)>", str(value))
            if m:
                return m.group(1)
    return None


class Executor:
    """Plays scenarios against one running local stack (shared by the examples of a test module)."""

    def __init__(self, stack: Any) -> None:
        import boto3

        self.stack = stack
        self.table = boto3.resource("dynamodb").Table(stack.table_name)
        self._ddb = boto3.client("dynamodb")
        self._events = boto3.client("events")
        self._s3 = boto3.client("s3")
        self._read = len(stack.outbox_since(0))
        sets = boto3.client("sesv2").list_configuration_sets().get("ConfigurationSets", [])
        self._config_set = sets[0] if sets else ""
        self.raw_bucket = self._raw_bucket()

    def _raw_bucket(self) -> str | None:
        from enishi import constants as c

        for env in self.stack._environments.values():
            if env.get(c.ENV_RAW_BUCKET_NAME):
                return env[c.ENV_RAW_BUCKET_NAME]
        return None

    # ---- time
    def base_for(self, scenario: Scenario) -> datetime:
        """The example's start: the next ``start_hour_jst`` at least a day after the stack's now."""
        now = self.stack.clock.now() + timedelta(days=1)
        local = now.astimezone(JST).replace(minute=0, second=0, microsecond=0)
        local = local.replace(hour=scenario.start_hour_jst)
        if local.astimezone(UTC) < now:
            local += timedelta(days=1)
        return local.astimezone(UTC)

    def move_to(self, t: datetime, journal: Journal, jumps: bool) -> None:
        if jumps:
            self.stack.clock.advance_to(t)
            self.stack.settle()
        else:
            self.stack.advance_to(t)
        self.collect(journal)

    def collect(self, journal: Journal) -> None:
        new = self.stack.outbox_since(self._read)
        self._read += len(new)
        journal.entries += [("out", m) for m in new]

    # ---- running
    def run(self, scenario: Scenario) -> tuple[Journal, list[Customer], datetime]:
        base = self.base_for(scenario)
        at = lambda s: base + s * GRID  # noqa: E731
        customers = [
            Customer(plan, next(_ids) + 1000 * _run_salt(), base - timedelta(days=2))
            for plan in scenario.customers
        ]
        self.stack.advance_to(base - timedelta(hours=1))  # earlier examples' sequences run out first
        journal = Journal()
        self.collect(journal)
        deliveries = sorted(self._deliveries(customers, at), key=lambda d: (d[0], d[1]))
        for when, _n, make in deliveries:
            self.move_to(when, journal, scenario.jumps)
            delivery = make(journal)
            if delivery is not None:
                delivery.at = self.stack.clock.now()
                journal.entries.append(("in", delivery))
                self.stack.settle()
                self.collect(journal)
        end = (deliveries[-1][0] if deliveries else base) + TAIL
        self.move_to(end, journal, jumps=False)
        return journal, customers, end

    def _deliveries(self, customers: list[Customer], at: Any) -> list[tuple[datetime, int, Any]]:
        out: list[tuple[datetime, int, Any]] = []
        n = itertools.count()
        for c in customers:
            for act in c.plan.acts:
                t = at(act.slot)
                if act.kind in ENISHI_KINDS:
                    out.append((t + ENISHI_OFFSET, next(n), self._enishi_side(c, act)))
                    continue
                event_id = str(uuid.uuid4())
                first = t + act.perturb.delay
                for k, when in enumerate([first, *(first + d for d in act.perturb.duplicates)]):
                    out.append((when, next(n), self._webhook(c, act, t, at, event_id, k)))
        return out

    def _webhook(self, c: Customer, act: Act, t: datetime, at: Any, event_id: str, attempt: int) -> Any:
        def make(journal: Journal) -> Delivery:
            topic, body, acts = self._payload(c, act, t, at)
            raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
            status, answer = http(
                "POST",
                self.stack.url + "/webhooks/shopify",
                raw,
                {
                    "Content-Type": "application/json",
                    "X-Shopify-Topic": topic,
                    "X-Shopify-Shop-Domain": FOREIGN_SHOP if act.perturb.foreign_shop else SHOP,
                    "X-Shopify-API-Version": "2025-01",
                    "X-Shopify-Webhook-Id": f"{event_id}-{attempt}",
                    "X-Shopify-Event-Id": event_id,
                    "X-Shopify-Triggered-At": write_time(t, act.perturb.skew),
                    "X-Shopify-Hmac-Sha256": sign_shopify(raw, self.stack.secrets.shopify),
                },
            )
            if act.perturb.foreign_shop:  # nothing it says is about our shop's customer
                acts = []
            acts = [visible(a, act.perturb.skew, self.stack.clock.now()) for a in acts]
            return Delivery(
                "webhook",
                c,
                act,
                topic=topic,
                event_id=event_id,
                acts=tuple(acts),
                status=status,
                answer=_json(answer),
            )

        return make

    def _payload(
        self, c: Customer, act: Act, t: datetime, at: Any
    ) -> tuple[str, dict[str, Any], list[ConsentAct]]:
        skew = act.perturb.skew
        view = shopify_view(c, at, t)
        checkout = next((a for a in c.plan.acts if a.kind == "checkout" and a.ref == act.ref), None)
        box_act = (
            ConsentAct(f"{c.id}:box:{act.ref}", at(checkout.slot), "subscribed")
            if checkout is not None and checkout.box
            else None
        )
        if act.kind == "checkout":
            body = {
                "id": int(c.order_id(act.ref)) + 3,
                "token": c.checkout_token(act.ref),
                "cart_token": c.checkout_token(act.ref)[:16],
                "email": c.email,
                "buyer_accepts_marketing": act.box,
                "created_at": write_time(t, skew),
                "updated_at": write_time(t, skew),
                "completed_at": None,
                "currency": "JPY",
                "presentment_currency": "JPY",
                "total_price": "2170",
                "line_items": [dict(ITEM)],
                "abandoned_checkout_url": f"https://{SHOP}/checkouts/{c.checkout_token(act.ref)}/recover",
                "customer": customer_block(c, t, skew, consent_block(view, skew)),
            }
            acts = [x for x in (box_act, view) if x is not None]
            return "checkouts/create", body, acts
        if act.kind in ("order", "paid"):
            placed = at(next(a.slot for a in c.plan.acts if a.kind == "order" and a.ref == act.ref))
            consent = consent_block(view, skew) if c.plan.consent_in_orders else None
            body = {
                "id": int(c.order_id(act.ref)),
                "name": f"#{c.order_id(act.ref)[-4:]}",
                "email": c.email,
                "contact_email": c.email,
                "created_at": write_time(placed, skew),
                "processed_at": write_time(placed, skew),
                "updated_at": write_time(t, skew),
                "buyer_accepts_marketing": box_act is not None,
                "checkout_token": c.checkout_token(act.ref),
                "total_price": "2170",
                "currency": "JPY",
                "financial_status": "paid" if act.kind == "paid" else "pending",
                "line_items": [dict(ITEM)],
                "customer": customer_block(c, t, skew, consent),
            }
            acts = [x for x in (box_act, view if consent is not None else None) if x is not None]
            return ("orders/paid" if act.kind == "paid" else "orders/create"), body, acts
        if act.kind == "cancel":
            placed = at(next(a.slot for a in c.plan.acts if a.kind == "order" and a.ref == act.ref))
            body = {
                "id": int(c.order_id(act.ref)),
                "name": f"#{c.order_id(act.ref)[-4:]}",
                "email": c.email,
                "created_at": write_time(placed, skew),
                "updated_at": write_time(t, skew),
                "cancelled_at": write_time(t, skew),
                "cancel_reason": "customer",
                "financial_status": "voided",
                "checkout_token": c.checkout_token(act.ref),
                "total_price": "2170",
                "currency": "JPY",
                "line_items": [dict(ITEM)],
                "customer": customer_block(c, t, skew, None),
            }
            return "orders/cancelled", body, []
        if act.kind in ("fulfill", "delivered"):
            shipped = at(next(a.slot for a in c.plan.acts if a.kind == "fulfill" and a.ref == act.ref))
            number = f"4{int(c.fulfillment_id(act.ref)) % 10**11:011d}"
            body = {
                "id": int(c.fulfillment_id(act.ref)),
                "order_id": int(c.order_id(act.ref)),
                "status": "success",
                "shipment_status": "delivered" if act.kind == "delivered" else None,
                "tracking_company": "ヤマト運輸",
                "tracking_number": number,
                "tracking_numbers": [number],
                "tracking_url": f"https://jizen.kuronekoyamato.co.jp/jizen/servlet/crjz.b.NQ0010?id={number}",
                "created_at": write_time(shipped, skew),
                "updated_at": write_time(t, skew),
                "email": c.email,
                "line_items": [dict(ITEM)],
            }
            return ("fulfillments/update" if act.kind == "delivered" else "fulfillments/create"), body, []
        if act.kind == "redact":  # customers/redact: the profile's PII goes, nothing more is sent to them
            body = {
                "shop_id": 84000000000,
                "shop_domain": SHOP,
                "customer": {"id": int(c.id), "email": c.email, "phone": None},
                "orders_to_redact": [int(c.order_id(a.ref)) for a in c.plan.acts if a.kind == "order"],
            }
            return "customers/redact", body, [ConsentAct(f"{c.id}:redact:{act.slot}", t, "redacted")]
        if act.kind == "customer_update":
            body = customer_block(c, t, skew, consent_block(view, skew))
            return "customers/update", body, [view] if view is not None else []
        assert act.kind == "shopify_consent"
        if act.state == "null":  # Shopify's own sample: "state": null — no change
            consent = {"state": None, "opt_in_level": None, "consent_updated_at": None}
            return (
                "customers_email_marketing_consent/update",
                {"customer_id": int(c.id), "email_address": c.email, "email_marketing_consent": consent},
                [],
            )
        return (
            "customers_email_marketing_consent/update",
            {
                "customer_id": int(c.id),
                "email_address": c.email,
                "email_marketing_consent": consent_block(view, skew),
            },
            [view] if view is not None else [],
        )

    def _enishi_side(self, c: Customer, act: Act) -> Any:
        def make(journal: Journal) -> Delivery | None:
            now = self.stack.clock.now()
            mine = [m for m in journal.outputs() if m.get("customer_id") == c.id]
            if act.kind in ("one_click", "resubscribe"):
                links = [link for m in mine if m["channel"] == "email" and (link := unsubscribe_link(m))]
                if links:
                    url = links[-1]
                    url = self.stack.url + url[url.index("/u/") :]
                else:  # the preference link of a mail not sent in this example: the same token the sender makes
                    from enishi.unsubscribe import make_token

                    token = make_token(self.stack.secrets.unsubscribe_key.encode(), SHOP, c.id, "email")
                    url = f"{self.stack.url}/u/{token}"
                if (
                    act.kind == "resubscribe"
                ):  # the customer asks again on the preference page (with its wording)
                    status, _answer = http(
                        "POST",
                        url,
                        b"action=resubscribe",
                        {"Content-Type": "application/x-www-form-urlencoded"},
                    )
                    return Delivery(
                        "resubscribe",
                        c,
                        act,
                        acts=(ConsentAct(f"{c.id}:resubscribe:{act.slot}", now, "subscribed"),),
                        status=status,
                    )
                status, _answer = http(
                    "POST",
                    url,
                    b"List-Unsubscribe=One-Click",
                    {"Content-Type": "application/x-www-form-urlencoded"},
                )
                return Delivery(
                    "one_click",
                    c,
                    act,
                    acts=(ConsentAct(f"{c.id}:oneclick:{act.slot}", now, "unsubscribed"),),
                    status=status,
                )
            if act.kind in ("bounce", "complaint"):
                emails = [m for m in mine if m["channel"] == "email"]
                if not emails:
                    return None  # nothing to bounce yet
                self._ses_event(emails[-1], act.kind, now)
                return Delivery(
                    act.kind,
                    c,
                    act,
                    acts=(ConsentAct(f"{c.id}:{act.kind}:{act.slot}", now, "suppressed"),),
                    status=200,
                )
            return self._line(c, act, now)

        return make

    def _ses_event(self, message: dict[str, Any], kind: str, now: datetime) -> None:
        from enishi.clock import iso_z
        from enishi.feedback.tags import email_tags

        tags = {
            t["Name"]: [t["Value"]]
            for t in email_tags(
                SHOP, message["customer_id"], message["sequence"], message["step"], message["message_key"]
            )
        }
        if self._config_set:
            tags["ses:configuration-set"] = [self._config_set]
        detail: dict[str, Any] = {
            "eventType": "Bounce" if kind == "bounce" else "Complaint",
            "mail": {
                "timestamp": message["sent_at"],
                "messageId": message["provider_message_id"],
                "destination": [message["recipient"]],
                "tags": tags,
            },
        }
        if kind == "bounce":
            detail["bounce"] = {
                "bounceType": "Permanent",
                "bounceSubType": "General",
                "timestamp": iso_z(now),
                "bouncedRecipients": [{"emailAddress": message["recipient"]}],
            }
        else:
            detail["complaint"] = {
                "timestamp": iso_z(now),
                "complaintFeedbackType": "abuse",
                "complainedRecipients": [{"emailAddress": message["recipient"]}],
            }
        self._events.put_events(
            Entries=[
                {
                    "Source": "aws.ses",
                    "DetailType": "Email Bounced" if kind == "bounce" else "Email Complaint Received",
                    "Detail": json.dumps(detail),
                    "EventBusName": "default",
                }
            ]
        )

    def _line(self, c: Customer, act: Act, now: datetime) -> Delivery:
        event: dict[str, Any] = {
            "type": {"line_link": "accountLink", "line_unfollow": "unfollow", "line_follow": "follow"}[
                act.kind
            ],
            "mode": "active",
            "timestamp": int(now.timestamp() * 1000),
            "source": {"type": "user", "userId": c.line_user},
            "webhookEventId": uuid.uuid4().hex.upper(),
            "deliveryContext": {"isRedelivery": False},
        }
        if act.kind == "line_link":
            from enishi.line_webhook.linking import NONCE_TTL
            from enishi.line_webhook.store import DynamoLineStore

            nonce = uuid.uuid4().hex
            DynamoLineStore(self._ddb, self.stack.table_name).put_nonce(
                SHOP, nonce, c.id, now, now + NONCE_TTL
            )
            event["link"] = {"result": "ok", "nonce": nonce}
        elif act.kind == "line_follow":
            event["replyToken"] = uuid.uuid4().hex
        raw = json.dumps({"destination": "U" + "0" * 32, "events": [event]}).encode()
        signature = base64.b64encode(
            hmac.new(self.stack.secrets.line_channel_secret.encode(), raw, hashlib.sha256).digest()
        ).decode()
        status, answer = http(
            "POST",
            self.stack.url + "/webhooks/line",
            raw,
            {"Content-Type": "application/json", "x-line-signature": signature},
        )
        return Delivery(act.kind, c, act, status=status, answer=_json(answer))

    # ---- reading the table and the raw bucket
    def item(self, key: dict[str, str]) -> dict[str, Any] | None:
        return self.table.get_item(Key=key, ConsistentRead=True).get("Item")

    def kept_event_ids(self) -> set[str]:
        if not self.raw_bucket:
            return set()
        out: set[str] = set()
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.raw_bucket):
            for obj in page.get("Contents", []):
                doc = json.loads(self._s3.get_object(Bucket=self.raw_bucket, Key=obj["Key"])["Body"].read())
                headers = {k.lower(): v for k, v in (doc.get("headers") or {}).items()}
                if headers.get("x-shopify-event-id"):
                    out.add(headers["x-shopify-event-id"])
        return out


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


_SALT: list[int] = []


def _run_salt() -> int:
    """Ids differ between test runs in one process (hypothesis replays examples against the same stack)."""
    if not _SALT:
        _SALT.append(uuid.uuid4().int % 10**5)
    return _SALT[0] * 1000


# ------------------------------------------------------------------------------------------------ oracle


@dataclass(frozen=True)
class Violation:
    invariant: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.invariant}] {self.detail}"


def is_marketing(sequence: str | None, step: str | None) -> bool:
    from enishi.sequences.domain.spec import load_shop_spec

    spec = _spec(load_shop_spec)
    seq = spec.sequences.get(sequence or "")
    if seq is None:
        return True  # an unknown message is held to the stricter rules
    return next((s.marketing for s in seq.steps if s.id == step), True)


_SPEC_CACHE: list[Any] = []


def _spec(loader: Any) -> Any:
    if not _SPEC_CACHE:
        from enishi_local.stack import SHOP_DIR

        _SPEC_CACHE.append(loader(str(SHOP_DIR)))
    return _SPEC_CACHE[0]


def quiet(t: datetime) -> bool:
    hour = t.astimezone(JST).hour
    return hour >= QUIET_START or hour < QUIET_END


def _consent_ok(known: list[ConsentAct]) -> tuple[bool, str]:
    consents = [a for a in known if a.state in ("subscribed", "unsubscribed", "redacted")]
    if not consents:
        return False, "no consent act known"
    latest = max(consents, key=lambda a: (a.at, a.restrictive))
    if latest.state != "subscribed":
        return False, f"latest consent act is {latest.id} ({latest.state} at {latest.at:%m-%d %H:%M}Z)"
    return True, ""


def check(journal: Journal, customers: list[Customer], executor: Executor) -> list[Violation]:
    """Every invariant of issue 9's suite item 1 that the journal can break, as a list of violations."""
    out: list[Violation] = []
    by_id = {c.id: c for c in customers}
    mine = [m for m in journal.outputs() if m.get("customer_id") in by_id]
    out += _no_message_twice(mine)
    out += _marketing_rules(journal, by_id)
    out += _cap_across_channels(mine)
    out += _shipping_notices(journal, customers)
    out += _reflected_or_kept(journal, executor)
    out += _final_state(journal, customers, executor)
    out += _welcome_liveness(journal, customers)
    out += _unlabelled(journal, customers)
    return out


def _welcome_liveness(journal: Journal, customers: list[Customer]) -> list[Violation]:
    """The other side of the consent checks (a system that never sends passes them all): a customer who ticked the
    box and placed one order, all delivered on time for our shop, and never said "no" in any way, gets the welcome."""
    out = []
    for c in customers:
        inputs = [e for e in journal.inputs() if e.customer.id == c.id]
        orders = {
            e.act.ref for e in inputs if e.topic in ("orders/create", "orders/paid") and (e.status or 0) < 300
        }
        if len(orders) != 1 or any(a.kind in ENISHI_KINDS for a in c.plan.acts):
            continue
        ref = next(iter(orders))
        webhooks = [a for a in c.plan.acts if a.kind not in ENISHI_KINDS]
        if any(a.perturb.delay or a.perturb.foreign_shop or a.perturb.skew == "jst_as_z" for a in webhooks):
            continue
        if any(
            (a.kind == "shopify_consent" and a.state != "subscribed") or a.kind in ("redact", "cancel")
            for a in webhooks
        ):
            continue
        if not any(a.kind == "checkout" and a.ref == ref and a.box for a in webhooks):
            continue
        sent = [
            m
            for m in journal.outputs()
            if m.get("customer_id") == c.id and m.get("sequence") == "welcome" and m.get("step") == "thanks"
        ]
        if not sent:
            out.append(
                Violation(
                    "consent honoured both ways",
                    f"customer {c.id} ticked the box, ordered once and never opted out: no welcome",
                )
            )
    return out


def _final_state(journal: Journal, customers: list[Customer], executor: Executor) -> list[Violation]:
    """The profile at the end reflects every "no" enishi was told: a restrictive latest act is not shown as
    subscribed, a bounce/complaint is a suppression, an unfollow is not following."""
    out = []
    for c in customers:
        inputs = [e for e in journal.inputs() if e.customer.id == c.id]
        known = [a for e in inputs for a in acts_of(journal, e)]
        profile = executor.item(keys.profile_key(SHOP, c.id))
        if profile is None:
            continue
        ok, why = _consent_ok(known)
        state = (profile.get("email_consent") or {}).get("state")
        if not ok and known and state == "subscribed":
            out.append(
                Violation(
                    "every authentic webhook is reflected",
                    f"customer {c.id}: profile says subscribed, but {why}",
                )
            )
        if any(a.state == "suppressed" for a in known) and not profile.get("email_suppression"):
            out.append(
                Violation(
                    "every authentic webhook is reflected",
                    f"customer {c.id}: a bounce/complaint was received, no suppression on the profile",
                )
            )
        line_events = [e for e in inputs if e.kind.startswith("line_")]
        linked = any(e.kind == "line_link" and e.status == 200 for e in line_events)
        if (
            linked
            and line_events[-1].kind == "line_unfollow"
            and (profile.get("line") or {}).get("following")
        ):
            out.append(
                Violation(
                    "every authentic webhook is reflected",
                    f"customer {c.id}: unfollowed last, profile still following on LINE",
                )
            )
    return out


def _no_message_twice(messages: list[dict[str, Any]]) -> list[Violation]:
    out = []
    seen: dict[str, dict[str, Any]] = {}
    for m in messages:
        key = m.get("message_key")
        if key in seen:
            out.append(
                Violation("no message twice", f"{key} sent at {seen[key]['sent_at']} and {m['sent_at']}")
            )
        seen[key] = m
    return out


def _unlabelled(journal: Journal, customers: list[Customer]) -> list[Violation]:
    """A message to one of our customers' addresses must be labelled with its customer (else the checks miss it)."""
    emails = {c.email: c for c in customers}
    lines = {c.line_user: c for c in customers}
    out = []
    for m in journal.outputs():
        c = emails.get(m.get("recipient")) or lines.get(m.get("recipient"))
        if c is not None and m.get("customer_id") != c.id:
            out.append(
                Violation("no message twice", f"message to customer {c.id} labelled {m.get('customer_id')}")
            )
        if c is not None and m.get("shop") not in (SHOP, None):
            out.append(
                Violation(
                    "every opt-out link unsubscribes",
                    f"{m.get('sequence')}.{m.get('step')} to customer {c.id} sent for shop {m.get('shop')}",
                )
            )
    return out


def _marketing_rules(journal: Journal, by_id: dict[str, Customer]) -> list[Violation]:
    out = []
    known: dict[str, list[ConsentAct]] = {cid: [] for cid in by_id}
    orders: dict[str, list[tuple[str, datetime]]] = {
        cid: [] for cid in by_id
    }  # (order ref, placed) as received
    completed: dict[str, set[int]] = {cid: set() for cid in by_id}
    line: dict[str, tuple[bool, bool]] = dict.fromkeys(by_id, (False, False))  # (linked, following)
    redacted: dict[str, bool] = dict.fromkeys(by_id, False)
    cancelled: dict[str, set[int]] = {cid: set() for cid in by_id}
    for kind, e in journal.entries:
        if kind == "in":
            cid = e.customer.id
            if (
                e.topic == "customers/redact"
                and e.answer.get("status") == "accepted"
                and known_to_enishi(journal, e)
            ):
                redacted[cid] = (
                    True  # a redaction of a customer enishi knew (its first delivery, not a duplicate,
                )
                #                       is when it applies): nothing goes to them any more
            known[cid] += acts_of(journal, e)
            if e.kind == "webhook" and e.topic == "orders/cancelled" and not e.act.perturb.foreign_shop:
                cancelled[cid].add(e.act.ref)  # a cancelled order is no "order again"; its shipment stops
                orders[cid] = [(r, slot) for r, slot in orders[cid] if r != e.act.ref]
            if (
                e.kind == "webhook"
                and e.topic in ("orders/create", "orders/paid")
                and not e.act.perturb.foreign_shop
                and e.act.ref not in cancelled[cid]
            ):
                placed = next(
                    a.slot for a in e.customer.plan.acts if a.kind == "order" and a.ref == e.act.ref
                )
                if all(ref != e.act.ref for ref, _ in orders[cid]):
                    orders[cid].append((e.act.ref, placed))
                completed[cid].add(e.act.ref)
            linked, _following = line[cid]
            if e.kind == "line_link" and e.status == 200:
                line[cid] = (True, True)
            elif e.kind == "line_unfollow" and linked:
                line[cid] = (True, False)
            elif e.kind == "line_follow" and linked:
                line[cid] = (True, True)
            continue
        cid = e.get("customer_id")
        if cid not in by_id:
            continue
        sent = datetime.fromisoformat(e["sent_at"])
        what = f"{e['sequence']}.{e['step']} by {e['channel']} to customer {cid} at {sent:%m-%d %H:%M}Z"
        if redacted[cid]:
            out.append(Violation("nothing after a redaction", f"{what}: customers/redact was received"))
        if e.get("sequence") == "shipping_notice":
            ref = next(
                (
                    k
                    for k in range(4)
                    if e.get("message_key")
                    in {
                        keys.sequence_message_key(
                            SHOP, cid, "shipping_notice", e["step"], by_id[cid].fulfillment_id(k) + x
                        )
                        for x in ("", ":delivered")
                    }
                ),
                None,
            )
            if ref is not None and ref in cancelled[cid]:
                out.append(
                    Violation("no message after a stop condition", f"{what}: order {ref} was cancelled")
                )
        if not is_marketing(e.get("sequence"), e.get("step")):
            continue
        c = by_id[cid]
        ok, why = _consent_ok(known[cid])
        if not ok:
            out.append(Violation("no marketing without consent or after an opt-out", f"{what}: {why}"))
        if e["channel"] == "email" and any(a.state == "suppressed" for a in known[cid]):
            out.append(
                Violation("no marketing after a suppression", f"{what}: a bounce/complaint was received")
            )
        if e["channel"] == "line" and line[cid] != (True, True):
            out.append(Violation("no marketing after an opt-out", f"{what}: LINE not linked+following"))
        if quiet(sent):
            out.append(Violation("nothing inside quiet hours", f"{what} ({sent.astimezone(JST):%H:%M} JST)"))
        stop = _stop_condition(e, c, orders[cid], completed[cid])
        if stop:
            out.append(Violation("no marketing after a stop condition", f"{what}: {stop}"))
    return out


def acts_of(journal: Journal, delivery: Delivery) -> list[ConsentAct]:
    """The consent acts a delivery tells enishi of. A customers/redact of a customer enishi has not seen yet leaves a
    tombstone (no older webhook brings the data back: its own regression test); the oracle does not count it as an
    act, so the customer's later, newer activity is judged on its own."""
    if delivery.topic == "customers/redact":
        first = next(
            (
                e
                for e in journal.inputs()
                if e.event_id == delivery.event_id and e.answer.get("status") == "accepted"
            ),
            None,
        )  # duplicates change nothing
        if first is None or not known_to_enishi(journal, first):
            return []
    return list(delivery.acts)


def known_to_enishi(journal: Journal, delivery: Delivery) -> bool:
    """Some delivery about this customer was accepted before ``delivery`` (a redaction of a customer enishi never saw
    erases nothing; their later activity is new)."""
    for kind, e in journal.entries:
        if kind != "in":
            continue
        if e is delivery:
            return False
        if (
            e.customer.id == delivery.customer.id
            and e.kind == "webhook"
            and (e.status or 0) < 300
            and not e.act.perturb.foreign_shop
            and e.topic != "customers/redact"
        ):
            return True
    return False


def _stop_condition(
    m: dict[str, Any], c: Customer, orders: list[tuple[int, int]], completed: set[int]
) -> str:
    if m["sequence"] == "cart_recovery":
        ref = next(
            (
                k
                for k in range(4)
                if m.get("message_key")
                == keys.sequence_message_key(SHOP, c.id, "cart_recovery", m["step"], c.checkout_token(k))
            ),
            None,
        )
        if ref is None:
            return ""
        c_slot = next(a.slot for a in c.plan.acts if a.kind == "checkout" and a.ref == ref)
        if ref in completed:
            return f"checkout {ref} became an order before"
        later = [r for r, slot in orders if slot > c_slot]
        if later:
            return f"the customer ordered (order {later[0]}) after checkout {ref}"
    if m["sequence"] == "welcome" and orders:
        first_slot = orders[0][1]
        if any(slot > first_slot for _, slot in orders[1:]):
            return "the customer ordered again"
    return ""


def _cap_across_channels(messages: list[dict[str, Any]]) -> list[Violation]:
    out = []
    last: dict[str, tuple[datetime, dict[str, Any]]] = {}
    for m in sorted(messages, key=lambda m: m["sent_at"]):
        if not is_marketing(m.get("sequence"), m.get("step")):
            continue
        t = datetime.fromisoformat(m["sent_at"])
        prev = last.get(m["customer_id"])
        if prev is not None and t - prev[0] < CAP:
            p = prev[1]
            out.append(
                Violation(
                    "the frequency cap holds across channels",
                    f"customer {m['customer_id']}: {p['sequence']}.{p['step']} ({p['channel']}) at "
                    f"{prev[0]:%m-%d %H:%M}Z and {m['sequence']}.{m['step']} ({m['channel']}) at "
                    f"{t:%m-%d %H:%M}Z",
                )
            )
        last[m["customer_id"]] = (t, m)
    return out


def _shipping_notices(journal: Journal, customers: list[Customer]) -> list[Violation]:
    """Every shipment with tracking of an order enishi received gets its notice (transactional: no consent needed),
    unless the customer's mail bounced or they complained before it could go out."""
    out = []
    notices = [
        m for m in journal.outputs() if m.get("sequence") == "shipping_notice" and m.get("step") == "notice"
    ]
    for c in customers:
        received = {
            (e.topic, e.act.ref)
            for e in journal.inputs()
            if e.customer.id == c.id
            and e.kind == "webhook"
            and not e.act.perturb.foreign_shop
            and (e.status or 0) < 300
        }
        # a bounce/complaint or a redaction (which stops every sequence of the customer) excuses a missing notice
        suppressed = any(
            a.state in ("suppressed", "redacted")
            for e in journal.inputs()
            if e.customer.id == c.id
            for a in e.acts
        )
        cancelled = {a.ref for a in c.plan.acts if a.kind == "cancel"}
        for a in c.plan.acts:
            if a.kind != "fulfill" or suppressed or a.ref in cancelled:
                continue
            if ("fulfillments/create", a.ref) not in received or ("orders/create", a.ref) not in received:
                continue
            key = keys.sequence_message_key(SHOP, c.id, "shipping_notice", "notice", c.fulfillment_id(a.ref))
            mine = [m for m in notices if m.get("message_key") == key]
            if not mine:
                out.append(
                    Violation(
                        "every authentic webhook is reflected",
                        f"customer {c.id}: fulfillment {a.ref} of a received order got no shipping notice",
                    )
                )
    return out


def _reflected_or_kept(journal: Journal, executor: Executor) -> list[Violation]:
    out = []
    kept: set[str] | None = None
    for d in journal.inputs():
        if d.kind != "webhook":
            if d.status is not None and d.status >= 500:
                out.append(
                    Violation("no input gets a 5xx", f"{d.kind} of customer {d.customer.id} → {d.status}")
                )
            continue
        label = f"{d.topic} (customer {d.customer.id}, ref {d.act.ref}, {d.act.perturb.skew})"
        status = d.status or 0
        if d.act.perturb.foreign_shop and not 400 <= status < 500:
            out.append(
                Violation(
                    "every authentic webhook is reflected or kept",
                    f"{label} for {FOREIGN_SHOP} (not served) → {status} {d.answer}, not a clear 4xx",
                )
            )
            continue  # (refused with a 4xx: it must be kept, checked below)
        if status >= 500:
            out.append(Violation("no input gets a 5xx", f"{label} → {status} {d.answer}"))
            continue
        if status >= 300 or d.answer.get("status") == "kept":
            kept = executor.kept_event_ids() if kept is None else kept
            if d.event_id not in kept:
                out.append(
                    Violation(
                        "every authentic webhook is reflected or kept",
                        f"{label} → {status} {d.answer}, not in the raw bucket",
                    )
                )
            continue
        problem = _reflection(d, executor)
        if problem:
            out.append(Violation("every authentic webhook is reflected or kept", f"{label}: {problem}"))
    return out


def _reflection(d: Delivery, executor: Executor) -> str:
    c, ref = d.customer, d.act.ref
    if d.topic == "checkouts/create":
        return "" if executor.item(keys.checkout_key(SHOP, c.checkout_token(ref))) else "no checkout item"
    if d.topic in ("orders/create", "orders/paid"):
        order = executor.item(keys.order_key(SHOP, c.order_id(ref)))
        cancelled = any(a.kind == "cancel" and a.ref == ref for a in c.plan.acts)
        if not order or order.get("status") not in (("placed", "cancelled") if cancelled else ("placed",)):
            return f"order item {order and order.get('status')!r}"
        return "" if executor.item(keys.profile_key(SHOP, c.id)) else "no profile"
    if d.topic in ("fulfillments/create", "fulfillments/update"):
        item = executor.item(keys.fulfillment_key(SHOP, c.order_id(ref), c.fulfillment_id(ref)))
        return "" if item else "no fulfillment item"
    if d.topic == "orders/cancelled":
        order = executor.item(keys.order_key(SHOP, c.order_id(ref)))
        return (
            ""
            if order and order.get("status") == "cancelled"
            else f"order item {order and order.get('status')!r}"
        )
    if d.topic == "customers/redact":
        event_id = f"shopify:{d.event_id}:customer.redact_requested"
        return (
            "" if executor.item(keys.privacy_request_key(SHOP, event_id)) else "no privacy request recorded"
        )
    return "" if executor.item(keys.profile_key(SHOP, c.id)) else "no profile"


def opt_out_links_work(journal: Journal, customers: list[Customer], executor: Executor) -> list[Violation]:
    """POST every marketing email's List-Unsubscribe link (RFC 8058 one-click); the customer the message was sent to
    is then unsubscribed. Run after ``check``: it changes the customers' state."""
    out = []
    by_id = {c.id: c for c in customers}
    posted: set[str] = set()
    for m in journal.outputs():
        if (
            m.get("customer_id") not in by_id
            or m["channel"] != "email"
            or not is_marketing(m["sequence"], m["step"])
        ):
            continue
        link = unsubscribe_link(m)
        what = f"{m['sequence']}.{m['step']} to customer {m['customer_id']}"
        if link is None:
            out.append(Violation("every opt-out link unsubscribes", f"{what}: no List-Unsubscribe link"))
            continue
        if link in posted:
            continue
        posted.add(link)
        status, _ = http(
            "POST",
            executor.stack.url + link[link.index("/u/") :],
            b"List-Unsubscribe=One-Click",
            {"Content-Type": "application/x-www-form-urlencoded"},
        )
        executor.stack.settle()
        profile = executor.item(keys.profile_key(SHOP, m["customer_id"])) or {}
        state = (profile.get("email_consent") or {}).get("state")
        if status != 200 or state != "unsubscribed":
            out.append(
                Violation(
                    "every opt-out link unsubscribes", f"{what}: POST {status}, consent afterwards {state!r}"
                )
            )
    return out
