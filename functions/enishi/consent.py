"""The consent rule, in one place (pure: no boto3, no clock reads). Every adapter and the profile logic call it.

特定電子メール法 and DESIGN.md invariant 7: *a "no" is undone only by a newer affirmative act of the customer, with
its evidence.* Stated as three functions:

1. **When did it happen?** ``effective_at(state, kind, sender_at, received_at, origin_at)``.
   A sender's timestamp is clamped to the time enishi received it (``min(sender_at, received_at)``); one more than
   ``SKEW_TOLERANCE`` (5 min) after receipt is untrusted and treated as absent (a clock running ahead, JST written
   as ``Z``). Without a trusted sender time a restrictive state (anything but ``subscribed``) takes the receive time
   (the latest plausible moment: the safe side), an affirmative one the earliest plausible moment, ``origin_at``
   (the checkout / order / customer ``created_at``, clamped the same way). An affirmative *snapshot* is dated at the
   earliest of its trusted times (checkout creation). An affirmative *act* with no trusted time at all cannot prove
   it is newer than anything: it is kept as a snapshot dated at receipt.
2. **Act or snapshot?** ``kind`` on ``events.Consent``: ``act`` = the customer's recorded consent state and when it
   changed (a consent webhook, the customer resource, the preference page, a generic consent); ``snapshot`` = what a
   checkout or order payload says (``buyer_accepts_marketing``, a customer consent embedded in an order/checkout).
3. **Which record decides?** ``current(fold)``, where ``fold`` folds records in any order (``fold_in``).
   Records are ordered by ``record_key`` = (effective time, restrictiveness, act over snapshot, digest): later
   wins, on equal times the more restrictive state, then an act over a snapshot. The decision over a *set* of
   records (``derive``, the reference the fold must equal):

   - ``M`` = the greatest record that is an act or restrictive (acts of any state, restrictive snapshots);
   - ``P`` = the *earliest* affirmative snapshot (the first checkout evidence of consent; later snapshots of the
     same consent add nothing, so a repeat order changes nothing);
   - ``O`` = some record is an opt-out (``unsubscribed`` / ``redacted``);
   - current = ``P`` if there is no opt-out and ``P`` is greater than ``M``; else ``M``.

   So a snapshot never turns an opt-out into ``subscribed`` (whatever its time), and ``subscribed`` comes back after
   an opt-out only through an affirmative act later than every restrictive record.

The fold keeps ``M``, ``P`` (while it can still decide), the earliest affirmative snapshot time and ``O``: max, min
and or — commutative, associative and idempotent, so the result does not depend on arrival order or duplicates.
The consent ledger (``keys.consent_ledger_key``) keeps every record the fold took in (``changes_fold``) and every act.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from enishi import events as ev

SKEW_TOLERANCE = timedelta(minutes=5)
AFFIRMATIVE = frozenset({"subscribed"})
OPT_OUT = frozenset({"unsubscribed", "redacted"})
# restrictiveness: on equal times the more restrictive state wins (the safe side of 特定電子メール法)
RANK = {"subscribed": 0, "pending": 1, "not_subscribed": 2, "unsubscribed": 3, "redacted": 4}
_KIND_RANK = {"snapshot": 0, "act": 1}

Kind = Literal["act", "snapshot"]


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def is_affirmative(state: str) -> bool:
    return state in AFFIRMATIVE


def is_opt_out(state: str) -> bool:
    return state in OPT_OUT


# ---------------------------------------------------------------- 1. time


def trusted_time(sender_at: datetime | None, received_at: datetime) -> datetime | None:
    """A sender's time, clamped to the receipt; None when absent or more than SKEW_TOLERANCE after the receipt."""
    if sender_at is None:
        return None
    sender, received = _utc(sender_at), _utc(received_at)
    if sender > received + SKEW_TOLERANCE:
        return None
    return min(sender, received)


