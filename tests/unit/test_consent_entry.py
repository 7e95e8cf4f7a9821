"""Issue 9, defects 1, 8 and 10: consent as it enters (Shopify, generic, preferences) through the pure profile logic.

Each test is a witness of the class: a "no" is undone only by a newer affirmative act of the customer; the sender's
clock is never trusted beyond the receipt; every consent record is kept as evidence; Shopify's null state is "no
change". The rule itself is stated for all inputs in test_consent_rule.py.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from enishi import consent as rule
from enishi import events as ev
from enishi.carts import generic, shopify
from enishi.profiles import apply as logic
from enishi.profiles.model import Profile

ROOT = Path(__file__).resolve().parents[2]
SHOP = "enishi-demo.myshopify.com"
CID = "7010000000001"
JST = timedelta(hours=9)
DAY = datetime(2025, 3, 2, tzinfo=UTC)  # 2025-03-02 09:00 JST


def jst(hour: float) -> datetime:
    """2025-03-02 at ``hour`` o'clock JST, as UTC."""
    return DAY + timedelta(hours=hour) - JST


def sample(name: str) -> dict:
    return json.loads((ROOT / "tests" / "events" / "shopify" / f"{name}.json").read_text(encoding="utf-8"))


def deliver(topic: str, body: dict, received: datetime, delivery: str) -> list:
    headers = {"x-shopify-topic": topic, "x-shopify-shop-domain": SHOP, "x-shopify-event-id": delivery}
    return shopify.adapt(topic, headers, body, received)


def one_click(at: datetime) -> ev.ConsentChanged:
    """What preferences.logic publishes on a one-click unsubscribe (collected_at = received_at = now)."""
    consent = ev.Consent(
        state="unsubscribed",
        source="one_click",
        collected_at=at,
        sender_at=at,
        evidence={"request": "one_click", "method": "POST"},
    )
    return ev.ConsentChanged(
        event_id=f"preferences:x:unsubscribed:{at.isoformat()}",
        shop=SHOP,
        source="enishi",
        occurred_at=at,
        received_at=at,
        customer=ev.CustomerRef(customer_id=CID),
        consent=consent,
    )


def run(events, profile: Profile | None = None) -> Profile | None:
    for e in events:
        profile = logic.apply(profile, e, e.received_at)
    return profile


def konbini_order(created: datetime, updated: datetime, financial_status: str) -> dict:
    """An order of API ≥ 2025-01: ``buyer_accepts_marketing`` but no ``customer.email_marketing_consent``."""
    body = copy.deepcopy(sample("orders__create"))
    body["customer"].pop("email_marketing_consent", None)
    body.update(
        buyer_accepts_marketing=True,
        financial_status=financial_status,
        gateway="konbini",
        created_at=created.astimezone(UTC).isoformat(),
        processed_at=created.astimezone(UTC).isoformat(),
        updated_at=updated.astimezone(UTC).isoformat(),
    )
    body["customer"]["id"] = int(CID)
    return body


# ---------------------------------------------------------------- defect 1: an opt-out undone without a new act


def test_konbini_orders_paid_hours_after_a_one_click_unsubscribe_does_not_resubscribe():
    # Given a konbini order at 10:00 (the buyer ticked "accepts marketing"), unpaid
    created = jst(10)
    events = deliver(
        "orders/create", konbini_order(created, created, "pending"), created + timedelta(seconds=3), "e1"
    )
    # And the customer clicks the one-click unsubscribe at 11:00
    events.append(one_click(jst(11)))
    # When the payment arrives at 16:00: orders/paid carries the same checkout-time flag, dated updated_at 16:00
    events += deliver(
        "orders/paid", konbini_order(created, jst(16), "paid"), jst(16) + timedelta(seconds=2), "e2"
    )
    # Then the customer stays unsubscribed, whatever the arrival order
    assert run(events).email_consent.state == "unsubscribed"
    assert run([events[2], events[1], events[0]]).email_consent.state == "unsubscribed"


