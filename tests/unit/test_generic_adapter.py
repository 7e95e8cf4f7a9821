"""Generic webhook v1: the JSON Schema (docs/schema) and the pydantic models (carts/generic.py) must agree.

Every documented example must pass both; every broken body below must fail both.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest

from enishi import events as ev
from enishi import keys
from enishi.carts import Unprocessable, generic

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "schema" / "generic-v1.schema.json").read_text())
EXAMPLES = sorted((ROOT / "docs" / "examples" / "generic").glob("*.json"))
VALIDATOR = jsonschema.Draft202012Validator(
    SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
)
RECEIVED = datetime(2025, 1, 20, 13, 31, tzinfo=UTC)


def example(name: str) -> dict:
    return json.loads((ROOT / "docs" / "examples" / "generic" / f"{name}.json").read_text())


def test_schema_is_valid_draft_2020_12():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_every_type_has_an_example():
    assert (
        {json.loads(p.read_text())["type"] for p in EXAMPLES}
        == set(generic.TYPES)
        == set(SCHEMA["properties"]["type"]["enum"])
    )


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_passes_schema_and_adapter(path):
    body = json.loads(path.read_text())
    VALIDATOR.validate(body)
    [event] = generic.adapt(body, RECEIVED)
    assert event.type == body["type"] and event.shop == body["shop"] and event.source == "generic"
    assert event.event_id == f"generic:{body['id']}:{body['type']}"
    assert ev.parse_event(ev.to_detail(event)) == event


def test_order_example_maps_money_items_and_consent_with_wording():
    order = generic.adapt(example("order.placed"), RECEIVED)[0]
    assert isinstance(order, ev.OrderPlaced)
    assert order.total == Decimal("4870") and order.line_items[0].price == Decimal("1620")
    assert order.customer.customer_id == "C-10023" and not order.customer.guest
    assert order.checkout_token == "CK-88231"
    assert order.email_consent.source == "generic" and order.email_consent.wording.startswith("縁茶房")


def test_guest_order_is_keyed_by_normalized_email():
    order = generic.adapt(example("order.placed.guest"), RECEIVED)[0]
    assert order.customer.guest and order.customer.customer_id == keys.guest_customer_id(
        "misaki.suzuki@example.jp"
    )


def mutate(name: str, path: str, value):
    body = copy.deepcopy(example(name))
    *parents, last = path.split(".")
    node = body
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return body


class _Delete:
    """Marker: remove the field (a stable repr keeps test ids identical across xdist workers)."""

    def __repr__(self) -> str:
        return "<delete>"


DELETE = _Delete()

BROKEN = [
    ("order.placed", "version", "2"),
    ("order.placed", "version", 1),
    ("order.placed", "type", "order.shipped"),
    ("order.placed", "id", DELETE),
    ("order.placed", "id", ""),
    ("order.placed", "shop", "shop with spaces"),
    ("order.placed", "occurred_at", "2025-01-20 22:30:12"),
    ("order.placed", "occurred_at", "2025-01-20T22:30:12"),
    ("order.placed", "occurred_at", 1737379812),
    ("order.placed", "extra", "field"),
    ("order.placed", "data.total", 4870),
    ("order.placed", "data.total", "4,870"),
    ("order.placed", "data.customer", {"first_name": "花子"}),
    ("order.placed", "data.customer.email", "not-an-email"),
    ("order.placed", "data.line_items.0.price", DELETE),
    ("order.placed", "data.line_items.0.quantity", 0),
    ("order.placed", "data.line_items.0.quantity", "2"),
    ("order.placed", "data.currency", "yen"),
    ("order.placed", "data.email_consent.state", "maybe"),
    ("order.placed", "data.placed_at", DELETE),
    ("order.placed", "data.unknown", 1),
    ("checkout.updated", "data.status", "abandoned"),
    ("fulfillment.updated", "data.status", "shipped"),
    ("consent.changed", "data.consent.collected_at", DELETE),
    ("customer.upserted", "data.tags", "会員"),
    ("order.cancelled", "data.cancelled_at", "yesterday"),
]


@pytest.mark.parametrize(("name", "path", "value"), BROKEN, ids=lambda v: str(v)[:30])
def test_broken_body_fails_schema_and_adapter_alike(name, path, value):
    body = mutate(name, path, value)
    assert not VALIDATOR.is_valid(body)
    with pytest.raises(Unprocessable) as err:
        generic.adapt(body, RECEIVED)
    assert err.value.details  # the sender gets a location and a reason


def test_error_details_name_the_field_without_echoing_values():
    body = mutate("order.placed", "data.customer.email", "secret-not-an-email")
    with pytest.raises(Unprocessable) as err:
        generic.adapt(body, RECEIVED)
    assert err.value.details[0]["loc"] == "data.customer.email"
    assert "secret-not-an-email" not in json.dumps(err.value.as_dict())


def test_delivery_id_is_the_sender_id():
    assert generic.delivery_id(example("order.placed")) == "evt_01JHF4C0ZX"
    assert generic.delivery_id({"id": 5}) is None and generic.delivery_id([]) is None


def test_non_object_body_is_unprocessable():
    with pytest.raises(Unprocessable, match="JSON object"):
        generic.adapt([1], RECEIVED)
