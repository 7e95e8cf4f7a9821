"""The stored layout of the profile consumer's items, and the conditions their writes carry. Pure.

The one place that knows how a ``Profile`` becomes a PROFILE item (and back), how an order item joins the
``orders_by_day`` index, and which condition protects each put: the consumer's planners, the history import and
the privacy jobs all write through these.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from enishi import clock, keys
from enishi import constants as c
from enishi.profiles.items import OrderItem
from enishi.profiles.model import Profile
from enishi.profiles.serialize import to_item

# written even when equal to the model default: others update ``version`` in place and read these at a glance
PROFILE_ALWAYS_STORED = frozenset({"version", "order_count", "stage"})
# derivable from other attributes, so not stored (readers: ``profile.email_hash or keys.email_hash(profile.email)``)
PROFILE_DERIVED = ("email_hash",)

Item = dict[str, Any]
Condition = dict[str, Any]  # the boto3 keyword arguments of a condition (ConditionExpression, names, values)

ABSENT: Condition = {"ConditionExpression": "attribute_not_exists(pk)"}


def profile_from_item(raw: Mapping[str, Any]) -> Profile:
    """A stored profile item → ``Profile`` (``email_hash`` is derived, not stored: 74 B of every write saved)."""
    profile = Profile.model_validate(raw)
    if profile.email and not profile.email_hash:
        profile = profile.model_copy(update={"email_hash": keys.email_hash(profile.email)})
    return profile


def profile_put(
    new: Profile, old: Profile | None, old_raw: Mapping[str, Any] | None, drop: Collection[str] = ()
) -> tuple[Item, Condition]:
    """The stored PROFILE item of ``new`` as the next version after ``old``, and the condition of its put
    (optimistic lock on ``version``). Attributes other writers added that the model does not know are kept, except
    those named in ``drop`` (an erasure drops personal ones). The one layout of a profile item: the consumer, the
    history import and the privacy job write through it."""
    key = keys.profile_key(new.shop, new.customer_id)
    version = (old.version if old is not None else 0) + 1
    item = to_item(new.model_copy(update={"version": version}), key, keep_defaults=PROFILE_ALWAYS_STORED)
    for name in PROFILE_DERIVED:
        item.pop(name, None)
    item = compact_folds(item)
    if old_raw:
        known = set(Profile.model_fields) | set(key)
        item = {**{k: v for k, v in old_raw.items() if k not in known and k not in drop}, **item}
    if old is None:
        return item, dict(ABSENT)
    return item, {
        "ConditionExpression": "#v = :v",
        "ExpressionAttributeNames": {"#v": "version"},
        "ExpressionAttributeValues": {":v": old.version},
    }


def compact_folds(item: dict[str, Any]) -> dict[str, Any]:
    """Leave out of each stored consent fold the record that is also the channel's current consent (``"current"``
    names it; ``Profile`` puts it back on read): one copy of it per profile item, not two."""
    folds = item.get("consent_folds")
    if not isinstance(folds, dict):
        return item
    out = {}
    for channel, fold in folds.items():
        current = item.get(f"{channel}_consent")
        fold = dict(fold)
        for name in ("latest", "snapshot"):
            if current is not None and fold.get(name) == current:
                del fold[name]
                fold["current"] = name
                break
        out[channel] = fold
    return {**item, "consent_folds": out}


def order_to_item(item: OrderItem) -> Item:
    """The order item as stored: a placed order is in the ``orders_by_day`` index (its JST day), which the daily
    win-back job reads; a cancelled one is not. The one place that knows this layout."""
    extra: dict[str, Any] = {}
    if item.status == "placed" and item.placed_at is not None:
        extra = {
            c.ATTR_GSI1_PK: keys.orders_by_day_pk(item.shop, item.placed_at.astimezone(clock.JST).date()),
            c.ATTR_GSI1_SK: keys.orders_by_day_sk(item.order_id),
        }
    return to_item(item, keys.order_key(item.shop, item.order_id), extra)


def item_condition(old_raw: Mapping[str, Any] | None) -> Condition:
    """The condition of a put replacing a derived item (order, checkout, fulfillment): the ``updated_at`` it was
    read with (absent when it was not there)."""
    if old_raw is None:
        return dict(ABSENT)
    if "updated_at" in old_raw:
        return {
            "ConditionExpression": "#u = :u",
            "ExpressionAttributeNames": {"#u": "updated_at"},
            "ExpressionAttributeValues": {":u": old_raw["updated_at"]},
        }
    return {"ConditionExpression": "attribute_not_exists(updated_at)"}
