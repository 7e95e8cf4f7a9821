"""Attribution in the profile consumer (issue 12 item 2): at order time the reader fetches the customer's message
records in reach of the windows, the pure planner credits the last touch (``enishi.attribution.credit``), the order
item and the message record carry the credit, once. Through the service over an in-memory repository."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from test_profiles_plan import MemoryRepository

from enishi import events as ev
from enishi import keys
from enishi.attribution import AttributionWindows
from enishi.profiles.plan import Step, Update
from enishi.profiles.service import ProfileService
from enishi.shop_config import LegacyAttributionWindow, Messaging, load_shop_config

SHOP = "enishi-demo.myshopify.com"
T0 = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
CID = "7001"


class CreditingRepository(MemoryRepository):
    """The in-memory port, also carrying out the message record's conditional credit (``SET`` of its values)."""

    def execute(self, steps: Sequence[Step]) -> list[Step]:
        done: list[Step] = []
        for step in steps:
            if isinstance(step, Update):
                if self._credit(step):
                    done.append(step)
            else:
                done.extend(super().execute([step]))
        return done

    def _credit(self, step: Update) -> bool:
        item = self.items.get((step.key["pk"], step.key["sk"]))
        if item is None or (item.get("converted_at") and item.get("order_id") != step.values[":o"]):
            return False
        names = {":c": "converted_at", ":o": "order_id", ":r": "revenue", ":k": "attribution_kind"}
        item.update({names[k]: v for k, v in step.values.items()})
        return True


def iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def message(
    repo: MemoryRepository,
    key: str,
    *,
    owner: str = CID,
    channel: str = "email",
    marketing: bool = True,
    sent: timedelta = timedelta(0),
    opened: timedelta | None = None,
    clicked: timedelta | None = None,
    **extra: Any,
) -> None:
    """A sent message record (as the send step writes it) with the touches feedback and the redirect add."""
    item: dict[str, Any] = {
        **keys.message_key(SHOP, owner, key),
        "shop": SHOP,
        "customer_id": owner,
        "message_key": key,
        "sequence": key.split(".")[0],
        "step": key.split(".")[1],
        "marketing": marketing,
        "channel": channel,
        "status": "sent",
        "sent_at": iso(T0 + sent),
        **extra,
    }
    if opened is not None:
        item["opened_at"] = iso(T0 + opened)
    if clicked is not None:
        item["clicked_at"] = iso(T0 + clicked)
    repo.items[(item["pk"], item["sk"])] = item


def touch(repo: MemoryRepository, key: str, name: str, after: timedelta, owner: str = CID) -> None:
    repo.items[(keys.customer_pk(SHOP, owner), f"MSG#{key}")][name] = iso(T0 + after)


def placed(oid: str, after: timedelta, cid: str = CID, email: str = "taro@example.jp") -> ev.OrderPlaced:
    t = T0 + after
    return ev.OrderPlaced(
        event_id=f"o-{oid}",
        shop=SHOP,
        source="shopify",
        occurred_at=t,
        received_at=t,
        order_id=oid,
        customer=ev.CustomerRef(customer_id=cid, email=email),
        placed_at=t,
        total=Decimal("4800"),
    )


def credit_of(repo: MemoryRepository, oid: str) -> dict[str, Any] | None:
    order = repo.get(keys.order_key(SHOP, oid))
    assert order is not None
    return order.get("attributed_to")


def record(repo: MemoryRepository, key: str, owner: str = CID) -> dict[str, Any]:
    item = repo.get(keys.message_key(SHOP, owner, key))
    assert item is not None
    return item


def service(repo: MemoryRepository, windows: AttributionWindows | None = None) -> ProfileService:
    return ProfileService(repo, attribution=windows, now=lambda: T0 + timedelta(days=60))


def first_order(repo: MemoryRepository, svc: ProfileService) -> None:
    """The customer exists (an earlier order, long before the messages)."""
    svc.handle(placed("1", -timedelta(days=30)))


D, H = timedelta(days=1), timedelta(hours=1)


