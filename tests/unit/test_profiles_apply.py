"""Pure profile logic: idempotent and order-safe for every canonical event (Given/When/Then)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from enishi import consent as rule
from enishi import events as ev
from enishi import keys
from enishi.attribution import AttributionWindows
from enishi.profiles import apply as logic
from enishi.profiles.items import Attribution, OrderItem
from enishi.profiles.model import Profile
from enishi.shop_config import Stages

SHOP = "enishi-demo.myshopify.com"
T0 = datetime(2025, 3, 1, 3, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=1)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def ref(cid: str = "c1", **kw) -> ev.CustomerRef:
    return ev.CustomerRef(customer_id=cid, **({"email": "taro@example.jp"} | kw))


def base(**kw) -> dict:
    t = kw.pop("t", at(0))
    return {
        "event_id": kw.pop("event_id", f"e-{t.isoformat()}"),
        "shop": SHOP,
        "source": "shopify",
        "occurred_at": t,
        "received_at": t,
    } | kw


def upsert(t: datetime, **kw) -> ev.CustomerUpserted:
    return ev.CustomerUpserted(**base(t=t), customer=ref(**kw))


def placed(oid: str, t: datetime, total: str = "3000", cid: str = "c1", **kw) -> ev.OrderPlaced:
    return ev.OrderPlaced(
        **base(t=t, event_id=f"o-{oid}"),
        order_id=oid,
        customer=ref(cid),
        placed_at=t,
        total=Decimal(total),
        **kw,
    )


def cancelled(oid: str, t: datetime, cid: str | None = "c1") -> ev.OrderCancelled:
    return ev.OrderCancelled(
        **base(t=t, event_id=f"x-{oid}"), order_id=oid, cancelled_at=t, customer=ref(cid) if cid else None
    )


def consent(state: str, t: datetime, source: str = "shopify", **kw) -> ev.ConsentChanged:
    return ev.ConsentChanged(
        **base(t=t), customer=ref(), consent=ev.Consent(state=state, source=source, collected_at=t, **kw)
    )


def run(events, profile: Profile | None = None, **kw) -> Profile | None:
    for e in events:
        profile = logic.apply(profile, e, NOW, **kw)
    return profile


# ---------------------------------------------------------------- idempotency


@pytest.mark.parametrize(
    "event",
    [
        upsert(at(0), first_name="太郎", last_name="山田"),
        placed("1001", at(1)),
        consent("subscribed", at(2), wording="お知らせを受け取る"),
        ev.SuppressionChanged(**base(t=at(3)), customer=ref(), reason="bounce"),
        ev.LineIdentityChanged(**base(t=at(4)), line_user_id="U1", customer=ref(), change="linked"),
        ev.CustomerRedactRequested(**base(t=at(5)), customer=ref()),
        cancelled("1001", at(6)),
    ],
    ids=lambda e: e.type,
)
def test_every_event_applied_twice_leaves_the_same_state(event):
    # Given a profile with an order
    profile = run([upsert(at(-1)), placed("1001", at(-0.5))])
    # When the same event is applied twice
    once = logic.apply(profile, event, NOW)
    twice = logic.apply(once, event, NOW)
    # Then the second application changes nothing
    assert twice == once


def test_order_placed_is_counted_once_through_recent_order_ids():
    # Given a first order applied
    profile = run([placed("1001", at(1), total="3000")])
    # When it is delivered again (orders/create then orders/paid)
    again = run([placed("1001", at(1.5), total="3000")], profile)
    # Then F(n) and money are unchanged
    assert again.order_count == 1 and again.total_spent == Decimal(3000)
    assert again.recent_order_ids == ["1001"]


def test_order_placed_beyond_the_bounded_memory_is_still_counted_once_via_the_order_item():
    # Given a customer whose order 1 fell out of recent_order_ids
    profile = run([placed(str(i), at(i)) for i in range(logic.RECENT_ORDERS_KEPT + 1)])
    assert "0" not in profile.recent_order_ids
    recorded = OrderItem(
        shop=SHOP, order_id="0", customer_id="c1", placed_at=at(0), total=Decimal(3000), updated_at=at(0)
    )
    # When order 0 is redelivered, with its recorded order item
    again = logic.apply(profile, placed("0", at(0)), NOW, order=recorded)
    # Then nothing changes
    assert again == profile


# ---------------------------------------------------------------- orders, stage, order safety


def test_orders_count_money_first_last_and_stage():
    # Given / When three orders (the second arrives last)
    profile = run([placed("1", at(1), "2000"), placed("3", at(30), "4000"), placed("2", at(10), "1000")])
    # Then F(3), the sum, first/last order by placed time, stage repeat
    assert profile.order_count == 3
    assert profile.total_spent == Decimal(7000)
    assert profile.first_order_at == at(1)
    assert (profile.last_order_at, profile.last_order_id) == (at(30), "3")
    assert (profile.prev_order_at, profile.prev_order_id) == (at(10), "2")
    assert profile.stage == "repeat"


def test_stage_uses_the_shops_thresholds():
    # Given a shop where 2 orders make a loyal customer
    stages = Stages(loyal_min_orders=2)
    # When a customer places two orders
    profile = run([placed("1", at(1)), placed("2", at(2))], stages=stages)
    # Then the stage is loyal
    assert profile.stage == "loyal"


def test_cancel_brings_f_n_back_down_restores_last_order_and_recomputes_stage():
    # Given two orders
    profile = run([placed("1", at(1), "2000"), placed("2", at(5), "3000")])
    order2 = OrderItem(
        shop=SHOP, order_id="2", customer_id="c1", placed_at=at(5), total=Decimal(3000), updated_at=at(5)
    )
    # When the last one is cancelled
    after = logic.apply(profile, cancelled("2", at(6)), NOW, order=order2)
    # Then F(1), the money and last order are the first order's, the stage is first_time again
    assert after.order_count == 1
    assert after.total_spent == Decimal(2000)
    assert (after.last_order_at, after.last_order_id) == (at(1), "1")
    assert after.stage == "first_time"


def test_cancel_before_its_order_leaves_the_order_uncounted():
    # Given a cancellation that arrives before its order
    profile = run([cancelled("9", at(2))])
    # When the order arrives late
    profile = run([placed("9", at(1))], profile)
    # Then the order is remembered but never counted
    assert profile.order_count == 0 and profile.total_spent == 0
    assert "9" in profile.recent_order_ids and "9" in profile.cancelled_order_ids
    assert profile.stage == "lead"
    # And a redelivered cancellation changes nothing
    assert run([cancelled("9", at(2))], profile) == profile


def test_late_older_customer_update_never_overwrites_a_newer_one():
    # Given a customer updated at 10:00 with a new name
    profile = run([upsert(at(10), first_name="花子")])
    # When an older update (09:00, old name) arrives late
    after = run([upsert(at(9), first_name="太郎", phone="090-0000-0000")], profile)
    # Then the newer name stays, and the older event only fills a missing field
    assert after.first_name == "花子"
    assert after.phone == "090-0000-0000"


def test_email_change_updates_the_email_hash():
    profile = run([upsert(at(1)), upsert(at(2), email="Hanako@Example.jp")])
    assert profile.email == "Hanako@Example.jp"
    assert profile.email_hash == keys.email_hash("hanako@example.jp")


# ---------------------------------------------------------------- consent


def ledger_of(events, profile: Profile | None = None) -> tuple[Profile | None, list[ev.Consent]]:
    """Apply events and collect what they append to the consent ledger (one entry per distinct record)."""
    ledger: dict[str, ev.Consent] = {}
    for e in events:
        before = profile
        profile = logic.apply(profile, e, NOW)
        for entry in logic.consent_ledger_entries(before, e, profile):
            ledger.setdefault(rule.digest(entry.consent), entry.consent)
    return profile, list(ledger.values())


def test_consent_keeps_its_evidence_and_an_unsubscribe_supersedes_it():
    # Given a subscription collected with the wording shown
    profile = run(
        [
            consent(
                "subscribed",
                at(1),
                source="generic",
                wording="お知らせを受け取る",
                opt_in_level="single_opt_in",
            )
        ]
    )
    assert profile.email_consent.wording == "お知らせを受け取る"
    # When the customer unsubscribes through the link
    profile, ledger = ledger_of([consent("unsubscribed", at(5), source="unsubscribe_link")], profile)
    # Then the current consent is the unsubscribe; the subscription stays as evidence in the ledger
    # (issue 9 defect 8: it used to be kept in a bounded list on the profile, see test_consent_entry.py)
    assert profile.email_consent.state == "unsubscribed"
    _, ledger = ledger_of(
        [
            consent(
                "subscribed",
                at(1),
                source="generic",
                wording="お知らせを受け取る",
                opt_in_level="single_opt_in",
            ),
            consent("unsubscribed", at(5), source="unsubscribe_link"),
        ]
    )
    assert [(c.state, c.source) for c in ledger] == [
        ("subscribed", "generic"),
        ("unsubscribed", "unsubscribe_link"),
    ]


def test_late_older_consent_goes_to_the_ledger_only():
    # Given an unsubscribe at 05:00
    profile = run([consent("unsubscribed", at(5), source="one_click")])
    # When a subscription from 01:00 arrives late
    profile, ledger = ledger_of([consent("subscribed", at(1))], profile)
    # Then the customer stays unsubscribed; the older consent is kept in the ledger
    assert profile.email_consent.state == "unsubscribed"
    assert [c.state for c in ledger] == ["subscribed"]


def test_same_consent_again_is_no_change_and_a_later_one_keeps_the_state():
    profile = run([consent("subscribed", at(1))])
    assert run([consent("subscribed", at(1))], profile) == profile
    # a later act of the same state is the newer evidence (it used to be dropped: then the final state depended on
    # the arrival order of a subscribe, an unsubscribe and a re-subscribe — issue 9 defect 1)
    later = run([consent("subscribed", at(3))], profile)
    assert later.email_consent.state == "subscribed" and later.email_consent.collected_at == at(3)


def test_equal_times_the_more_restrictive_consent_wins_whatever_the_order():
    a, b = consent("subscribed", at(1)), consent("unsubscribed", at(1), source="one_click")
    assert run([a, b]).email_consent.state == "unsubscribed"
    assert run([b, a]).email_consent.state == "unsubscribed"


def test_the_profile_keeps_a_bounded_consent_state_and_the_ledger_every_record():
    events = [consent("subscribed" if i % 2 else "unsubscribed", at(i)) for i in range(50)]
    profile, ledger = ledger_of(events)
    fold = profile.consent_folds["email"]
    assert len([r for r in (fold.latest, fold.snapshot) if r is not None]) <= 2
    assert len(ledger) == 50


# ---------------------------------------------------------------- suppression, LINE


def test_suppression_bounce_then_cleared_and_a_late_bounce_does_not_return():
    bounce = ev.SuppressionChanged(**base(t=at(1)), customer=ref(), reason="bounce")
    cleared = ev.SuppressionChanged(**base(t=at(3)), customer=ref(), reason="cleared")
    profile = run([upsert(at(0)), bounce])
    assert profile.email_suppression.reason == "bounce"
    profile = run([cleared, bounce], profile)
    assert profile.email_suppression is None


def test_line_link_unfollow_and_a_late_link_after_unlink():
    def line(change: str, t: datetime) -> ev.LineIdentityChanged:
        return ev.LineIdentityChanged(**base(t=t), line_user_id="U1", customer=ref(), change=change)

    profile = run([line("linked", at(1)), line("unfollowed", at(2))])
    assert profile.line.user_id == "U1" and profile.line.following is False
    profile = run([line("unlinked", at(4)), line("linked", at(3))], profile)
    assert profile.line is None


# ---------------------------------------------------------------- redaction and privacy requests


def test_redact_erases_pii_keeps_counts_and_blocks_marketing():
    # Given a customer with PII, consent wording, LINE and an order
    profile = run(
        [
            upsert(at(0), first_name="太郎", last_name="山田", phone="090-1111-2222"),
            consent("subscribed", at(1), wording="お知らせを受け取る", evidence={"ip": "203.0.113.9"}),
            ev.LineIdentityChanged(**base(t=at(2)), line_user_id="U1", customer=ref(), change="linked"),
            placed("1", at(3), "5000"),
        ]
    )
    # When a redaction is requested
    after = run([ev.CustomerRedactRequested(**base(t=at(10)), customer=ref(), order_ids=("1",))], profile)
    # Then names, email, phone, LINE id and wording are gone; counts stay; consent is "redacted"
    assert (after.email, after.email_hash, after.phone, after.first_name, after.last_name, after.line) == (
        None,
    ) * 6
    assert after.redacted and after.redacted_at == at(10)
    assert after.order_count == 1 and after.total_spent == Decimal(5000)
    assert after.email_consent.state == "redacted"
    folded = [r for f in after.consent_folds.values() for r in (f.latest, f.snapshot) if r is not None]
    assert all(c.wording is None and not c.evidence for c in folded)
    # And a late older event cannot bring the PII back
    assert run([upsert(at(5), first_name="太郎")], after).first_name is None


def test_data_request_and_shop_redact_leave_the_profile_unchanged():
    profile = run([upsert(at(0))])
    data = ev.CustomerDataRequested(**base(t=at(1)), customer=ref(), request_id="r1")
    shop = ev.ShopRedactRequested(**base(t=at(1)))
    assert logic.apply(profile, data, NOW) == profile
    assert logic.apply(profile, shop, NOW) == profile
    assert logic.apply(None, shop, NOW) is None


# ---------------------------------------------------------------- guest merge


def test_guest_merges_into_the_customer_once():
    email = "guest@example.jp"
    gid = keys.guest_customer_id(email)
    guest = run([placed("1", at(1), "2000", cid=gid), consent("subscribed", at(1))])
    guest = guest.model_copy(update={"email": email})
    customer = run([upsert(at(5), email=email)])
    merged, marked = logic.merge_guest(customer, guest, "c1")
    assert merged.order_count == 1 and merged.total_spent == Decimal(2000) and merged.stage == "first_time"
    assert merged.merged_from == [gid] and merged.email_consent.state == "subscribed"
    assert marked.merged_into == "c1"
    again, _ = logic.merge_guest(merged, guest, "c1")
    assert again == merged


# ---------------------------------------------------------------- items


def test_checkout_completed_never_reopens_and_completed_before_creation():
    def co(status: str, t: datetime, **kw) -> ev.CheckoutUpdated:
        return ev.CheckoutUpdated(**base(t=t), checkout_token="tok", customer=ref(), status=status, **kw)

    # Given the completion arrives before the creation
    item = logic.checkout_after_update(None, co("completed", at(2), order_id="1001"), "c1")
    item = logic.checkout_after_update(item, co("open", at(1), recovery_url="https://x/r"), "c1")
    # Then it stays completed, and keeps what the creation added
    assert item.status == "completed" and item.order_id == "1001" and item.recovery_url == "https://x/r"
    assert item.created_at == at(1)
    # And a newer "open" never reopens it
    assert logic.checkout_after_update(item, co("open", at(9)), "c1").status == "completed"


def record(key: str, seq: str, channel: str = "email", **times: datetime) -> tuple[str, dict[str, object]]:
    """A message record of customer c1 as the profile consumer reads it (owner, item)."""
    item: dict[str, object] = {"message_key": key, "sequence": seq, "step": "s", "channel": channel}
    item.update({name: t.isoformat().replace("+00:00", "Z") for name, t in times.items()})
    return "c1", item


def test_checkout_completed_after_a_cart_recovery_message_is_recovered():
    # (before per-touch windows this read profile.last_message; the message is now its record, clicked)
    msg = logic.attribution(
        [record("cart_recovery.r1.x", "cart_recovery", sent_at=at(1), clicked_at=at(2))],
        at(3),
        AttributionWindows(),
        "c1",
    )
    open_ = ev.CheckoutUpdated(
        **base(t=at(0)), checkout_token="tok", customer=ref(), status="open", total=Decimal(4200)
    )
    done = ev.CheckoutUpdated(**base(t=at(3)), checkout_token="tok", customer=ref(), status="completed")
    item = logic.checkout_after_update(logic.checkout_after_update(None, open_, "c1"), done, "c1", msg)
    assert item.recovered_by == "cart_recovery.r1.x" and item.recovered_revenue == Decimal(4200)


def test_attribution_window_and_transactional_messages():
    # the old rule (the last message sent within 7 days) is the ``sent`` window of 7 days
    seven = AttributionWindows(click_days=0, open_days=0, line_click_days=0, sent_days=7)

    def attr(seq: str, sent: datetime, order_at: datetime) -> Attribution | None:
        return logic.attribution([record("k", seq, "line", sent_at=sent)], order_at, seven, "c1")

    assert attr("welcome", at(0), at(24 * 7)).message_key == "k"
    assert attr("welcome", at(0), at(24 * 7 + 1)) is None
    assert attr("shipping_notice", at(0), at(1)) is None
    assert attr("welcome", at(2), at(1)) is None  # sent after the order


def test_fulfillment_late_older_update_keeps_the_delivery():
    def ful(t: datetime, **kw) -> ev.FulfillmentUpdated:
        return ev.FulfillmentUpdated(
            **base(t=t), fulfillment_id="f1", order_id="1001", status="success", **kw
        )

    item = logic.fulfillment_after_update(None, ful(at(5), shipment_status="delivered"), None)
    item = logic.fulfillment_after_update(
        item, ful(at(2), shipment_status="in_transit", tracking_numbers=("123",)), "c1"
    )
    assert item.shipment_status == "delivered" and item.delivered_at == at(5)
    assert item.customer_id == "c1" and item.tracking_numbers == ["123"]


def test_order_item_cancel_stub_then_order_stays_cancelled():
    stub = logic.order_after_cancelled(None, cancelled("9", at(2), cid=None), None)
    item = logic.order_after_placed(stub, placed("9", at(1)), "c1", None)
    assert item.status == "cancelled" and item.recorded and item.customer_id == "c1"


# ---------------------------------------------------------------- the cart's own order count (issue 11)


def test_a_repeat_buyer_seen_first_is_counted_from_the_carts_own_order_count():
    # Given no history imported, an orders/create whose customer has 12 orders at Shopify (this one included)
    event = ev.OrderPlaced(
        **base(t=at(1), event_id="o-9"),
        order_id="9",
        customer=ref(orders_count=12),
        placed_at=at(1),
        total=Decimal(3000),
    )
    p = run([event])
    # Then F(n) is 12 (not 1), and the stage follows
    assert p is not None and p.order_count == 12 and p.stage == "loyal"
    # and the same event again changes nothing
    assert logic.apply(p, event, NOW) == p


def test_the_carts_count_applies_at_first_sight_only_never_lowering_or_raising_later():
    p = run([placed("1", at(1)), placed("2", at(2)), placed("3", at(3))])
    later = ev.OrderPlaced(
        **base(t=at(4), event_id="o-4"),
        order_id="4",
        customer=ref(orders_count=1),
        placed_at=at(4),
        total=Decimal(3000),
    )
    assert run([later], p).order_count == 4
    # a customer payload's count (it may include orders still on their way) never raises F(n)
    assert run([ev.CustomerUpserted(**base(t=at(5)), customer=ref(orders_count=9))], p).order_count == 3


@pytest.mark.parametrize("value", [12, "12", None, "", "x", -3, True])
def test_the_shopify_adapter_reads_orders_count_without_ever_failing(value):
    from enishi.carts import shopify

    body = {
        "id": 1,
        "email": "a@example.jp",
        "customer": {"id": 7, "email": "a@example.jp", "orders_count": value},
    }
    customer = shopify._customer_ref(body, required=True)
    assert customer.orders_count == (12 if value in (12, "12") else None)


def test_a_first_sight_order_cancelled_leaves_the_orders_before_it():
    p = run(
        [
            ev.OrderPlaced(
                **base(t=at(1), event_id="o-5"),
                order_id="5",
                customer=ref(orders_count=2),
                placed_at=at(1),
                total=Decimal(3000),
            ),
            cancelled("5", at(2)),
        ]
    )
    assert p.order_count == 1
    assert run([ev.CustomerUpserted(**base(t=at(3)), customer=ref(orders_count=2))], p).order_count == 1


def test_an_imported_history_takes_no_floor():
    p = Profile(
        shop=SHOP, customer_id="c1", created_at=at(0), updated_at=at(0), order_count=12, history_imported=True
    )
    event = ev.OrderPlaced(
        **base(t=at(1), event_id="o-13"),
        order_id="13",
        customer=ref(orders_count=15),
        placed_at=at(1),
        total=Decimal(3000),
    )
    assert run([event], p).order_count == 13
