"""The profile consumer's functional core: layering, dispatch table and write plans, with an in-memory repository
(no moto, no network)."""

from __future__ import annotations

import ast
import copy
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from enishi import constants as c
from enishi import events as ev
from enishi import keys
from enishi.profiles import service
from enishi.profiles.plan import PROFILE_LABEL, Publish, Put, Step, Touched, Update, overlay
from enishi.profiles.service import ProfileService

SHOP = "enishi-demo.myshopify.com"
T0 = datetime(2025, 3, 1, 3, 0, tzinfo=UTC)
PROFILES = Path(__file__).resolve().parents[2] / "functions" / "enishi" / "profiles"


class MemoryRepository:
    """The ``ProfileRepository`` port over a dict: puts-once keep an existing item, other steps succeed."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.published: list[Any] = []
        self.queries: list[tuple[str, str]] = []

    def get(self, key: Mapping[str, str]) -> dict[str, Any] | None:
        item = self.items.get((key["pk"], key["sk"]))
        return copy.deepcopy(item) if item is not None else None

    def query(self, pk: str, prefix: str = "", *, touched: Touched | None = None) -> list[dict[str, Any]]:
        self.queries.append((pk, prefix))
        return [
            touched.project(copy.deepcopy(item)) if touched else copy.deepcopy(item)
            for (p, s), item in sorted(self.items.items())
            if p == pk and s.startswith(prefix) and (touched is None or touched.keeps(item))
        ]

    def execute(self, steps: Sequence[Step]) -> list[Step]:
        done: list[Step] = []
        for step in steps:
            if isinstance(step, Put) and step.on_conflict == "skip" and self.get(step.item) is not None:
                continue
            if isinstance(step, Publish):
                self.published.extend(step.events)
            if not isinstance(step, Update):
                self.items = overlay(self.items.values(), [step])
            done.append(step)
        return done


def customer(cid: str) -> ev.CustomerRef:
    return ev.CustomerRef(customer_id=cid, email=f"{cid}@example.jp")


def placed(oid: str, cid: str, hours: int) -> ev.OrderPlaced:
    t = T0 + timedelta(hours=hours)
    return ev.OrderPlaced(
        event_id=f"o-{oid}",
        shop=SHOP,
        source="shopify",
        occurred_at=t,
        received_at=t,
        order_id=oid,
        customer=customer(cid),
        placed_at=t,
        total=Decimal("3000"),
    )


def cancelled(oid: str, cid: str | None, hours: int) -> ev.OrderCancelled:
    t = T0 + timedelta(hours=hours)
    return ev.OrderCancelled(
        event_id=f"x-{oid}",
        shop=SHOP,
        source="shopify",
        occurred_at=t,
        received_at=t,
        order_id=oid,
        cancelled_at=t,
        customer=customer(cid) if cid else None,
    )


def new_service(repo: MemoryRepository) -> ProfileService:
    return ProfileService(repo, now=lambda: T0 + timedelta(days=30))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_the_way_from_handler_to_write_goes_down_only():
    # Given the layers from the top: handler → service → planners (pure) → adapter
    layers = ["handler", "service", "planners", "dynamo"]
    pure = ["planners", "plan", "layout", "apply", "model", "items", "serialize"]
    for i, name in enumerate(layers):
        imported = _imports(PROFILES / f"{name}.py")
        # Then no layer imports one above it
        for above in layers[:i]:
            assert f"enishi.profiles.{above}" not in imported, f"{name}.py imports {above}.py"
    # And the service does not know the adapter; the pure modules know neither boto3 nor the service
    assert not {"enishi.profiles.store", "enishi.profiles.dynamo"} & _imports(PROFILES / "service.py")
    for name in pure:
        imported = _imports(PROFILES / f"{name}.py")
        assert not any(m.split(".")[0] in {"boto3", "botocore", "os"} for m in imported), name
        assert (
            not {"enishi.profiles.service", "enishi.profiles.store", "enishi.profiles.dynamo"} & imported
        ), name


def test_every_canonical_event_type_has_a_route():
    # Given every canonical event class
    types = {
        cls.model_fields["type"].default
        for cls in vars(ev).values()
        if isinstance(cls, type) and issubclass(cls, ev.EventBase) and "type" in cls.model_fields
    }
    # Then the dispatch table names each of them (none falls through to the default by accident)
    assert types and types <= set(service.ROUTES)
    assert c.ORDER_PLACED in types


def test_a_first_order_plans_profile_then_order_recorded_then_order_item():
    # Given an empty table
    repo = MemoryRepository()
    # When the first order of a customer is planned
    plan = new_service(repo).plan(placed("1001", "c1", 0))
    # Then nothing is written yet, and the plan is: profile (new: absent), order.recorded, order item, email lookup
    assert repo.items == {}
    labels = [s.events[0].type if isinstance(s, Publish) else s.label for s in plan.steps]
    assert labels == [PROFILE_LABEL, c.ORDER_RECORDED, "order", "email_lookup"]
    profile_put = plan.steps[0]
    assert isinstance(profile_put, Put)
    assert profile_put.condition == {"ConditionExpression": "attribute_not_exists(pk)"}
    assert profile_put.item["order_count"] == 1 and plan.customer_id == "c1"


def test_handling_executes_the_plan_and_reports_it():
    # Given an empty table
    repo = MemoryRepository()
    # When an order is handled
    out = new_service(repo).handle(placed("1001", "c1", 0))
    # Then the outcome lists what the plan wrote and published, and the repository holds it
    assert out.profile_written and out.written == ["order", "email_lookup"]
    assert out.published == [c.ORDER_RECORDED] and [e.order_count for e in repo.published] == [1]
    assert repo.get(keys.profile_key(SHOP, "c1"))["order_count"] == 1


_ORDER_EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["placed", "cancelled", "cancelled_anonymous"]),
        st.sampled_from(["1", "2", "3", "4"]),
        st.integers(min_value=0, max_value=96),
    ),
    min_size=1,
    max_size=10,
)


@settings(max_examples=60, deadline=None)
@given(_ORDER_EVENTS)
def test_a_redelivered_event_plans_no_write(script):
    # Given any sequence of order events of one customer (cancellations with or without the customer)
    events: list[Any] = []
    for kind, oid, hours in script:
        if kind == "placed":
            events.append(placed(oid, "c1", hours))
        else:
            events.append(cancelled(oid, "c1" if kind == "cancelled" else None, hours))
    repo = MemoryRepository()
    svc = new_service(repo)
    # When each is handled once
    for event in events:
        svc.handle(event)
    # Then delivering any of them again plans no write and publishes nothing (it costs reads only)
    for event in events:
        assert svc.plan(event).steps == [], event.type
    # And F(n) is the placed orders not cancelled
    raw = repo.get(keys.profile_key(SHOP, "c1"))
    placed_ids = {oid for kind, oid, _ in script if kind == "placed"}
    cancelled_ids = {oid for kind, oid, _ in script if kind != "placed"}
    if raw is not None:
        assert raw["order_count"] == len(placed_ids - cancelled_ids)
    assert len(repo.published) == len(placed_ids - {o for o in cancelled_ids if _cancelled_first(script, o)})


def _cancelled_first(script: list[tuple[str, str, int]], oid: str) -> bool:
    """The order's cancellation was handled before its order.placed (the order is then never counted)."""
    kinds = [kind for kind, o, _ in script if o == oid]
    return kinds[0] != "placed"
