"""DynamoDB item serialization and the item-size rules the write-unit figure relies on."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from enishi.profiles.model import Profile
from enishi.profiles.serialize import item_size, to_item, write_units


def test_item_size_follows_dynamodb_rules():
    # name bytes + value: UTF-8 string, number ≈ 1 B per 2 significant digits + 1, bool 1, list/map 3 + 1 per element
    assert item_size({"pk": "abc"}) == 2 + 3
    assert item_size({"t": "日本"}) == 1 + 6
    assert item_size({"n": Decimal("12345")}) == 1 + 4
    assert item_size({"n": Decimal("1000")}) == 1 + 2  # trailing zeros trimmed
    assert item_size({"b": True}) == 2
    assert item_size({"l": ["ab", "c"]}) == 1 + 3 + (1 + 2) + (1 + 1)
    assert item_size({"m": {"k": "v"}}) == 1 + 3 + (1 + 1 + 1)


def test_write_units_round_up_per_kilobyte():
    assert write_units({"x": "a" * 1000}) == 1
    assert write_units({"x": "a" * 1024}) == 2


def test_profile_item_leaves_out_none_and_defaults_but_keeps_version():
    t = datetime(2025, 3, 1, 3, tzinfo=UTC)
    p = Profile(shop="s", customer_id="1", created_at=t, updated_at=t, version=1)
    item = to_item(p, {"pk": "P", "sk": "PROFILE"}, keep_defaults={"version", "order_count", "stage"})
    assert item["created_at"] == "2025-03-01T03:00:00Z"
    assert item["version"] == 1 and item["order_count"] == 0 and item["stage"] == "lead"
    assert "guest" not in item and "email" not in item and "recent_order_ids" not in item
    assert Profile.model_validate(item) == p
