"""A campaign's LINE messages as multicasts (``line_delivery: multicast``): one request per ≤ 500 identical messages.

The trade-off (docs/campaigns.md "LINE multicast"): a multicast sends one message to every user id it names, so a
message that names its customer (a greeting by name, a signed tracked link ``/r/{token}``) cannot go in one. In
multicast mode a campaign's LINE message is composed for the campaign, not the customer (``SharedLineComposer``:
no name, links untracked, LINE's ``customAggregationUnits`` counts the campaign's impressions and clicks), and the
recipients whose rendered messages are identical go in one request (variants make separate requests). What is kept
per recipient: every check of the sequence step, the ledger record, the frequency cap, the holdout — so the
campaign's lift (treated vs. held out) is measured as for a push; what is lost: per-customer clicks of LINE
recipients (their orders are attributed by the holdout comparison, not by a click).

Exactly once, as for a push:

1. each recipient runs through ``run_step``; the ``Holding`` channel renders the LINE message and raises
   ``SendHeld`` — the step keeps its ledger claim (``sending``) and cap and hands over a ``HeldSend``;
2. ``groups``: the held messages by identical rendering, ≤ 500 each; a group's ``X-Line-Retry-Key`` is derived from
   its members' message keys (the same members → the same key);
3. each member's ``sending`` record names the request (``Ledger.name_request``) before it is made;
4. the multicast; 200 or 409 (accepted before) → every member ``sent``.

A crash anywhere leaves ``sending`` records: the re-driven batch resumes them (``Claim.resumable_line``), and a
member whose record names a request goes out again in exactly that request (the same retry key: LINE answers
409 when it was accepted, so nobody gets it twice). LINE's answers: 429 monthly limit → the month's flag, every
member's claim and cap given back, each run again through the step (email fallback or a ``line_quota`` skip);
429 rate limit → given back, the batch retried; 5xx / timeout → kept ``sending``, the batch retried (same key);
400 naming recipients (``to[i]``) → those ``failed``, the rest in a new request; other 400s → all ``failed``.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from enishi.channels.line import MAX_MULTICAST
from enishi.profiles.model import Profile
from enishi.sequences.adapters.delivery import render_line
from enishi.sequences.adapters.ledger import Ledger
from enishi.sequences.adapters.messages import MessageComposer
from enishi.sequences.domain.errors import RetryableSendError
from enishi.sequences.domain.ledger import FIELD_REQUEST_KEY, MessageRef
from enishi.sequences.domain.messages import (
    Channels,
    Composed,
    HeldSend,
    Outgoing,
    SendError,
    SendErrorKind,
    SendHeld,
)
from enishi.sequences.domain.spec import Step
from enishi.sequences.step.service import Deps as StepDeps

MAX_RECIPIENTS = MAX_MULTICAST  # user ids per multicast (LINE: 500)
REASON_REJECTED = "line_rejected"
# a fixed namespace: the retry key of a group is the same in every run of the same members
REQUEST_NAMESPACE = uuid.UUID("0b8f5d0e-3c3a-5d6b-9a51-6d756c746963")
_UNIT_CHARS = re.compile(r"[^A-Za-z0-9_]")
UNIT_MAX = 30  # customAggregationUnits: 1–30 characters of [A-Za-z0-9_]


class Multicast(Protocol):
    def __call__(
        self, to: Sequence[str], messages: Sequence[dict[str, Any]], retry_key: str, unit: str | None
    ) -> str | None:
        """``Delivery.multicast``: the request id; raises ``SendError``."""
        ...


def aggregation_unit(campaign_id: str) -> str:
    """LINE's ``customAggregationUnits`` name of a campaign (its statistics: impressions, clicks)."""
    return _UNIT_CHARS.sub("_", campaign_id)[:UNIT_MAX]


def fingerprint(messages: Sequence[dict[str, Any]]) -> str:
    canonical = json.dumps(list(messages), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def request_key(message_keys: Iterable[str]) -> str:
    """The ``X-Line-Retry-Key`` of a multicast to these messages (uuid5 of their sorted keys)."""
    return str(uuid.uuid5(REQUEST_NAMESPACE, "\n".join(sorted(message_keys))))


@dataclass(frozen=True)
class Pending:
    """One held LINE message: its record, its user id, what it renders to, and the request it already names."""

    ref: MessageRef
    to: str
    messages: tuple[dict[str, Any], ...]
    named: str | None = None  # a resumed record's request key (``Ledger.name_request`` of an earlier attempt)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.messages)


@dataclass(frozen=True)
class Group:
    retry_key: str
    members: tuple[Pending, ...]

    @property
    def to(self) -> list[str]:
        return [m.to for m in self.members]

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.members[0].messages)


def groups(pending: Iterable[Pending], limit: int = MAX_RECIPIENTS) -> list[Group]:
    """The requests (pure): members of an earlier request together again under its key; the others by identical
    message, in chunks of ``limit``, each keyed by its members. Deterministic: sorted by message key."""
    named: dict[str, list[Pending]] = {}
    fresh: dict[str, list[Pending]] = {}
    for p in sorted(pending, key=lambda p: p.ref.message_key):
        if p.named:
            named.setdefault(p.named, []).append(p)
        else:
            fresh.setdefault(p.fingerprint, []).append(p)
    out = [Group(key, tuple(members)) for key, members in named.items()]
    for members in fresh.values():
        for i in range(0, len(members), limit):
            chunk = tuple(members[i : i + limit])
            out.append(Group(request_key(m.ref.message_key for m in chunk), chunk))
    return out