@pytest.mark.parametrize(
    ("channel", "kind", "touched", "order_after", "credited"),
    [
        ("email", "clicked", 0 * H, 4 * D + 23 * H, True),
        ("email", "clicked", 0 * H, 5 * D + 1 * H, False),
        ("line", "clicked", 0 * H, 4 * D + 23 * H, True),
        ("line", "clicked", 0 * H, 5 * D + 1 * H, False),
        ("email", "opened", 0 * H, 23 * H, True),
        ("email", "opened", 0 * H, 1 * D + 1 * H, False),
        (
            "line",
            "opened",
            0 * H,
            1 * H,
            False,
        ),  # LINE reports no opens: an "open" on a LINE record earns nothing
    ],
)
def test_each_kind_of_touch_earns_the_order_within_its_window_only(
    channel: str, kind: str, touched: timedelta, order_after: timedelta, credited: bool
) -> None:
    # Given a message touched (clicked / opened) two hours after it was sent
    repo = CreditingRepository()
    svc = service(repo)
    first_order(repo, svc)
    message(repo, "welcome.f2_nudge.a", channel=channel, **{kind: 2 * H + touched})
    # When an order is placed the given time after the touch
    svc.handle(placed("2", 2 * H + order_after))
    # Then it is credited to the message by that touch exactly when inside the window
    credit = credit_of(repo, "2")
    if credited:
        assert credit == {
            "message_key": "welcome.f2_nudge.a",
            "sequence": "welcome",
            "step": "f2_nudge",
            "kind": kind.removesuffix("ed"),
        }
        assert record(repo, "welcome.f2_nudge.a")["order_id"] == "2"
    else:
        assert credit is None and "converted_at" not in record(repo, "welcome.f2_nudge.a")


def test_a_mere_send_earns_nothing_by_default_and_within_sent_days_when_switched_on() -> None:
    for windows, expected in ((None, None), (AttributionWindows(sent_days=3), "sent")):
        repo = CreditingRepository()
        svc = service(repo, windows)
        first_order(repo, svc)
        message(repo, "winback.w1.a")
        svc.handle(placed("2", 2 * D))
        credit = credit_of(repo, "2")
        assert (credit or {}).get("kind") == expected


def test_an_open_is_outranked_by_a_later_click_on_another_message() -> None:
    # Given a welcome email opened, then a win-back email clicked an hour later
    repo = CreditingRepository()
    svc = service(repo)
    first_order(repo, svc)
    message(repo, "welcome.f2_nudge.a", opened=1 * H)
    message(repo, "winback.w1.b", sent=30 * timedelta(minutes=1), clicked=2 * H)
    # When the customer buys three hours in
    svc.handle(placed("2", 3 * H))
    # Then the click has the order, and only its record is converted
    assert credit_of(repo, "2") == {
        "message_key": "winback.w1.b",
        "sequence": "winback",
        "step": "w1",
        "kind": "click",
    }
    assert "converted_at" not in record(repo, "welcome.f2_nudge.a")
    assert record(repo, "winback.w1.b")["attribution_kind"] == "click"


def test_a_transactional_message_is_never_credited_however_it_is_touched() -> None:
    repo = CreditingRepository()
    svc = service(repo, AttributionWindows(sent_days=7))
    first_order(repo, svc)
    message(repo, "shipping_notice.notice.a", marketing=False, opened=1 * H, clicked=1 * H)
    svc.handle(placed("2", 2 * H))
    assert credit_of(repo, "2") is None


def test_a_campaign_and_a_variant_are_named_in_the_credit() -> None:
    repo = CreditingRepository()
    svc = service(repo)
    first_order(repo, svc)
    sequence = keys.campaign_sequence("spring")
    key = f"{sequence}.{keys.CAMPAIGN_STEP_ID}.a"
    message(repo, key, clicked=1 * H, variant="B")
    svc.handle(placed("2", 5 * H))
    assert credit_of(repo, "2") == {
        "message_key": key,
        "sequence": sequence,
        "step": keys.CAMPAIGN_STEP_ID,
        "variant": "B",
        "campaign": "spring",
        "kind": "click",
    }


def test_click_feedback_arriving_after_the_order_does_not_move_a_recorded_credit() -> None:
    # Given an email opened, and an order recorded before the SES click event (which happened first) arrives
    repo = CreditingRepository()
    svc = service(repo)
    first_order(repo, svc)
    message(repo, "welcome.f2_nudge.a")
    message(repo, "winback.w1.b", opened=1 * H)
    svc.handle(placed("2", 3 * H))
    assert (credit_of(repo, "2") or {}).get("kind") == "open"
    # When the click feedback lands late (its time is before the order), and order.placed is delivered again
    touch(repo, "welcome.f2_nudge.a", "clicked_at", 2 * H)
    plan = svc.plan(placed("2", 3 * H))
    # Then the credit decided when the order was recorded stands (replays plan nothing; no record is converted
    # twice) — documented: a touch reported after the order is recorded does not re-attribute it
    assert plan.steps == []
    assert credit_of(repo, "2") == {
        "message_key": "winback.w1.b",
        "sequence": "winback",
        "step": "w1",
        "kind": "open",
    }
    assert "converted_at" not in record(repo, "welcome.f2_nudge.a")
    # And the late click counts for the next order, while a click made after an order never earns it
    message(repo, "winback.w2.c", sent=4 * H, clicked=5 * H)
    svc.handle(placed("3", 4 * H + 30 * timedelta(minutes=1)))
    assert (credit_of(repo, "3") or {}).get("message_key") == "welcome.f2_nudge.a"