def test_a_consent_time_in_the_future_does_not_outlive_a_later_unsubscribe():
    # Given a consent webhook whose sender wrote 22:00 JST as "22:00Z" (9 hours ahead), received at 22:00 JST
    body = {
        "customer_id": int(CID),
        "email_address": "hanako.yamada@example.jp",
        "email_marketing_consent": {
            "state": "subscribed",
            "opt_in_level": "single_opt_in",
            "consent_updated_at": "2025-03-02T22:00:00Z",
        },
    }
    events = deliver("customers_email_marketing_consent/update", body, jst(22), "e1")
    # When the customer unsubscribes by one click an hour later
    events.append(one_click(jst(23)))
    # Then the page's "unsubscribed" is what holds (marketing does not resume)
    assert run(events).email_consent.state == "unsubscribed"
    # And the sender's claim is kept as evidence, not as the consent's time
    [consent_event] = deliver("customers_email_marketing_consent/update", body, jst(22), "e1")
    assert consent_event.consent.sender_at == datetime(2025, 3, 2, 22, tzinfo=UTC)
    assert consent_event.consent.collected_at <= jst(22)


def test_a_null_consent_updated_at_does_not_take_the_records_updated_at():
    # Given the customer unsubscribed by one click at 11:00
    events = [one_click(jst(11))]
    # When a customers/update at 12:00 says "subscribed" with no consent_updated_at (customer created in 2024)
    body = copy.deepcopy(sample("customers__update"))
    body.update(id=int(CID), updated_at=jst(12).isoformat())
    body["email_marketing_consent"] = {
        "state": "subscribed",
        "opt_in_level": "single_opt_in",
        "consent_updated_at": None,
    }
    events += deliver("customers/update", body, jst(12), "e2")
    # Then it is dated at the earliest plausible moment (the customer's creation), not 12:00: still unsubscribed
    assert run(events).email_consent.state == "unsubscribed"


def test_a_checkout_snapshot_does_not_undo_an_unsubscribe_even_when_dated_later():
    # Given the customer unsubscribed at 11:00
    events = [one_click(jst(11))]
    # When a checkout created at 12:00 embeds the customer's (stale) "subscribed" consent
    body = copy.deepcopy(sample("checkouts__create"))
    body["customer"]["id"] = int(CID)
    body.update(created_at=jst(12).isoformat(), updated_at=jst(12).isoformat())
    body["customer"]["email_marketing_consent"]["consent_updated_at"] = jst(12).isoformat()
    events += deliver("checkouts/create", body, jst(12), "e2")
    assert events[-1].email_consent.kind == "snapshot"
    # Then the unsubscribe holds; only an act (the customer's consent webhook) re-grants
    assert run(events).email_consent.state == "unsubscribed"
    act = {
        "customer_id": int(CID),
        "email_address": None,
        "email_marketing_consent": {
            "state": "subscribed",
            "opt_in_level": "confirmed_opt_in",
            "consent_updated_at": jst(12).isoformat(),
        },
    }
    events += deliver("customers_email_marketing_consent/update", act, jst(12) + timedelta(minutes=1), "e3")
    assert run(events).email_consent.state == "subscribed"


def test_generic_consent_follows_the_same_rule():
    # Given a generic consent.changed "subscribed" whose collected_at is 9 hours ahead of its receipt
    body = json.loads((ROOT / "docs" / "examples" / "generic" / "consent.changed.json").read_text())
    body["data"]["consent"].update(state="subscribed", collected_at="2025-03-02T22:00:00Z")
    body["data"]["customer"] = {"id": CID}
    body["shop"] = SHOP
    [skewed] = generic.adapt(body, jst(22))
    # And a generic order whose embedded consent says "subscribed" (a checkout snapshot), after an unsubscribe
    order = json.loads((ROOT / "docs" / "examples" / "generic" / "order.placed.json").read_text())
    order["shop"] = SHOP
    order["data"]["customer"] = {"id": CID, "email": "hanako.yamada@example.jp"}
    order["data"]["email_consent"]["collected_at"] = jst(23.5).isoformat()
    [placed] = generic.adapt(order, jst(23.5))
    assert placed.email_consent.kind == "snapshot"
    # Then neither undoes the one-click unsubscribe at 23:00
    assert run([skewed, one_click(jst(23)), placed]).email_consent.state == "unsubscribed"