def effective_at(
    state: str,
    kind: Kind,
    *,
    sender_at: datetime | None,
    received_at: datetime,
    origin_at: datetime | None = None,
) -> tuple[datetime, Kind]:
    """(effective time, kind) of a consent: see the module docstring. ``kind`` changes only for an affirmative act
    with no trusted time, which becomes a snapshot."""
    received = _utc(received_at)
    sender = trusted_time(sender_at, received)
    if not is_affirmative(state):
        return (sender or received), kind
    origin = trusted_time(origin_at, received)
    if kind == "act":
        if sender is not None:
            return sender, "act"
        if origin is not None:
            return origin, "act"
        return received, "snapshot"
    known = [t for t in (sender, origin) if t is not None]
    return (min(known) if known else received), "snapshot"


def make(
    *,
    state: ev.ConsentState,
    kind: Kind,
    source: str,
    received_at: datetime,
    sender_at: datetime | None = None,
    origin_at: datetime | None = None,
    channel: ev.Channel = "email",
    opt_in_level: ev.OptInLevel = "unknown",
    wording: str | None = None,
    evidence: dict[str, str] | None = None,
) -> ev.Consent:
    """The one constructor adapters use: the sender's time is kept as evidence (``sender_at``) even when untrusted;
    ``collected_at`` is the effective time."""
    at, kind = effective_at(state, kind, sender_at=sender_at, received_at=received_at, origin_at=origin_at)
    return ev.Consent(
        channel=channel,
        state=state,
        opt_in_level=opt_in_level,
        source=source,
        collected_at=at,
        kind=kind,
        sender_at=sender_at,
        wording=wording,
        evidence=dict(evidence or {}),
    )


def normalize(consent: ev.Consent, received_at: datetime) -> ev.Consent:
    """Re-apply the time rule to a consent already built (defence in depth for replayed or foreign events): its
    ``collected_at`` is treated as the sender's time. Idempotent on what ``make`` built."""
    at, kind = effective_at(
        consent.state, consent.kind, sender_at=consent.collected_at, received_at=received_at
    )
    if at == consent.collected_at and kind == consent.kind and consent.collected_at.tzinfo is UTC:
        return consent
    return consent.model_copy(update={"collected_at": at, "kind": kind})


# ---------------------------------------------------------------- 2. identity and order


def digest(consent: ev.Consent) -> str:
    """Identity of a consent record (16 hex): what it says and when, not the delivery it came in. Two deliveries of
    one record have one digest, so the ledger keeps one item."""
    raw = "|".join(
        (
            consent.channel,
            consent.state,
            consent.kind,
            consent.source,
            _utc(consent.collected_at).isoformat(),
            consent.opt_in_level,
            consent.wording or "",
        )
    )
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:16]


def record_key(consent: ev.Consent) -> tuple[datetime, int, int, str]:
    """Total order of records: later, then more restrictive, then act over snapshot, then digest."""
    return (_utc(consent.collected_at), RANK[consent.state], _KIND_RANK[consent.kind], digest(consent))


def is_p_class(consent: ev.Consent) -> bool:
    """An affirmative checkout snapshot: it decides only while nothing restrictive or an act is newer, and never
    after an opt-out."""
    return consent.kind == "snapshot" and is_affirmative(consent.state)


# ---------------------------------------------------------------- 3. the fold