def test_a_redelivered_order_is_credited_once() -> None:
    repo = CreditingRepository()
    svc = service(repo)
    first_order(repo, svc)
    message(repo, "cart_recovery.reminder_1.a", clicked=1 * H)
    first = svc.handle(placed("2", 2 * H))
    again = svc.handle(placed("2", 2 * H))
    assert first.conversion == ("cart_recovery", 4800.0) and again.conversion is None
    assert again.written == [] and not again.profile_written
    assert record(repo, "cart_recovery.reminder_1.a")["order_id"] == "2"


class CrashAfter(CreditingRepository):
    """Executes steps until the one labelled ``label`` has been carried out, then fails (a Lambda timeout)."""

    def __init__(self, label: str) -> None:
        super().__init__()
        self.label: str | None = label

    def execute(self, steps: Sequence[Step]) -> list[Step]:
        done: list[Step] = []
        for step in steps:
            done.extend(super().execute([step]))
            if self.label is not None and getattr(step, "label", None) == self.label:
                self.label = None
                raise TimeoutError("crashed after " + str(getattr(step, "label", "")))
        return done


def test_a_crash_right_after_the_order_item_loses_no_credit() -> None:
    # Given a clicked message, and a consumer that dies right after writing the order item (before, the credit was
    # planned after the order item: the retry found the order recorded, planned nothing, and the credit was lost)
    repo = CrashAfter("order")
    svc = service(repo)
    repo.label = None
    first_order(repo, svc)
    repo.label = "order"
    message(repo, "welcome.f2_nudge.a", clicked=1 * H)
    with pytest.raises(TimeoutError):
        svc.handle(placed("2", 2 * H))
    # When SQS delivers the event again
    svc.handle(placed("2", 2 * H))
    # Then the message record carries the conversion
    assert record(repo, "welcome.f2_nudge.a").get("order_id") == "2"
    assert (credit_of(repo, "2") or {}).get("kind") == "click"


def test_the_cart_recovery_is_credited_when_the_checkout_completes() -> None:
    # Given an abandoned checkout of a known customer and its reminder, clicked
    repo = CreditingRepository()
    svc = service(repo)
    first_order(repo, svc)
    base = {"shop": SHOP, "source": "shopify", "checkout_token": "tok"}
    svc.handle(
        ev.CheckoutUpdated(
            **base,
            event_id="co1",
            occurred_at=T0,
            received_at=T0,
            customer=ev.CustomerRef(customer_id=CID, email="taro@example.jp"),
            status="open",
            total=Decimal(4800),
        )
    )
    message(repo, "cart_recovery.reminder_1.a", sent=1 * H, clicked=2 * H)
    # When the checkout completes (an update naming no customer: the checkout item knows it)
    done = T0 + 3 * H
    svc.handle(
        ev.CheckoutUpdated(
            **base, event_id="co2", occurred_at=done, received_at=done, status="completed", order_id="2"
        )
    )
    # Then the checkout is recovered by the reminder, with its revenue
    checkout = repo.get(keys.checkout_key(SHOP, "tok"))
    assert checkout is not None
    assert checkout["recovered_by"] == "cart_recovery.reminder_1.a"
    assert checkout["recovered_revenue"] == Decimal(4800)


def test_a_message_a_guest_received_earns_the_order_after_the_guest_is_merged() -> None:
    # Given a guest checkout (a guest profile) whose cart reminder was clicked
    email = "hanako@example.jp"
    guest = keys.guest_customer_id(email)
    repo = CreditingRepository()
    svc = service(repo)
    svc.handle(
        ev.CheckoutUpdated(
            event_id="g1",
            shop=SHOP,
            source="shopify",
            occurred_at=T0,
            received_at=T0,
            checkout_token="gtok",
            customer=ev.CustomerRef(customer_id=guest, email=email, guest=True),
            status="open",
            total=Decimal(4800),
        )
    )
    message(repo, "cart_recovery.reminder_1.g", owner=guest, clicked=2 * H)
    # When the shopper creates an account and orders (the order merges the guest twin into the customer)
    svc.handle(placed("2", 3 * H, cid="8001", email=email))
    # Then the order is credited to the guest's message, and that record (under the guest) is converted
    credit = credit_of(repo, "2")
    assert credit is not None and credit["message_key"] == "cart_recovery.reminder_1.g"
    assert credit["customer_id"] == guest and credit["kind"] == "click"
    assert record(repo, "cart_recovery.reminder_1.g", owner=guest)["order_id"] == "2"
    profile = repo.get(keys.profile_key(SHOP, "8001"))
    assert profile is not None and profile["merged_from"] == [guest]
    # And a later order, the guest long merged, still sees the guest's messages
    message(repo, "winback.w1.g", owner=guest, sent=4 * D, clicked=4 * D + H)
    svc.handle(placed("3", 4 * D + 2 * H, cid="8001", email=email))
    assert (credit_of(repo, "3") or {}).get("message_key") == "winback.w1.g"


