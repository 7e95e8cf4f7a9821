"""The sample shop: reproducible, realistic bodies the real Shopify adapter accepts, customers that react."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from enishi.carts import shopify
from enishi.shop_config import load_shop_config
from enishi.signatures import verify_shopify
from enishi_local.demo.shop_sim import SentMessage, ShopifyPost, ShopSimulation, SimConfig


def make_sim(cfg: SimConfig) -> ShopSimulation:
    shop = load_shop_config()
    return ShopSimulation(cfg, [p.model_dump() for p in shop.catalog], shop.shop_id)


def run_offline(sim: ShopSimulation, react=None) -> list:
    """Run the timeline without a stack; ``react(sim, now)`` may feed messages in."""
    out = []
    while (t := sim.next_time()) is not None:
        for at, action in sim.pop_due(t + timedelta(minutes=10)):
            action(at)
        if react:
            react(sim, t)
        out.extend(sim.drain_outgoing())
    return out


def fingerprint(outgoing: list) -> list:
    return [
        (o.kind, o.at, getattr(getattr(o, "delivery", None), "raw", b"") or getattr(o, "body", None))
        for o in outgoing
    ]


def test_same_seed_same_shop_other_seed_other_shop():
    a = run_offline(make_sim(SimConfig.small(seed=7)))
    b = run_offline(make_sim(SimConfig.small(seed=7)))
    c = run_offline(make_sim(SimConfig.small(seed=8)))
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a) != fingerprint(c)


def test_every_webhook_is_signed_in_time_order_and_accepted_by_the_shopify_adapter():
    shop = load_shop_config()
    outgoing = run_offline(make_sim(SimConfig.small()))
    posts = [o for o in outgoing if isinstance(o, ShopifyPost)]
    topics = Counter(p.delivery.topic for p in posts)
    assert {
        "customers/create",
        "checkouts/create",
        "checkouts/update",
        "orders/create",
        "fulfillments/create",
        "fulfillments/update",
    } <= set(topics)
    types = Counter()
    for p in posts:
        headers = p.delivery.headers(shop.shop_id, "secret")
        assert verify_shopify(p.delivery.encode(), headers["X-Shopify-Hmac-Sha256"], ["secret"])
        for e in shopify.adapt(p.delivery.topic, headers, p.delivery.body, p.at):
            types[e.type] += 1
    assert types["order.placed"] >= 5 and types["fulfillment.updated"] >= 5
    # Shopify delivers at least once: some deliveries repeat an event id with a new webhook id
    event_ids = Counter(p.delivery.event_id for p in posts)
    assert any(n > 1 for n in event_ids.values())


def test_a_cart_reminder_brings_abandoners_back():
    """With every reminder answered, abandoned carts with contact get completed far more often."""
    cfg = SimConfig.small(customers=120, p_recover_after_reminder=(1.0, 1.0))
    sim = make_sim(cfg)
    reminded = set()

    def react(s: ShopSimulation, now):
        for cust in s.customers:
            co = cust.open_checkout
            if co is not None and co.token not in reminded and now >= co.created_at + timedelta(hours=1):
                reminded.add(co.token)
                s.on_message(SentMessage("email", cust.person.email, "cart_recovery", "reminder_1", now), now)

    run_offline(sim, react)
    recovered = [co for co in sim.checkouts if co.recovered_by == "reminder"]
    assert reminded and len(recovered) >= 0.8 * len(reminded)


def test_a_customer_who_acts_on_a_message_taps_its_link_first_from_its_channels_app():
    """Every answered reminder with a tracked link is tapped (p 1.0) before the checkout completes, and the tap
    says which app it came from — an email's is not LINE's in-app browser."""
    from enishi_local.demo.shop_sim import LinkClick

    cfg = SimConfig.small(customers=120, p_recover_after_reminder=(1.0, 1.0), p_click_when_acting=1.0)
    sim = make_sim(cfg)
    reminded = set()
    link = "https://api.example/r/c1.AAAA.BBBB"

    def react(s: ShopSimulation, now):
        for cust in s.customers:
            co = cust.open_checkout
            if co is not None and co.token not in reminded and now >= co.created_at + timedelta(hours=1):
                reminded.add(co.token)
                raw = {"text": f"カートはこちら {link}"}
                msg = SentMessage("email", cust.person.email, "cart_recovery", "reminder_1", now, raw=raw)
                s.on_message(msg, now)

    taps = [o for o in run_offline(sim, react) if isinstance(o, LinkClick)]
    recovered = [co for co in sim.checkouts if co.recovered_by == "reminder"]
    assert recovered and len(taps) == len(
        recovered
    )  # one tap per reminder acted on (bounced readers act on none)
    assert {(t.url, t.channel) for t in taps} == {(link, "email")}
