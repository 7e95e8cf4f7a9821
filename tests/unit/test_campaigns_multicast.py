"""The multicast grouping (pure): every held message in exactly one request, ≤ 500 per request, one message per
request (identical renderings only), earlier requests kept whole under their key, keys derived from the members."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from enishi.campaigns.multicast import MAX_RECIPIENTS, Pending, aggregation_unit, groups, request_key
from enishi.sequences.domain.ledger import MessageRef

MESSAGES = [({"type": "text", "text": t},) for t in ("a", "b", "c")]


def pending(i: int, variant: int, named: str | None = None) -> Pending:
    ref = MessageRef("s", f"c{i}", f"s#c{i}#campaign", "campaign-x", "send", "x", True)
    return Pending(ref, f"U{i:032x}", MESSAGES[variant], named)


held = st.lists(
    st.tuples(st.integers(0, 2), st.sampled_from([None, None, None, "k1", "k2"])), min_size=0, max_size=1200
).map(lambda xs: [pending(i, v, named if i < 400 else None) for i, (v, named) in enumerate(xs)])
# (an earlier request had ≤ 500 members: at most 400 records name one of the two here)


@settings(max_examples=60, deadline=None)
@given(held)
def test_every_message_in_exactly_one_request_of_identical_messages(items):
    out = groups(items)
    keys_ = [m.ref.message_key for g in out for m in g.members]
    assert sorted(keys_) == sorted(p.ref.message_key for p in items)  # each exactly once
    for g in out:
        assert 1 <= len(g.members) <= MAX_RECIPIENTS
        if g.members[0].named is None:  # a new request: one rendering, its key from its members
            assert len({m.fingerprint for m in g.members}) == 1
            assert g.retry_key == request_key(m.ref.message_key for m in g.members)
        else:  # an earlier request is resent whole, under its own key
            assert {m.named for m in g.members} == {g.retry_key}
    assert out == groups(list(reversed(items)))  # deterministic, whatever the order they were held in


def test_1201_identical_messages_make_three_requests():
    out = groups(pending(i, 0) for i in range(1201))
    assert [len(g.members) for g in out] == [500, 500, 201]
    assert len({g.retry_key for g in out}) == 3


def test_the_aggregation_unit_is_a_line_unit_name():
    assert aggregation_unit("winter-sale") == "winter_sale"
    assert aggregation_unit("a" * 63) == "a" * 30


def test_a_campaign_chooses_its_line_delivery_and_the_plan_hands_it_to_every_batch():
    from datetime import UTC, datetime

    import pytest
    from pydantic import ValidationError

    from enishi.campaigns.pacing import pacing
    from enishi.campaigns.plan import batch_input
    from enishi.campaigns.spec import Campaign
    from enishi.shop_config import REPO_DIR, load_shop_config

    assert Campaign(id="x", name="x", template="t").line_delivery == "push"  # per-customer links by default
    multicast = Campaign(id="x", name="x", template="t", line_delivery="multicast")
    shop = load_shop_config(str(REPO_DIR))
    at = datetime(2026, 12, 1, 3, tzinfo=UTC)
    assert batch_input(multicast, shop, at, pacing(14)).line_delivery == "multicast"
    with pytest.raises(ValidationError):
        Campaign(id="x", name="x", template="t", line_delivery="broadcast")


def test_line_requests_and_cost_of_a_multicast_campaign():
    from enishi.campaigns import cost
    from enishi.campaigns.pacing import SECONDS_PER_SEND, pacing

    assert cost.line_requests(90_000, 100, multicast=False) == 90_000  # one push each
    assert cost.line_requests(90_000, 100, multicast=True) == 200  # 900 a batch: 500 + 400
    assert cost.line_requests(90_000, 100, multicast=True, variants=2) == 200  # 450 per variant a batch
    assert cost.line_requests(0, 0, multicast=True) == 0
    pace = pacing(14)
    push = cost.usage(1000, 100, 0, 900, pace)
    multi = cost.usage(1000, 100, 0, 900, pace, multicast=True)
    assert multi.named_requests == 900 and push.named_requests == 0
    assert multi.send_seconds == push.send_seconds == 900 * SECONDS_PER_SEND  # LINE: not paced to SES's rate
    mixed = cost.usage(1000, 100, 400, 500, pace)
    assert mixed.send_seconds == 400 * pace.seconds_per_message + 500 * SECONDS_PER_SEND
    assert cost.estimate(multi).dynamodb_usd > cost.estimate(push).dynamodb_usd  # the naming write
