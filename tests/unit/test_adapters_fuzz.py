"""Hypothesis on what parses untrusted input after the signature (issue 9, suite item 3): the cart adapters, LINE
event parsing and the /u/{token} logic. Malformed, huge, deeply nested and non-UTF-8 inputs; the only failures
allowed are the domain's own (``Unprocessable``, ``BadRequest``, ``TokenInvalid``), which map to 4xx."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from enishi import json_input, signatures
from enishi.carts import Unprocessable, generic, shopify
from enishi.line_webhook import logic as line
from enishi.preferences.logic import Preferences, TokenInvalid
from enishi.publish import InMemoryPublisher
from enishi.shop_config import load_shop_config

ROOT = Path(__file__).resolve().parents[2]
T = datetime(2025, 1, 20, 13, 31, tzinfo=UTC)
SHOPIFY_SAMPLES = sorted((ROOT / "tests/events/shopify").glob("*.json"))

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(),
    st.text(max_size=40),
    st.binary(max_size=20).map(lambda b: b.decode("utf-8", "surrogateescape")),
)
json_like = st.recursive(
    leaves,
    lambda ch: st.lists(ch, max_size=4) | st.dictionaries(st.text(max_size=10), ch, max_size=5),
    max_leaves=30,
)
nested = st.integers(1, 3000).map(lambda n: json.loads("[" * min(n, 900) + "]" * min(n, 900)))


def _mutate(sample: dict, patch: dict) -> dict:
    out = dict(sample)
    for k, v in patch.items():
        out[k] = v
    return out


@given(
    sample=st.sampled_from(SHOPIFY_SAMPLES),
    patch=st.dictionaries(
        st.sampled_from(
            [
                "id",
                "email",
                "line_items",
                "customer",
                "total_price",
                "created_at",
                "updated_at",
                "token",
                "order_id",
                "phone",
                "email_marketing_consent",
                "billing_address",
                "tracking_numbers",
                "quantity",
                "tags",
            ]
        ),
        json_like | nested,
        max_size=4,
    ),
    topic=st.sampled_from(sorted(shopify.TOPICS)),
)
def test_shopify_adapt_returns_events_or_unprocessable(sample, patch, topic):
    body = _mutate(json.loads(sample.read_text()), patch)
    try:
        events = shopify.adapt(topic, {"x-shopify-shop-domain": "s", "x-shopify-event-id": "e"}, body, T)
    except Unprocessable:
        return
    for e in events:
        assert e.shop == "s" and e.event_id.startswith("shopify:e:")


@given(body=json_like | nested)
def test_shopify_and_generic_adapt_any_json(body):
    for adapt in (
        lambda b: shopify.adapt(
            "orders/create", {"x-shopify-shop-domain": "s", "x-shopify-event-id": "e"}, b, T
        ),
        lambda b: generic.adapt(b, T),
    ):
        try:
            adapt(body)
        except Unprocessable:
            pass


@given(
    example=st.sampled_from(sorted((ROOT / "docs/examples/generic").glob("*.json"))),
    patch=st.dictionaries(
        st.sampled_from(
            [
                "customer",
                "line_items",
                "total",
                "email_consent",
                "order_id",
                "status",
                "placed_at",
                "consent",
                "tracking_numbers",
            ]
        ),
        json_like,
        max_size=3,
    ),
)
def test_generic_adapt_mutated_examples(example, patch):
    body = json.loads(example.read_text())
    body["data"] = {**body["data"], **patch}
    try:
        generic.adapt(body, T)
    except Unprocessable:
        pass


@given(raw=st.binary(max_size=400) | json_like.map(lambda v: json.dumps(v).encode("utf-8", "surrogatepass")))
def test_bounded_json_raises_only_body_rejected(raw):
    try:
        json_input.loads(raw)
    except json_input.BodyRejected:
        pass


class _LineStore:
    def __init__(self) -> None:
        self.claims: set[str] = set()

    def claim(self, shop, webhook_event_id, now):
        if webhook_event_id in self.claims:
            return False
        self.claims.add(webhook_event_id)
        return True

    def release(self, shop, webhook_event_id):
        self.claims.discard(webhook_event_id)

    def customer_for_line_user(self, shop, line_user_id):
        return None

    def consume_nonce(self, shop, nonce, now):
        return None

    def restore_nonce(self, shop, nonce, customer_id, now):
        pass


line_event = st.fixed_dictionaries(
    {"type": st.sampled_from(["follow", "unfollow", "accountLink", "message"]) | json_like},
    optional={
        "webhookEventId": json_like | st.text(max_size=6000),
        "timestamp": json_like | st.sampled_from([1e20, float("inf"), float("nan"), 10**400]),
        "source": json_like | st.fixed_dictionaries({"userId": json_like}),
        "link": json_like,
    },
)


@given(events=st.lists(line_event | json_like, max_size=6))
def test_line_events_any_shape_are_processed_or_counted_invalid(events):
    raw = json.dumps({"events": events}, allow_nan=True).encode("utf-8", "surrogatepass")
    secret = "line-secret"
    try:
        result = line.handle_webhook(
            raw,
            signatures.sign_line(raw, secret),
            channel_secret=secret,
            shop_id="s",
            store=_LineStore(),
            publisher=InMemoryPublisher(),
        )
    except line.BadRequest:
        return
    assert (
        len(result.published)
        + result.duplicates
        + result.ignored
        + result.invalid
        + result.link_failed
        + result.nonce_unknown
        == len(events)
    )


@given(
    token=st.text(max_size=600) | st.binary(max_size=100).map(lambda b: b.decode("latin-1")),
    body=st.binary(max_size=600),
    ctype=st.none()
    | st.sampled_from(["multipart/form-data; boundary=x", "application/x-www-form-urlencoded", "text/plain"])
    | st.text(max_size=30),
)
def test_preferences_with_any_token_and_body_answer_a_page_or_404(token, body, ctype):
    prefs = Preferences(secrets=[b"k"], shop=load_shop_config(), publisher=InMemoryPublisher())
    for call in (
        lambda: prefs.view(token),
        lambda: prefs.post(token, body, {"content-type": ctype} if ctype else {}),
    ):
        try:
            call()
        except TokenInvalid:
            pass


def test_one_click_parsing_of_a_huge_hostile_body_takes_linear_time():
    """A recipient's token is in every mail they get: the POST body must not be able to stall the function."""
    import time

    from enishi.preferences.logic import form_action, is_one_click

    body = b'Content-Disposition: form-data; name="List-Unsubscribe"\r\n' * 8000 + b"a\r\n" * 200_000
    started = time.perf_counter()
    assert not is_one_click(body, "multipart/form-data; boundary=x")
    assert form_action(body, None) == "unsubscribe"
    assert time.perf_counter() - started < 0.5
    genuine = b'--x\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--x--\r\n'
    assert is_one_click(genuine, "multipart/form-data; boundary=x")
    assert is_one_click(b"List-Unsubscribe=One-Click", "application/x-www-form-urlencoded")