def test_replayed_events_are_held_to_the_rule_too():
    # Given a consent event built elsewhere (an old archive replay) whose collected_at is ahead of its receipt
    consent = ev.Consent(state="subscribed", source="shopify", collected_at=jst(23) + timedelta(hours=9))
    event = ev.ConsentChanged(
        event_id="old",
        shop=SHOP,
        source="shopify",
        occurred_at=jst(22),
        received_at=jst(22),
        customer=ev.CustomerRef(customer_id=CID),
        consent=consent,
    )
    # Then apply does not let it outrank the later unsubscribe
    assert run([event, one_click(jst(23))]).email_consent.state == "unsubscribed"


# ---------------------------------------------------------------- defect 8: consent evidence dropped


def test_every_consent_record_goes_to_the_ledger_none_is_dropped():
    # Given six consent changes of one customer (the profile used to keep the last 4 superseded ones)
    events = []
    for i, state in enumerate(
        ["subscribed", "unsubscribed", "subscribed", "unsubscribed", "subscribed", "unsubscribed"]
    ):
        at = jst(10 + i)
        c = ev.Consent(
            state=state, source="preference_page", collected_at=at, sender_at=at, evidence={"request": "form"}
        )
        events.append(
            ev.ConsentChanged(
                event_id=f"p{i}",
                shop=SHOP,
                source="enishi",
                occurred_at=at,
                received_at=at,
                customer=ev.CustomerRef(customer_id=CID),
                consent=c,
            )
        )
    # When they are applied, in any order
    ledger: dict[str, ev.Consent] = {}
    profile = None
    for e in reversed(events):
        before = profile
        profile = logic.apply(profile, e, e.received_at)
        for entry in logic.consent_ledger_entries(before, e, profile):
            ledger.setdefault(rule.digest(entry.consent), entry.consent)
    # Then all six are in the ledger with their evidence, and the profile holds the newest state
    assert len(ledger) == 6 and all(c.evidence == {"request": "form"} for c in ledger.values())
    assert profile.email_consent.state == "unsubscribed"
    assert rule.derive(ledger.values()) == rule.current(profile.consent_folds["email"])


# ---------------------------------------------------------------- defect 10: Shopify's null consent state


@pytest.mark.parametrize(
    "raw",
    [
        {
            "state": None,
            "opt_in_level": None,
            "consent_updated_at": None,
        },  # Shopify's own sample, API 2023-07 … 2025-10
        None,
    ],
)
def test_a_null_consent_state_is_no_change_not_unprocessable(raw):
    body = {"customer_id": int(CID), "email_address": None, "email_marketing_consent": raw}
    # When Shopify's sample customers_email_marketing_consent/update arrives
    events = deliver("customers_email_marketing_consent/update", body, jst(12), "e1")
    # Then it is processed (no event, nothing kept), and a customer or order with a null state is still adapted
    assert events == []
    customer = copy.deepcopy(sample("customers__update"))
    customer["email_marketing_consent"] = raw
    [upserted] = deliver("customers/update", customer, jst(12), "e2")
    assert upserted.email_consent is None
    order = copy.deepcopy(sample("orders__create"))
    order["customer"]["email_marketing_consent"] = raw
    [placed] = deliver("orders/create", order, jst(12), "e3")
    assert (
        placed.email_consent is not None and placed.email_consent.kind == "snapshot"
    )  # buyer_accepts_marketing


def test_ledger_keys_sit_beside_the_profile_in_time_order_one_per_distinct_record():
    from enishi import keys

    a = rule.make(state="subscribed", kind="act", source="shopify", sender_at=jst(10), received_at=jst(10))
    b = rule.make(
        state="unsubscribed", kind="act", source="one_click", sender_at=jst(11), received_at=jst(11)
    )
    ka, kb = (
        keys.consent_ledger_key(
            SHOP, CID, x.collected_at.strftime("%Y-%m-%dT%H:%M:%SZ"), x.channel, rule.digest(x)
        )
        for x in (a, b)
    )
    assert ka["pk"] == kb["pk"] == keys.profile_key(SHOP, CID)["pk"]
    assert ka["sk"].startswith(keys.CONSENT_SK_PREFIX) and ka["sk"] < kb["sk"]
    # the same record delivered again (other evidence, same content and time) has the same key
    again = a.model_copy(update={"evidence": {"delivery": "2"}})
    assert rule.digest(again) == rule.digest(a)
