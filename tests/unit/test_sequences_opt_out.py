"""No marketing message goes out with an opt-out link that does not unsubscribe (issue 9 defect 2, send side).

The step checks the link with ``unsubscribe.resolve`` — the function ``/u/{token}`` resolves tokens with — right
before the send; a link that would not resolve to this customer's profile of a served shop stops the message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enishi import clock
from enishi.events import Consent
from enishi.preferences.logic import Preferences, TokenInvalid
from enishi.profiles.model import Profile
from enishi.sequences.domain import opt_out
from enishi.sequences.step.service import run_step
from enishi.shop_config import REPO_DIR, load_shop_config
from enishi.unsubscribe import make_token, served_shop_ids, token_from_url, unsubscribe_url
from tests.unit.test_sequences_ledger import (
    UNSUBSCRIBE_KEY,
    FakeChannels,
    deps,
    payload,
    records,
    seed_profile,
)

NOW = datetime(2025, 5, 6, 3, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fixed_clock():
    clock.set_provider(lambda: NOW)
    yield
    clock.reset()


def test_a_marketing_message_for_a_shop_this_deployment_does_not_serve_is_not_sent(table):
    seed_profile(table)
    channels = FakeChannels()
    result = run_step(payload(), deps(table, channels, served=frozenset({"enishi-demo.myshopify.com"})))
    assert (result.result.action, result.result.reason) == ("skipped", opt_out.UNRESOLVABLE)
    assert channels.calls == []
    [record] = records(table)
    assert record["status"] == "failed" and record["reason"] == opt_out.UNRESOLVABLE


def _other_customer(shop, cid, ch):
    return unsubscribe_url("https://x", make_token(UNSUBSCRIBE_KEY, shop, "c2", ch))


def _stale_key(shop, cid, ch):
    return unsubscribe_url("https://x", make_token(b"stale-key", shop, cid, ch))


@pytest.mark.parametrize(
    ("link", "reason"),
    [
        (_other_customer, opt_out.MISMATCH),
        (_stale_key, opt_out.UNRESOLVABLE),
        (lambda *_: None, opt_out.NO_LINK),
    ],
)
def test_a_link_for_another_customer_signed_with_an_unknown_key_or_missing_stops_the_message(
    table, link, reason
):
    seed_profile(table)
    channels = FakeChannels()
    d = deps(table, channels)
    d.messages.link = link  # type: ignore[attr-defined]
    assert run_step(payload(), d).result.reason == reason
    assert channels.calls == []


def test_a_marketing_send_reads_the_profile_once_not_again_for_its_opt_out_check(table):
    """The step reads the customer's profile; the opt-out check asks whether the link's customer has one — the same
    customer (a mismatch is refused before), so the profile in hand answers it: one read, not two."""
    seed_profile(table)
    channels = FakeChannels()
    d = deps(table, channels)
    reads: list[tuple[str, str]] = []
    get = d.store.get_profile

    def counted(shop: str, customer_id: str):
        reads.append((shop, customer_id))
        return get(shop, customer_id)

    d.store.get_profile = counted  # type: ignore[method-assign]
    assert run_step(payload(), d).result.action == "sent"
    assert reads == [("s", "c1")]


def test_a_transactional_message_needs_no_opt_out_link(table):
    seed_profile(table, order_count=1)
    d = deps(table, FakeChannels(), served=frozenset())
    state = {**payload("shipping_notice")["state"], "trigger": {"order_id": "o1"}}
    assert run_step({**payload("shipping_notice"), "state": state}, d).result.action == "sent"


class NoPublisher:
    def publish(self, events):
        raise AssertionError("not called by claims()")


class Profiles:
    def __init__(self, known: set[tuple[str, str]]) -> None:
        self.known = known

    def get_profile(self, shop: str, customer_id: str):
        if (shop, customer_id) not in self.known:
            return None
        return Profile(
            shop=shop,
            customer_id=customer_id,
            created_at=NOW,
            updated_at=NOW,
            email_consent=Consent(state="subscribed", source="t", collected_at=NOW - timedelta(days=1)),
        )


SHOPS = st.sampled_from(["a.myshopify.com", "b.myshopify.com", "c.example"])
IDS = st.sampled_from(["7001", "7002", "guest-0f3a"])


@settings(deadline=None)  # examples: the loaded profile (HYPOTHESIS_PROFILE)
@given(
    SHOPS,
    IDS,
    st.sampled_from(["email", "line"]),
    st.sampled_from([UNSUBSCRIBE_KEY, b"other-key"]),
    st.sets(SHOPS, max_size=3),
    st.booleans(),
)
def test_the_send_check_accepts_a_link_exactly_when_the_unsubscribe_page_would_act_on_it(
    shop, customer, channel, signing_key, served, has_profile
):
    """One resolution for both: a link passes the send-time check iff ``/u/{token}`` accepts its token (and the
    customer has a profile) — so no sent marketing message carries a link the page answers with 404."""
    url = unsubscribe_url("https://api.example", make_token(signing_key, shop, customer, channel))
    profiles = Profiles({(shop, customer)} if has_profile else set())
    ids = sorted(served) or ["none.example"]
    config = load_shop_config(str(REPO_DIR)).model_copy(
        update={"shop_id": ids[0], "additional_shop_ids": ids[1:]}
    )
    # wired as step.py wires it: the served shops come from the same shop config the preferences function reads
    check = opt_out.checker(lambda: [UNSUBSCRIBE_KEY], served_shop_ids(config), profiles)
    problem = check(url, shop, customer, channel)
    page = Preferences(secrets=[UNSUBSCRIBE_KEY], shop=config, publisher=NoPublisher())  # type: ignore[arg-type]
    try:
        page.claims(token_from_url(url))
        page_accepts = True
    except TokenInvalid:
        page_accepts = False
    assert (problem is None) == (page_accepts and has_profile)
