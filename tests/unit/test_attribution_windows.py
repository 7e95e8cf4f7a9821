"""Last-touch attribution with windows per kind of touch: at most one message per order, clicks before opens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from enishi.attribution import AttributionWindows, Credit, MessageTouches, credit

T0 = datetime(2026, 11, 1, tzinfo=UTC)
W = AttributionWindows()


def kind(c: Credit | None) -> str | None:
    return c.kind if c else None


def msg(key: str, channel: str = "email", marketing: bool = True, **times: timedelta) -> MessageTouches:
    at = {k: T0 + v for k, v in times.items()}
    return MessageTouches(
        key, key.split(".")[0], channel, marketing, at.get("sent", T0), at.get("opened"), at.get("clicked")
    )


def test_a_click_within_five_days_earns_the_order() -> None:
    m = msg("welcome.f2", clicked=timedelta(days=1))
    c = credit([m], T0 + timedelta(days=5, hours=23), W)
    assert c is not None and c.kind == "click" and c.message_key == "welcome.f2"
    assert credit([m], T0 + timedelta(days=6, hours=1), W) is None


def test_an_open_counts_for_one_day_and_a_mere_send_not_at_all_by_default() -> None:
    m = msg("welcome.f2", opened=timedelta(hours=2))
    assert kind(credit([m], T0 + timedelta(hours=20), W)) == "open"
    assert credit([m], T0 + timedelta(days=1, hours=3), W) is None
    assert credit([msg("welcome.f2")], T0 + timedelta(hours=1), W) is None
    assert (
        kind(credit([msg("welcome.f2")], T0 + timedelta(hours=1), AttributionWindows(sent_days=7))) == "sent"
    )


def test_line_has_no_opens_and_its_own_click_window() -> None:
    w = AttributionWindows(line_click_days=2)
    line = msg("cart_recovery.r1", channel="line", opened=timedelta(hours=1), clicked=timedelta(hours=1))
    assert kind(credit([line], T0 + timedelta(days=1), w)) == "click"
    assert credit([line], T0 + timedelta(days=3), w) is None


def test_the_latest_touch_wins_and_transactional_messages_never_do() -> None:
    early_click = msg("welcome.f2", clicked=timedelta(days=1))
    later_open = msg("winback.w1", opened=timedelta(days=2))
    shipping = MessageTouches(
        "shipping_notice.n",
        "shipping_notice",
        "email",
        False,
        T0,
        T0 + timedelta(days=2, hours=1),
        T0 + timedelta(days=2, hours=1),
    )
    c = credit([early_click, later_open, shipping], T0 + timedelta(days=2, hours=2), W)
    assert c is not None and c.message_key == "winback.w1"


def test_a_touch_after_the_order_earns_nothing() -> None:
    assert credit([msg("welcome.f2", clicked=timedelta(days=1))], T0 + timedelta(hours=12), W) is None


offsets = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=10))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["email", "line"]), st.booleans(), st.none() | offsets, st.none() | offsets
        ),
        max_size=6,
    ),
    offsets,
)
def test_credit_does_not_depend_on_the_order_records_are_read(rows: list, order_offset: timedelta) -> None:
    messages = [
        MessageTouches(f"s{i}.x", f"s{i}", ch, mk, T0, T0 + op if op else None, T0 + cl if cl else None)
        for i, (ch, mk, op, cl) in enumerate(rows)
    ]
    order_at = T0 + order_offset
    forward, backward = credit(messages, order_at, W), credit(list(reversed(messages)), order_at, W)
    assert forward == backward
    if forward is not None:
        assert forward.touched_at <= order_at
        chosen = next(m for m in messages if m.message_key == forward.message_key)
        assert chosen.marketing
