"""Models ⇄ DynamoDB items, and the item size DynamoDB bills.

``to_item``: times as ISO 8601 UTC with ``Z`` (microseconds kept when present), money and counts as numbers
(``Decimal``), ``None`` and empty lists/maps left out — every byte counts towards the 1 KB write unit.

``item_size`` follows DynamoDB's documented rules (Developer Guide, "Item sizes and formats"): attribute name bytes
(UTF-8) + value; string = UTF-8 bytes; number ≈ 1 byte per two significant digits + 1; boolean / null = 1; list and
map = 3 bytes + 1 byte per element + the elements (a map element also counts its key). Write units = ⌈size / 1 KB⌉.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

WRITE_UNIT_BYTES = 1024


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return _plain(value.model_dump(mode="python"))
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, bool) or value is None or isinstance(value, (str, Decimal)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            pv = _plain(v)
            if pv is None or pv == [] or pv == {}:
                continue
            out[str(k)] = pv
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    return value


def to_item(
    model: BaseModel,
    key: Mapping[str, str],
    extra: Mapping[str, Any] | None = None,
    *,
    keep_defaults: Collection[str] | None = None,
) -> dict[str, Any]:
    """Model → DynamoDB item (for the boto3 resource API): ``key`` first, then the model's attributes.

    With ``keep_defaults``, top-level fields equal to their model default are left out too (a reader's
    ``model_validate`` restores them), except the names listed."""
    item: dict[str, Any] = dict(key)
    attrs = _plain(model)
    if keep_defaults is not None:
        fields = type(model).model_fields
        for name in list(attrs):
            f = fields.get(name)
            if (
                f is not None
                and name not in keep_defaults
                and not f.is_required()
                and f.get_default(call_default_factory=True) == getattr(model, name)
            ):
                del attrs[name]
    item.update(attrs)
    if extra:
        item.update({k: v for k, v in extra.items() if v is not None})
    return item


def _number_size(value: Decimal | int) -> int:
    d = Decimal(value).normalize()
    if d == 0:
        return 2
    digits = len(d.as_tuple().digits)
    return math.ceil(digits / 2) + 1


def value_size(value: Any) -> int:
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    if isinstance(value, (int, Decimal)):
        return _number_size(value)
    if isinstance(value, float):
        return _number_size(Decimal(str(value)))
    if isinstance(value, datetime):
        return len(iso(value))
    if isinstance(value, Mapping):
        return 3 + sum(1 + len(str(k).encode("utf-8")) + value_size(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return 3 + sum(1 + value_size(v) for v in value)
    if isinstance(value, (set, frozenset)):
        return sum(value_size(v) for v in value)
    raise TypeError(f"no DynamoDB size for {type(value).__name__}")


def item_size(item: Mapping[str, Any]) -> int:
    """Bytes DynamoDB counts for an item (resource-API values: str, Decimal/int, bool, None, list, dict)."""
    return sum(len(name.encode("utf-8")) + value_size(v) for name, v in item.items())


def write_units(item: Mapping[str, Any] | None) -> int:
    if not item:
        return 1
    return max(1, math.ceil(item_size(item) / WRITE_UNIT_BYTES))
