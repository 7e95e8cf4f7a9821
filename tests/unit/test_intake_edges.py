"""Intake at its edges (issue 9, defects 2, 4, 5): pure ``logic.handle`` with in-memory ports.

- a signed delivery for a shop this deployment does not serve: 403 unknown_shop, kept;
- bodies nested 10,000 deep: 400, kept (not 500);
- an order with 3,000 line items, a 6 MB body: accepted, every event ≤ 200 KB, the full body kept and pointed at;
- whatever signed body arrives, the answer is never 5xx (hypothesis), and nothing 2xx without a valid signature.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from enishi import bounding, signatures
from enishi import events as ev
from enishi.intake import logic
from enishi.publish import InMemoryPublisher, PublishFailed

ROOT = Path(__file__).resolve().parents[2]
SHOPIFY = ROOT / "tests" / "events" / "shopify"
GENERIC = ROOT / "docs" / "examples" / "generic"
SHOP = "enishi-demo.myshopify.com"
NOW = datetime(2025, 1, 20, 13, 31, tzinfo=UTC)
SECRET = "s3cret"


class Raw:
    def __init__(self, fail: bool = False) -> None:
        self.kept: list[dict[str, Any]] = []
        self.fail = fail

    def keep(self, source, raw, headers, reason, details, received_at) -> str:
        if self.fail:
            raise ConnectionError("S3 down")
        key = logic.raw_key(source, received_at, f"k{len(self.kept)}")
        self.kept.append({"key": key, "reason": reason, "raw": raw, "details": details})
        return key


class Dedupe:
    def __init__(self) -> None:
        self.markers: set[tuple[str, str, str]] = set()

    def claim(self, shop, source, delivery_id, expires_at) -> bool:
        if (shop, source, delivery_id) in self.markers:
            return False
        self.markers.add((shop, source, delivery_id))
        return True

    def release(self, shop, source, delivery_id) -> None:
        self.markers.discard((shop, source, delivery_id))


class Metrics:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def count(self, name, value=1) -> None:
        self.counts[name] = self.counts.get(name, 0) + value


class SizeCheckingPublisher(InMemoryPublisher):
    """Refuses what EventBridge would refuse: an entry over 256 KB."""

    def publish(self, events):
        for e in events:
            if bounding.event_size(e) > bounding.PUT_EVENTS_MAX_BYTES:
                raise PublishFailed("entry too large")
        super().publish(events)


def ports(**kw) -> logic.Ports:
    return logic.Ports(
        secrets=lambda source: [SECRET],
        dedupe=kw.get("dedupe") or Dedupe(),
        raw=kw.get("raw") or Raw(),
        publisher=kw.get("publisher") or SizeCheckingPublisher(),
        metrics=kw.get("metrics") or Metrics(),
        shops=frozenset({SHOP}),
    )


def shopify_request(
    body: bytes, *, topic: str = "orders/create", shop: str = SHOP, event_id: str = "e1"
) -> logic.WebhookRequest:
    headers = {
        "x-shopify-topic": topic,
        "x-shopify-shop-domain": shop,
        "x-shopify-event-id": event_id,
        "x-shopify-hmac-sha256": signatures.sign_shopify(body, SECRET),
    }
    return logic.WebhookRequest(source="shopify", raw=body, headers=headers)


def generic_request(body: bytes) -> logic.WebhookRequest:
    headers = {"x-enishi-signature": signatures.sign_generic(body, SECRET, int(NOW.timestamp()))}
    return logic.WebhookRequest(source="generic", raw=body, headers=headers)


def big_order(items: int, title_chars: int = 20) -> dict[str, Any]:
    order = json.loads((SHOPIFY / "orders__create.json").read_text())
    template = {
        k: order["line_items"][0][k] for k in ("product_id", "quantity", "price", "vendor", "variant_title")
    }
    order["line_items"] = [
        {
            **copy.deepcopy(template),
            "id": 10_000_000 + i,
            "title": f"商品{i:05d}" + "茶" * title_chars,
            "variant_id": 20_000_000 + i,
            "sku": f"SKU-{i:05d}",
            "name": f"商品{i:05d}",
        }
        for i in range(items)
    ]
    return order


# ---- defect 2: a shop this deployment does not serve


def test_generic_example_for_another_shop_is_403_and_kept():
    body = json.loads((GENERIC / "order.placed.json").read_text())
    body["shop"] = "shop.enishi-sabo.example"
    raw, p = json.dumps(body).encode(), ports()
    answer = logic.handle(generic_request(raw), p, NOW)
    assert (answer.status, answer.body["error"]) == (403, "unknown_shop")
    assert [k["reason"] for k in p.raw.kept] == ["unknown_shop"] and p.raw.kept[0]["raw"] == raw
    assert p.metrics.counts.get("UnknownShop") == 1 and not p.publisher.published and not p.dedupe.markers


def test_shopify_delivery_for_another_shop_is_403_and_kept():
    raw = (SHOPIFY / "orders__create.json").read_bytes()
    p = ports()
    answer = logic.handle(shopify_request(raw, shop="someone-else.myshopify.com"), p, NOW)
    assert answer.status == 403 and answer.body["error"] == "unknown_shop"
    assert [k["reason"] for k in p.raw.kept] == ["unknown_shop"] and not p.publisher.published


def test_unknown_shop_with_a_bad_signature_is_still_just_401():
    raw = (SHOPIFY / "orders__create.json").read_bytes()
    request = shopify_request(raw, shop="someone-else.myshopify.com")
    request.headers["x-shopify-hmac-sha256"] = signatures.sign_shopify(raw, "wrong")
    p = ports()
    assert logic.handle(request, p, NOW).status == 401 and not p.raw.kept


@pytest.mark.parametrize("path", sorted(GENERIC.glob("*.json")), ids=lambda p: p.stem)
def test_every_documented_generic_example_is_for_the_demo_shop_and_accepted(path):
    p = ports()
    answer = logic.handle(generic_request(path.read_bytes()), p, NOW)
    assert (answer.status, answer.body) == (200, {"status": "accepted", "events": 1})
    assert p.publisher.published[0].shop == SHOP


# ---- defect 5: JSON nested 10,000 deep


@pytest.mark.parametrize("kind", ["shopify", "generic"])
@pytest.mark.parametrize(
    "raw", [b"[" * 10_000 + b"]" * 10_000, b'{"a":' * 10_000 + b"1" + b"}" * 10_000, b"[" * 100 + b"]" * 100]
)
def test_deeply_nested_json_is_400_and_kept(kind, raw):
    p = ports()
    request = shopify_request(raw) if kind == "shopify" else generic_request(raw)
    answer = logic.handle(request, p, NOW)
    assert answer.status == 400 and p.raw.kept[0]["reason"] == "too_deep"


def test_a_raw_store_failure_is_503_retry_not_a_crash():
    p = ports(raw=Raw(fail=True))
    answer = logic.handle(generic_request(b"not json"), p, NOW)
    assert answer.status == 503 and p.metrics.counts.get("RawStoreFailed") == 1


# ---- defect 4: large authentic orders


@pytest.mark.parametrize("items,title_chars", [(3000, 20), (3000, 640)], ids=["3000-items", "6MB-body"])
def test_large_order_is_accepted_bounded_and_points_at_the_full_body(items, title_chars):
    raw = json.dumps(big_order(items, title_chars), ensure_ascii=False).encode()
    assert len(raw) > 256 * 1024
    p = ports()
    answer = logic.handle(shopify_request(raw), p, NOW)
    assert (answer.status, answer.body["status"]) == (200, "accepted")
    [order] = p.publisher.published
    assert isinstance(order, ev.OrderPlaced)
    assert bounding.event_size(order) <= bounding.MAX_ENTRY_BYTES
    assert order.item_count == items and 0 < len(order.line_items) <= bounding.MAX_LINE_ITEMS
    assert order.line_items[0].title.startswith("商品00000") and order.total > 0
    assert [k["reason"] for k in p.raw.kept] == ["oversized"] and p.raw.kept[0]["raw"] == raw
    assert order.raw_ref == p.raw.kept[0]["key"]
    # a redelivery is a duplicate, not a second copy
    again = logic.handle(shopify_request(raw), p, NOW)
    assert again.body["status"] == "duplicate" and len(p.raw.kept) == 1


def test_an_identifier_too_large_to_ever_fit_is_kept_not_retried():
    order = json.loads((SHOPIFY / "orders__create.json").read_text())
    order["id"] = "9" * 300_000
    p = ports()
    answer = logic.handle(shopify_request(json.dumps(order).encode()), p, NOW)
    assert (answer.status, answer.body["status"]) == (200, "kept") and p.raw.kept[0][
        "reason"
    ] == "unprocessable"


# ---- whatever is signed: never 5xx; unsigned: never 2xx

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=40,
)


def mutated_sample(draw_dict: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    return {**base, **draw_dict}


sample_orders = st.sampled_from(sorted(p.name for p in SHOPIFY.glob("*.json")))
shopify_bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.tuples(
        sample_orders,
        st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "email",
                    "line_items",
                    "customer",
                    "total_price",
                    "created_at",
                    "updated_at",
                    "buyer_accepts_marketing",
                    "email_marketing_consent",
                    "token",
                    "order_id",
                ]
            ),
            json_values,
            max_size=4,
        ),
    ).map(lambda t: json.dumps({**json.loads((SHOPIFY / t[0]).read_text()), **t[1]}).encode()),
)
generic_bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.tuples(
        st.sampled_from(sorted(p.name for p in GENERIC.glob("*.json"))),
        st.dictionaries(st.text(max_size=10), json_values, max_size=3),
        st.dictionaries(
            st.sampled_from(["customer", "line_items", "total", "email_consent", "order_id"]),
            json_values,
            max_size=3,
        ),
    ).map(
        lambda t: json.dumps(
            {
                **json.loads((GENERIC / t[0]).read_text()),
                **t[1],
                "data": {**json.loads((GENERIC / t[0]).read_text())["data"], **t[2]},
            }
        ).encode()
    ),
)
topics = st.sampled_from(
    [
        "orders/create",
        "orders/paid",
        "checkouts/update",
        "customers/update",
        "fulfillments/create",
        "customers_email_marketing_consent/update",
        "customers/redact",
        "shop/redact",
        "nope",
    ]
)


@given(raw=shopify_bodies, topic=topics)
def test_a_signed_shopify_delivery_is_never_answered_5xx(raw, topic):
    p = ports()
    answer = logic.handle(shopify_request(raw, topic=topic), p, NOW)
    assert answer.status in (200, 400, 403)
    assert (answer.status == 200 and answer.body["status"] in ("accepted", "kept")) or p.raw.kept


@given(raw=generic_bodies)
def test_a_signed_generic_delivery_is_never_answered_5xx(raw):
    p = ports()
    answer = logic.handle(generic_request(raw), p, NOW)
    assert answer.status in (200, 400, 403)
    assert answer.status == 200 or p.raw.kept  # refused → kept


@given(
    raw=st.one_of(shopify_bodies, generic_bodies),
    header=st.text(max_size=100),
    source=st.sampled_from(["shopify", "generic"]),
)
def test_nothing_unsigned_gets_a_2xx_or_leaves_a_trace(raw, header, source):
    name = signatures.SHOPIFY_SIGNATURE_HEADER if source == "shopify" else signatures.GENERIC_SIGNATURE_HEADER
    request = logic.WebhookRequest(
        source=source,
        raw=raw,
        headers={name: header, "x-shopify-shop-domain": SHOP, "x-shopify-topic": "orders/create"},
    )
    p = ports()
    assert logic.handle(request, p, NOW).status == 401
    assert not p.raw.kept and not p.publisher.published and not p.dedupe.markers


def test_replay_skips_bodies_kept_only_behind_a_raw_ref():
    from enishi_local.replay import replay_request

    document = json.loads(
        logic.raw_document("shopify", b"{}", {"x-shopify-topic": "orders/create"}, "oversized", [], NOW)
    )
    assert replay_request(document, "http://localhost") is None
    document["reason"] = "unknown_shop"  # a Shopify delivery for a shop added to shop.yaml since: replayable
    assert replay_request(document, "http://localhost") is not None


def test_an_unreachable_secret_store_or_dedupe_table_is_503_retry():
    def no_secrets(source):
        raise ConnectionError("secrets manager down")

    p = ports()
    p.secrets = no_secrets
    raw = (GENERIC / "order.placed.json").read_bytes()
    assert logic.handle(generic_request(raw), p, NOW).status == 503

    class BrokenDedupe(Dedupe):
        def claim(self, *args):
            raise TimeoutError("dynamodb")

    p = ports(dedupe=BrokenDedupe())
    assert logic.handle(generic_request(raw), p, NOW).status == 503 and not p.publisher.published
