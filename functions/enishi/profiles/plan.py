"""A write plan: what handling one event writes and publishes, in order, as data. Pure.

Planners (``planners.py``) return one; the DynamoDB adapter (``dynamo.DynamoProfileRepository.execute``) carries it
out step by step, in the order given. Every step says what a lost race means:

- ``Put`` with ``on_conflict="retry"`` (the profile, derived items): the condition failing raises
  ``WriteConflict`` and the service re-reads and re-plans the whole event;
- ``Put`` with ``on_conflict="skip"`` (append-only records: consent ledger, privacy requests, wordings): the item
  is already there, which is what the put wanted; ``read_first`` reads the key before the conditional put (billed
  even when it fails) when the item may well be there already;
- ``Update`` (a conditional update whose failure means "someone else did it first": message attribution),
  ``Remove`` (attributes taken off an item), ``Delete`` and ``Publish``.

``label`` names the kind of item written, for the ``Outcome`` (ids only: safe to log).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from enishi.profiles.layout import ABSENT, Condition, Item

PROFILE_LABEL = "profile"  # the event's own profile: ``Outcome.profile_written``, not in ``written``

Key = tuple[str, str]


class WriteConflict(Exception):
    """A conditional write lost a race; the whole event is re-read and re-applied."""


@dataclass(frozen=True)
class Put:
    item: Item
    condition: Condition = field(default_factory=dict)
    label: str | None = None
    on_conflict: Literal["retry", "skip"] = "retry"
    read_first: bool = False


@dataclass(frozen=True)
class Update:
    key: Item
    expression: str
    condition: str
    values: Mapping[str, Any]
    label: str | None = None
    conversion: tuple[str, float] | None = None  # (sequence, revenue) counted when this update takes effect


@dataclass(frozen=True)
class Remove:
    key: Item
    names: tuple[str, ...]
    label: str | None = None


@dataclass(frozen=True)
class Delete:
    key: Item
    label: str | None = None


@dataclass(frozen=True)
class Publish:
    events: tuple[Any, ...]


Step = Put | Update | Remove | Delete | Publish


@dataclass(frozen=True)
class Touched:
    """A read's filter: only the items with any of ``times`` (ISO 8601 UTC strings, which sort as times) at or
    after ``since``, and of them only ``fields`` (besides ``pk``, ``sk``). A query still reads (and is billed for)
    the whole partition range; the filter caps what is transferred and parsed."""

    since: str
    times: tuple[str, ...]
    fields: tuple[str, ...] = ()

    def keeps(self, item: Mapping[str, Any]) -> bool:
        return any(str(item.get(t) or "") >= self.since for t in self.times)

    def project(self, item: Mapping[str, Any]) -> Item:
        if not self.fields:
            return dict(item)
        return {k: v for k, v in item.items() if k in ("pk", "sk", *self.fields)}


@dataclass
class WritePlan:
    steps: list[Step] = field(default_factory=list)
    customer_id: str | None = None  # the customer the event was applied to (for the outcome)
    merged_guest: str | None = None  # a guest profile merged into that customer by this plan

    def add(self, steps: Iterable[Step]) -> WritePlan:
        self.steps.extend(steps)
        return self


def put_once(item: Item, label: str | None = None, *, read_first: bool = False) -> Put:
    """An append-only item: put unless its key is taken."""
    return Put(item, dict(ABSENT), label, on_conflict="skip", read_first=read_first)


@dataclass
class Outcome:
    """What handling one event did (ids only: safe to log)."""

    event_type: str
    customer_id: str | None = None
    profile_written: bool = False
    written: list[str] = field(default_factory=list)  # item kinds written besides the profile
    published: list[str] = field(default_factory=list)
    merged_guest: str | None = None
    attempts: int = 1
    conversion: tuple[str, float] | None = None  # (sequence, revenue): an order first credited to a message


def outcome(event_type: str, plan: WritePlan, done: Iterable[Step]) -> Outcome:
    """The outcome of a plan whose steps ``done`` took effect (a skipped put or update is not among them)."""
    out = Outcome(event_type=event_type, customer_id=plan.customer_id, merged_guest=plan.merged_guest)
    for step in done:
        if isinstance(step, Publish):
            out.published.extend(e.type for e in step.events)
        elif step.label == PROFILE_LABEL:
            out.profile_written = True
        elif step.label is not None:
            out.written.append(step.label)
        if isinstance(step, Update) and step.conversion is not None:
            out.conversion = step.conversion
    return out


def key_of(item: Mapping[str, Any]) -> Key:
    return str(item["pk"]), str(item["sk"])


def overlay(items: Iterable[Mapping[str, Any]], steps: Iterable[Step]) -> dict[Key, Item]:
    """The items as a read after ``steps`` would see them (the conditional puts of a plan that executes at all
    succeed; a put-once leaves an existing item alone). For plans that read back what they wrote."""
    view: dict[Key, Item] = {key_of(i): dict(i) for i in items}
    for step in steps:
        if isinstance(step, Put):
            key = key_of(step.item)
            if not (step.on_conflict == "skip" and key in view):
                view[key] = dict(step.item)
        elif isinstance(step, Remove):
            key = key_of(step.key)
            if key in view:
                view[key] = {k: v for k, v in view[key].items() if k not in step.names}
        elif isinstance(step, Delete):
            view.pop(key_of(step.key), None)
    return view