class SharedLineComposer:
    """A campaign's composer in multicast mode: the opt-out check as always, then a LINE message for the campaign
    (no customer, links untracked); email stays personal."""

    def __init__(self, inner: MessageComposer) -> None:
        self._inner = inner

    def compose(
        self, ref: MessageRef, step: Step, profile: Profile, trigger: dict[str, Any], channel: str
    ) -> Composed:
        composed = self._inner.compose(ref, step, profile, trigger, channel)  # raises OptOutLinkBroken
        if channel != "line":
            return composed
        context = self._inner.context(ref.sequence, step.id, None, trigger, None, step.marketing)
        return Composed(context, composed.unsubscribe_url)


@dataclass
class Holding:
    """The ``Channels`` of a multicast batch (email through ``inner``; LINE rendered and held) and its collector."""

    inner: Channels
    ledger: Ledger
    limit: int = MAX_RECIPIENTS
    _rendered: dict[str, tuple[str, tuple[dict[str, Any], ...]]] = field(default_factory=dict)
    _held: dict[str, HeldSend] = field(default_factory=dict)

    def step_deps(self, step: StepDeps) -> StepDeps:
        messages = step.messages
        if isinstance(messages, MessageComposer):
            messages = SharedLineComposer(messages)
        return replace(step, channels=self, messages=messages, on_held=self.hold)

    def send(self, message: Outgoing) -> str | None:
        if message.channel != "line":
            return self.inner.send(message)
        self._rendered[message.message_key] = (message.to, tuple(render_line(message)))
        raise SendHeld(message.message_key)

    def hold(self, held: HeldSend) -> None:
        self._held[held.ref.message_key] = held

    def pending(self) -> list[Pending]:
        out = []
        for key, held in self._held.items():
            to, messages = self._rendered[key]
            named = (self.ledger.get(held.ref) or {}).get(FIELD_REQUEST_KEY) if held.resumed else None
            out.append(Pending(held.ref, to, messages, str(named) if named else None))
        return out

    def flush(
        self, multicast: Multicast, unit: str | None, on_quota: Callable[[list[MessageRef]], Counter[str]]
    ) -> Counter[str]:
        """Send every held message (``groups``); counts by outcome. ``on_quota(refs)``: LINE's monthly limit met
        — the refs' claims are given back; it runs them again (the caller sets the month's flag first)."""
        counts: Counter[str] = Counter()
        request = _Request(self, multicast, unit, on_quota)
        for group in groups(self.pending(), self.limit):
            counts.update(request.send(group) if not request.quota_met else request.after_quota(group))
        return counts


@dataclass
class _Request:
    holding: Holding
    multicast: Multicast
    unit: str | None
    on_quota: Callable[[list[MessageRef]], Counter[str]]
    quota_met: bool = False  # LINE's monthly limit answered: the later groups are not offered to LINE

    def _end(self, p: Pending) -> HeldSend:
        return self.holding._held[p.ref.message_key]

    def send(self, group: Group, *, split: bool = True) -> Counter[str]:
        members = [
            m
            for m in group.members
            if m.named == group.retry_key
            or self.holding.ledger.name_request(m.ref, retry_key=group.retry_key)
        ]
        counts: Counter[str] = Counter({"skipped:not_sending": len(group.members) - len(members)})
        if not members:
            return +counts
        group = Group(group.retry_key, tuple(members))
        try:
            request_id = self.multicast(group.to, group.messages, group.retry_key, self.unit)
        except SendError as err:
            return +(counts + self._failed(group, err, split))
        for m in members:
            self._end(m).complete(request_id)
        counts["sent"] += len(members)
        return +counts

    def after_quota(self, group: Group) -> Counter[str]:
        """A group after the monthly limit: its claims given back, its recipients run again through the step.
        (A member naming an earlier request that LINE accepted is resent with that key first: 409 → sent.)"""
        if any(m.named for m in group.members):
            return self.send(group)
        for m in group.members:
            self._end(m).give_back()
        return self.on_quota([m.ref for m in group.members])

    def _failed(self, group: Group, err: SendError, split: bool) -> Counter[str]:
        if (
            err.kind is SendErrorKind.AMBIGUOUS_RETRY
        ):  # maybe accepted: the records name the request; resend it
            raise RetryableSendError(f"line multicast: {err.detail}") from err
        if err.kind in (SendErrorKind.NOT_SENT_RETRY, SendErrorKind.QUOTA):
            for m in group.members:
                self._end(m).give_back()
            if err.kind is SendErrorKind.NOT_SENT_RETRY:
                raise RetryableSendError(f"line multicast: {err.detail}") from err
            self.quota_met = True
            return self.on_quota([m.ref for m in group.members])
        return self._rejected(group, err, split)

    def _rejected(self, group: Group, err: SendError, split: bool) -> Counter[str]:
        """A 400 (or a render error): the recipients LINE named fail, the others go in a new request (once)."""
        bad = {i for i in err.rejected if 0 <= i < len(group.members)}
        rest = tuple(m for i, m in enumerate(group.members) if i not in bad)
        if not (split and bad and rest):
            bad, rest = set(range(len(group.members))), ()
        for i in bad:
            self._end(group.members[i]).fail(REASON_REJECTED)
        counts: Counter[str] = Counter({"skipped:send_failed": len(bad)})
        if rest:  # LINE refused the whole request for the ones it named: the others in a new one
            fresh = tuple(replace(m, named=None) for m in rest)
            counts.update(self.send(Group(request_key(m.ref.message_key for m in fresh), fresh), split=False))
        return counts