def test_only_message_records_in_reach_of_the_windows_reach_the_planner() -> None:
    # Given a customer with 300 messages over the past year and one clicked yesterday
    repo = CreditingRepository()
    svc = service(repo)
    first_order(repo, svc)
    for i in range(300):
        message(
            repo, f"welcome.s{i}.x{i}", sent=-timedelta(days=365) + i * D, opened=-timedelta(days=365) + i * D
        )
    message(repo, "winback.w1.a", sent=20 * D, clicked=20 * D + H)
    # When an order arrives the next day
    repo.queries.clear()
    reads = svc.read_order_placed(placed("2", 21 * D))
    # Then one query of the customer's messages (no guest merged) hands the planner only the record in reach,
    # projected to what attribution reads
    assert [owner for owner, _ in reads.messages] == [CID]
    (item,) = (item for _, item in reads.messages)
    assert item["message_key"] == "winback.w1.a" and "status" not in item and "shop" not in item
    assert sum(1 for pk, prefix in repo.queries if prefix == keys.MSG_SK_PREFIX) == 1


_TOUCHES = st.lists(
    st.tuples(
        st.sampled_from(["email", "line"]),
        st.integers(min_value=0, max_value=10 * 24),  # sent, hours after T0
        st.none() | st.integers(min_value=0, max_value=6 * 24),  # opened, hours after the send
        st.none() | st.integers(min_value=0, max_value=6 * 24),  # clicked, hours after the send
    ),
    max_size=5,
)
_ORDERS = st.lists(
    st.tuples(st.sampled_from(["2", "3", "4"]), st.integers(0, 12 * 24)), min_size=1, max_size=5
)


@settings(max_examples=60, deadline=None)
@given(_TOUCHES, _ORDERS)
def test_every_order_is_credited_to_at_most_one_message_once_and_redelivery_plans_nothing(
    touches: list[tuple[str, int, int | None, int | None]], orders: list[tuple[str, int]]
) -> None:
    # Given any message records with any touches, and any order.placed deliveries (duplicates included)
    repo = CreditingRepository()
    svc = service(repo)
    first_order(repo, svc)
    for i, (channel, sent, opened, clicked) in enumerate(touches):
        message(
            repo,
            f"welcome.s{i}.m{i}",
            channel=channel,
            sent=sent * H,
            opened=None if opened is None else (sent + opened) * H,
            clicked=None if clicked is None else (sent + clicked) * H,
        )
    events = [placed(oid, hours * H) for oid, hours in orders]
    for event in events:
        svc.handle(event)
    # Then delivering any of them again plans no write
    for event in events:
        assert svc.plan(event).steps == []
    # And each message record converted names an order credited to it, each order at most one record
    converted = {
        item["message_key"]: item["order_id"]
        for (pk, sk), item in repo.items.items()
        if sk.startswith("MSG#") and item.get("converted_at")
    }
    credited = {oid: credit_of(repo, oid) for oid in {o for o, _ in orders}}
    for key, oid in converted.items():
        assert (credited[oid] or {}).get("message_key") == key
    assert len(converted) <= len(credited)
    snapshot = copy.deepcopy(repo.items)
    for event in events:
        svc.handle(event)
    assert repo.items == snapshot


# ---------------------------------------------------------------- shop.yaml


def test_the_shipped_config_has_the_issue_defaults_and_no_sent_window() -> None:
    windows = load_shop_config().messaging.attribution
    assert windows == AttributionWindows(click_days=5, open_days=1, line_click_days=5, sent_days=0)


def test_a_legacy_attribution_window_is_read_as_the_sent_window_with_a_warning() -> None:
    with pytest.warns(LegacyAttributionWindow, match="attribution.sent_days: 7"):
        messaging = Messaging.model_validate({"attribution_window_days": 7})
    assert messaging.attribution == AttributionWindows(sent_days=7)


def test_a_legacy_window_beside_the_new_windows_is_rejected() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValidationError, match="remove attribution_window_days"):
            Messaging.model_validate({"attribution_window_days": 7, "attribution": {"click_days": 3}})