class ConsentFold(BaseModel):
    """What a channel's consent records fold to. Stored on the profile (per channel), records without evidence
    (the evidence is in the ledger)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    latest: ev.Consent | None = None  # M: the greatest act or restrictive record
    snapshot: ev.Consent | None = (
        None  # P, while it is the earliest affirmative snapshot and can still decide
    )
    snapshot_at: AwareDatetime | None = (
        None  # effective time of the earliest affirmative snapshot ever folded in
    )
    opted_out: bool = False  # O: some record was an opt-out


def _max(a: ev.Consent | None, b: ev.Consent) -> ev.Consent:
    return b if a is None or record_key(b) > record_key(a) else a


def _settle(fold: ConsentFold) -> ConsentFold:
    """Drop P once it can never decide again (an opt-out, or M is greater: M only grows)."""
    p = fold.snapshot
    if p is not None and (
        fold.opted_out or (fold.latest is not None and record_key(p) <= record_key(fold.latest))
    ):
        return fold.model_copy(update={"snapshot": None})
    return fold


def _stripped(consent: ev.Consent) -> ev.Consent:
    """The record as the profile keeps it: no evidence, no sender time (both stay in the ledger item)."""
    if not consent.evidence and consent.sender_at is None and consent.collected_at.tzinfo is UTC:
        return consent
    return consent.model_copy(
        update={"evidence": {}, "sender_at": None, "collected_at": _utc(consent.collected_at)}
    )


def fold_in(fold: ConsentFold | None, consent: ev.Consent) -> ConsentFold:
    """Fold one record in. Commutative, associative, idempotent."""
    f = fold or ConsentFold()
    c = _stripped(consent)
    updates: dict[str, object] = {}
    if is_opt_out(c.state) and not f.opted_out:
        updates["opted_out"] = True
    if is_p_class(c):
        t = _utc(c.collected_at)
        if f.snapshot_at is None or t < f.snapshot_at:
            updates.update(snapshot_at=t, snapshot=c)
        elif t == f.snapshot_at and f.snapshot is not None and record_key(c) < record_key(f.snapshot):
            updates["snapshot"] = c
    else:
        latest = _max(f.latest, c)
        if latest is not f.latest:
            updates["latest"] = latest
    return _settle(f.model_copy(update=updates)) if updates else f


def merge(a: ConsentFold | None, b: ConsentFold | None) -> ConsentFold:
    """Two folds as one (a guest merged into its customer): the same max / min / or."""
    if a is None or b is None:
        return a or b or ConsentFold()
    latest = a.latest if b.latest is None else _max(a.latest, b.latest)
    times = [t for t in (a.snapshot_at, b.snapshot_at) if t is not None]
    snapshot_at = min(times) if times else None
    snaps = [s for s in (a.snapshot, b.snapshot) if s is not None and _utc(s.collected_at) == snapshot_at]
    # a P dropped on one side at the earliest time was dominated there, and stays dominated in the merge
    dropped = any(f.snapshot is None and f.snapshot_at == snapshot_at for f in (a, b))
    snapshot = None if dropped or not snaps else min(snaps, key=record_key)
    return _settle(
        ConsentFold(
            latest=latest, snapshot=snapshot, snapshot_at=snapshot_at, opted_out=a.opted_out or b.opted_out
        )
    )


def current(fold: ConsentFold | None) -> ev.Consent | None:
    """The record that decides: P if it still can, else M."""
    if fold is None:
        return None
    if fold.snapshot is not None and not fold.opted_out:
        return fold.snapshot if fold.latest is None else max(fold.snapshot, fold.latest, key=record_key)
    return fold.latest


def derive(records: Iterable[ev.Consent]) -> ev.Consent | None:
    """The decision over a set of records, stated directly (the reference ``fold_in`` must agree with)."""
    rs = [_stripped(r) for r in records]
    opted = any(is_opt_out(r.state) for r in rs)
    ms = [r for r in rs if not is_p_class(r)]
    ps = [r for r in rs if is_p_class(r)]
    m = max(ms, key=record_key) if ms else None
    p = min(ps, key=lambda r: (_utc(r.collected_at), record_key(r))) if ps else None
    if p is not None and not opted and (m is None or record_key(p) > record_key(m)):
        return p
    return m


def changes_fold(fold: ConsentFold | None, consent: ev.Consent) -> bool:
    """Whether folding this record in changes anything (it then goes to the ledger)."""
    return fold_in(fold, consent) != (fold or ConsentFold())


def known(fold: ConsentFold | None, consent: ev.Consent) -> bool:
    """The record is one the fold holds (so certainly already in the ledger)."""
    if fold is None:
        return False
    d = digest(consent)
    return any(r is not None and digest(r) == d for r in (fold.latest, fold.snapshot))
